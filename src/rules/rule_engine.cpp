#include "rules/rule_engine.hpp"

namespace selfheal::rules {

RuleEngine::RuleEngine(RuleSet set) : set_(std::move(set)) {}

void RuleEngine::replace(RuleSet set) {
  set_ = std::move(set);
  for (auto it = state_.begin(); it != state_.end();) {
    const std::string rule_name = it->first.substr(0, it->first.find('\x1f'));
    bool keep = false;
    for (const Rule& r : set_.rules)
      if (r.name == rule_name && r.expr.text() == it->second.expr_text) keep = true;
    it = keep ? std::next(it) : state_.erase(it);
  }
}

std::vector<Anomaly> RuleEngine::evaluate(const FeatureWindow& w) {
  std::vector<Anomaly> out;
  const RuleScope scope = w.pod.empty() ? RuleScope::Service : RuleScope::Pod;
  for (const Rule& r : set_.rules) {
    if (r.source != w.source || r.scope != scope) continue;
    const Evaluation ev = r.expr.evaluate(w);
    std::string key = r.name + '\x1f' + w.service + '\x1f' + w.pod;
    SeriesState& st = state_[key];
    st.last_seen = w.end;
    st.expr_text = r.expr.text();
    if (!ev.fired) {
      st.active_since = -1;
      continue;
    }
    if (st.active_since < 0) st.active_since = w.end;
    if (w.end - st.active_since < r.for_ms) continue;

    Anomaly a;
    a.ts = w.end;
    a.service = w.service;
    a.pod = w.pod;
    std::string signal = r.label("signal");
    if (signal.empty()) signal = r.expr.features().empty() ? r.name : r.expr.features().front();
    a.signal = signal;
    a.series = w.service + (w.pod.empty() ? "" : "/" + w.pod) + ":" + signal;
    a.score = 1.0;
    a.value = ev.value;
    a.source = AnomalySource::Rule;
    a.model = r.name;
    a.model_version = set_.version;
    a.window_id = w.id;
    for (const std::string& f : r.expr.features()) {
      Contribution c;
      c.feature = f;
      c.value = w.get(f);
      c.score = 1.0;
      a.contributions.push_back(std::move(c));
    }
    a.labels = r.labels;
    for (const auto& [k, v] : r.annotations)
      a.labels.emplace_back(k, render_template(v, w.service, w.pod, ev.value, r.name));
    a.labels.emplace_back("for", std::to_string((w.end - st.active_since) / 1000) + "s");
    out.push_back(std::move(a));
  }
  return out;
}

void RuleEngine::expire(TimeMs before) {
  for (auto it = state_.begin(); it != state_.end();)
    it = it->second.last_seen < before ? state_.erase(it) : std::next(it);
}

}  // namespace selfheal::rules
