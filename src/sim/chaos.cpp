#include "sim/chaos.hpp"

#include <nlohmann/json.hpp>

#include "core/clock.hpp"

namespace selfheal::sim {

std::string parse_chaos_request(std::string_view body, FaultSpec& out) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "body: not valid JSON";
  if (!j.is_object()) return "body: expected a JSON object";
  for (const auto& [k, v] : j.items())
    if (k != "type" && k != "service" && k != "duration" && k != "strength" && k != "dependency")
      return k + ": unknown field (expected type, service, duration, strength, dependency)";
  FaultSpec f;
  f.start_ms = -1;
  f.duration_ms = 10 * 60 * 1000;
  if (!j.contains("type") || !j["type"].is_string()) return "type: required, a fault name such as cpu_spike";
  f.type = j["type"].get<std::string>();
  if (!is_fault_type(f.type)) {
    std::string all;
    for (auto t : kFaultTypes) all += (all.empty() ? "" : ", ") + std::string(t);
    return "type: unknown fault \"" + f.type + "\"; expected one of " + all;
  }
  if (!j.contains("service") || !j["service"].is_string() || j["service"].get<std::string>().empty())
    return "service: required, the name of the target service";
  f.target = j["service"].get<std::string>();
  if (j.contains("duration")) {
    const auto& d = j["duration"];
    if (d.is_string()) {
      if (!parse_duration_ms(d.get<std::string>(), f.duration_ms) || f.duration_ms <= 0)
        return "duration: expected a positive duration such as 90s or 10m, got \"" + d.get<std::string>() + "\"";
    } else if (d.is_number()) {
      double s = d.get<double>();
      if (!(s > 0 && s < 1e7)) return "duration: expected a positive number of seconds";
      f.duration_ms = static_cast<std::int64_t>(s * 1000);
    } else {
      return "duration: expected a string such as \"10m\" or a number of seconds";
    }
  }
  if (j.contains("strength")) {
    if (!j["strength"].is_number()) return "strength: expected a number";
    f.strength = j["strength"].get<double>();
    if (!(f.strength > 0 && f.strength <= 10)) return "strength: must be in (0, 10]";
  }
  if (j.contains("dependency")) {
    if (!j["dependency"].is_string()) return "dependency: expected a string";
    f.dependency = j["dependency"].get<std::string>();
  }
  out = std::move(f);
  return {};
}

std::string chaos_request_json(const FaultSpec& f) {
  nlohmann::json j = {{"type", f.type}, {"service", f.target}, {"duration", format_duration(f.duration_ms)},
                      {"strength", f.strength}};
  if (!f.dependency.empty()) j["dependency"] = f.dependency;
  return j.dump();
}

}  // namespace selfheal::sim
