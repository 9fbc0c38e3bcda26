// Runtime fault injection (chaos): the JSON body of `POST /chaos/faults`, shared by the cluster-sim
// endpoint and `selfheal chaos inject`.
//   {"type": "cpu_spike", "service": "search", "duration": "10m", "strength": 1}
// `duration` may be a duration string or a number of seconds; it and `strength` are optional
// (defaults 10m and 1). `dependency` names the external dependency of a dependency_outage.
#pragma once

#include <string>
#include <string_view>

#include "sim/scenario.hpp"

namespace selfheal::sim {

// Parses the body into `out` (start_ms is set to -1: "now"). Returns the problem naming the field,
// or "" when the body is well-formed. Whether the target exists is checked by the cluster.
std::string parse_chaos_request(std::string_view json_body, FaultSpec& out);

// The body `selfheal chaos inject` sends.
std::string chaos_request_json(const FaultSpec& fault);

}  // namespace selfheal::sim

namespace selfheal::sim {
// `selfheal chaos inject <fault> --service NAME [--duration 10m] [--strength 1] [--dependency D]
//  [--kubeconfig PATH | --url URL]`: POSTs the fault to a running cluster-sim. argv[0] = "chaos".
int chaos_main(int argc, char** argv);
}  // namespace selfheal::sim
