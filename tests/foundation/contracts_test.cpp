// Round trips of every event type through the versioned JSON encoding, and decoding errors that
// name the field.
#include <gtest/gtest.h>

#include <cmath>

#include "contracts/events_json.hpp"

namespace selfheal {
namespace {

template <typename T>
T round_trip(const T& in) {
  std::string json = encode_event(Event(in));
  DecodeResult r = decode_event(json);
  EXPECT_TRUE(r.ok) << r.error << "\n" << json;
  EXPECT_TRUE(std::holds_alternative<T>(r.event)) << json;
  // Encoding the decoded event again gives the same text: nothing was lost or reordered.
  EXPECT_EQ(encode_event(r.event), json);
  return std::get<T>(r.event);
}

TEST(Contracts, RawLogRoundTrip) {
  RawLog e{"lg-1", 1767571200123, "orders", "orders-5d9c7b6f4d-x2kqp", "{\"level\":\"INFO\",\"msg\":\"ok \\u00e9\"}"};
  RawLog out = round_trip(e);
  EXPECT_EQ(out.line, e.line);
  EXPECT_EQ(out.ts, e.ts);
}

TEST(Contracts, LogRecordKeeps64BitTemplateIds) {
  LogRecord e;
  e.id = "lp-1";
  e.ts = 1767571200000;
  e.service = "orders";
  e.pod = "orders-1";
  e.level = LogLevel::Error;
  e.format = LogFormat::Text;
  e.logger = "c.s.OrderService";
  e.message = "Connection refused to 10.0.0.5:5432";
  e.template_id = 0xFFFFFFFFFFFFFFF1ULL;  // above 2^53: a JSON number would round it
  e.template_text = "Connection refused to <*>";
  e.params = {"10.0.0.5:5432"};
  e.attributes = {{"request_id", "r-9"}};
  e.stack = {"\tat c.s.Db.connect(Db.java:42)"};
  LogRecord out = round_trip(e);
  EXPECT_EQ(out.template_id, e.template_id);
  EXPECT_EQ(out.stack, e.stack);
  EXPECT_EQ(out.level, LogLevel::Error);
}

TEST(Contracts, MetricBatchHistogramWithInfiniteBucket) {
  MetricBatch b{"m-1", 1767571200000, "search", "search-1", {}};
  MetricSample h;
  h.name = "http_request_duration_seconds";
  h.kind = MetricKind::Histogram;
  h.value = 10;
  h.sum = 1.25;
  h.buckets = {{0.1, 4}, {0.5, 9}, {std::numeric_limits<double>::infinity(), 10}};
  b.samples.push_back(h);
  b.samples.push_back(MetricSample{"container_cpu_usage_millicores", MetricKind::Gauge, 250.5, {}, {}, 0});
  MetricBatch out = round_trip(b);
  ASSERT_EQ(out.samples.size(), 2u);
  ASSERT_EQ(out.samples[0].buckets.size(), 3u);
  EXPECT_TRUE(std::isinf(out.samples[0].buckets[2].upper_bound));
  EXPECT_DOUBLE_EQ(out.samples[0].buckets[1].cumulative_count, 9);
  EXPECT_DOUBLE_EQ(out.samples[1].value, 250.5);
}

TEST(Contracts, FeatureWindowAndAbsentValues) {
  FeatureWindow w;
  w.id = "w-1";
  w.start = 1767571140000;
  w.end = 1767571200000;
  w.service = "orders";
  w.source = FeatureSource::Logs;
  w.set("log_error", 3);
  w.set("latency_p95_s", kAbsent);
  w.top_templates.push_back({42, "Payment <*> failed", 3, "Payment p-1 failed", true});
  FeatureWindow out = round_trip(w);
  EXPECT_EQ(out.get("log_error"), 3);
  EXPECT_TRUE(std::isnan(out.get("latency_p95_s")));
  EXPECT_TRUE(std::isnan(out.get("missing")));
  ASSERT_EQ(out.top_templates.size(), 1u);
  EXPECT_TRUE(out.top_templates[0].is_new);
}

TEST(Contracts, AnomalyIncidentActionsRoundTrip) {
  Anomaly a;
  a.id = "ad-1";
  a.ts = 1767571200000;
  a.service = "orders";
  a.series = "orders:memory_utilization_max";
  a.signal = "memory_utilization_max";
  a.score = 0.93;
  a.value = 0.91;
  a.expected = 0.42;
  a.model = "robust-baseline";
  a.model_version = "3";
  a.time_to_exhaustion_s = 240;
  a.contributions.push_back({"memory_slope_bytes_per_s", 500000, 0, 0.9});
  a.labels = {{"severity", "critical"}};
  EXPECT_EQ(round_trip(a).contributions.size(), 1u);

  Incident i;
  i.id = "inc-1";
  i.revision = 3;
  i.type = IncidentType::MemoryLeak;
  i.status = IncidentStatus::Mitigating;
  i.severity = Severity::Critical;
  i.service = "orders";
  i.target_pod = "orders-1";
  i.affected_services = {"frontend"};
  i.title = "Memory leak in orders";
  i.opened_at = 1767571200000;
  i.evidence.push_back({"metric", "memory_utilization_max", "memory 91% of limit", 0.91, 0.42, 1767571200000});
  i.timeline.push_back({1767571200000, "opened"});
  i.anomaly_ids = {"ad-1"};
  Incident io = round_trip(i);
  EXPECT_EQ(io.type, IncidentType::MemoryLeak);
  EXPECT_EQ(io.status, IncidentStatus::Mitigating);
  EXPECT_EQ(io.revision, 3u);

  RemediationAction act;
  act.id = "act-1";
  act.ts = 1767571200000;
  act.incident_id = "inc-1";
  act.service = "orders";
  act.kind = ActionKind::DeletePod;
  act.namespace_name = "shop";
  act.target = "orders-1";
  act.status = ActionStatus::Skipped;
  act.reason = "cooldown: orders acted on 40s ago";
  EXPECT_EQ(round_trip(act).reason, act.reason);

  ActionResult r{"res-1", 1767571260000, "act-1", "inc-1", "orders", ActionStatus::Verified, "memory back to 40%"};
  EXPECT_EQ(round_trip(r).status, ActionStatus::Verified);
}

TEST(Contracts, SimulationEventsRoundTrip) {
  ServiceState s;
  s.id = "cs-1";
  s.ts = 1767571200000;
  s.tick_ms = 1000;
  s.service = "postgres";
  s.seed = 18446744073709551557ULL;
  PodState p;
  p.pod = "postgres-0";
  p.phase = "Running";
  p.ready = true;
  p.db_query_median_s = 0.004;
  p.conditions = {"pool_exhausted"};
  s.pods.push_back(p);
  ServiceState out = round_trip(s);
  EXPECT_EQ(out.seed, s.seed);
  EXPECT_DOUBLE_EQ(out.pods[0].db_query_median_s, 0.004);
  EXPECT_TRUE(std::isnan(out.pods[0].db_pool_waits_per_s));

  FaultLabel f{"f-1", 1767571200000, "orders", "memory_leak", "memory_leak", 1767571200000, 0, 1.5};
  EXPECT_EQ(round_trip(f).fault_type, "memory_leak");
}

TEST(Contracts, DecodeErrorsNameTheField) {
  EXPECT_EQ(decode_event("{not json").error, "not valid JSON");
  EXPECT_EQ(decode_event(R"({"type":"anomaly","v":1,"data":{"id":"a","ts":1,"service":"s","series":"x",)"
                         R"("signal":"x","score":"high","source":"model","model":"m"}})")
                .error,
            "data.score: expected a number, got string");
  EXPECT_EQ(decode_event(R"({"type":"raw_log","v":1,"data":{"id":"a","service":"s","line":"x"}})").error,
            "data.ts: missing");
  EXPECT_EQ(decode_event(R"({"type":"incident","v":1,"data":{"id":"i","revision":1,"type":"meltdown"}})").error,
            "data.type: unknown value \"meltdown\"");
  EXPECT_NE(decode_event(R"({"type":"raw_log","v":99,"data":{}})").error.find("unsupported schema version 99"),
            std::string::npos);
  EXPECT_EQ(decode_event(R"({"type":"spaceship","v":1,"data":{}})").error,
            "type: unknown event type \"spaceship\"");
  EXPECT_EQ(decode_event(R"({"type":"anomaly","v":1,"data":{"id":"a","ts":1,"service":"s","series":"x",)"
                         R"("signal":"x","score":7,"source":"model","model":"m"}})")
                .error,
            "data.score: must be in [0,1]");
}

TEST(Contracts, EnumNamesRoundTrip) {
  for (int i = 0; i <= static_cast<int>(IncidentType::DependencyOutage); ++i) {
    IncidentType t = static_cast<IncidentType>(i), back{};
    ASSERT_TRUE(parse_enum(to_string(t), back));
    EXPECT_EQ(back, t);
  }
  for (int i = 0; i <= static_cast<int>(ActionStatus::NotRecovered); ++i) {
    ActionStatus t = static_cast<ActionStatus>(i), back{};
    ASSERT_TRUE(parse_enum(to_string(t), back));
    EXPECT_EQ(back, t);
  }
  IncidentType untouched = IncidentType::CrashLoop;
  EXPECT_FALSE(parse_enum("nonsense", untouched));
  EXPECT_EQ(untouched, IncidentType::CrashLoop);
}

}  // namespace
}  // namespace selfheal
