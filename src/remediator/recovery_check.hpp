// Decides from a service's metrics windows whether it has recovered. It learns each service's
// normal band (EWMA of the key features) from windows seen while no remediation runs on it, and
// calls a window healthy when every feature the incident type cares about is back in that band
// (or under an absolute ceiling while no baseline exists yet).
//
// Threading: executor thread only.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "contracts/events.hpp"

namespace selfheal::remediation {

class RecoveryCheck {
 public:
  // A service-level metrics window. `learn`: the service is not under remediation, so the window
  // may update its baseline.
  void observe(const FeatureWindow& w, bool learn);
  // Empty when `w` looks healthy for an incident of `type`; else what is still wrong.
  std::string problems(const FeatureWindow& w, IncidentType type) const;

  // Checkpoints (remediator save_key/restore_key): one service's learned bands as
  // {"<feature>": [mean, deviation, samples]}, null when none was learned. decode() validates
  // (std::invalid_argument naming `field`.<feature>); replace() then swaps them in.
  struct Band {
    double mean = 0;
    double deviation = 0;  // mean absolute deviation from `mean`
    int samples = 0;
  };
  using Bands = std::map<std::string, Band>;  // feature -> band
  nlohmann::json encode(const std::string& service) const;
  static Bands decode(const nlohmann::json& j, const std::string& field);
  void replace(const std::string& service, Bands bands);

 private:
  std::map<std::string, Bands> baselines_;  // service -> feature -> band
  const Band* baseline(const std::string& service, std::string_view feature) const;
};

}  // namespace selfheal::remediation
