// The narrator tells the story of a run on the terminal: faults as they are injected, incidents as
// they open (type, service, why), actions, recoveries; and at the end of a scenario whether every
// injected fault was detected and repaired (the exit status of `selfheal all --once`).
#pragma once

#include "runtime/service_registry.hpp"

namespace selfheal {

void register_narrator_service(ServiceRegistry& r);

// Outcome of a run as the narrator saw it (also read by tests).
struct RunOutcome {
  int faults = 0;
  int faults_repaired = 0;  // an incident of the expected type on the right service was resolved
  bool all_repaired() const { return faults > 0 && faults == faults_repaired; }
};

class Service;
RunOutcome narrator_outcome(const Service& narrator);

}  // namespace selfheal
