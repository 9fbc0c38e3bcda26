#pragma once

#include "runtime/service_registry.hpp"

namespace selfheal {

void register_detector_services(ServiceRegistry& r);

}  // namespace selfheal
