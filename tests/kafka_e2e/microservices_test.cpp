// Every selfheal service in its own process, talking real Kafka protocol to `selfheal dev-broker`:
// (a) the demo scenario's loop completes as it does in `selfheal all`, with one incident per fault;
// (b) two log-processor instances share the work, one is SIGKILLed and the other takes over, with
//     no log lost (counted end to end) and no duplicate incident or action;
// (c) the broker goes away for 10 seconds and the services recover without losing events;
// (d) the classifier and the detector, killed and restarted mid-incident, go on from checkpoints.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include "bus/kafka_bus.hpp"
#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "logproc/log_parser.hpp"
#include "support/child_process.hpp"

namespace selfheal {
namespace {

using testing::ChildProcess;
using namespace std::chrono_literals;

const char* binary() { return std::getenv("SELFHEAL_BINARY"); }

struct Observed {
  std::map<std::string, FaultLabel> faults;
  std::map<std::string, Incident> incidents;
  std::vector<RemediationAction> actions;
  // End-to-end log count (when asked for): ids of raw lines that start a record, and ids of the
  // structured records (a record keeps the id of its first raw line).
  std::map<std::string, std::pair<TimeMs, std::string>> raw_record_ids;  // id -> (ts, service)
  std::set<std::string> structured_ids;
  TimeMs first_structured_ts = 0, latest_structured_ts = 0;
};

// The services of the demo loop, cluster-sim first (the remediator reads the kubeconfig it writes).
const std::vector<std::string> kPipeline = {"log-generator",    "metrics-generator", "log-processor",
                                            "metrics-processor", "anomaly-detector", "rule-engine",
                                            "incident-classifier", "remediator", "api"};

class Microservices {
 public:
  explicit Microservices(const std::string& name, bool count_logs = false) : count_logs_(count_logs) {
    dir_ = (std::filesystem::temp_directory_path() / ("selfheal-kafka-" + name + "-" + std::to_string(::getpid())))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    broker_ = std::make_unique<ChildProcess>(std::vector<std::string>{binary(), "dev-broker", "--partitions", "16"},
                                             dir_ + "/dev-broker.log", /*stdin_pipe=*/true);
    std::string line = broker_->wait_for_output("bootstrap.servers=", 20s);
    bootstrap_ = line.substr(line.find('=') + 1);
    anchor_ = format_iso8601(SystemClock().now());
  }
  ~Microservices() {
    for (auto& [name, p] : services_) p->stop(SIGTERM, 10s);
    broker_->stop(SIGTERM, 5s);
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir_);
  }

  const std::string& bootstrap() const { return bootstrap_; }
  ChildProcess& broker() { return *broker_; }
  ChildProcess& service(const std::string& key) { return *services_.at(key); }

  // `instance` tells two processes of one service apart (same consumer group).
  ChildProcess& start(const std::string& service, const std::string& instance = "") {
    std::vector<std::string> argv = {binary(), service,
                                     "--set", "bus.kind=kafka",
                                     "--set", "kafka.bootstrap_servers=" + bootstrap_,
                                     "--set", "kafka.properties=log_level=3",
                                     "--set", "clock.mode=sim",
                                     "--set", "clock.speed=" + speed_,
                                     "--set", "clock.anchor=" + anchor_,
                                     "--set", "admin.listen=127.0.0.1:0",
                                     "--set", "api.listen=127.0.0.1:0",
                                     "--set", "cluster_sim.listen=127.0.0.1:0",
                                     "--set", "cluster_sim.kubeconfig_out=" + dir_ + "/kubeconfig",
                                     "--set", "cluster_sim.truth_out=" + dir_ + "/truth.jsonl",
                                     "--set", "remediator.kubeconfig=" + dir_ + "/kubeconfig",
                                     "--set", "store.sqlite_path=" + dir_ + "/selfheal.db"};
    for (const auto& kv : settings_) {
      argv.push_back("--set");
      argv.push_back(kv);
    }
    std::string key = service + instance;
    auto p = std::make_unique<ChildProcess>(argv, dir_ + "/" + key + ".log");
    auto& ref = *p;
    services_[key] = std::move(p);
    return ref;
  }

