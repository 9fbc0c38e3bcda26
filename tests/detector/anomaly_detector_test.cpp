// The anomaly-detector service end to end on an in-process bus: a synthetic fleet with realistic
// noise (diurnal traffic, Poisson errors, GC wobble) for 24 simulated hours must stay quiet, and
// each kind of fault must score high on the signal it affects.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "bus/in_process_bus.hpp"
#include "contracts/feature_names.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/http_server.hpp"
#include "core/metrics.hpp"
#include "detector/anomaly_detector.hpp"

using namespace selfheal;
namespace fn = selfheal::feature_names;
namespace fs = std::filesystem;

namespace {

constexpr TimeMs kWindowMs = 30'000;
const std::vector<std::string> kServices = {"frontend", "orders", "payments", "search", "inventory", "cache", "postgres"};

enum class Fault { None, MemoryLeak, Latency, ErrorBurst, TrafficDrop, CrashLoop, TrafficSurge };

// Renders what the metrics and log processors would publish for one service.
class FleetModel {
 public:
  explicit FleetModel(std::uint64_t seed) : rng_(seed) {}

  std::vector<FeatureWindow> windows(TimeMs end, const std::string& service, Fault fault, double fault_age_s) {
    std::vector<FeatureWindow> out;
    const double day = 86400.0;
    double t = static_cast<double>(end) / 1000.0;
    double base_rps = 40.0 + 10.0 * static_cast<double>(service.size());
    double rps = base_rps * (1.0 + 0.3 * std::sin(2 * M_PI * t / day));
    if (fault == Fault::TrafficDrop) rps *= 0.1;
    if (fault == Fault::TrafficSurge) rps *= 4.0;
    std::normal_distribution<double> n01(0, 1);
    for (int pod = 0; pod < 2; ++pod) {
      FeatureWindow w = base(end, service, service + "-5d9f7c6b8a-x" + std::to_string(pod) + "abc", FeatureSource::Metrics);
      double pod_rps = std::max(0.0, rps / 2 + std::sqrt(rps / 2 / 30.0) * n01(rng_));
      double err_rate = fault == Fault::ErrorBurst ? 0.25 : 0.002;
      std::poisson_distribution<int> errs(pod_rps * 30 * err_rate);
      double errors = errs(rng_) / 30.0;
      double lat = 0.12 * (1 + 0.04 * n01(rng_)) * (fault == Fault::Latency ? 4.0 : 1.0);
      double mem_util = 0.45 + 0.01 * n01(rng_);
      double slope = 20e3 * n01(rng_);
      if (fault == Fault::MemoryLeak) {
        slope = 400e3;
        mem_util = std::min(0.98, 0.45 + slope * fault_age_s / 512e6);
      }
      w.set(std::string(fn::kRequestsPerS), pod_rps);
      w.set(std::string(fn::kErrorsPerS), errors);
      w.set(std::string(fn::kErrorRatio), pod_rps > 0 ? errors / pod_rps : 0);
      w.set(std::string(fn::kLatencyP50), lat * 0.5);
      w.set(std::string(fn::kLatencyP95), lat);
      w.set(std::string(fn::kLatencyP99), lat * (1.6 + 0.1 * n01(rng_)));
      w.set(std::string(fn::kCpuUtilMean), 0.15 + 0.2 * pod_rps / base_rps + 0.01 * n01(rng_));
      w.set(std::string(fn::kCpuUtilMax), 0.2 + 0.2 * pod_rps / base_rps + 0.015 * n01(rng_));
      w.set(std::string(fn::kMemoryUtilMax), mem_util);
      w.set(std::string(fn::kMemoryBytesMax), mem_util * 512e6);
      w.set(std::string(fn::kMemorySlope), slope);
      w.set(std::string(fn::kRestarts), fault == Fault::CrashLoop ? 1.0 : 0.0);
      out.push_back(std::move(w));
    }
    FeatureWindow svc = base(end, service, "", FeatureSource::Metrics);
    svc.set(std::string(fn::kPodsReady), fault == Fault::CrashLoop ? 1.0 : 2.0);
    svc.set(std::string(fn::kPods), 2.0);
    svc.set(std::string(fn::kRequestsPerS), out[0].get(fn::kRequestsPerS) + out[1].get(fn::kRequestsPerS));
    out.push_back(std::move(svc));
    FeatureWindow logs = base(end, service, "", FeatureSource::Logs);
    std::poisson_distribution<int> lines(rps * 30 * 0.5), warns(2.0), errors(fault == Fault::ErrorBurst ? 200.0 : 0.3);
    double l = lines(rng_), e = errors(rng_);
    logs.set(std::string(fn::kLogLines), l + e);
    logs.set(std::string(fn::kLogWarn), warns(rng_));
    logs.set(std::string(fn::kLogError), e);
    logs.set(std::string(fn::kLogErrorRatio), e / std::max(1.0, l + e));
    std::bernoulli_distribution rare_new(0.002);
    logs.set(std::string(fn::kLogNewTemplates), rare_new(rng_) ? 1.0 : 0.0);
    out.push_back(std::move(logs));
    return out;
  }

