// bench_bus: sustained end-to-end events/s of the pipeline in one process over the in-process bus
// (`selfheal all`'s mode) and over Kafka (librdkafka's mock cluster, what `selfheal dev-broker`
// runs), on the same workload, in the same run.
//
// Workload: the first N simulated minutes of the demo scenario (default 10). The pipeline is the
// services between the simulation and the incidents: log-generator, metrics-generator,
// log-processor, metrics-processor, anomaly-detector, rule-engine, incident-classifier.
//  1. in-process: cluster-sim plus the pipeline on the deterministic executor, as fast as the CPU
//     allows; the sim.state events cluster-sim publishes are kept for step 2.
//  2. Kafka: the same sim.state events are put on the broker first (a backlog), then the pipeline
//     runs with each service on its own thread and its own Kafka consumers and producer, following
//     its inputs' event time, until every event has gone through (the detector consumed every
//     feature window the processors produced). Timed from the first sim.state consumed to the
//     last feature window scored, so the ~3 s consumer-group join is not counted.
// Events/s counts the source events (logs.raw lines + metrics.raw scrapes) the generators produced,
// divided by the wall time; "handled" counts every event any service consumed.
// Usage: bench_bus [--minutes N]   (other arguments, e.g. Google Benchmark's, are ignored)
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "app/app.hpp"
#include "bus/in_process_bus.hpp"
#include "bus/kafka_bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "runtime/executor.hpp"

namespace selfheal {
namespace {

const std::vector<std::string> kPipeline = {"log-generator",    "metrics-generator",  "log-processor",
                                            "metrics-processor", "anomaly-detector", "rule-engine",
                                            "incident-classifier"};

double counter(MetricsRegistry& m, const char* name, const std::string& service, std::string_view topic) {
  return m.counter(name, "", {{"service", service}, {"topic", std::string(topic)}}).value();
}

struct Figures {
  double source_events = 0;   // logs.raw + metrics.raw published
  double handled_events = 0;  // consumed by any service
  double wall_s = 0;
};

double handled(MetricsRegistry& m) {
  double n = 0;
  for (const auto& s : kPipeline)
    for (auto t : topics::kAll) n += counter(m, "selfheal_events_in_total", s, t);
  return n;
}

double sources(MetricsRegistry& m) {
  return counter(m, "selfheal_events_out_total", "log-generator", topics::kLogsRaw) +
         counter(m, "selfheal_events_out_total", "metrics-generator", topics::kMetricsRaw);
}

std::vector<std::string> common_settings() {
  return {"log.level=warn", "admin.listen=127.0.0.1:0", "store.backend=none", "cluster_sim.api_enabled=false"};
}

Figures run_in_process(TimeMs minutes, std::vector<Event>& sim_state) {
  std::vector<std::string> names = kPipeline;
  names.insert(names.begin(), "cluster-sim");
  App app(Config::load(config_schema(), "", common_settings()), names);
  app.start();
  auto tap = app.bus().subscribe(topics::kSimState, "bench-tap");
  std::vector<Delivery> batch;
  const TimeMs until = app.sim_clock().now() + minutes * 60'000;
  const std::int64_t t0 = monotonic_ns();
  app.executor().run_until(until, nullptr, [&](TimeMs) {
    batch.clear();
    tap->poll(batch, 1 << 20);
    tap->commit();
    for (auto& d : batch) sim_state.push_back(std::move(d.event));
  });
  app.executor().drain();
  Figures f;
  f.wall_s = static_cast<double>(monotonic_ns() - t0) / 1e9;
  f.source_events = sources(app.metrics());
  f.handled_events = handled(app.metrics());
  app.stop();
  return f;
}

Figures run_kafka(const std::vector<Event>& sim_state, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) throw std::runtime_error(std::string("mock cluster: ") + err);
  rd_kafka_mock_cluster_t* mc = rd_kafka_handle_mock_cluster(rk);
  for (auto t : topics::kAll) rd_kafka_mock_topic_create(mc, std::string(t).c_str(), partitions, 1);
  rd_kafka_mock_topic_create(mc, "selfheal.dead-letter", partitions, 1);
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mc);

  Figures f;
  {
    KafkaOptions o;
    o.bootstrap_servers = bootstrap;
    o.properties = {"log_level=2"};
    KafkaBus backlog(o, nullptr);
    for (const auto& e : sim_state) backlog.publish(topics::kSimState, e);
    backlog.flush(std::chrono::seconds(30));
  }
  std::vector<std::string> settings = common_settings();
  for (std::string s : {"bus.kind=kafka", "clock.mode=sim", "clock.speed=1000000", "kafka.create_topics=false",
                        "kafka.properties=log_level=2"})
    settings.push_back(s);
  settings.push_back("kafka.bootstrap_servers=" + bootstrap);
  settings.push_back("bus.partitions=" + std::to_string(partitions));
  App app(Config::load(config_schema(), "", settings), kPipeline);
  app.start();
  std::atomic<bool> stop{false};
  std::thread runner([&] { app.run(stop, false); });

