#include "app/narrator.hpp"

#include <unistd.h>

#include <cstdio>
#include <map>

#include "contracts/topics.hpp"
#include "core/clock.hpp"
#include "core/config.hpp"
#include "runtime/event_service.hpp"

namespace selfheal {
namespace {

class Narrator final : public EventService {
 public:
  explicit Narrator(const Config& config)
      : enabled_(config.boolean("ui.story")),
        color_(config.str("ui.color") == "always" ||
               (config.str("ui.color") == "auto" && isatty(STDOUT_FILENO))) {}

  std::string_view name() const override { return "narrator"; }

  void start(ServiceContext& ctx) override {
    bind(ctx);
    consume(topics::kGroundTruth);
    consume(topics::kIncidents);
    consume(topics::kActions);
  }

  RunOutcome outcome() const {
    RunOutcome o;
    for (const auto& [id, f] : faults_) {
      ++o.faults;
      if (f.repaired) ++o.faults_repaired;
    }
    return o;
  }

  void stop() override {
    if (!enabled_ || faults_.empty()) return;
    RunOutcome o = outcome();
    int active = 0;
    for (const auto& [id, f] : faults_) active += f.label.end == 0 && !f.repaired;
    if (active > 0) {  // stopped mid-scenario (Ctrl-C): say so rather than call faults missed
      say(last_ts_, "33", "STOPPED",
          std::to_string(o.faults_repaired) + "/" + std::to_string(o.faults) + " injected faults repaired so far, " +
              std::to_string(active) + " still active");
      return;
    }
    say(last_ts_, o.all_repaired() ? "32" : "33", "SUMMARY",
        std::to_string(o.faults_repaired) + "/" + std::to_string(o.faults) +
            " injected faults detected and repaired");
    for (const auto& [id, f] : faults_)
      if (!f.repaired) say(last_ts_, "33", "  MISSED", f.label.fault_type + " on " + f.label.service);
  }

 protected:
  void handle(const Delivery& d) override {
    last_ts_ = std::max(last_ts_, event_time(d.event));
    if (const auto* f = std::get_if<FaultLabel>(&d.event)) on_fault(*f);
    else if (const auto* i = std::get_if<Incident>(&d.event)) on_incident(*i);
    else if (const auto* a = std::get_if<RemediationAction>(&d.event)) on_action(*a);
    else if (const auto* r = std::get_if<ActionResult>(&d.event)) on_result(*r);
  }

 private:
  struct FaultState {
    FaultLabel label;
    bool repaired = false;
  };

  void on_fault(const FaultLabel& f) {
    auto& st = faults_[f.id];
    bool is_new = st.label.id.empty();
    st.label = f;
    if (is_new)
      say(f.ts, "35", "FAULT", f.fault_type + " injected into " + f.service + " (strength " +
                                   fmt_num(f.strength) + ")");
    else if (f.end > 0)
      say(f.ts, "35", "FAULT", f.fault_type + " on " + f.service + " ended");
  }

  void on_incident(const Incident& i) {
    auto& last = incidents_[i.id];
    if (last.revision >= i.revision && !last.id.empty()) return;  // duplicate or stale snapshot
    IncidentStatus before = last.id.empty() ? IncidentStatus::Open : last.status;
    bool is_new = last.id.empty();
    last = i;
    if (is_new) {
      say(i.opened_at, "31", "INCIDENT", std::string(to_string(i.type)) + " on " + i.service + ": " + i.title);
      if (!i.summary.empty()) say(i.opened_at, "0", "  why", i.summary);
    } else if (before != i.status) {
      say(i.updated_at, i.status == IncidentStatus::Resolved ? "32" : "33",
          i.status == IncidentStatus::Resolved ? "RESOLVED" : "INCIDENT",
          i.id + " " + std::string(to_string(i.status)) + " (" + std::string(to_string(i.type)) + " on " +
              i.service + ")");
    }
    if (i.status == IncidentStatus::Resolved) {
      for (auto& [id, f] : faults_)
        if (f.label.service == i.service && f.label.expected_incident_type == to_string(i.type))
          f.repaired = true;
    }
  }

  void on_action(const RemediationAction& a) {
    std::string what = std::string(to_string(a.kind)) + " " + a.namespace_name + "/" + a.target;
    if (a.kind == ActionKind::ScaleDeployment) what += " to " + std::to_string(a.replicas);
    say(a.ts, a.status == ActionStatus::Skipped ? "33" : "36", "ACTION",
        what + " [" + std::string(to_string(a.status)) + "]" + (a.reason.empty() ? "" : ": " + a.reason));
  }

  void on_result(const ActionResult& r) {
    say(r.ts, r.status == ActionStatus::Verified || r.status == ActionStatus::Succeeded ? "32" : "33",
        "RESULT", r.action_id + " " + std::string(to_string(r.status)) + (r.detail.empty() ? "" : ": " + r.detail));
  }

  static std::string fmt_num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2g", v);
    return buf;
  }

  void say(TimeMs ts, const char* color, const std::string& tag, const std::string& text) {
    if (!enabled_) return;
    std::string t = format_iso8601(ts).substr(11, 8);
    if (color_)
      std::printf("\033[2m%s\033[0m \033[1;%sm%-9s\033[0m %s\n", t.c_str(), color, tag.c_str(), text.c_str());
    else
      std::printf("%s %-9s %s\n", t.c_str(), tag.c_str(), text.c_str());
    std::fflush(stdout);
  }

  bool enabled_;
  bool color_;
  TimeMs last_ts_ = 0;
  std::map<std::string, FaultState> faults_;
  std::map<std::string, Incident> incidents_;
};

}  // namespace

void register_narrator_service(ServiceRegistry& r) {
  r.add(ServiceInfo{
      "narrator",
      "Prints the story of the run (faults, incidents, actions, recoveries) on the terminal",
      {"cluster-sim", "incident-classifier", "remediator"},
      [](ConfigSchema& s) {
        s.add("ui.story", ConfigType::Bool, "true", "Print faults, incidents and actions as they happen");
        s.add("ui.color", ConfigType::String, "auto", "Colour the story: auto (when a terminal), always, never");
      },
      [](const Config& c) { return std::make_unique<Narrator>(c); },
      /*hidden=*/true});
}

RunOutcome narrator_outcome(const Service& narrator) {
  return static_cast<const Narrator&>(narrator).outcome();
}

}  // namespace selfheal
