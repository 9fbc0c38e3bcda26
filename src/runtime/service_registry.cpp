#include "runtime/service_registry.hpp"

#include <algorithm>
#include <functional>
#include <set>
#include <stdexcept>

#include "core/config.hpp"

namespace selfheal {

void ServiceRegistry::add(ServiceInfo info) {
  if (find(info.name)) throw std::logic_error("service registered twice: " + info.name);
  services_.push_back(std::move(info));
}

const ServiceInfo* ServiceRegistry::find(const std::string& name) const {
  for (const auto& s : services_)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<std::string> ServiceRegistry::names(bool include_hidden) const {
  std::vector<std::string> out;
  for (const auto& s : services_)
    if (include_hidden || !s.hidden) out.push_back(s.name);
  return out;
}

std::vector<const ServiceInfo*> ServiceRegistry::ordered(const std::vector<std::string>& names) const {
  std::set<std::string> wanted(names.begin(), names.end());
  for (const auto& n : wanted)
    if (!find(n))
      throw std::runtime_error("unknown service '" + n + "'; `selfheal --help` lists the services");
  std::vector<const ServiceInfo*> out;
  std::set<std::string> done, visiting;
  std::function<void(const ServiceInfo&)> visit = [&](const ServiceInfo& s) {
    if (done.count(s.name)) return;
    if (visiting.count(s.name)) throw std::logic_error("service dependency cycle through " + s.name);
    visiting.insert(s.name);
    for (const auto& d : s.deps)
      if (wanted.count(d)) visit(*find(d));
    visiting.erase(s.name);
    done.insert(s.name);
    out.push_back(&s);
  };
  for (const auto& s : services_)  // registration order breaks ties: deterministic
    if (wanted.count(s.name)) visit(s);
  return out;
}

void ServiceRegistry::declare_config(ConfigSchema& schema) const {
  for (const auto& s : services_)
    if (s.declare_config) s.declare_config(schema);
}

}  // namespace selfheal
