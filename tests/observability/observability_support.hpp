// Shared pieces of the observability tests: a private temp dir, a free loopback port, a child
// `selfheal all` with its admin URL, a real Prometheus (Debian package) scraping it, commands run
// with their output captured, and the Grafana dashboards of deploy/grafana loaded as JSON.
//
// Every process started here is stopped by its destructor, so a failing assertion still cleans up.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../support/child_process.hpp"
#include "../support/eventually.hpp"
#include "../support/free_port.hpp"

namespace selfheal::testing {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A directory of its own, removed at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() / ("selfheal-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string str(const std::string& child = {}) const { return child.empty() ? path_.string() : (path_ / child).string(); }

 private:
  fs::path path_;
};

struct CommandResult {
  int status = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command; `stdin_file` (optional) is fed to it.
inline CommandResult run_command(const std::string& command, const std::string& stdin_file = {}) {
  std::string full = command + (stdin_file.empty() ? " </dev/null" : " <'" + stdin_file + "'") + " 2>&1";
  CommandResult r;
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `ready` every 100 ms until it holds or the deadline passes.
template <class Pred>
bool poll_until(std::chrono::milliseconds timeout, Pred ready) {
  return eventually(std::move(ready), timeout, std::chrono::milliseconds(100));  // an outside process
}

// The overrides that keep a `selfheal all` private to a test: ports the kernel picks, files in `dir`.
inline std::vector<std::string> isolated_selfheal_overrides(const TempDir& dir) {
  return {"admin.listen=127.0.0.1:0",
          "api.listen=127.0.0.1:0",
          "cluster_sim.listen=127.0.0.1:0",
          "cluster_sim.kubeconfig_out=" + dir.str("kubeconfig"),
          "cluster_sim.cert_dir=" + dir.str("tls"),
          "cluster_sim.truth_out=" + dir.str("truth.jsonl"),
          "remediator.kubeconfig=" + dir.str("kubeconfig"),
          "ui.story=false"};
}

// `selfheal all` as a child process (SELFHEAL_BINARY), stopped with SIGTERM at the end.
class SelfhealProcess {
 public:
  SelfhealProcess(const TempDir& dir, std::vector<std::string> extra_args, const std::vector<std::string>& overrides) {
    const char* bin = std::getenv("SELFHEAL_BINARY");
    if (!bin || !fs::exists(bin)) {
      error_ = "SELFHEAL_BINARY is not set or missing (run the tests through ctest)";
      return;
    }
    std::vector<std::string> argv = {bin, "all"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    for (const auto& o : isolated_selfheal_overrides(dir)) argv.insert(argv.end(), {"--set", o});
    for (const auto& o : overrides) argv.insert(argv.end(), {"--set", o});
    child_ = std::make_unique<ChildProcess>(argv, dir.str("selfheal.log"));
  }
  ~SelfhealProcess() { stop(); }

  // Waits for the line announcing the admin endpoint; returns its URL or "" (error() says why).
  std::string wait_for_admin_url(std::chrono::milliseconds timeout) {
    if (!child_) return "";
    const std::string line = child_->wait_for_output(", admin http://", timeout);
    const auto pos = line.find("admin http://");
    if (pos == std::string::npos) {
      error_ = "selfheal did not announce its admin endpoint; its output:\n" + child_->output();
      return "";
    }
    admin_url_ = line.substr(pos + 6);
    return admin_url_;
  }
  int stop() { return child_ ? child_->stop(SIGTERM) : -1; }
  bool running() { return child_ && child_->running(); }
  std::string output() const { return child_ ? child_->output() : ""; }
  const std::string& error() const { return error_; }
  ChildProcess* child() { return child_.get(); }

 private:
  std::unique_ptr<ChildProcess> child_;
  std::string admin_url_;
  std::string error_;
};

// host:port of an http://host:port URL.
inline std::string host_port(const std::string& url) {
  std::string s = url;
  if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  if (auto p = s.find('/'); p != std::string::npos) s.resize(p);
  return s;
}

// GET url+path; empty optional-like (status -1) when the server did not answer.
struct HttpReply {
  int status = -1;
  std::string body;
};
inline HttpReply http_get(const std::string& base_url, const std::string& path_and_query) {
  httplib::Client client(base_url);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(10, 0);
  auto r = client.Get(path_and_query);
  if (!r) return {};
  return {r->status, r->body};
}

// A real Prometheus server (the Debian package's `prometheus`) in a temp dir, on a free port,
// scraping `targets` every second, with optional rule files; stopped (SIGTERM) at the end.
class PrometheusServer {
 public:
  PrometheusServer(const TempDir& dir, const std::vector<std::string>& targets, const std::vector<std::string>& rule_files = {}) {
    if (!fs::exists("/usr/bin/prometheus")) {
      error_ = "/usr/bin/prometheus is missing: run scripts/bootstrap.sh (Debian package prometheus)";
      return;
    }
    const std::string config = dir.str("prometheus.yml");
    std::ofstream out(config);
    out << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n";
    if (!rule_files.empty()) {
      out << "rule_files:\n";
      for (const auto& f : rule_files) out << "  - '" << fs::absolute(f).string() << "'\n";
    }
    out << "scrape_configs:\n  - job_name: selfheal\n    static_configs:\n      - targets: [";
    for (std::size_t i = 0; i < targets.size(); ++i) out << (i ? ", " : "") << "'" << targets[i] << "'";
    out << "]\n";
    out.close();
    fs::create_directories(dir.str("tsdb"));
    for (int attempt = 0; attempt < 3 && url_.empty(); ++attempt) {  // a free port can be taken in between
      const int port = free_loopback_port();
      const std::string url = "http://127.0.0.1:" + std::to_string(port);
      child_ = std::make_unique<ChildProcess>(
          std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dir.str("tsdb"),
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port), "--web.enable-lifecycle"},
          dir.str("prometheus.log"));
      if (poll_until(std::chrono::seconds(20), [&] {
            return !child_->running() || http_get(url, "/-/ready").status == 200;
          }) && child_->running())
        url_ = url;
      else
        child_->stop(SIGKILL);
    }
    if (url_.empty()) error_ = "prometheus did not become ready; its log:\n" + (child_ ? child_->output() : "");
  }
  ~PrometheusServer() {
    if (child_) child_->stop(SIGTERM);
  }
  const std::string& url() const { return url_; }
  const std::string& error() const { return error_; }
  std::string log() const { return child_ ? child_->output() : ""; }

  // GET /api/v1/<what> with the query parameters; the parsed reply, or null if it did not answer.
  Json api(const std::string& what, const httplib::Params& params = {}) const {
    httplib::Client client(url_);
    client.set_read_timeout(10, 0);
    auto r = client.Get("/api/v1/" + what, params, httplib::Headers{});
    if (!r) return nullptr;
    Json j = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Json{{"status", "error"}, {"error", "not JSON: " + r->body}};
    return j;
  }
  // An instant query: the reply's data.result array (empty when the query failed; *error says why).
  Json query(const std::string& promql, std::string* error = nullptr) const {
    Json reply = api("query", {{"query", promql}});
    if (reply.is_null() || reply.value("status", "") != "success") {
      if (error) *error = reply.is_null() ? "no answer" : reply.dump();
      return Json::array();
    }
    if (error) error->clear();
    return reply["data"]["result"];
  }

 private:
  std::unique_ptr<ChildProcess> child_;
  std::string url_;
  std::string error_;
};

// The values of label `label` across the series of an instant-query result.
inline std::set<std::string> label_values(const Json& result, const std::string& label) {
  std::set<std::string> out;
  for (const auto& series : result)
    if (series.contains("metric") && series["metric"].contains(label)) out.insert(series["metric"][label].get<std::string>());
  return out;
}

// Every metric name with a sample in a text exposition (histogram _bucket/_sum/_count included).
inline std::set<std::string> exposition_metric_names(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto end = line.find_first_of("{ ");
    names.insert(line.substr(0, end));
  }
  return names;
}

// ------------------------------------------------------------------------------- the dashboards

inline const fs::path kGrafanaDir = "deploy/grafana";

struct Dashboard {
  fs::path path;
  Json json;
};

inline std::vector<Dashboard> load_dashboards() {
  std::vector<Dashboard> out;
  const fs::path dir = kGrafanaDir / "dashboards";
  if (!fs::is_directory(dir)) return out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    Json j = Json::parse(read_file(f), nullptr, /*allow_exceptions=*/false);
    out.push_back({f, j});
  }
  return out;
}