  void start_all(const std::vector<std::string>& extra = {}) {
    start_observer();
    start("cluster-sim");
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!std::filesystem::exists(dir_ + "/kubeconfig") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);  // polling for the file, with a deadline
    ASSERT_TRUE(std::filesystem::exists(dir_ + "/kubeconfig")) << services_["cluster-sim"]->output();
    for (const auto& s : kPipeline) start(s);
    for (const auto& s : extra) start(s.substr(0, s.find('#')), s.substr(s.find('#')));
  }

  // The observer reads sim.truth, incidents and actions (and, with `count_logs`, logs.raw and
  // logs.structured) from the first event, one consumer group per topic so they join at once. It is
  // in its groups before any service starts: dev-broker keeps only ~5 MB per partition, and a
  // late observer would find the first logs gone. A marker record on logs.structured (which no
  // service reads) proves the groups are reading.
  void start_observer() {
    KafkaOptions o;
    o.bootstrap_servers = bootstrap_;
    o.properties = {"log_level=3"};
    observer_ = std::make_unique<KafkaBus>(o, nullptr);
    for (auto t : {topics::kGroundTruth, topics::kIncidents, topics::kActions})
      subs_.push_back(observer_->subscribe(t, "observer-" + std::string(t)));
    if (!count_logs_) return;
    for (auto t : {topics::kLogsRaw, topics::kLogsStructured})
      subs_.push_back(observer_->subscribe(t, "observer-" + std::string(t)));
    LogRecord marker;
    marker.id = "observer-marker";
    marker.ts = 1;
    marker.service = "observer";
    ASSERT_EQ(observer_->publish(topics::kLogsStructured, marker), PublishStatus::Ok);
    observer_->flush(5s);
    auto deadline = std::chrono::steady_clock::now() + 30s;
    std::vector<Delivery> batch;
    while (!seen_.structured_ids.count("observer-marker") && std::chrono::steady_clock::now() < deadline) {
      batch.clear();
      if (subs_.back()->poll(batch, 100) == 0) subs_.back()->wait(50ms);
      for (auto& d : batch) record(d.event);
    }
    ASSERT_TRUE(seen_.structured_ids.count("observer-marker")) << "the observer never joined its groups";
  }

  // Reads until `done(observed)` or the deadline; the observer keeps its place across calls.
  Observed& observe(std::chrono::seconds timeout, const std::function<bool(const Observed&)>& done) {
    std::vector<Delivery> batch;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline && !done(seen_)) {
      bool idle = true;
      for (auto& sub : subs_) {
        batch.clear();
        if (sub->poll(batch, 5000) > 0) idle = false;
        for (auto& d : batch) record(d.event);
        sub->commit();
      }
      if (idle) subs_.front()->wait(20ms);
      for (auto& [name, p] : services_)
        if (!p->running() && !killed_.count(name)) {
          ADD_FAILURE() << name << " exited:\n" << p->output();
          return seen_;
        }
    }
    return seen_;
  }

  // A config setting ("key=value") for every service started after this call.
  void set(const std::string& kv) { settings_.push_back(kv); }
  const std::string& dir() const { return dir_; }
  void mark_killed(const std::string& key) { killed_.insert(key); }
  std::string logs() {
    std::string out;
    for (auto& [name, p] : services_) {
      std::string o = p->output();
      out += "==== " + name + "\n" + (o.size() > 3000 ? o.substr(o.size() - 3000) : o) + "\n";
    }
    return out + "(full logs in " + dir_ + ")\n";
  }

 private:
  void record(const Event& e) {
    if (auto* f = std::get_if<FaultLabel>(&e)) seen_.faults[f->id] = *f;
    if (auto* i = std::get_if<Incident>(&e))
      if (!seen_.incidents.count(i->id) || seen_.incidents[i->id].revision < i->revision) seen_.incidents[i->id] = *i;
    if (auto* a = std::get_if<RemediationAction>(&e)) seen_.actions.push_back(*a);
    if (auto* r = std::get_if<RawLog>(&e))
      if (!logproc::is_continuation_line(r->line)) seen_.raw_record_ids[r->id] = {r->ts, r->service};
    if (auto* l = std::get_if<LogRecord>(&e)) {
      seen_.structured_ids.insert(l->id);
      if (l->service != "observer") {
        seen_.latest_structured_ts = std::max(seen_.latest_structured_ts, l->ts);
        if (seen_.first_structured_ts == 0 || l->ts < seen_.first_structured_ts) seen_.first_structured_ts = l->ts;
      }
    }
  }

  std::string dir_, bootstrap_, anchor_;
  // 60x: the demo's 40 simulated minutes in 40 s. Faster runs shift detection by Kafka latency x
  // speed (90x: ~1.5 simulated minutes), enough to move a relapse out of the classifier's reopen
  // window and open a second incident where `selfheal all` reopens the first.
  std::string speed_ = "60";
  std::unique_ptr<ChildProcess> broker_;
  std::map<std::string, std::unique_ptr<ChildProcess>> services_;
  std::set<std::string> killed_;
  std::vector<std::string> settings_;
  bool count_logs_ = false;
  std::unique_ptr<KafkaBus> observer_;
  std::vector<std::unique_ptr<Subscription>> subs_;
  Observed seen_;
};

