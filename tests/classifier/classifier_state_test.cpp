// The classifier's per-service state (save_service / restore_service): what moves with a partition.
// A classifier that restores another's state and then sees the rest of the stream must publish
// exactly what the other publishes; one that starts empty must not (or the test proves nothing).
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "classifier/incident_classifier.hpp"
#include "contracts/events_json.hpp"

namespace selfheal::classifier {
namespace {

constexpr TimeMs T0 = 1'700'000'000'000;
constexpr TimeMs S = 1000;
const std::vector<std::string> kServices = {"frontend", "orders", "payments", "search", "inventory", "cache", "postgres"};

ClassifierOptions options() {
  ClassifierOptions o;
  o.decide_delay_ms = 5 * S;
  o.resolve_hold_ms = 60 * S;
  o.reopen_window_ms = 600 * S;
  o.catch_up_max_ms = 0;
  return o;
}

// Events of one stream, each applied to a classifier; what it returns is collected.
using Step = std::function<std::vector<Incident>(IncidentClassifier&)>;

Anomaly anomaly(const std::string& id, TimeMs ts, const std::string& service, const std::string& signal, double value,
                double expected, double score, const std::string& pod = "", double tte_s = kAbsent) {
  Anomaly a;
  a.id = id;
  a.ts = ts;
  a.service = service;
  a.pod = pod;
  a.signal = signal;
  a.series = service + ":" + signal;
  a.value = value;
  a.expected = expected;
  a.score = score;
  a.model = "robust-baseline";
  a.model_version = "v1";
  a.time_to_exhaustion_s = tte_s;
  return a;
}

FeatureWindow window(TimeMs end, const std::string& service, std::vector<std::pair<std::string, double>> features,
                     const std::string& pod = "") {
  FeatureWindow w;
  w.id = "w-" + service + pod + "-" + std::to_string(end);
  w.start = end - 10 * S;
  w.end = end;
  w.service = service;
  w.pod = pod;
  w.features = std::move(features);
  return w;
}

std::vector<std::pair<std::string, double>> calm() {
  return {{"latency_p95_s", 0.1},          {"error_ratio", 0.01},  {"requests_per_s", 100},
          {"cpu_utilization_mean", 0.3},  {"memory_utilization_max", 0.4}, {"restarts", 0}};
}

const std::string kPod = "payments-0123456789-aaaaa";

// First part: calm baselines, then a memory leak on payments (orders, its caller, slows down as a
// victim), published and acted on; a weak anomaly on search waits as pending evidence.
std::vector<Step> first_part(std::string* incident_id) {
  std::vector<Step> steps;
  for (TimeMs t = T0 - 60 * S; t <= T0; t += 10 * S)
    for (const char* s : {"payments", "orders", "search"})
      steps.push_back([=](IncidentClassifier& c) { return c.on_features(window(t, s, calm())); });
  steps.push_back([](IncidentClassifier& c) {
    FeatureWindow w = window(T0 + 5 * S, "payments", {{"log_lines", 100}});
    w.source = FeatureSource::Logs;
    w.top_templates = {TemplateCount{42, "GC overhead limit exceeded in <*>", 7, "GC overhead limit exceeded in worker-3", true}};
    return c.on_features(w);
  });
  const TimeMs t = T0 + 10 * S;
  steps.push_back([=](IncidentClassifier& c) {
    return c.on_features(window(t, "payments", {{"memory_utilization_max", 0.93}, {"memory_slope_bytes_per_s", 3e5}}, kPod));
  });
  steps.push_back([=](IncidentClassifier& c) {
    return c.on_anomaly(anomaly("m1", t, "payments", "memory_slope_bytes_per_s", 3e5, 1e3, 0.97, kPod, 400));
  });
  steps.push_back([=](IncidentClassifier& c) {
    return c.on_anomaly(anomaly("o1", t + 5 * S, "orders", "latency_p95_s", 0.9, 0.1, 0.9));
  });
  steps.push_back([=](IncidentClassifier& c) { return c.on_tick(t + 20 * S); });
  // Weak evidence on an unrelated service: one anomaly below open_score waits for a second.
  steps.push_back([=](IncidentClassifier& c) {
    return c.on_anomaly(anomaly("s1", t + 25 * S, "search", "latency_p95_s", 0.4, 0.1, 0.7));
  });
  steps.push_back([=](IncidentClassifier& c) {
    RemediationAction act;
    act.id = "act-1";
    act.ts = t + 30 * S;
    act.incident_id = *incident_id;
    act.service = "payments";
    act.kind = ActionKind::RolloutRestart;
    act.target = "payments";
    act.status = ActionStatus::Succeeded;
    act.reason = "playbook memory_leak step 0";
    return c.on_action(act);
  });
  steps.push_back([=](IncidentClassifier& c) {
    ActionResult r;
    r.id = "res-1";
    r.ts = t + 40 * S;
    r.action_id = "act-1";
    r.incident_id = *incident_id;
    r.service = "payments";
    r.status = ActionStatus::Succeeded;
    r.detail = "rollout restarted";
    return c.on_result(r);
  });
  steps.push_back([=](IncidentClassifier& c) { return c.on_tick(t + 45 * S); });
  return steps;
}

// The rest: the leak's anomaly redelivered (at-least-once), the leak still alerting, the result
// redelivered, the second search anomaly (which opens only with the first one pending), then
// recovery and the hold.
std::vector<Step> rest(std::string* incident_id) {
  std::vector<Step> steps;
  const TimeMs t = T0 + 60 * S;
  steps.push_back([=](IncidentClassifier& c) {
    return c.on_anomaly(anomaly("m1", T0 + 10 * S, "payments", "memory_slope_bytes_per_s", 3e5, 1e3, 0.97, kPod, 400));
  });
  steps.push_back([=](IncidentClassifier& c) {
    return c.on_anomaly(anomaly("m2", t, "payments", "memory_utilization_max", 0.95, 0.4, 0.99, kPod));
  });
  steps.push_back([=](IncidentClassifier& c) {
    ActionResult r;
    r.id = "res-1";
    r.ts = T0 + 50 * S;
    r.action_id = "act-1";
    r.incident_id = *incident_id;
    r.service = "payments";
    r.status = ActionStatus::Succeeded;
    r.detail = "rollout restarted";
    return c.on_result(r);
  });
  steps.push_back([=](IncidentClassifier& c) {
    return c.on_anomaly(anomaly("s2", t + 5 * S, "search", "latency_p95_s", 0.45, 0.1, 0.7));
  });
  steps.push_back([=](IncidentClassifier& c) { return c.on_tick(t + 20 * S); });
  for (TimeMs w = t + 30 * S; w <= t + 200 * S; w += 10 * S) {
    steps.push_back([=](IncidentClassifier& c) { return c.on_features(window(w, "payments", calm())); });
    steps.push_back([=](IncidentClassifier& c) {
      return c.on_features(window(w, "payments", {{"memory_utilization_max", 0.41}, {"memory_slope_bytes_per_s", 0}}, kPod));
    });
    steps.push_back([=](IncidentClassifier& c) { return c.on_features(window(w, "orders", calm())); });
    steps.push_back([=](IncidentClassifier& c) { return c.on_features(window(w, "search", calm())); });
    steps.push_back([=](IncidentClassifier& c) { return c.on_tick(w + S); });
  }
  return steps;
}

std::vector<Incident> run(IncidentClassifier& c, const std::vector<Step>& steps, std::string* incident_id = nullptr) {
  std::vector<Incident> out;
  for (const Step& s : steps)
    for (Incident& i : s(c)) {
      if (incident_id && incident_id->empty()) *incident_id = i.id;
      out.push_back(std::move(i));
    }
  return out;
}

std::map<std::string, nlohmann::json> save_all(const IncidentClassifier& c) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& s : kServices) out[s] = c.save_service(s);
  return out;
}