// Every panel, rows' nested panels included.
inline void collect_panels(const Json& panels, std::vector<const Json*>& out) {
  if (!panels.is_array()) return;
  for (const auto& p : panels) {
    out.push_back(&p);
    if (p.contains("panels")) collect_panels(p["panels"], out);
  }
}
inline std::vector<const Json*> all_panels(const Json& dashboard) {
  std::vector<const Json*> out;
  if (dashboard.contains("panels")) collect_panels(dashboard["panels"], out);
  return out;
}

// The uid of a datasource reference ({"type":..,"uid":..}); "" if it has none.
inline std::string datasource_uid(const Json& ref) {
  if (ref.is_object() && ref.contains("uid") && ref["uid"].is_string()) return ref["uid"].get<std::string>();
  return "";
}

// A query of a dashboard, where it is and what it runs.
struct DashboardQuery {
  std::string where;          // file: panel title / refId, or file: variable name
  std::string datasource_uid; // the target's, else the panel's / variable's
  std::string text;           // PromQL (expr) or SQL (rawSql), before variables are substituted
  bool sql = false;
};

// A panel target or an annotation target holds SQL (rawSql) or PromQL (expr); false if neither.
inline bool take_query_text(const Json& target, DashboardQuery& q) {
  if (target.contains("rawSql")) {
    q.text = target["rawSql"].get<std::string>();
    q.sql = true;
    return true;
  }
  if (target.contains("expr")) {
    q.text = target["expr"].get<std::string>();
    return true;
  }
  return false;
}