// Every fault seen so far has a resolved incident of its expected type on its service.
bool all_faults_resolved(const Observed& seen, std::size_t min_faults) {
  if (seen.faults.size() < min_faults) return false;
  for (const auto& [id, f] : seen.faults) {
    bool ok = false;
    for (const auto& [iid, inc] : seen.incidents)
      ok = ok || (inc.service == f.service && to_string(inc.type) == f.expected_incident_type &&
                  inc.status == IncidentStatus::Resolved);
    if (!ok) return false;
  }
  return true;
}

// Every fault seen so far has an incident of its expected type on its service with an action that
// succeeded on it: detected, diagnosed and acted on.
bool all_faults_acted_on(const Observed& seen, std::size_t min_faults) {
  if (seen.faults.size() < min_faults) return false;
  for (const auto& [id, f] : seen.faults) {
    bool ok = false;
    for (const auto& [iid, inc] : seen.incidents) {
      if (inc.service != f.service || to_string(inc.type) != f.expected_incident_type) continue;
      for (const auto& a : seen.actions)
        ok = ok || (a.incident_id == iid && a.status == ActionStatus::Succeeded);
    }
    if (!ok) return false;
  }
  return true;
}

// Faults and incidents as seen, for failure messages.
std::string describe(const Observed& seen) {
  std::string text;
  for (const auto& [id, f] : seen.faults)
    text += id + " " + f.fault_type + " on " + f.service + " from " + format_iso8601(f.start) + "\n";
  for (const auto& [id, i] : seen.incidents)
    text += id + " " + std::string(to_string(i.type)) + " on " + i.service + " opened " +
            format_iso8601(i.opened_at) + " " + std::string(to_string(i.status)) + " (revision " +
            std::to_string(i.revision) + "): " + i.summary + "\n";
  return text;
}

// Exactly one incident per fault, and no action carried out twice (action ids derive from the
// incident snapshot that caused them, so a re-processed snapshot would repeat an id). A relapse of
// the same incident is a new snapshot and a new episode: its actions are not duplicates.
void expect_no_duplicates(const Observed& seen) {
  EXPECT_EQ(seen.incidents.size(), seen.faults.size()) << describe(seen);
  std::map<std::string, int> by_id;
  for (const auto& a : seen.actions)
    if (a.status == ActionStatus::Succeeded) ++by_id[a.id];
  for (const auto& [id, n] : by_id) EXPECT_EQ(n, 1) << "action " << id << " succeeded " << n << " times";
  EXPECT_FALSE(by_id.empty()) << "no action was executed";
}

// Keys a service restored from checkpoints: each gained partition logs "state of N key(s)
// restored from checkpoints".
int keys_restored(const std::string& out) {
  int restored = 0;
  for (auto at = out.find("state of "); at != std::string::npos; at = out.find("state of ", at + 1))
    if (out.compare(out.find(' ', at + 9), 7, " key(s)") == 0) restored += std::atoi(out.c_str() + at + 9);
  return restored;
}

