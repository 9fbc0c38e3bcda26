#pragma once

#include "runtime/service_registry.hpp"

namespace selfheal {

void register_remediator_services(ServiceRegistry& r);

}  // namespace selfheal