std::string encoded(const std::vector<Incident>& snaps) {
  std::string out;
  for (const Incident& i : snaps) out += encode_event(Event(i)) + "\n";
  return out;
}

std::set<std::string> ids_of(const std::vector<Incident>& snaps, const std::string& service) {
  std::set<std::string> out;
  for (const Incident& i : snaps)
    if (i.service == service) out.insert(i.id);
  return out;
}

class ClassifierState : public ::testing::Test {
 protected:
  // A handles the first part; its per-service state is saved.
  void SetUp() override {
    before_ = run(a_, first_part(&incident_id_), &incident_id_);
    ASSERT_FALSE(incident_id_.empty()) << "the first part must publish the leak";
    ASSERT_EQ(before_.back().status, IncidentStatus::Mitigating);
    ASSERT_EQ(before_.back().type, IncidentType::MemoryLeak);
    ASSERT_EQ(a_.pending_anomalies(), 1u);  // s1
    saved_ = save_all(a_);
  }

  IncidentClassifier a_{options()};
  std::vector<Incident> before_;
  std::string incident_id_;
  std::map<std::string, nlohmann::json> saved_;
};

TEST_F(ClassifierState, RestoredClassifierPublishesWhatTheOriginalDoes) {
  // Moved through text, as the checkpoint topic carries it.
  IncidentClassifier b(options());
  for (const auto& [service, state] : saved_) b.restore_service(service, nlohmann::json::parse(state.dump()));
  EXPECT_EQ(b.active_incidents(), a_.active_incidents());
  EXPECT_EQ(b.pending_anomalies(), 1u);
  for (const auto& [service, state] : saved_) EXPECT_EQ(b.save_service(service), state) << service;

  const std::vector<Incident> out_a = run(a_, rest(&incident_id_));
  const std::vector<Incident> out_b = run(b, rest(&incident_id_));
  ASSERT_FALSE(out_a.empty());
  // Every field of every snapshot, in order: ids, revisions, status, type, evidence, timeline.
  EXPECT_EQ(encoded(out_b), encoded(out_a));
  ASSERT_EQ(out_a.size(), out_b.size());
  for (std::size_t i = 0; i < out_a.size(); ++i) {
    EXPECT_EQ(out_b[i].id, out_a[i].id);
    EXPECT_EQ(out_b[i].revision, out_a[i].revision);
    EXPECT_EQ(out_b[i].status, out_a[i].status);
    EXPECT_EQ(out_b[i].type, out_a[i].type);
  }
  // The stream's outcome, so that equality is not equality of nothing: the leak goes on in the
  // same incident and resolves; the redelivered anomaly and result were recognised; the search
  // evidence pending at the save opened its own incident, with an id of its own.
  EXPECT_EQ(ids_of(out_b, "payments"), std::set<std::string>{incident_id_});
  bool resolved = false;
  for (const Incident& i : out_b) resolved = resolved || (i.id == incident_id_ && i.status == IncidentStatus::Resolved);
  EXPECT_TRUE(resolved);
  EXPECT_EQ(b.duplicates_ignored(), 2u);
  const auto search = ids_of(out_b, "search");
  ASSERT_EQ(search.size(), 1u);
  EXPECT_NE(*search.begin(), incident_id_);
}