// Raw lines that start a record, up to a minute (simulated) before the newest structured record,
// that never came out of the log processors.
std::size_t logs_missing(const Observed& seen) {
  const TimeMs cutoff = seen.latest_structured_ts - 60'000;
  std::size_t missing = 0;
  for (const auto& [id, where] : seen.raw_record_ids)
    if (where.first <= cutoff && !seen.structured_ids.count(id)) ++missing;
  return missing;
}

// No action carried out twice, and no two incidents of one type on one service open at the same
// time (what a duplicate delivery would make). Weaker than one incident per fault: an incident
// that was resolved and then followed by another for the same service is the classifier's call
// (it reopens in `selfheal all`), not a bus duplicate.
void expect_no_concurrent_duplicates(const Observed& seen) {
  std::vector<const Incident*> all;
  for (const auto& [id, i] : seen.incidents) all.push_back(&i);
  for (std::size_t a = 0; a < all.size(); ++a)
    for (std::size_t b = a + 1; b < all.size(); ++b) {
      const Incident& x = *all[a];
      const Incident& y = *all[b];
      if (x.service != y.service || x.type != y.type) continue;
      const TimeMs x_end = x.resolved_at > 0 ? x.resolved_at : std::numeric_limits<TimeMs>::max();
      const TimeMs y_end = y.resolved_at > 0 ? y.resolved_at : std::numeric_limits<TimeMs>::max();
      EXPECT_FALSE(x.opened_at < y_end && y.opened_at < x_end)
          << x.id << " and " << y.id << " were open at the same time\n" << describe(seen);
    }
  std::map<std::string, int> by_id;
  for (const auto& a : seen.actions)
    if (a.status == ActionStatus::Succeeded) ++by_id[a.id];
  for (const auto& [id, n] : by_id) EXPECT_EQ(n, 1) << "action " << id << " succeeded " << n << " times";
  EXPECT_FALSE(by_id.empty()) << "no action was executed";
}

// Every raw line that starts a record, up to a minute (simulated) before the newest structured
// record, came out of the log processors: nothing was lost on the way.
void expect_no_log_lost(const Observed& seen) {
  const TimeMs cutoff = seen.latest_structured_ts - 60'000;
  std::size_t counted = 0, missing = 0;
  std::map<std::string, std::pair<TimeMs, TimeMs>> missing_span;  // service -> first, last missing ts
  std::string examples;
  for (const auto& [id, where] : seen.raw_record_ids) {
    const auto& [ts, service] = where;
    if (ts > cutoff) continue;
    ++counted;
    if (seen.structured_ids.count(id)) continue;
    if (++missing <= 3) examples += id + " ";
    auto [it, fresh] = missing_span.try_emplace(service, ts, ts);
    it->second.first = std::min(it->second.first, ts);
    it->second.second = std::max(it->second.second, ts);
  }
  std::string spans;
  for (const auto& [service, span] : missing_span)
    spans += service + " " + format_iso8601(span.first) + ".." + format_iso8601(span.second) + "; ";
  EXPECT_GT(counted, 1000u) << "too few logs to count";
  EXPECT_EQ(missing, 0u) << missing << " of " << counted << " raw log records never came out, e.g. " << examples
                         << "\nmissing per service: " << spans;
}

// (a), as far as it holds reliably: every service in its own process finds both faults of the
// demo, types them right on the right service and repairs them, and no action runs twice.
TEST(Microservices, DemoLoopDetectsAndRepairsEveryFaultWithEveryServiceInItsOwnProcess) {
#if defined(__SANITIZE_ADDRESS__)
  // The loop races the simulated cluster in wall time (60x): eleven sanitized processes on two cores
  // fall minutes behind it, so the repair comes late and the run says nothing about memory safety
  // that the KafkaBus, state rebuild and replay tests (same bus code, under ASan) do not.
  GTEST_SKIP() << "wall-time race against the simulation; not meaningful under AddressSanitizer";
#endif
  ASSERT_NE(binary(), nullptr);
  Microservices m("loop");
  ASSERT_FALSE(m.bootstrap().empty());
  m.start_all();
  // The second fault starts at 20 simulated minutes (20 s at 60x) and is acted on within a minute.
  Observed seen = m.observe(50s, [](const Observed& s) { return all_faults_acted_on(s, 2); });
  EXPECT_TRUE(all_faults_acted_on(seen, 2)) << describe(seen) << m.logs();
  std::map<std::string, int> by_id;
  for (const auto& a : seen.actions)
    if (a.status == ActionStatus::Succeeded) ++by_id[a.id];
  for (const auto& [id, n] : by_id) EXPECT_EQ(n, 1) << "action " << id << " succeeded " << n << " times";
}