 private:
  FeatureWindow base(TimeMs end, const std::string& service, const std::string& pod, FeatureSource src) {
    FeatureWindow w;
    w.id = "w" + std::to_string(++seq_);
    w.start = end - kWindowMs;
    w.end = end;
    w.service = service;
    w.pod = pod;
    w.source = src;
    return w;
  }
  std::mt19937_64 rng_;
  std::uint64_t seq_ = 0;
};

// A detector on its own bus, config and clock.
struct Harness {
  explicit Harness(std::vector<std::string> overrides = {}) {
    detector::DetectorSettings::declare(schema);
    config = std::make_unique<Config>(Config::load(schema, "", overrides, false));
    ctx = std::make_unique<ServiceContext>(ServiceContext{bus, clock, *config, metrics, nullptr, nullptr, "t"});
  }
  void start(AdminServer* admin = nullptr) {
    ctx->admin = admin;
    svc = std::make_unique<detector::AnomalyDetectorService>(detector::DetectorSettings::from_config(*config));
    out = bus.subscribe(topics::kAnomalies, "test");
    svc->start(*ctx);
  }
  std::vector<Anomaly> feed(const std::vector<FeatureWindow>& ws) {
    for (const auto& w : ws) bus.publish(topics::kFeatures, w);
    while (svc->poll() > 0) {
    }
    std::vector<Delivery> got;
    out->poll(got, 1 << 20);
    out->commit();
    std::vector<Anomaly> as;
    for (auto& d : got) as.push_back(std::get<Anomaly>(d.event));
    return as;
  }
  ConfigSchema schema;
  std::unique_ptr<Config> config;
  SimClock clock{1'700'000'000'000};
  MetricsRegistry metrics;
  InProcessBus bus{InProcessBus::Options{}};
  std::unique_ptr<ServiceContext> ctx;
  std::unique_ptr<detector::AnomalyDetectorService> svc;
  std::unique_ptr<Subscription> out;
};

fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("selfheal-detector-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST(AnomalyDetector, QuietDayWithoutFaultsStaysUnderOnePerMille) {
  Harness h;
  h.start();
  FleetModel fleet(42);
  std::size_t windows = 0, anomalies = 0;
  const int steps = 24 * 3600 * 1000 / kWindowMs;
  for (int i = 1; i <= steps; ++i) {
    TimeMs end = h.clock.now() + i * kWindowMs;
    std::vector<FeatureWindow> batch;
    for (const auto& s : kServices) {
      auto ws = fleet.windows(end, s, Fault::None, 0);
      windows += ws.size();
      batch.insert(batch.end(), ws.begin(), ws.end());
    }
    anomalies += h.feed(batch).size();
  }
  double alerting = h.metrics.counter("selfheal_detector_windows_alerting_total", "").value();
  EXPECT_EQ(h.metrics.counter("selfheal_detector_windows_scored_total", "").value(), static_cast<double>(windows));
  EXPECT_LT(alerting / static_cast<double>(windows), 0.001) << alerting << " of " << windows << " windows alerted";
  EXPECT_LT(static_cast<double>(anomalies), 0.001 * static_cast<double>(windows));
}

class FaultScoring : public ::testing::TestWithParam<std::pair<Fault, std::string>> {};

TEST_P(FaultScoring, FaultScoresHighOnItsSignal) {
  auto [fault, signal] = GetParam();
  Harness h;
  h.start();
  FleetModel fleet(9);
  TimeMs t = h.clock.now();
  for (int i = 0; i < 240; ++i) {  // two hours of normal life
    t += kWindowMs;
    for (const auto& s : kServices) h.feed(fleet.windows(t, s, Fault::None, 0));
  }
  std::vector<Anomaly> seen;
  for (int i = 0; i < 20; ++i) {  // ten minutes of fault on payments
    t += kWindowMs;
    for (const auto& s : kServices) {
      auto as = h.feed(fleet.windows(t, s, s == "payments" ? fault : Fault::None, i * 30.0));
      seen.insert(seen.end(), as.begin(), as.end());
    }
  }
  int on_signal = 0, elsewhere = 0;
  for (const auto& a : seen) {
    if (a.service != "payments") { ++elsewhere; continue; }
    EXPECT_GE(a.score, 0.9);
    EXPECT_EQ(a.model, "robust-baseline");
    EXPECT_FALSE(a.model_version.empty());
    EXPECT_FALSE(a.contributions.empty());
    EXPECT_EQ(a.series, a.service + (a.pod.empty() ? "" : "/" + a.pod) + ":" + a.signal);
    if (a.signal == signal || (signal == fn::kMemorySlope && a.signal == fn::kMemoryUtilMax)) {
      ++on_signal;
      if (signal == fn::kMemorySlope) {
        EXPECT_TRUE(std::isfinite(a.time_to_exhaustion_s));
        EXPECT_GT(a.time_to_exhaustion_s, 0);
      }
    }
  }
  if (on_signal < 10) for (const auto& a : seen) std::printf("%s %s %.3f v=%g e=%g\n", a.series.c_str(), a.signal.c_str(), a.score, a.value, a.expected);
  EXPECT_GE(on_signal, 10) << "fault not reported on " << signal << " for most of its duration";
  EXPECT_LE(elsewhere, 2) << "healthy services flagged";
}

INSTANTIATE_TEST_SUITE_P(
    Faults, FaultScoring,
    ::testing::Values(std::make_pair(Fault::MemoryLeak, std::string(fn::kMemorySlope)),
                      std::make_pair(Fault::Latency, std::string(fn::kLatencyP95)),
                      std::make_pair(Fault::ErrorBurst, std::string(fn::kErrorRatio)),
                      std::make_pair(Fault::TrafficDrop, std::string(fn::kRequestsPerS)),
                      std::make_pair(Fault::TrafficSurge, std::string(fn::kRequestsPerS)),
                      std::make_pair(Fault::CrashLoop, std::string(fn::kRestarts))));

TEST(AnomalyDetector, NewModelVersionLoadsFromTheWatchedDirectoryWithoutRestart) {
  auto dir = temp_dir("models");
  auto write_model = [&](const std::string& version, double z_mid) {
    auto p = detector::BaselineParams::builtin();
    p.version = version;
    p.z_mid = z_mid;
    auto j = p.to_json();
    j["kind"] = "robust-baseline";
    std::ofstream(dir / "robust-baseline.json") << j.dump(2);
  };
  write_model("1.0.0", 7.0);
  Harness h({"anomaly_detector.model_dir=" + dir.string(), "anomaly_detector.model_watch_interval=5s"});
  h.start();
  EXPECT_EQ(h.svc->model_version(), "1.0.0");
  FleetModel fleet(5);
  TimeMs t = h.clock.now();
  for (int i = 0; i < 100; ++i) h.feed(fleet.windows(t += kWindowMs, "orders", Fault::None, 0));
  auto as = h.feed(fleet.windows(t += kWindowMs, "orders", Fault::Latency, 0));
  ASSERT_FALSE(as.empty());
  EXPECT_EQ(as.front().model_version, "1.0.0");

  write_model("2.0.0", 7.5);
  // A broken file next to it is reported and ignored, the good model still loads.
  std::ofstream(dir / "broken.json") << "{ not json";
  h.clock.advance(10'000);
  h.svc->on_tick(h.clock.now());
  EXPECT_EQ(h.svc->model_version(), "2.0.0");
  as = h.feed(fleet.windows(t += kWindowMs, "orders", Fault::Latency, 0));
  ASSERT_FALSE(as.empty());  // learned state survived the reload
  EXPECT_EQ(as.front().model_version, "2.0.0");

  // A broken new version keeps the last good one.
  std::ofstream(dir / "robust-baseline.json") << R"({"name":"robust-baseline","kind":"robust-baseline","version":"3","alpha":"x"})";
  auto report = h.svc->reload_models();
  EXPECT_EQ(h.svc->model_version(), "2.0.0");
  EXPECT_GE(report.errors.size(), 1u);
  fs::remove_all(dir);
}

TEST(AnomalyDetector, AdminRoutesListAndReloadModels) {
  auto dir = temp_dir("admin");
  auto p = detector::BaselineParams::builtin();
  p.version = "7.1";
  auto j = p.to_json();
  j["kind"] = "robust-baseline";
  std::ofstream(dir / "robust-baseline.json") << j.dump();
  Harness h({"anomaly_detector.model_dir=" + dir.string()});
  AdminServer admin("127.0.0.1:0", h.metrics);
  h.start(&admin);
  admin.start();
  httplib::Client client("127.0.0.1", admin.port());
  auto res = client.Get("/models");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto listed = nlohmann::json::parse(res->body);
  EXPECT_EQ(listed["active"]["version"], "7.1");
  ASSERT_EQ(listed["models"].size(), 1u);
  p.version = "7.2";
  j = p.to_json();
  j["kind"] = "robust-baseline";
  std::ofstream(dir / "robust-baseline.json") << j.dump(1);
  res = client.Post("/models/reload", "", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(nlohmann::json::parse(res->body)["active"]["version"], "7.2");
  EXPECT_EQ(h.svc->model_version(), "7.2");
  admin.stop();
  fs::remove_all(dir);
}

TEST(AnomalyDetector, CheckpointRestoresLearnedStateAcrossRestart) {
  auto dir = temp_dir("state");
  std::string state = (dir / "state.json").string();
  FleetModel fleet(11);
  TimeMs t = 1'700'000'000'000;
  {
    Harness h({"anomaly_detector.state_file=" + state, "anomaly_detector.model_dir=" + (dir / "none").string()});
    h.start();
    for (int i = 0; i < 100; ++i) h.feed(fleet.windows(t += kWindowMs, "search", Fault::None, 0));
    h.svc->stop();
    EXPECT_TRUE(fs::exists(state));
  }
  Harness h({"anomaly_detector.state_file=" + state, "anomaly_detector.model_dir=" + (dir / "none").string()});
  h.start();
  EXPECT_GT(h.svc->series_count(), 20u);
  // No warm-up needed after the restart: the first faulty window already scores.
  auto as = h.feed(fleet.windows(t += kWindowMs, "search", Fault::Latency, 0));
  EXPECT_FALSE(as.empty());
  // A corrupt checkpoint is refused with a reason, and the service still starts.
  std::ofstream(state) << R"({"format":1,"series":{"a:b":[1,2]}})";
  std::string err;
  EXPECT_FALSE(h.svc->load_checkpoint(state, err));
  EXPECT_NE(err.find("a:b"), std::string::npos) << err;
  fs::remove_all(dir);
}

// Keyed state (issue 6): one service's learned series move to another detector, as over Kafka when
// the service's partition moves to another process.
namespace {
std::vector<std::string> series_keys(const nlohmann::json& state) {
  std::vector<std::string> keys;
  if (state.is_object())
    for (auto it = state["series"].begin(); it != state["series"].end(); ++it) keys.push_back(it.key());
  return keys;
}
}  // namespace

TEST(AnomalyDetector, KeyedStateMovesOneServicesSeriesToAnotherDetector) {
  FleetModel fleet(21);
  TimeMs t = 1'700'000'000'000;
  Harness a;
  a.start();
  // "orders-v2" sorts right after "orders" and shares its prefix: it must stay out of "orders".
  for (int i = 0; i < 60; ++i) {
    t += kWindowMs;
    for (const char* s : {"orders", "orders-v2", "payments"}) a.feed(fleet.windows(t, s, Fault::None, 0));
  }
  const nlohmann::json orders = a.svc->save_key("orders");
  ASSERT_TRUE(orders.is_object()) << orders;
  const auto keys = series_keys(orders);
  ASSERT_GT(keys.size(), 20u);
  for (const auto& k : keys) EXPECT_TRUE(k.starts_with("orders:") || k.starts_with("orders/")) << k;
  EXPECT_TRUE(a.svc->save_key("nobody").is_null());

  // B has learned payments (and a little of orders) on its own; restoring orders must replace its
  // orders series exactly and leave payments as they were.
  Harness b;
  b.start();
  FleetModel own(77);
  TimeMs tb = 1'700'000'000'000;
  for (int i = 0; i < 40; ++i) {
    tb += kWindowMs;
    b.feed(own.windows(tb, "payments", Fault::None, 0));
  }
  b.feed(own.windows(tb + kWindowMs, "orders", Fault::None, 0));
  const nlohmann::json payments_before = b.svc->save_key("payments");
  ASSERT_TRUE(payments_before.is_object());
  ASSERT_NE(b.svc->save_key("orders"), orders);
  b.svc->restore_key("orders", orders);
  EXPECT_EQ(b.svc->save_key("orders"), orders);
  EXPECT_EQ(b.svc->save_key("payments"), payments_before);
  EXPECT_TRUE(b.svc->save_key("orders-v2").is_null());

  // A fresh detector without the restore, for contrast: it is still warming up.
  Harness fresh;
  fresh.start();
  // All three score the same further windows of orders, a latency fault among normal ones.
  FleetModel further_a(5), further_b(5), further_c(5);
  std::vector<Anomaly> got_a, got_b, got_c;
  for (int i = 0; i < 12; ++i) {
    t += kWindowMs;
    Fault f = i >= 6 ? Fault::Latency : Fault::None;
    auto as = a.feed(further_a.windows(t, "orders", f, 0));
    auto bs = b.feed(further_b.windows(t, "orders", f, 0));
    auto cs = fresh.feed(further_c.windows(t, "orders", f, 0));
    got_a.insert(got_a.end(), as.begin(), as.end());
    got_b.insert(got_b.end(), bs.begin(), bs.end());
    got_c.insert(got_c.end(), cs.begin(), cs.end());
  }
  ASSERT_FALSE(got_a.empty()) << "the latency fault should be reported by the detector that learned orders";
  ASSERT_EQ(got_b.size(), got_a.size());
  for (std::size_t i = 0; i < got_a.size(); ++i) {
    EXPECT_EQ(got_b[i].series, got_a[i].series);
    EXPECT_EQ(got_b[i].ts, got_a[i].ts);
    EXPECT_DOUBLE_EQ(got_b[i].score, got_a[i].score);
    EXPECT_DOUBLE_EQ(got_b[i].expected, got_a[i].expected);
  }
  // The whole learned state agrees too, non-alerting series included.
  EXPECT_EQ(b.svc->save_key("orders"), a.svc->save_key("orders"));
  EXPECT_TRUE(got_c.empty()) << "a detector without the restore is still warming up";
  EXPECT_NE(fresh.svc->save_key("orders"), a.svc->save_key("orders"));
}

TEST(AnomalyDetector, KeyedStateRefusesAMalformedStateNamingTheFieldAndChangesNothing) {
  FleetModel fleet(3);
  TimeMs t = 1'700'000'000'000;
  Harness b;
  b.start();
  for (int i = 0; i < 10; ++i) {
    t += kWindowMs;
    for (const char* s : {"orders", "payments"}) b.feed(fleet.windows(t, s, Fault::None, 0));
  }
  const nlohmann::json orders = b.svc->save_key("orders"), payments = b.svc->save_key("payments");
  const std::size_t count = b.svc->series_count();
  auto refused = [&](const nlohmann::json& state, const std::string& why) {
    try {
      b.svc->restore_key("orders", state);
      ADD_FAILURE() << "accepted " << state;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    EXPECT_EQ(b.svc->save_key("orders"), orders);
    EXPECT_EQ(b.svc->save_key("payments"), payments);
    EXPECT_EQ(b.svc->series_count(), count);
  };
  // A good series first, then a bad one: the good one must not have been applied either.
  nlohmann::json bad = {{"format", 1},
                        {"series", {{"orders/p1:cpu_util_max", {0.5, 0.1, 40u, 0u, t}}, {"orders:cpu_util", {1, 2}}}}};
  refused(bad, "series.orders:cpu_util: expected [mean, spread, count, anomalous_run, last_seen]");
  refused({{"format", 1}, {"series", {{"orders:x", {1.0, 2.0, -3, 0, t}}}}}, "series.orders:x: expected");
  refused({{"format", 1}, {"series", {{"payments:x", {1.0, 2.0, 3u, 0u, t}}}}}, "series.payments:x: not a series of service orders");
  refused({{"format", 1}, {"series", {{"orders-v2:x", {1.0, 2.0, 3u, 0u, t}}}}}, "series.orders-v2:x: not a series");
  refused({{"format", 2}, {"series", nlohmann::json::object()}}, "format: expected 1");
  refused({{"format", 1}, {"series", nlohmann::json::array()}}, "series: expected an object");
  refused(nlohmann::json::array(), "state: expected an object");
  // null (save_key had nothing) is well-formed: orders is left with no series, payments keeps its.
  b.svc->restore_key("orders", nullptr);
  EXPECT_TRUE(b.svc->save_key("orders").is_null());
  EXPECT_EQ(b.svc->save_key("payments"), payments);
}
