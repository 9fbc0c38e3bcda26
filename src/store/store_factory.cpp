#include "store/store_factory.hpp"

#include <stdexcept>

#include "store/sqlite_store.hpp"

namespace selfheal {

void declare_store_config(ConfigSchema& s) {
  s.add("store.backend", ConfigType::String, "sqlite", "Where incidents are kept: sqlite, postgres or none");
  s.add("store.sqlite_path", ConfigType::String, "./data/selfheal.db", "SQLite database file (sqlite backend); its directory is created; \":memory:\" keeps nothing");
}

std::unique_ptr<Store> open_store(const Config& config) {
  const std::string backend = config.str("store.backend");
  if (backend == "none") return nullptr;
  if (backend == "sqlite") return std::make_unique<SqliteStore>(config.str("store.sqlite_path"));
  throw std::runtime_error("config: key 'store.backend': \"" + backend +
                           "\" is not available in this build; use sqlite or none");
}

}  // namespace selfheal