TEST_F(ClassifierState, WithoutTheRestoreTheSameFaultOpensASecondIncident) {
  // The control: a classifier that starts empty takes the redelivered anomaly for a new fault and
  // misses the search evidence that was pending — what restoring prevents.
  IncidentClassifier fresh(options());
  const std::vector<Incident> out = run(fresh, rest(&incident_id_));
  const auto payments = ids_of(out, "payments");
  ASSERT_EQ(payments.size(), 1u);
  EXPECT_EQ(payments.count(incident_id_), 1u) << "a fresh classifier mints the same id again";
  bool opened_again = false;
  for (const Incident& i : out) opened_again = opened_again || (i.id == incident_id_ && i.revision == 1);
  EXPECT_TRUE(opened_again) << "the fresh classifier should have opened the fault again at revision 1";
  EXPECT_TRUE(ids_of(out, "search").empty());
  EXPECT_EQ(fresh.duplicates_ignored(), 0u);
}

TEST_F(ClassifierState, MalformedStateThrowsNamingTheFieldAndChangesNothing) {
  IncidentClassifier b(options());
  for (const auto& [service, state] : saved_) b.restore_service(service, state);
  const nlohmann::json good = saved_.at("payments");
  ASSERT_TRUE(good.is_object());
  ASSERT_FALSE(good.at("incidents").empty());
  ASSERT_FALSE(good.at("seen").empty());

  auto expect_named = [&](nlohmann::json bad, const std::string& field) {
    try {
      b.restore_service("payments", bad);
      ADD_FAILURE() << "no exception for a bad " << field;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
    EXPECT_EQ(b.save_service("payments"), good) << "a failed restore changed the state (" << field << ")";
  };
  {
    // Valid up to its last field: a restore that applied what it had read so far would drop the
    // incident.
    nlohmann::json bad = good;
    bad["incidents"] = nlohmann::json::array();
    bad["pending"] = nlohmann::json::array();
    bad["seen"][0]["id"] = 5;
    expect_named(bad, "seen[0].id");
  }
  {
    nlohmann::json bad = good;
    bad["incidents"][0]["incident"]["revision"] = "three";
    expect_named(bad, "incidents[0].incident.revision");
  }
  {
    nlohmann::json bad = good;
    bad["incidents"][0].erase("last_signal_ts");
    expect_named(bad, "incidents[0].last_signal_ts");
  }
  {
    nlohmann::json bad = good;
    bad["incidents"][0]["observations"][0]["first_ts"] = nullptr;
    expect_named(bad, "incidents[0].observations[0].first_ts");
  }
  {
    nlohmann::json bad = good;
    bad["incidents"][0]["incident"]["service"] = "orders";
    expect_named(bad, "incidents[0].incident.service");
  }
  expect_named(nlohmann::json::array(), "state");
  // Unchanged also in what it does next.
  EXPECT_EQ(encoded(run(b, rest(&incident_id_))), encoded(run(a_, rest(&incident_id_))));
}

TEST_F(ClassifierState, NothingHeldIsNullAndNullClearsAService) {
  EXPECT_TRUE(a_.save_service("cache").is_null());
  IncidentClassifier b(options());
  for (const auto& [service, state] : saved_) b.restore_service(service, state);
  ASSERT_EQ(b.active_incidents(), 1u);
  b.restore_service("payments", nullptr);  // the key's newest checkpoint says nothing is held
  EXPECT_EQ(b.active_incidents(), 0u);
  EXPECT_TRUE(b.save_service("payments").is_null());
  EXPECT_EQ(b.save_service("orders"), saved_.at("orders"));
}

TEST_F(ClassifierState, NewIdsNeverRepeatARestoredOne) {
  // After a restore the next incident opened gets a new id, not one of the restored incidents'
  // (a fresh classifier would mint the first id again: see WithoutTheRestore...).
  IncidentClassifier b(options());
  b.restore_service("payments", saved_.at("payments"));
  std::string search_id;
  run(b, {[](IncidentClassifier& c) { return c.on_anomaly(anomaly("x1", T0 + 70 * S, "search", "cpu_utilization_mean", 0.97, 0.3, 0.97)); },
          [](IncidentClassifier& c) { return c.on_tick(T0 + 80 * S); }},
      &search_id);
  ASSERT_FALSE(search_id.empty());
  EXPECT_NE(search_id, incident_id_);
  EXPECT_EQ(b.incidents_of("payments").size(), 1u);
  EXPECT_EQ(b.incidents_of("payments")[0].id, incident_id_);
}

}  // namespace
}  // namespace selfheal::classifier
