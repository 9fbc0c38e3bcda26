#include "store/store_factory.hpp"

#include <stdexcept>

#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"

namespace selfheal {

void declare_store_config(ConfigSchema& s) {
  s.add("store.backend", ConfigType::String, "sqlite", "Where incidents are kept: sqlite, postgres or none");
  s.add("store.sqlite_path", ConfigType::String, "./data/selfheal.db", "SQLite database file (sqlite backend); its directory is created; \":memory:\" keeps nothing");
  s.add("store.postgres_url", ConfigType::String, "",
        "libpq connection URL or key=value string (postgres backend), e.g. postgresql://selfheal@db:5432/selfheal; "
        "put the password here via the environment or in ~/.pgpass, it is never logged");
  s.add("store.postgres_pool_size", ConfigType::Int, "4",
        "Pooled connections for reads (postgres backend); the writer has one more of its own");
  s.add("store.postgres_queue_capacity", ConfigType::Int, "100000",
        "Writes held in order while Postgres is unreachable; beyond this new writes are refused, counted and logged");
  s.add("store.postgres_read_wait", ConfigType::Duration, "2s",
        "How long a read waits for writes queued before it to be committed (read-your-writes)");
  s.add("store.postgres_retry_max", ConfigType::Duration, "2s",
        "Longest pause between reconnection attempts after the server went away (backoff doubles from 50ms)");
  s.add("store.postgres_shutdown_wait", ConfigType::Duration, "10s",
        "At shutdown, how long queued writes keep being retried before they are given up (and logged as lost)");
}

namespace {

std::size_t positive(const Config& config, const std::string& key) {
  const std::int64_t v = config.integer(key);
  if (v <= 0) throw std::runtime_error("config: key '" + key + "' must be positive, got " + std::to_string(v));
  return static_cast<std::size_t>(v);
}

}  // namespace

std::unique_ptr<Store> open_store(const Config& config, MetricsRegistry* metrics) {
  const std::string backend = config.str("store.backend");
  if (backend == "none") return nullptr;
  if (backend == "sqlite") return std::make_unique<SqliteStore>(config.str("store.sqlite_path"));
  if (backend == "postgres") {
    PostgresStoreOptions o;
    o.conninfo = config.str("store.postgres_url");
    o.pool_size = positive(config, "store.postgres_pool_size");
    o.queue_capacity = positive(config, "store.postgres_queue_capacity");
    o.read_wait_ms = config.duration_ms("store.postgres_read_wait");
    o.retry_max_ms = std::max<std::int64_t>(config.duration_ms("store.postgres_retry_max"), o.retry_initial_ms);
    o.shutdown_wait_ms = config.duration_ms("store.postgres_shutdown_wait");
    o.metrics = metrics;
    return std::make_unique<PostgresStore>(std::move(o));
  }
  throw std::runtime_error("config: key 'store.backend': \"" + backend +
                           "\" is not a store backend; use sqlite, postgres or none");
}

}  // namespace selfheal