inline std::vector<DashboardQuery> dashboard_queries(const Dashboard& d) {
  std::vector<DashboardQuery> out;
  const std::string file = d.path.filename().string();
  for (const Json* panel : all_panels(d.json)) {
    if (!panel->contains("targets")) continue;
    const std::string panel_ds = panel->contains("datasource") ? datasource_uid((*panel)["datasource"]) : "";
    for (const auto& t : (*panel)["targets"]) {
      DashboardQuery q;
      q.where = file + ": panel '" + panel->value("title", "?") + "' target " + t.value("refId", "?");
      q.datasource_uid = t.contains("datasource") && !datasource_uid(t["datasource"]).empty() ? datasource_uid(t["datasource"]) : panel_ds;
      if (take_query_text(t, q)) out.push_back(q);
    }
  }
  if (d.json.contains("annotations") && d.json["annotations"].contains("list")) {
    for (const auto& a : d.json["annotations"]["list"]) {
      if (!a.contains("target")) continue;
      const Json& t = a["target"];
      DashboardQuery q;
      q.where = file + ": annotation '" + a.value("name", "?") + "'";
      q.datasource_uid = a.contains("datasource") ? datasource_uid(a["datasource"]) : "";
      if (take_query_text(t, q)) out.push_back(q);
    }
  }
  if (d.json.contains("templating") && d.json["templating"].contains("list")) {
    for (const auto& v : d.json["templating"]["list"]) {
      if (v.value("type", "") != "query") continue;
      DashboardQuery q;
      q.where = file + ": variable $" + v.value("name", "?");
      q.datasource_uid = v.contains("datasource") ? datasource_uid(v["datasource"]) : "";
      const Json& query = v.contains("query") ? v["query"] : Json();
      if (query.is_string()) q.text = query.get<std::string>();
      else if (query.is_object() && query.contains("query")) q.text = query["query"].get<std::string>();
      else if (query.is_object() && query.contains("rawSql")) q.text = query["rawSql"].get<std::string>();
      q.sql = q.datasource_uid.find("postgres") != std::string::npos;
      if (!q.text.empty()) out.push_back(q);
    }
  }
  return out;
}

// Grafana's Prometheus variable functions (label_values(metric, label), query_result(expr), ...)
// wrap a PromQL selector or expression: returns the PromQL inside, or the text itself.
inline std::string promql_of_variable_query(const std::string& q) {
  static const std::regex label_values(R"(^\s*label_values\s*\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$)");
  static const std::regex one_arg(R"(^\s*(?:label_values|query_result)\s*\((.*)\)\s*$)");
  std::smatch m;
  if (std::regex_match(q, m, label_values)) return m[1];
  if (std::regex_match(q, m, one_arg)) return m[1];
  return q;
}

}  // namespace selfheal::testing
