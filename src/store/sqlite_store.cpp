#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <limits>
#include <map>
#include <stdexcept>

#include "contracts/events_json.hpp"
#include "core/log.hpp"

namespace selfheal {

// ------------------------------------------------------------------------------------ migrations

const std::vector<SqliteMigration>& sqlite_migrations() {
  // Never edit a released step: add a new one. Each runs in its own transaction.
  static const std::vector<SqliteMigration> steps = {
      {1, "events: anomalies, incidents, actions, action results",
       R"sql(
CREATE TABLE anomalies (
  id TEXT PRIMARY KEY,
  ts INTEGER NOT NULL,
  service TEXT NOT NULL,
  score REAL NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX anomalies_ts ON anomalies(ts);
CREATE INDEX anomalies_service_ts ON anomalies(service, ts);

CREATE TABLE incidents (
  id TEXT PRIMARY KEY,
  revision INTEGER NOT NULL,
  status TEXT NOT NULL,
  type TEXT NOT NULL,
  service TEXT NOT NULL,
  severity TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX incidents_opened ON incidents(opened_at);
CREATE INDEX incidents_status_opened ON incidents(status, opened_at);
CREATE INDEX incidents_service_opened ON incidents(service, opened_at);

CREATE TABLE actions (
  id TEXT PRIMARY KEY,
  ts INTEGER NOT NULL,
  incident_id TEXT NOT NULL,
  service TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX actions_incident ON actions(incident_id, ts);
CREATE INDEX actions_service_ts ON actions(service, ts);

CREATE TABLE action_results (
  id TEXT PRIMARY KEY,
  ts INTEGER NOT NULL,
  action_id TEXT NOT NULL,
  incident_id TEXT NOT NULL,
  service TEXT NOT NULL,
  status TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX action_results_action ON action_results(action_id, ts);
)sql"},
      {2, "incident-anomaly links (backfilled from incident JSON) and operator acknowledgements",
       R"sql(
CREATE TABLE incident_anomalies (
  incident_id TEXT NOT NULL,
  anomaly_id TEXT NOT NULL,
  PRIMARY KEY (incident_id, anomaly_id));
CREATE INDEX incident_anomalies_anomaly ON incident_anomalies(anomaly_id);
INSERT OR IGNORE INTO incident_anomalies (incident_id, anomaly_id)
  SELECT incidents.id, j.value FROM incidents, json_each(incidents.json, '$.data.anomaly_ids') AS j;

CREATE TABLE incident_acks (
  incident_id TEXT PRIMARY KEY,
  ts INTEGER NOT NULL,
  acked_by TEXT NOT NULL,
  note TEXT NOT NULL);
)sql"},
  };
  return steps;
}

// ------------------------------------------------------------------------------------ connection

struct SqliteStore::Connection {
  sqlite3* db = nullptr;
  std::mutex mu;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements;

  ~Connection() {
    for (auto& [sql, st] : statements) sqlite3_finalize(st);
    if (db) sqlite3_close(db);
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("sqlite store: " + what + ": " + (db ? sqlite3_errmsg(db) : "no database"));
  }

  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw std::runtime_error("sqlite store: " + msg);
    }
  }

  // A cached prepared statement; the caller holds `mu` and must use a Bound guard.
  sqlite3_stmt* prepare(const std::string& sql) {
    auto it = statements.find(sql);
    if (it != statements.end()) return it->second;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
      fail("preparing \"" + sql + "\"");
    statements.emplace(sql, st);
    return st;
  }
};

namespace {

// Binds parameters in order and resets the statement when it goes out of scope, so a cached
// statement is always clean for its next use, even after an exception.
class Bound {
 public:
  Bound(SqliteStore::Connection& c, sqlite3_stmt* st) : c_(c), st_(st) {}
  ~Bound() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  Bound& text(const std::string& v) {
    check(sqlite3_bind_text(st_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Bound& text(std::string_view v) { return text(std::string(v)); }
  Bound& integer(std::int64_t v) {
    check(sqlite3_bind_int64(st_, ++n_, v));
    return *this;
  }
  Bound& real(double v) {
    check(sqlite3_bind_double(st_, ++n_, v));
    return *this;
  }
  // True while there is a row.
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    c_.fail("step");
  }
  std::string column_text(int i) const {
    const unsigned char* t = sqlite3_column_text(st_, i);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(st_, i)) : std::string();
  }
  std::int64_t column_int(int i) const { return sqlite3_column_int64(st_, i); }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) c_.fail("bind");
  }
  SqliteStore::Connection& c_;
  sqlite3_stmt* st_;
  int n_ = 0;
};

// Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(SqliteStore::Connection& c) : c_(c) { c_.exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(c_.db, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    c_.exec("COMMIT");
    done_ = true;
  }

 private:
  SqliteStore::Connection& c_;
  bool done_ = false;
};

std::unique_ptr<SqliteStore::Connection> open_connection(const std::string& path, bool read_only) {
  auto c = std::make_unique<SqliteStore::Connection>();
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
  flags |= read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &c->db, flags, nullptr) != SQLITE_OK) {
    std::string msg = c->db ? sqlite3_errmsg(c->db) : "out of memory";
    throw std::runtime_error("store.sqlite_path \"" + path + "\": cannot open the database: " + msg +
                             " (check the directory exists and is writable, or choose another path)");
  }
  // Readers and the writer may briefly contend on checkpoints; wait rather than fail.
  sqlite3_busy_timeout(c->db, 5000);
  return c;
}