  MetricsRegistry& m = app.metrics();
  auto consumed_state = [&] {
    return counter(m, "selfheal_events_in_total", "log-generator", topics::kSimState);
  };
  auto scored = [&] { return counter(m, "selfheal_events_in_total", "anomaly-detector", topics::kFeatures); };
  auto produced_windows = [&] {
    return counter(m, "selfheal_events_out_total", "log-processor", topics::kFeatures) +
           counter(m, "selfheal_events_out_total", "metrics-processor", topics::kFeatures);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(600);
  while (consumed_state() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // waiting for the group join
  const std::int64_t t0 = monotonic_ns();
  std::int64_t last_progress = t0;
  double last_handled = -1;
  // Done when every sim.state was rendered, every line and scrape the generators made was consumed
  // by the processors, the detector scored every window they made, and nothing moved for a second
  // (the processors close their last windows by event time).
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const double h = handled(m);
    if (h != last_handled) {
      last_handled = h;
      last_progress = monotonic_ns();
    }
    const bool all_in =
        consumed_state() >= static_cast<double>(sim_state.size()) &&
        counter(m, "selfheal_events_in_total", "log-processor", topics::kLogsRaw) >=
            counter(m, "selfheal_events_out_total", "log-generator", topics::kLogsRaw) &&
        counter(m, "selfheal_events_in_total", "metrics-processor", topics::kMetricsRaw) >=
            counter(m, "selfheal_events_out_total", "metrics-generator", topics::kMetricsRaw) &&
        scored() >= produced_windows() && scored() > 0;
    if (all_in && monotonic_ns() - last_progress > 1'000'000'000) break;
    if (monotonic_ns() - last_progress > 10'000'000'000LL) {  // stuck: report what went through
      std::printf("note: the Kafka run stalled before every event went through (dev-broker keeps only ~5 MB per "
                  "partition: a consumer that falls that far behind loses the oldest)\n");
      // Which hop fell behind, so the note is not a guess.
      std::printf("went through: sim.state %.0f of %zu, logs.raw %.0f of %.0f, metrics.raw %.0f of %.0f, "
                  "windows scored %.0f of %.0f\n",
                  consumed_state(), sim_state.size(),
                  counter(m, "selfheal_events_in_total", "log-processor", topics::kLogsRaw),
                  counter(m, "selfheal_events_out_total", "log-generator", topics::kLogsRaw),
                  counter(m, "selfheal_events_in_total", "metrics-processor", topics::kMetricsRaw),
                  counter(m, "selfheal_events_out_total", "metrics-generator", topics::kMetricsRaw), scored(), produced_windows());
      break;
    }
  }
  f.wall_s = static_cast<double>(last_progress - t0) / 1e9;
  f.source_events = sources(m);
  f.handled_events = handled(m);
  stop.store(true);
  runner.join();
  app.stop();
  rd_kafka_destroy(rk);
  return f;
}

void print(const char* mode, const Figures& f) {
  std::printf("%-34s %9.0f source events in %6.2f s = %9.0f events/s end to end (%9.0f handled/s)\n", mode,
              f.source_events, f.wall_s, f.source_events / f.wall_s, f.handled_events / f.wall_s);
}

}  // namespace
}  // namespace selfheal

int main(int argc, char** argv) {
  using namespace selfheal;
  TimeMs minutes = 10;
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--minutes")) minutes = std::atoll(argv[i + 1]);
  if (minutes < 1) {
    std::fprintf(stderr, "bench_bus: --minutes must be at least 1\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures appear as they are measured, also when piped
  try {
    std::printf("bench_bus: the demo scenario's first %lld simulated minutes through %zu pipeline services\n",
                static_cast<long long>(minutes), kPipeline.size());
    std::vector<Event> sim_state;
    Figures in_process = run_in_process(minutes, sim_state);
    print("in-process (selfheal all)", in_process);
    Figures kafka = run_kafka(sim_state, 16);
    print("kafka (mock broker, 16 partitions)", kafka);
    if (kafka.source_events != in_process.source_events)
      std::printf("note: the generators produced %.0f events over Kafka and %.0f in process\n", kafka.source_events,
                  in_process.source_events);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_bus: %s\n", e.what());
    return 1;
  }
}
