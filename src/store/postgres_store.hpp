// The PostgreSQL store (store.backend: postgres), on libpq. Same logical schema and behaviour as
// SqliteStore; times are `timestamptz` columns (Grafana's SQL panels read them as they are), every
// row keeps the full event JSON as `jsonb`. See src/store/README.md for the schema and the design.
//
// Writes never wait for the server: put_*() encode the row and append it to a bounded, ordered
// write-behind queue; one writer thread commits the queue in batches on its own connection. When the
// server goes away the writer keeps the batch, reconnects with exponential backoff and commits it
// again (every write is an idempotent upsert, so a batch whose COMMIT was lost lands exactly once).
// So the executor thread that persists events never blocks, and a Postgres restart loses nothing
// unless the queue overflows (then new writes are refused, counted and logged).
//
// Reads come from a small pool of connections (store.postgres_pool_size), so API reads run side by
// side with each other and with the writer. A read first waits (up to `read_wait_ms`) until every
// write queued before it has been committed: a caller reads its own writes, and readers never see a
// batch half applied (each batch is one transaction).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/metrics.hpp"
#include "store/store.hpp"

namespace selfheal {

// One numbered schema step (same rules as SQLite's: never edit a released step, add one).
struct PostgresMigration {
  int version;
  const char* description;
  const char* sql;
};
const std::vector<PostgresMigration>& postgres_migrations();

struct PostgresStoreOptions {
  std::string conninfo;                 // libpq "key=value ..." or postgresql:// URL
  std::size_t pool_size = 4;            // reader connections (the writer has its own)
  std::size_t queue_capacity = 100000;  // writes held while the server is away
  std::size_t batch_size = 256;         // writes per transaction
  std::int64_t read_wait_ms = 2000;     // how long a read waits for earlier writes to land
  std::int64_t retry_initial_ms = 50;   // reconnect backoff: doubles up to retry_max_ms
  std::int64_t retry_max_ms = 2000;
  std::int64_t shutdown_wait_ms = 10000;  // the destructor keeps retrying queued writes this long
  int target_version = -1;              // migrate only up to this version (tests); -1: latest
  MetricsRegistry* metrics = nullptr;   // null: the store keeps its own (tests)
};

// "postgres user@host:port/dbname" from a conninfo, without the password (for messages and logs).
// Throws std::runtime_error naming store.postgres_url when the conninfo does not parse.
std::string describe_postgres_target(const std::string& conninfo);

class PostgresStore final : public Store {
 public:
  // Connects, applies the migrations (under an advisory lock, so several processes may open the same
  // database at once) and starts the writer. Throws std::runtime_error naming the target (never the
  // password) and the problem.
  explicit PostgresStore(PostgresStoreOptions options);
  // Waits up to shutdown_wait_ms for queued writes to land, then stops; says how many were lost.
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  void put_anomaly(const Anomaly& a) override;
  void put_incident(const Incident& i) override;
  void put_action(const RemediationAction& a) override;
  void put_action_result(const ActionResult& r) override;
  void put_acknowledgement(const Acknowledgement& a) override;

  std::vector<Incident> list_incidents(const IncidentQuery& q) override;
  std::size_t count_incidents(const IncidentQuery& q) override;
  std::optional<Incident> get_incident(const std::string& id) override;
  std::vector<Anomaly> list_anomalies(const AnomalyQuery& q) override;
  std::size_t count_anomalies(const AnomalyQuery& q) override;
  std::vector<RemediationAction> list_actions(const ActionQuery& q) override;
  std::size_t count_actions(const ActionQuery& q) override;
  std::optional<RemediationAction> get_action(const std::string& id) override;
  std::vector<ActionResult> list_action_results(const std::string& action_id) override;
  std::optional<Acknowledgement> get_acknowledgement(const std::string& incident_id) override;
  std::vector<std::string> list_services() override;
  int schema_version() override;

  // Waits until every write queued so far has been committed (or dropped as unwritable); false on
  // timeout. For tests, benchmarks and shutdown.
  bool flush(std::int64_t timeout_ms);
  std::size_t pending_writes() const;
  const std::string& target() const { return target_; }

  struct Stats {
    std::uint64_t written = 0;   // rows committed
    std::uint64_t retries = 0;   // batch attempts repeated after a lost connection
    std::uint64_t rejected = 0;  // writes the server refused for their content (logged, dropped)
    std::uint64_t refused = 0;   // writes refused because the queue was full
  };
  Stats stats() const;

  class Connection;  // one libpq connection with its prepared statements

  // One queued row: a fixed upsert statement and its text parameters.
  struct WriteOp {
    std::uint64_t seq = 0;
    const std::string* sql = nullptr;  // one of the statements built once at open
    std::vector<std::string> params;
    std::uint32_t null_mask = 0;       // bit i set: parameter i is SQL NULL
    std::string what;                  // "incident inc-1" (for the log when the row is refused)
  };

 private:
  class Pool;
  void migrate(Connection& c, int target_version);
  void enqueue(WriteOp op);
  void writer_loop();
  // Commits ops [0, n) of the queue; returns false when the connection was lost.
  bool write_batch(Connection& c, const std::vector<const WriteOp*>& batch);
  void wait_for_earlier_writes();
  template <typename Fn>
  auto read(Fn&& fn);

  PostgresStoreOptions options_;
  std::string target_;
  int version_ = 0;  // set once at open, before any other thread can see the store

  std::unique_ptr<MetricsRegistry> own_metrics_;
  Counter* writes_total_ = nullptr;
  Counter* retries_total_ = nullptr;
  Gauge* pending_gauge_ = nullptr;
  Counter* errors_connection_ = nullptr;
  Counter* errors_rejected_ = nullptr;
  Counter* errors_queue_full_ = nullptr;
  Counter* errors_read_ = nullptr;

  std::unique_ptr<Pool> pool_;

  mutable std::mutex queue_mu_;
  std::condition_variable queue_cv_;      // the writer waits for work / stop
  std::condition_variable committed_cv_;  // readers and flush() wait for progress
  std::deque<WriteOp> queue_;
  std::uint64_t next_seq_ = 1;       // sequence number of the next queued write
  std::uint64_t done_seq_ = 0;       // every write up to this one is committed or dropped
  bool stopping_ = false;
  Stats stats_;
  std::thread writer_;
};

}  // namespace selfheal