std::int64_t sql_limit(std::size_t n) {
  return n >= static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())
             ? -1
             : static_cast<std::int64_t>(n);
}

template <typename T>
std::optional<T> decode_row(const std::string& json, std::string_view table, const std::string& id) {
  DecodeResult r = decode_event(json);
  if (r.ok) {
    if (auto* v = std::get_if<T>(&r.event)) return std::move(*v);
    r.error = "holds a " + std::string(event_type_name(r.event)) + " event";
  }
  // A damaged row is skipped (and said), never fatal: the other rows still answer.
  log::warn("store", "{} row {} is unreadable and was skipped: {}", table, id, r.error);
  return std::nullopt;
}

bool bounded(TimeMs t) {
  return t != std::numeric_limits<TimeMs>::min() && t != std::numeric_limits<TimeMs>::max();
}

// WHERE clause builders: the SQL text depends only on which filters are present, so each shape is
// prepared once and cached.
struct Where {
  std::string sql;
  std::vector<std::string> texts;  // bound in order with ints interleaved via `order`
  std::vector<std::int64_t> ints;
  std::vector<double> reals;
  std::string order;  // 't' text, 'i' int, 'r' real
  void add(const std::string& clause) { sql += (sql.empty() ? " WHERE " : " AND ") + clause; }
  void text(const std::string& clause, std::string v) { add(clause); texts.push_back(std::move(v)); order += 't'; }
  void integer(const std::string& clause, std::int64_t v) { add(clause); ints.push_back(v); order += 'i'; }
  void real(const std::string& clause, double v) { add(clause); reals.push_back(v); order += 'r'; }
  void bind(Bound& b) const {
    std::size_t t = 0, i = 0, r = 0;
    for (char c : order) {
      if (c == 't') b.text(texts[t++]);
      else if (c == 'i') b.integer(ints[i++]);
      else b.real(reals[r++]);
    }
  }
};

Where incident_where(const IncidentQuery& q) {
  Where w;
  if (q.status) w.text("status = ?", std::string(to_string(*q.status)));
  if (q.type) w.text("type = ?", std::string(to_string(*q.type)));
  if (!q.service.empty()) w.text("service = ?", q.service);
  if (bounded(q.opened.from)) w.integer("opened_at >= ?", q.opened.from);
  if (bounded(q.opened.to)) w.integer("opened_at <= ?", q.opened.to);
  return w;
}

