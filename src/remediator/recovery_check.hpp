// Decides from a service's metrics windows whether it has recovered. It learns each service's
// normal band (EWMA of the key features) from windows seen while no remediation runs on it, and
// calls a window healthy when every feature the incident type cares about is back in that band
// (or under an absolute ceiling while no baseline exists yet).
//
// Threading: executor thread only.
#pragma once

#include <map>
#include <string>

#include "contracts/events.hpp"

namespace selfheal::remediation {

class RecoveryCheck {
 public:
  // A service-level metrics window. `learn`: the service is not under remediation, so the window
  // may update its baseline.
  void observe(const FeatureWindow& w, bool learn);
  // Empty when `w` looks healthy for an incident of `type`; else what is still wrong.
  std::string problems(const FeatureWindow& w, IncidentType type) const;

 private:
  struct Band {
    double mean = 0;
    double deviation = 0;  // mean absolute deviation from `mean`
    int samples = 0;
  };
  std::map<std::string, std::map<std::string, Band>> baselines_;  // service -> feature -> band
  const Band* baseline(const std::string& service, std::string_view feature) const;
};

}  // namespace selfheal::remediation