// (a) in full, as `selfheal all --once` judges it: every fault's incident resolved, exactly one
// incident per fault, no action twice.
//
// Until 2026-12-07 this failed 2 of 10 runs: the CPU spike's incident came back to the remediator
// within the 5-minute cooldown of its own scale step (a later revision starts a new run only as a
// relapse, resolved -> open), the cooldown skipped the new run's step and the remediator escalated
// (the incident never resolved). A step held back only by the same incident's
// earlier step is now deferred until the cooldown ends (src/remediator/README.md). Since then
// (2026-12-07, load average 0.9-5.8, 29-40 s each): 14 of 15 runs passed, the last 11 in a row; the
// one failure ran beside a full `selfheal eval` and ended with the spike's incident still
// mitigating (its second scale step taken, not yet resolved) when the 55 s were up.
// Later the same day a CI-like clean-clone run failed once (passed on the retry): search's CPU
// spike was typed a bad state of frontend, frontend's latency alert having been handled before any
// of search's (a callee at its CPU limit is now the culprit, src/classifier/README.md). After that
// fix 15 of 16 runs passed (27-35 s); the failure again ended with the spike's incident mitigating:
// scaled once, verified healthy at 00:22:50, last anomaly of search at 00:26:20, the classifier at
// 00:29:30 or later, not resolved (which signal held it back was not found; the classifier now logs
// "<id> stays mitigating: ... but <signal> on <service> is ...", printed with the logs on a
// failure). `make test` retries these cases once (Makefile).
TEST(Microservices, DemoLoopCompletesWithOneIncidentPerFault) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "wall-time race against the simulation; not meaningful under AddressSanitizer";
#endif
  ASSERT_NE(binary(), nullptr);
  Microservices m("loop-full");
  m.start_all();
  Observed seen = m.observe(55s, [](const Observed& s) { return all_faults_resolved(s, 2); });
  EXPECT_TRUE(all_faults_resolved(seen, 2)) << describe(seen) << m.logs();
  expect_no_duplicates(seen);
}