Where anomaly_where(const AnomalyQuery& q) {
  Where w;
  if (!q.incident_id.empty())
    w.text("id IN (SELECT anomaly_id FROM incident_anomalies WHERE incident_id = ?)", q.incident_id);
  if (!q.service.empty()) w.text("service = ?", q.service);
  if (bounded(q.time.from)) w.integer("ts >= ?", q.time.from);
  if (bounded(q.time.to)) w.integer("ts <= ?", q.time.to);
  if (q.min_score > 0) w.real("score >= ?", q.min_score);
  return w;
}

Where action_where(const ActionQuery& q) {
  Where w;
  if (!q.incident_id.empty()) w.text("incident_id = ?", q.incident_id);
  if (!q.service.empty()) w.text("service = ?", q.service);
  if (q.status) w.text("status = ?", std::string(to_string(*q.status)));
  if (bounded(q.time.from)) w.integer("ts >= ?", q.time.from);
  if (bounded(q.time.to)) w.integer("ts <= ?", q.time.to);
  return w;
}

}  // namespace

// ------------------------------------------------------------------------------------ open

SqliteStore::SqliteStore(const std::string& path, int target_version) : path_(path) {
  if (path.empty()) throw std::runtime_error("store.sqlite_path is empty: name a file or \":memory:\"");
  const bool in_memory = path == ":memory:";
  if (!in_memory && path.rfind("file:", 0) != 0) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec)
        throw std::runtime_error("store.sqlite_path \"" + path + "\": cannot create directory " +
                                 parent.string() + ": " + ec.message());
    }
  }
  writer_ = open_connection(path, false);
  if (!in_memory) {
    try {
      writer_->exec("PRAGMA journal_mode=WAL");
    } catch (const std::exception& e) {
      throw std::runtime_error("store.sqlite_path \"" + path + "\": " + e.what() +
                               " (is it a SQLite database?)");
    }
    writer_->exec("PRAGMA synchronous=NORMAL");
  }
  writer_->exec("PRAGMA foreign_keys=ON");
  try {
    migrate(target_version);
  } catch (const std::exception& e) {
    throw std::runtime_error("store.sqlite_path \"" + path + "\": migration failed: " + e.what());
  }
  if (!in_memory) reader_ = open_connection(path, true);
}

SqliteStore::~SqliteStore() = default;

void SqliteStore::migrate(int target_version) {
  std::lock_guard lock(writer_->mu);
  writer_->exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT "
      "NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))");
  int current = 0;
  {
    Bound b(*writer_, writer_->prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    if (b.step()) current = static_cast<int>(b.column_int(0));
  }
  const int latest = sqlite_migrations().back().version;
  if (current > latest)
    throw std::runtime_error("the database has schema version " + std::to_string(current) +
                             ", newer than this build knows (" + std::to_string(latest) +
                             "); upgrade selfheal or use another file");
  for (const SqliteMigration& m : sqlite_migrations()) {
    if (m.version <= current) continue;
    if (target_version >= 0 && m.version > target_version) break;
    Transaction tx(*writer_);
    try {
      writer_->exec(m.sql);
    } catch (const std::exception& e) {
      throw std::runtime_error("step " + std::to_string(m.version) + " (" + m.description + "): " + e.what());
    }
    Bound b(*writer_, writer_->prepare("INSERT INTO schema_migrations (version, description) VALUES (?, ?)"));
    b.integer(m.version).text(std::string(m.description));
    b.step();
    tx.commit();
    log::debug("store", "applied migration {} ({})", m.version, m.description);
    current = m.version;
  }
  version_ = current;
}

