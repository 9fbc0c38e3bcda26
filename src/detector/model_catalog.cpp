#include "detector/model_catalog.hpp"

#include <fstream>
#include <sstream>
#include <system_error>

namespace selfheal::detector {
namespace fs = std::filesystem;

std::map<std::string, ModelCatalog::FileStamp> ModelCatalog::scan() const {
  std::map<std::string, FileStamp> out;
  std::error_code ec;
  if (dir_.empty() || !fs::is_directory(dir_, ec)) return out;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() != ".json" || !it->is_regular_file(ec)) continue;
    FileStamp st;
    st.size = it->file_size(ec);
    st.mtime_ns = static_cast<std::int64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(it->last_write_time(ec).time_since_epoch()).count());
    out[p.string()] = st;
  }
  return out;
}

bool ModelCatalog::changed_on_disk() const { return scan() != stamps_; }

ReloadReport ModelCatalog::load(bool only_changed) {
  ReloadReport report;
  auto now = scan();
  for (const auto& [path, stamp] : now) {
    auto old = stamps_.find(path);
    if (only_changed && old != stamps_.end() && old->second == stamp) continue;
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    std::string problem;
    if (j.is_discarded()) problem = "not valid JSON";
    else if (!j.is_object()) problem = "expected a JSON object";
    else if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
      problem = "name: required non-empty string";
    else if (!j.contains("version") || !j["version"].is_string() || j["version"].get<std::string>().empty())
      problem = "version: required non-empty string";
    else if (!j.contains("kind") || !j["kind"].is_string())
      problem = "kind: required string";
    if (!problem.empty()) {
      report.errors.push_back(path + ": " + problem);
      continue;  // the previous version of this model (if any) stays in use
    }
    ModelArtifact a{j["name"].get<std::string>(), j["version"].get<std::string>(), j["kind"].get<std::string>(), path, j};
    auto prev = models_.find(a.name);
    if (prev == models_.end() || prev->second.version != a.version || prev->second.body != a.body)
      report.loaded.push_back(a.name + "@" + a.version);
    models_[a.name] = std::move(a);
  }
  stamps_ = std::move(now);
  return report;
}

const ModelArtifact* ModelCatalog::find(const std::string& name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : &it->second;
}

nlohmann::json ModelCatalog::describe() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [name, a] : models_)
    arr.push_back({{"name", a.name}, {"version", a.version}, {"kind", a.kind}, {"path", a.path}});
  return arr;
}

}  // namespace selfheal::detector
