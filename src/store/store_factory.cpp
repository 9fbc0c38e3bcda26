#include "store/store_factory.hpp"

#include <stdexcept>

namespace selfheal {

void declare_store_config(ConfigSchema& s) {
  s.add("store.backend", ConfigType::String, "none", "Where incidents are kept: sqlite, postgres or none");
  s.add("store.sqlite_path", ConfigType::String, "./data/selfheal.db", "SQLite database file (sqlite backend)");
}

std::unique_ptr<Store> open_store(const Config& config) {
  const std::string backend = config.str("store.backend");
  if (backend == "none") return nullptr;
  throw std::runtime_error("store.backend \"" + backend + "\" is not implemented yet; use none");
}

}  // namespace selfheal