int SqliteStore::schema_version() {
  std::lock_guard lock(writer_->mu);
  Bound b(*writer_, writer_->prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  return b.step() ? static_cast<int>(b.column_int(0)) : 0;
}

// ------------------------------------------------------------------------------------ writes

void SqliteStore::put_anomaly(const Anomaly& a) {
  const std::string json = encode_event(a);
  std::lock_guard lock(writer_->mu);
  Bound b(*writer_, writer_->prepare(
      "INSERT INTO anomalies (id, ts, service, score, json) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT(id) DO UPDATE SET ts = excluded.ts, service = excluded.service, "
      "score = excluded.score, json = excluded.json"));
  b.text(a.id).integer(a.ts).text(a.service).real(std::isfinite(a.score) ? a.score : 0).text(json);
  b.step();
}

void SqliteStore::put_incident(const Incident& i) {
  const std::string json = encode_event(i);
  std::lock_guard lock(writer_->mu);
  Transaction tx(*writer_);
  bool changed = false;
  {
    Bound b(*writer_, writer_->prepare(
        "INSERT INTO incidents (id, revision, status, type, service, severity, opened_at, updated_at, json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET revision = excluded.revision, status = excluded.status, "
        "type = excluded.type, service = excluded.service, severity = excluded.severity, "
        "opened_at = excluded.opened_at, updated_at = excluded.updated_at, json = excluded.json "
        "WHERE excluded.revision > incidents.revision"));
    b.text(i.id).integer(i.revision).text(to_string(i.status)).text(to_string(i.type)).text(i.service)
        .text(to_string(i.severity)).integer(i.opened_at).integer(i.updated_at).text(json);
    b.step();
    changed = sqlite3_changes(writer_->db) > 0;
  }
  if (changed && version_at_least_2()) {
    for (const std::string& anomaly_id : i.anomaly_ids) {
      Bound b(*writer_, writer_->prepare(
          "INSERT OR IGNORE INTO incident_anomalies (incident_id, anomaly_id) VALUES (?, ?)"));
      b.text(i.id).text(anomaly_id);
      b.step();
    }
  }
  tx.commit();
}

void SqliteStore::put_action(const RemediationAction& a) {
  const std::string json = encode_event(a);
  std::lock_guard lock(writer_->mu);
  // Later decisions about the same action replace earlier ones; a late-arriving older one does not.
  Bound b(*writer_, writer_->prepare(
      "INSERT INTO actions (id, ts, incident_id, service, kind, status, json) VALUES (?, ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(id) DO UPDATE SET ts = excluded.ts, incident_id = excluded.incident_id, "
      "service = excluded.service, kind = excluded.kind, status = excluded.status, json = excluded.json "
      "WHERE excluded.ts >= actions.ts"));
  b.text(a.id).integer(a.ts).text(a.incident_id).text(a.service).text(to_string(a.kind))
      .text(to_string(a.status)).text(json);
  b.step();
}

void SqliteStore::put_action_result(const ActionResult& r) {
  const std::string json = encode_event(r);
  std::lock_guard lock(writer_->mu);
  Bound b(*writer_, writer_->prepare(
      "INSERT INTO action_results (id, ts, action_id, incident_id, service, status, json) "
      "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET ts = excluded.ts, "
      "action_id = excluded.action_id, incident_id = excluded.incident_id, service = excluded.service, "
      "status = excluded.status, json = excluded.json"));
  b.text(r.id).integer(r.ts).text(r.action_id).text(r.incident_id).text(r.service)
      .text(to_string(r.status)).text(json);
  b.step();
}

void SqliteStore::put_acknowledgement(const Acknowledgement& a) {
  std::lock_guard lock(writer_->mu);
  if (!version_at_least_2()) throw std::runtime_error("sqlite store: acknowledgements need schema version 2");
  Bound b(*writer_, writer_->prepare(
      "INSERT INTO incident_acks (incident_id, ts, acked_by, note) VALUES (?, ?, ?, ?) "
      "ON CONFLICT(incident_id) DO UPDATE SET ts = excluded.ts, acked_by = excluded.acked_by, "
      "note = excluded.note"));
  b.text(a.incident_id).integer(a.ts).text(a.by).text(a.note);
  b.step();
}

// ------------------------------------------------------------------------------------ reads

std::vector<Incident> SqliteStore::list_incidents(const IncidentQuery& q) {
  Where w = incident_where(q);
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT id, json FROM incidents" + w.sql +
                       " ORDER BY opened_at DESC, id DESC LIMIT ? OFFSET ?"));
  w.bind(b);
  b.integer(sql_limit(q.limit)).integer(sql_limit(q.offset));
  std::vector<Incident> out;
  while (b.step())
    if (auto i = decode_row<Incident>(b.column_text(1), "incidents", b.column_text(0))) out.push_back(std::move(*i));
  return out;
}

