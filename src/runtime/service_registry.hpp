// The module manager: every service is registered once, by name, with the services whose output it
// reads (its dependencies), its config declarations and a factory. `selfheal all` runs every
// service in dependency order in one process; `selfheal <name>` runs one.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/service.hpp"

namespace selfheal {

class ConfigSchema;

struct ServiceInfo {
  std::string name;         // "log-processor"
  std::string description;  // one line for --help
  std::vector<std::string> deps;  // services whose output this one consumes (ordering only)
  std::function<void(ConfigSchema&)> declare_config;  // may be empty
  std::function<std::unique_ptr<Service>(const Config&)> create;
  bool hidden = false;      // internal services (narrator, persister) not listed as targets
};

class ServiceRegistry {
 public:
  void add(ServiceInfo info);  // throws on a duplicate name
  const ServiceInfo* find(const std::string& name) const;
  const std::vector<ServiceInfo>& all() const { return services_; }
  // The named services in an order where every dependency comes first (deps that are not in
  // `names` are ignored: they run elsewhere). Throws on an unknown name or a cycle.
  std::vector<const ServiceInfo*> ordered(const std::vector<std::string>& names) const;
  std::vector<std::string> names(bool include_hidden = false) const;
  void declare_config(ConfigSchema& schema) const;

 private:
  std::vector<ServiceInfo> services_;
};

}  // namespace selfheal