// (b) Two log processors share logs.raw; one is SIGKILLed. The survivor takes its partitions once
// the dead member's session times out (6 s), rebuilds their state from the look-back before the
// committed offsets (bus.rebuild_lookback) and reads on from there: every raw record comes out,
// both faults are acted on, one incident per fault, no action twice. 6 of 6 runs passed on
// 2026-12-07 (28-31 s; take-over 10.7-11.4 s after the kill).
TEST(Microservices, SecondLogProcessorTakesOverWhenOneIsKilled) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "wall-time race against the simulation; not meaningful under AddressSanitizer";
#endif
  ASSERT_NE(binary(), nullptr);
  Microservices m("takeover", /*count_logs=*/true);
  // A third of the demo's request logs: one log processor must keep up alone after the kill on two
  // shared cores, and catch up on the dead one's partitions before dev-broker's ~5 MB per
  // partition (at 60x, ~8 s of the busiest service's logs at full volume) drops them.
  m.set("log_generator.request_sample=0.05");
  m.start_all({"log-processor#2"});
  // Both instances share the group's partitions before one dies.
  ASSERT_NE(m.service("log-processor").wait_for_output("assigned", 20s), "") << m.logs();
  ASSERT_NE(m.service("log-processor#2").wait_for_output("assigned", 20s), "") << m.logs();
  // The kill comes 4 simulated minutes in: the take-over (the dead member's 6 s session, then the
  // rebalance: ~11 s, i.e. 11 simulated minutes at 60x) is over before the first fault is
  // detected, so the loop is judged on what the survivor does, not on an 11-minute blind spot.
  Observed& first = m.observe(25s, [](const Observed& s) {
    return s.first_structured_ts > 0 && s.latest_structured_ts - s.first_structured_ts >= 4 * 60'000;
  });
  ASSERT_GE(first.latest_structured_ts - first.first_structured_ts, 4 * 60'000) << m.logs();
  m.mark_killed("log-processor#2");
  m.service("log-processor#2").stop(SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  // Done when every fault is detected, typed and acted on (as in the enabled loop test: whether
  // it then resolves is the classifier's matter, judged by the full-loop test), the survivor holds
  // every partition and has caught up on what the dead one left (no record missing up to a
  // simulated minute before the newest).
  bool took_over = false;
  double take_over_s = 0;
  auto& survivor = m.service("log-processor");
  Observed seen = m.observe(50s, [&](const Observed& s) {
    if (!took_over && survivor.output().find("assigned 16 partition(s) of logs.raw") != std::string::npos) {
      took_over = true;
      take_over_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
    }
    return took_over && all_faults_acted_on(s, 2) && logs_missing(s) == 0;
  });
  EXPECT_TRUE(took_over) << "the survivor never took over every partition\n" << m.logs();
  std::printf("take-over %.1f s after the kill\n", take_over_s);
  // The dead member's templates came with its partitions (checkpoints), not only its windows.
  const int restored = keys_restored(survivor.output());
  std::printf("the survivor restored %d key(s)\n", restored);
  EXPECT_GT(restored, 0) << "the survivor restored no state from checkpoints\n" << survivor.output();
  EXPECT_TRUE(all_faults_acted_on(seen, 2)) << describe(seen) << m.logs();
  expect_no_duplicates(seen);
  expect_no_log_lost(seen);
}

// Every broker goes away for 10 s; the services recover without losing events: producers keep
// what they make meanwhile, consumers lose their group sessions, rejoin when the broker is back
// (reconnects back off at most 1 s) and go on from their committed offsets, keeping their state
// (they get back the partitions they had: no rebuild). Counted end to end: every raw record comes
// out, both faults are detected and acted on, no two incidents of a kind on a service open at once
// and no action twice (exactly one incident per fault is not asserted: after a 10-minute blind
// spot the classifier once resolved the leak's incident at its first revisions and opened another).
//
// Until 2026-12-07 this passed about half the runs: after the outage the classifier or the
// remediator stopped handling anything. Cause: EventService's event-time merge of several inputs
// bounded the others by the *last* event a full input held; after the outage an input's events
// come out of time order, the bound fell before every held event and the service never moved
// again (runtime/event_service.cpp; regression test in tests/bus/idempotent_consumer_test.cpp).
// With the bound at the newest event held: 24 of 25 runs passed (2026-12-07, load average 1.4-3.5,
// 27-35 s each, logs caught up 2.2-5.6 s after `up`; before the fix, same day: 2 of 6). The one
// failure: two memory-leak incidents on orders open at once, both opened by the classifier in one
// tick without any rebalance in between (its correlation by time; see src/bus/README.md, Known
// limits). Not the bus: every event was handled once. Fixed the same day: an open incident keeps
// taking its own service's anomalies after a gap longer than the correlation window (the outage's
// 10 simulated minutes); since then 3 of 3 runs, 2 incidents for 2 faults each.
TEST(Microservices, ServicesRecoverAfterTheBrokerIsGoneForTenSeconds) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "wall-time race against the simulation; not meaningful under AddressSanitizer";
#endif
  ASSERT_NE(binary(), nullptr);
  Microservices m("outage", /*count_logs=*/true);
  // Fewer request logs (a third): what the producers kept during the outage reaches the broker in
  // one burst, which must stay within dev-broker's ~5 MB per partition until it is read.
  m.set("log_generator.request_sample=0.05");
  m.start_all();
  // The outage comes 2 simulated minutes in and lasts 10 s of wall time (10 simulated minutes at
  // 60x): over the start of the memory leak (5 min) and before its detection, so the loop is
  // judged on what the services do once they are back, not on a fault left alone for 10 minutes.
  Observed& before = m.observe(25s, [](const Observed& s) {
    return s.first_structured_ts > 0 && s.latest_structured_ts - s.first_structured_ts >= 2 * 60'000;
  });
  ASSERT_GE(before.latest_structured_ts - before.first_structured_ts, 2 * 60'000) << m.logs();
  m.broker().write_line("down");
  ASSERT_NE(m.broker().wait_for_output("ok down", 5s), "");
  std::this_thread::sleep_for(10s);  // the outage itself: a duration, not a condition
  m.broker().write_line("up");
  const auto up_at = std::chrono::steady_clock::now();
  double caught_up_s = -1;
  Observed seen = m.observe(45s, [&](const Observed& s) {
    if (caught_up_s < 0 && s.latest_structured_ts - s.first_structured_ts >= 13 * 60'000 && logs_missing(s) == 0)
      caught_up_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - up_at).count();
    return all_faults_acted_on(s, 2) && logs_missing(s) == 0;
  });
  std::printf("logs caught up %.1f s after the broker came back\n", caught_up_s);
  // The outage cost the consumers their group sessions (else this tested no recovery).
  EXPECT_NE(m.service("log-processor").output().find("revoked"), std::string::npos)
      << "the log processor kept its partitions through the outage\n" << m.logs();
  EXPECT_TRUE(all_faults_acted_on(seen, 2)) << describe(seen) << m.logs();
  std::printf("%zu incident(s) for %zu fault(s)\n", seen.incidents.size(), seen.faults.size());
  expect_no_concurrent_duplicates(seen);
  expect_no_log_lost(seen);
}

// Point 4 end to end: the classifier and the detector are SIGKILLed while the leak's incident is
// open, minutes after it opened, and started again. The look-back is cut to 30 s (it cannot carry
// an incident opened minutes before, nor the detector's baselines), so what the new processes know
// comes from the checkpoints on the `state` topic: the restarted classifier goes on with the same
// incident (one incident per fault, every fault's incident resolved), and the restarted detector
// goes on scoring with the learned baselines (the CPU spike, 20 simulated minutes in, is found).
TEST(Microservices, RestartedClassifierAndDetectorGoOnWithTheOpenIncident) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "wall-time race against the simulation; not meaningful under AddressSanitizer";
#endif
  ASSERT_NE(binary(), nullptr);
  Microservices m("restart");
  m.set("bus.rebuild_lookback=30s");
  m.start_all();
  // An incident open for at least a simulated minute and a half: older than the look-back.
  std::string open_id;
  Observed& before = m.observe(40s, [&](const Observed& s) {
    for (const auto& [id, i] : s.incidents)
      if (i.status != IncidentStatus::Resolved && i.updated_at - i.opened_at >= 90'000) open_id = id;
    return !open_id.empty();
  });
  ASSERT_FALSE(open_id.empty()) << describe(before) << m.logs();
  for (const std::string s : {"incident-classifier", "anomaly-detector"}) {
    m.mark_killed(s);
    m.service(s).stop(SIGKILL);
    m.start(s, "#restarted");
  }
  Observed seen = m.observe(60s, [](const Observed& s) { return all_faults_resolved(s, 2); });
  EXPECT_TRUE(all_faults_resolved(seen, 2)) << describe(seen) << m.logs();
  ASSERT_TRUE(seen.incidents.count(open_id));
  EXPECT_EQ(seen.incidents.at(open_id).status, IncidentStatus::Resolved)
      << "the incident open at the kill was not carried on\n" << describe(seen);
  expect_no_duplicates(seen);
  for (const std::string s : {"incident-classifier#restarted", "anomaly-detector#restarted"}) {
    const int restored = keys_restored(m.service(s).output());
    std::printf("%s restored %d key(s)\n", s.c_str(), restored);
    EXPECT_GT(restored, 0) << s << " restored nothing from checkpoints:\n" << m.service(s).output();
  }
}

}  // namespace
}  // namespace selfheal
