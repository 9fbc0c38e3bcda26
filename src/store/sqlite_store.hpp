// The embedded store: one SQLite file (WAL mode) holding anomalies, incidents, actions, action
// results and acknowledgements. Each row keeps the full event JSON (contracts/events_json.hpp) plus
// indexed columns for the filters the API offers. See src/store/README.md for the schema.
//
// Threading: every method is safe to call from any thread. A file database has two connections,
// one for writes and one for reads, each behind its own mutex, so that readers (the API's HTTP
// threads) are not held up by the writer (WAL lets them run side by side). ":memory:" uses one
// connection for both.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace selfheal {

// One numbered schema step. Migrations run in order inside a transaction each; the versions
// applied are recorded in `schema_migrations`.
struct SqliteMigration {
  int version;
  const char* description;
  const char* sql;
};

const std::vector<SqliteMigration>& sqlite_migrations();

class SqliteStore final : public Store {
 public:
  // Opens (creating the file and its parent directory if needed) and migrates up to
  // `target_version` (default: the latest). Throws std::runtime_error naming the path and the
  // problem. `target_version` below the latest exists for migration tests.
  explicit SqliteStore(const std::string& path, int target_version = -1);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void put_anomaly(const Anomaly& a) override;
  void put_incident(const Incident& i) override;
  void put_action(const RemediationAction& a) override;
  void put_action_result(const ActionResult& r) override;

  std::vector<Incident> list_incidents(const IncidentQuery& q) override;
  std::size_t count_incidents(const IncidentQuery& q) override;
  std::optional<Incident> get_incident(const std::string& id) override;
  std::vector<Anomaly> list_anomalies(const AnomalyQuery& q) override;
  std::size_t count_anomalies(const AnomalyQuery& q) override;
  std::vector<RemediationAction> list_actions(const ActionQuery& q) override;
  std::size_t count_actions(const ActionQuery& q) override;
  std::optional<RemediationAction> get_action(const std::string& id) override;
  std::vector<ActionResult> list_action_results(const std::string& action_id) override;
  void put_acknowledgement(const Acknowledgement& a) override;
  std::optional<Acknowledgement> get_acknowledgement(const std::string& incident_id) override;
  std::vector<std::string> list_services() override;

  int schema_version() override;
  const std::string& path() const { return path_; }

  // One open SQLite handle with its cache of prepared statements (keyed by SQL text).
  struct Connection;

 private:
  void migrate(int target_version);
  bool version_at_least_2() const { return version_ >= 2; }

  int version_ = 0;  // set once at open, before any other thread can see the store

  std::string path_;
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> reader_;  // null for ":memory:" (the writer serves reads)
  Connection& reader() { return reader_ ? *reader_ : *writer_; }
};

}  // namespace selfheal