std::size_t SqliteStore::count_incidents(const IncidentQuery& q) {
  Where w = incident_where(q);
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT COUNT(*) FROM incidents" + w.sql));
  w.bind(b);
  return b.step() ? static_cast<std::size_t>(b.column_int(0)) : 0;
}

std::optional<Incident> SqliteStore::get_incident(const std::string& id) {
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT json FROM incidents WHERE id = ?"));
  b.text(id);
  if (!b.step()) return std::nullopt;
  return decode_row<Incident>(b.column_text(0), "incidents", id);
}

std::vector<Anomaly> SqliteStore::list_anomalies(const AnomalyQuery& q) {
  Where w = anomaly_where(q);
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT id, json FROM anomalies" + w.sql + " ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?"));
  w.bind(b);
  b.integer(sql_limit(q.limit)).integer(sql_limit(q.offset));
  std::vector<Anomaly> out;
  while (b.step())
    if (auto a = decode_row<Anomaly>(b.column_text(1), "anomalies", b.column_text(0))) out.push_back(std::move(*a));
  return out;
}

std::size_t SqliteStore::count_anomalies(const AnomalyQuery& q) {
  Where w = anomaly_where(q);
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT COUNT(*) FROM anomalies" + w.sql));
  w.bind(b);
  return b.step() ? static_cast<std::size_t>(b.column_int(0)) : 0;
}

std::vector<RemediationAction> SqliteStore::list_actions(const ActionQuery& q) {
  Where w = action_where(q);
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT id, json FROM actions" + w.sql + " ORDER BY ts DESC, id DESC LIMIT ? OFFSET ?"));
  w.bind(b);
  b.integer(sql_limit(q.limit)).integer(sql_limit(q.offset));
  std::vector<RemediationAction> out;
  while (b.step())
    if (auto a = decode_row<RemediationAction>(b.column_text(1), "actions", b.column_text(0)))
      out.push_back(std::move(*a));
  return out;
}

std::size_t SqliteStore::count_actions(const ActionQuery& q) {
  Where w = action_where(q);
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT COUNT(*) FROM actions" + w.sql));
  w.bind(b);
  return b.step() ? static_cast<std::size_t>(b.column_int(0)) : 0;
}

std::optional<RemediationAction> SqliteStore::get_action(const std::string& id) {
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT json FROM actions WHERE id = ?"));
  b.text(id);
  if (!b.step()) return std::nullopt;
  return decode_row<RemediationAction>(b.column_text(0), "actions", id);
}

std::vector<ActionResult> SqliteStore::list_action_results(const std::string& action_id) {
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT id, json FROM action_results WHERE action_id = ? ORDER BY ts, id"));
  b.text(action_id);
  std::vector<ActionResult> out;
  while (b.step())
    if (auto r = decode_row<ActionResult>(b.column_text(1), "action_results", b.column_text(0)))
      out.push_back(std::move(*r));
  return out;
}

std::optional<Acknowledgement> SqliteStore::get_acknowledgement(const std::string& incident_id) {
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  if (!version_at_least_2()) return std::nullopt;
  Bound b(c, c.prepare("SELECT ts, acked_by, note FROM incident_acks WHERE incident_id = ?"));
  b.text(incident_id);
  if (!b.step()) return std::nullopt;
  return Acknowledgement{incident_id, b.column_int(0), b.column_text(1), b.column_text(2)};
}

std::vector<std::string> SqliteStore::list_services() {
  Connection& c = reader();
  std::lock_guard lock(c.mu);
  Bound b(c, c.prepare("SELECT service FROM incidents UNION SELECT service FROM actions "
                       "UNION SELECT service FROM anomalies ORDER BY 1"));
  std::vector<std::string> out;
  while (b.step()) out.push_back(b.column_text(0));
  return out;
}

}  // namespace selfheal
