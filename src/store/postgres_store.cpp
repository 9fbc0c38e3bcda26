#include "store/postgres_store.hpp"

#include <libpq-fe.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

#include "contracts/events_json.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"

namespace selfheal {

// ------------------------------------------------------------------------------------ migrations

const std::vector<PostgresMigration>& postgres_migrations() {
  // Never edit a released step: add a new one. Each runs in its own transaction. Times are
  // timestamptz (UTC instants, millisecond precision from the events); `json` is the full event.
  static const std::vector<PostgresMigration> steps = {
      {1, "events: anomalies, incidents, actions, action results",
       R"sql(
CREATE TABLE anomalies (
  id text PRIMARY KEY,
  ts timestamptz NOT NULL,
  service text NOT NULL,
  pod text NOT NULL,
  signal text NOT NULL,
  score double precision NOT NULL,
  json jsonb NOT NULL);
CREATE INDEX anomalies_ts ON anomalies (ts);
CREATE INDEX anomalies_service_ts ON anomalies (service, ts);

CREATE TABLE incidents (
  id text PRIMARY KEY,
  revision bigint NOT NULL,
  status text NOT NULL,
  type text NOT NULL,
  service text NOT NULL,
  severity text NOT NULL,
  title text NOT NULL,
  opened_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  resolved_at timestamptz,
  json jsonb NOT NULL);
CREATE INDEX incidents_opened ON incidents (opened_at);
CREATE INDEX incidents_status_opened ON incidents (status, opened_at);
CREATE INDEX incidents_type_opened ON incidents (type, opened_at);
CREATE INDEX incidents_service_opened ON incidents (service, opened_at);

CREATE TABLE actions (
  id text PRIMARY KEY,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  incident_id text NOT NULL,
  service text NOT NULL,
  kind text NOT NULL,
  status text NOT NULL,
  target text NOT NULL,
  dry_run boolean NOT NULL,
  json jsonb NOT NULL);
CREATE INDEX actions_incident ON actions (incident_id, updated_at);
CREATE INDEX actions_service_updated ON actions (service, updated_at);
CREATE INDEX actions_updated ON actions (updated_at);
CREATE INDEX actions_created ON actions (created_at);

CREATE TABLE action_results (
  id text PRIMARY KEY,
  ts timestamptz NOT NULL,
  action_id text NOT NULL,
  incident_id text NOT NULL,
  service text NOT NULL,
  status text NOT NULL,
  json jsonb NOT NULL);
CREATE INDEX action_results_action ON action_results (action_id, ts);
CREATE INDEX action_results_ts ON action_results (ts);
)sql"},
      {2, "incident-anomaly links (backfilled from incident JSON) and operator acknowledgements",
       R"sql(
CREATE TABLE incident_anomalies (
  incident_id text NOT NULL,
  anomaly_id text NOT NULL,
  PRIMARY KEY (incident_id, anomaly_id));
CREATE INDEX incident_anomalies_anomaly ON incident_anomalies (anomaly_id);
INSERT INTO incident_anomalies (incident_id, anomaly_id)
  SELECT i.id, a.value FROM incidents i,
    jsonb_array_elements_text(CASE WHEN jsonb_typeof(i.json->'data'->'anomaly_ids') = 'array'
                                   THEN i.json->'data'->'anomaly_ids' ELSE '[]'::jsonb END) AS a(value)
  ON CONFLICT DO NOTHING;

CREATE TABLE incident_acks (
  incident_id text PRIMARY KEY,
  ts timestamptz NOT NULL,
  acked_by text NOT NULL,
  note text NOT NULL);
)sql"},
  };
  return steps;
}

// ------------------------------------------------------------------------------------ errors

namespace {

// A libpq failure. `connection_lost`: the server went away (or is restarting) and the same request
// may succeed on a fresh connection; otherwise the server refused this request for what it is.
struct PgError : std::runtime_error {
  PgError(const std::string& message, bool lost, std::string state)
      : std::runtime_error(message), connection_lost(lost), sqlstate(std::move(state)) {}
  bool connection_lost;
  std::string sqlstate;
};

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

}  // namespace

std::string describe_postgres_target(const std::string& conninfo) {
  if (conninfo.empty())
    throw std::runtime_error(
        "config: key 'store.postgres_url' is empty: set a libpq URL such as "
        "postgresql://selfheal@db:5432/selfheal (or env SELFHEAL_STORE_POSTGRES_URL)");
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = trimmed(err);
    PQfreemem(err);
    throw std::runtime_error("config: key 'store.postgres_url': not a libpq connection string or URL: " +
                             (msg.empty() ? std::string("out of memory") : msg));
  }
  std::map<std::string, std::string> kv;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o)
    if (o->val != nullptr) kv[o->keyword] = o->val;
  PQconninfoFree(opts);
  auto get = [&](const char* k, const char* env, const char* fallback) {
    if (auto it = kv.find(k); it != kv.end() && !it->second.empty()) return it->second;
    if (const char* e = std::getenv(env); e != nullptr && *e != '\0') return std::string(e);
    return std::string(fallback);
  };
  const std::string host = get("host", "PGHOST", get("hostaddr", "PGHOSTADDR", "localhost").c_str());
  const std::string user = get("user", "PGUSER", "(default user)");
  return "postgres " + user + "@" + host + ":" + get("port", "PGPORT", "5432") + "/" +
         get("dbname", "PGDATABASE", user.c_str());
}

// ------------------------------------------------------------------------------------ connection

class PostgresStore::Connection {
 public:
  Connection(const std::string& conninfo, const std::string& target) : target_(target) {
    // Keywords before `dbname` are defaults the URL may override (libpq keeps the last value).
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {"5", "selfheal", conninfo.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (conn_ == nullptr) throw PgError(target_ + ": cannot connect: out of memory", true, "");
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = trimmed(PQerrorMessage(conn_));
      PQfinish(conn_);
      conn_ = nullptr;
      throw PgError(target_ + ": cannot connect: " + msg, true, "");
    }
    // Server NOTICEs (e.g. "relation exists, skipping") are not worth a line on stderr.
    PQsetNoticeProcessor(conn_, [](void*, const char* m) { log::debug("store", "postgres: {}", trimmed(m)); }, nullptr);
    exec("SET client_min_messages = warning");
  }
  ~Connection() {
    if (conn_) PQfinish(conn_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool broken() const { return PQstatus(conn_) != CONNECTION_OK; }

  // A statement without parameters (may hold several; used for BEGIN/COMMIT and migrations).
  ResultPtr exec(const std::string& sql) {
    return check(ResultPtr(PQexec(conn_, sql.c_str()), &PQclear), "running \"" + head(sql) + "\"");
  }

  // A parameterised statement, prepared once per connection and cached by its SQL text.
  ResultPtr run(const std::string& sql, const std::vector<std::string>& params, std::uint32_t null_mask = 0) {
    const std::string& name = prepared(sql);
    std::vector<const char*> values = c_values(params, null_mask);
    return check(ResultPtr(PQexecPrepared(conn_, name.c_str(), static_cast<int>(values.size()), values.data(),
                                          nullptr, nullptr, 0),
                           &PQclear),
                 "running \"" + head(sql) + "\"");
  }

  // The writes in one round trip (libpq pipeline mode): they run as one implicit transaction that
  // the closing Sync commits, or rolls back entirely if any statement fails. Throws like run().
  void run_pipelined(const std::vector<const PostgresStore::WriteOp*>& ops) {
    for (const auto* op : ops) prepared(*op->sql);  // (not inside the pipeline)
    if (PQenterPipelineMode(conn_) != 1) throw failure(nullptr, "entering pipeline mode");
    std::unique_ptr<PgError> first_error;
    for (const auto* op : ops) {
      std::vector<const char*> values = c_values(op->params, op->null_mask);
      if (PQsendQueryPrepared(conn_, prepared_.find(*op->sql)->second.c_str(), static_cast<int>(values.size()),
                              values.data(), nullptr, nullptr, 0) != 1)
        throw failure(nullptr, "sending \"" + head(*op->sql) + "\"");
    }
    if (PQpipelineSync(conn_) != 1) throw failure(nullptr, "sending a pipeline sync");
    // One result per statement (each followed by a null), then the sync's.
    for (const auto* op : ops) {
      ResultPtr r(PQgetResult(conn_), &PQclear);
      if (!r) throw failure(nullptr, "reading the result of \"" + head(*op->sql) + "\"");
      if (PQresultStatus(r.get()) == PGRES_FATAL_ERROR && !first_error)
        first_error = std::make_unique<PgError>(failure(r.get(), "running \"" + head(*op->sql) + "\""));
      while (PGresult* rest = PQgetResult(conn_)) PQclear(rest);
    }
    ResultPtr sync(PQgetResult(conn_), &PQclear);
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) throw failure(sync.get(), "ending the pipeline");
    if (PQexitPipelineMode(conn_) != 1) throw failure(nullptr, "leaving pipeline mode");
    if (first_error) throw *first_error;
  }

 private:
  static std::string head(const std::string& sql) {
    std::string s = sql.substr(0, 60);
    for (char& c : s)
      if (c == '\n') c = ' ';
    return sql.size() > 60 ? s + "..." : s;
  }

  const std::string& prepared(const std::string& sql) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "s" + std::to_string(prepared_.size() + 1);
      check(ResultPtr(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr), &PQclear),
            "preparing \"" + head(sql) + "\"");
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    return it->second;
  }

  static std::vector<const char*> c_values(const std::vector<std::string>& params, std::uint32_t null_mask) {
    std::vector<const char*> values(params.size());
    for (std::size_t i = 0; i < params.size(); ++i)
      values[i] = (i < 32 && (null_mask >> i) & 1u) ? nullptr : params[i].c_str();
    return values;
  }

  ResultPtr check(ResultPtr r, const std::string& what) {
    ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    throw failure(r.get(), what);
  }

  PgError failure(PGresult* r, const std::string& what) {
    const char* state_field = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string state = state_field ? state_field : "";
    std::string msg = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    if (msg.empty()) msg = trimmed(PQerrorMessage(conn_));
    // Lost or restarting server (class 08, admin shutdown, crash, cannot connect now), a resource
    // shortage (53) or a serialization conflict (40): worth retrying on a fresh connection. An
    // error libpq made itself (no SQLSTATE) means the link broke.
    const bool lost = broken() || state.empty() || state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 ||
                      state.rfind("53", 0) == 0 || state.rfind("40", 0) == 0;
    return PgError(target_ + ": " + what + ": " + msg, lost, state);
  }

  PGconn* conn_ = nullptr;
  std::string target_;
  std::map<std::string, std::string, std::less<>> prepared_;
};

// ------------------------------------------------------------------------------------ pool

// Reader connections, opened on demand up to `size` and reused. A connection that broke is closed
// when it comes back, so the next read opens a fresh one.
class PostgresStore::Pool {
 public:
  Pool(std::string conninfo, std::string target, std::size_t size)
      : conninfo_(std::move(conninfo)), target_(std::move(target)), size_(size == 0 ? 1 : size) {}

  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Connection> c) : pool_(pool), conn_(std::move(c)) {}
    ~Lease() { pool_.give_back(std::move(conn_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *conn_; }

   private:
    Pool& pool_;
    std::unique_ptr<Connection> conn_;
  };

  void add(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu_);
    ++open_;
    idle_.push_back(std::move(c));
  }

  std::unique_ptr<Lease> acquire(std::int64_t wait_ms) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return !idle_.empty() || open_ < size_; }))
      throw std::runtime_error(target_ + ": all " + std::to_string(size_) + " pooled connections stayed busy for " +
                               std::to_string(wait_ms) + " ms (raise store.postgres_pool_size)");
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return std::make_unique<Lease>(*this, std::move(c));
    }
    ++open_;
    lock.unlock();
    try {
      return std::make_unique<Lease>(*this, std::make_unique<Connection>(conninfo_, target_));
    } catch (...) {
      lock.lock();
      --open_;
      cv_.notify_one();
      throw;
    }
  }

 private:
  void give_back(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mu_);
    if (c && !c->broken()) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
    cv_.notify_one();
  }

  const std::string conninfo_;
  const std::string target_;
  const std::size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + leased
};

// ------------------------------------------------------------------------------------ statements

namespace {

// A millisecond epoch parameter as timestamptz, exactly (no float rounding); NULL stays NULL.
std::string ms(int n) {
  return "(TIMESTAMPTZ 'epoch' + $" + std::to_string(n) + "::bigint * INTERVAL '1 millisecond')";
}
const std::string kTsMs = "(EXTRACT(EPOCH FROM ts) * 1000)::bigint";

const std::string& sql_put_anomaly() {
  static const std::string s =
      "INSERT INTO anomalies (id, ts, service, pod, signal, score, json) VALUES ($1, " + ms(2) +
      ", $3, $4, $5, $6, $7::jsonb) ON CONFLICT (id) DO UPDATE SET ts = EXCLUDED.ts, service = EXCLUDED.service, "
      "pod = EXCLUDED.pod, signal = EXCLUDED.signal, score = EXCLUDED.score, json = EXCLUDED.json";
  return s;
}

const std::string& incident_upsert() {
  static const std::string s =
      "INSERT INTO incidents (id, revision, status, type, service, severity, title, opened_at, updated_at, "
      "resolved_at, json) VALUES ($1, $2, $3, $4, $5, $6, $7, " + ms(8) + ", " + ms(9) + ", " + ms(10) +
      ", $11::jsonb) ON CONFLICT (id) DO UPDATE SET revision = EXCLUDED.revision, status = EXCLUDED.status, "
      "type = EXCLUDED.type, service = EXCLUDED.service, severity = EXCLUDED.severity, title = EXCLUDED.title, "
      "opened_at = EXCLUDED.opened_at, updated_at = EXCLUDED.updated_at, resolved_at = EXCLUDED.resolved_at, "
      "json = EXCLUDED.json WHERE EXCLUDED.revision > incidents.revision";
  return s;
}
const std::string& sql_put_incident_v1() { return incident_upsert(); }
// Version 2: the same upsert, and (only when it changed the row) the incident's anomaly links.
const std::string& sql_put_incident_v2() {
  static const std::string s =
      "WITH up AS (" + incident_upsert() + " RETURNING id, json) "
      "INSERT INTO incident_anomalies (incident_id, anomaly_id) SELECT up.id, a.value FROM up, "
      "jsonb_array_elements_text(CASE WHEN jsonb_typeof(up.json->'data'->'anomaly_ids') = 'array' "
      "THEN up.json->'data'->'anomaly_ids' ELSE '[]'::jsonb END) AS a(value) ON CONFLICT DO NOTHING";
  return s;
}

const std::string& sql_put_action() {
  // Later decisions about the same action replace earlier ones; a late-arriving older one does not.
  // created_at keeps the first time the action was seen.
  static const std::string s =
      "INSERT INTO actions (id, created_at, updated_at, incident_id, service, kind, status, target, dry_run, json) "
      "VALUES ($1, " + ms(2) + ", " + ms(2) + ", $3, $4, $5, $6, $7, $8::boolean, $9::jsonb) "
      "ON CONFLICT (id) DO UPDATE SET created_at = LEAST(actions.created_at, EXCLUDED.created_at), "
      "updated_at = EXCLUDED.updated_at, incident_id = EXCLUDED.incident_id, service = EXCLUDED.service, "
      "kind = EXCLUDED.kind, status = EXCLUDED.status, target = EXCLUDED.target, dry_run = EXCLUDED.dry_run, "
      "json = EXCLUDED.json WHERE EXCLUDED.updated_at >= actions.updated_at";
  return s;
}

const std::string& sql_put_action_result() {
  static const std::string s =
      "INSERT INTO action_results (id, ts, action_id, incident_id, service, status, json) VALUES ($1, " + ms(2) +
      ", $3, $4, $5, $6, $7::jsonb) ON CONFLICT (id) DO UPDATE SET ts = EXCLUDED.ts, action_id = EXCLUDED.action_id, "
      "incident_id = EXCLUDED.incident_id, service = EXCLUDED.service, status = EXCLUDED.status, json = EXCLUDED.json";
  return s;
}

const std::string& sql_put_ack() {
  static const std::string s =
      "INSERT INTO incident_acks (incident_id, ts, acked_by, note) VALUES ($1, " + ms(2) +
      ", $3, $4) ON CONFLICT (incident_id) DO UPDATE SET ts = EXCLUDED.ts, acked_by = EXCLUDED.acked_by, "
      "note = EXCLUDED.note";
  return s;
}

std::string number(double v) { return fmt::format("{}", std::isfinite(v) ? v : 0.0); }

// jsonb cannot hold U+0000; the encoder writes it as the escape \u0000. Replace each such escape
// (and only escapes: "\\u0000" is a backslash followed by text) with U+FFFD, so the row is kept.
std::string jsonb_safe(std::string json) {
  if (json.find("\\u0000") == std::string::npos) return json;
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size(); ++i) {
    if (json[i] == '\\' && i + 1 < json.size()) {
      if (json.compare(i, 6, "\\u0000") == 0) {
        out += "\\ufffd";
        i += 5;
      } else {
        out += json[i];
        out += json[++i];
      }
      continue;
    }
    out += json[i];
  }
  return out;
}

// Postgres text holds neither NUL nor invalid UTF-8 (and libpq parameters end at a NUL): such
// bytes become U+FFFD, so an odd service or pod name cannot cost the whole row.
std::string pg_text(std::string s) {
  auto valid_at = [&](std::size_t i) -> std::size_t {  // length of a valid sequence at i, or 0
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    if (c == 0) return 0;
    if (c < 0x80) return 1;
    std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
    if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k)
      if ((b(i + k) & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // UTF-16 surrogate
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return n;
  };
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t n = valid_at(i);
    if (n == 0) break;
    i += n;
  }
  if (i == s.size()) return s;  // the common case: nothing to replace
  std::string out = s.substr(0, i);
  while (i < s.size()) {
    std::size_t n = valid_at(i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

std::string limit_text(std::size_t n) {
  return std::to_string(std::min<std::size_t>(n, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
}
bool unlimited(std::size_t n) { return n >= static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()); }

bool bounded(TimeMs t) {
  return t != std::numeric_limits<TimeMs>::min() && t != std::numeric_limits<TimeMs>::max();
}

// WHERE clause with numbered parameters; the SQL text depends only on which filters are present,
// so each shape is prepared once per connection.
struct Where {
  std::string sql;
  std::vector<std::string> params;
  std::string next() { return "$" + std::to_string(params.size() + 1); }
  void add(const std::string& clause_before, std::string value, const std::string& clause_after = "") {
    std::string p = next();
    sql += (sql.empty() ? " WHERE " : " AND ") + clause_before + p + clause_after;
    params.push_back(pg_text(std::move(value)));
  }
  void time(const std::string& column, const char* op, TimeMs v) {
    add(column + " " + op + " (TIMESTAMPTZ 'epoch' + ", std::to_string(v), "::bigint * INTERVAL '1 millisecond')");
  }
  // " LIMIT $n OFFSET $m" for after ORDER BY (parameters appended); NULL limit means no limit.
  std::string page(std::size_t limit, std::size_t offset, std::uint32_t& null_mask) {
    std::string out = " LIMIT " + next() + "::bigint";
    if (unlimited(limit)) null_mask |= 1u << params.size();
    params.push_back(limit_text(limit));
    out += " OFFSET " + next() + "::bigint";
    params.push_back(limit_text(offset));
    return out;
  }
};

Where incident_where(const IncidentQuery& q) {
  Where w;
  if (q.status) w.add("status = ", std::string(to_string(*q.status)));
  if (q.type) w.add("type = ", std::string(to_string(*q.type)));
  if (!q.service.empty()) w.add("service = ", q.service);
  if (bounded(q.opened.from)) w.time("opened_at", ">=", q.opened.from);
  if (bounded(q.opened.to)) w.time("opened_at", "<=", q.opened.to);
  return w;
}

Where anomaly_where(const AnomalyQuery& q, int version) {
  Where w;
  if (!q.incident_id.empty()) {
    if (version >= 2)
      w.add("id IN (SELECT anomaly_id FROM incident_anomalies WHERE incident_id = ", q.incident_id, ")");
    else
      w.add("id IN (SELECT jsonb_array_elements_text(json->'data'->'anomaly_ids') FROM incidents WHERE id = ",
            q.incident_id, ")");
  }
  if (!q.service.empty()) w.add("service = ", q.service);
  if (bounded(q.time.from)) w.time("ts", ">=", q.time.from);
  if (bounded(q.time.to)) w.time("ts", "<=", q.time.to);
  if (q.min_score > 0) w.add("score >= ", number(q.min_score), "::double precision");
  return w;
}

Where action_where(const ActionQuery& q) {
  Where w;
  if (!q.incident_id.empty()) w.add("incident_id = ", q.incident_id);
  if (!q.service.empty()) w.add("service = ", q.service);
  if (q.status) w.add("status = ", std::string(to_string(*q.status)));
  if (bounded(q.time.from)) w.time("updated_at", ">=", q.time.from);
  if (bounded(q.time.to)) w.time("updated_at", "<=", q.time.to);
  return w;
}

template <typename T>
std::optional<T> decode_row(const char* json, std::string_view table, const char* id) {
  DecodeResult r = decode_event(json ? json : "");
  if (r.ok) {
    if (auto* v = std::get_if<T>(&r.event)) return std::move(*v);
    r.error = "holds a " + std::string(event_type_name(r.event)) + " event";
  }
  // A damaged row is skipped (and said), never fatal: the other rows still answer.
  log::warn("store", "{} row {} is unreadable and was skipped: {}", table, id ? id : "?", r.error);
  return std::nullopt;
}

template <typename T>
std::vector<T> decode_rows(PGresult* r, std::string_view table) {
  std::vector<T> out;
  const int n = PQntuples(r);
  out.reserve(static_cast<std::size_t>(n));
  for (int row = 0; row < n; ++row)
    if (auto v = decode_row<T>(PQgetvalue(r, row, 1), table, PQgetvalue(r, row, 0))) out.push_back(std::move(*v));
  return out;
}

std::size_t count_of(PGresult* r) {
  return PQntuples(r) > 0 ? static_cast<std::size_t>(std::stoull(PQgetvalue(r, 0, 0))) : 0;
}

constexpr std::int64_t kMigrationLockKey = 0x5e1f4ea1;  // pg_advisory_lock key: "selfheal" migrations

}  // namespace

// ------------------------------------------------------------------------------------ read helpers

void PostgresStore::wait_for_earlier_writes() {
  std::unique_lock lock(queue_mu_);
  const std::uint64_t target = next_seq_ - 1;
  if (done_seq_ >= target) return;
  // Read-your-writes: wait for what was queued before this read. If the server is away that long,
  // answer from what has landed (the read itself then fails or succeeds on its own).
  committed_cv_.wait_for(lock, std::chrono::milliseconds(options_.read_wait_ms), [&] { return done_seq_ >= target; });
}

template <typename Fn>
auto PostgresStore::read(Fn&& fn) {
  wait_for_earlier_writes();
  for (int attempt = 0;; ++attempt) {
    try {
      auto lease = pool_->acquire(options_.read_wait_ms + 5000);
      return fn(**lease);
    } catch (const PgError& e) {
      // A pooled connection may have died with a server restart: one more try on a fresh one.
      if (e.connection_lost && attempt == 0) continue;
      errors_read_->inc();
      throw std::runtime_error(std::string("postgres store: ") + e.what());
    } catch (const std::exception&) {
      errors_read_->inc();
      throw;
    }
  }
}

// ------------------------------------------------------------------------------------ open/close

PostgresStore::PostgresStore(PostgresStoreOptions options)
    : options_(std::move(options)), target_(describe_postgres_target(options_.conninfo)) {
  MetricsRegistry* m = options_.metrics;
  if (m == nullptr) {
    own_metrics_ = std::make_unique<MetricsRegistry>();
    m = own_metrics_.get();
  }
  writes_total_ = &m->counter("selfheal_store_writes_total", "Rows the store committed (Postgres backend)");
  retries_total_ = &m->counter("selfheal_store_write_retries_total",
                               "Write batches attempted again on a fresh connection after the server went away");
  pending_gauge_ = &m->gauge("selfheal_store_pending_writes", "Writes queued for the Postgres store, not yet committed");
  const std::string errors_help = "Store errors by kind: connection (server unreachable), rejected (a row the "
                                  "server refused, dropped), queue_full (write refused), read";
  errors_connection_ = &m->counter("selfheal_store_errors_total", errors_help, {{"kind", "connection"}});
  errors_rejected_ = &m->counter("selfheal_store_errors_total", errors_help, {{"kind", "rejected"}});
  errors_queue_full_ = &m->counter("selfheal_store_errors_total", errors_help, {{"kind", "queue_full"}});
  errors_read_ = &m->counter("selfheal_store_errors_total", errors_help, {{"kind", "read"}});
  if (options_.queue_capacity == 0) throw std::runtime_error("config: key 'store.postgres_queue_capacity' must be positive");
  if (options_.batch_size == 0) options_.batch_size = 1;

  std::unique_ptr<Connection> first;
  try {
    first = std::make_unique<Connection>(options_.conninfo, target_);
  } catch (const PgError& e) {
    throw std::runtime_error(std::string("store.postgres_url: ") + e.what() +
                             " (is the server running and the URL right?)");
  }
  try {
    migrate(*first, options_.target_version);
  } catch (const std::exception& e) {
    throw std::runtime_error("store.postgres_url: " + target_ + ": migration failed: " + e.what());
  }
  pool_ = std::make_unique<Pool>(options_.conninfo, target_, options_.pool_size);
  pool_->add(std::move(first));
  writer_ = std::thread([this] { writer_loop(); });
  log::info("store", "postgres store at {} (schema version {}, {} pooled connections)", target_, version_,
            options_.pool_size);
}

PostgresStore::~PostgresStore() {
  std::unique_lock lock(queue_mu_);
  stopping_ = true;
  queue_cv_.notify_all();
  lock.unlock();
  if (writer_.joinable()) writer_.join();
}

void PostgresStore::migrate(Connection& c, int target_version) {
  // A session lock: several processes opening the same database migrate one after the other.
  c.exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
  struct Unlock {
    Connection& c;
    ~Unlock() {
      try {
        c.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
      } catch (const std::exception&) {
        // The lock goes with the session anyway.
      }
    }
  } unlock{c};
  c.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, description text NOT NULL, "
         "applied_at timestamptz NOT NULL DEFAULT now())");
  int current = std::stoi(PQgetvalue(c.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").get(), 0, 0));
  const int latest = postgres_migrations().back().version;
  if (current > latest)
    throw std::runtime_error("the database has schema version " + std::to_string(current) +
                             ", newer than this build knows (" + std::to_string(latest) +
                             "); upgrade selfheal or use another database");
  for (const PostgresMigration& m : postgres_migrations()) {
    if (m.version <= current) continue;
    if (target_version >= 0 && m.version > target_version) break;
    c.exec("BEGIN");
    try {
      c.exec(m.sql);
      c.run("INSERT INTO schema_migrations (version, description) VALUES ($1::integer, $2)",
            {std::to_string(m.version), m.description});
      c.exec("COMMIT");
    } catch (const std::exception& e) {
      if (!c.broken()) {
        try {
          c.exec("ROLLBACK");
        } catch (const std::exception&) {
        }
      }
      throw std::runtime_error("step " + std::to_string(m.version) + " (" + m.description + "): " + e.what());
    }
    log::debug("store", "applied postgres migration {} ({})", m.version, m.description);
    current = m.version;
  }
  version_ = current;
}

int PostgresStore::schema_version() {
  return read([&](Connection& c) {
    return std::stoi(PQgetvalue(c.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").get(), 0, 0));
  });
}

// ------------------------------------------------------------------------------------ write queue

void PostgresStore::enqueue(WriteOp op) {
  for (std::string& p : op.params) p = pg_text(std::move(p));
  std::lock_guard lock(queue_mu_);
  if (queue_.size() >= options_.queue_capacity) {
    // Never block the caller (the executor thread): refuse, count and say so (not on every write).
    ++stats_.refused;
    errors_queue_full_->inc();
    if (stats_.refused == 1 || stats_.refused % 1000 == 0)
      log::error("store", "{}: {} writes queued (store.postgres_queue_capacity) while the server is unreachable; "
                 "refused {} so far, latest: {}", target_, queue_.size(), stats_.refused, op.what);
    return;
  }
  op.seq = next_seq_++;
  queue_.push_back(std::move(op));
  pending_gauge_->set(static_cast<double>(queue_.size()));
  queue_cv_.notify_one();
}

void PostgresStore::put_anomaly(const Anomaly& a) {
  enqueue(WriteOp{0, &sql_put_anomaly(),
                  {a.id, std::to_string(a.ts), a.service, a.pod, a.signal, number(a.score), jsonb_safe(encode_event(a))},
                  0, "anomaly " + a.id});
}

void PostgresStore::put_incident(const Incident& i) {
  enqueue(WriteOp{0, version_ >= 2 ? &sql_put_incident_v2() : &sql_put_incident_v1(),
                  {i.id, std::to_string(i.revision), std::string(to_string(i.status)), std::string(to_string(i.type)),
                   i.service, std::string(to_string(i.severity)), i.title, std::to_string(i.opened_at),
                   std::to_string(i.updated_at), std::to_string(i.resolved_at), jsonb_safe(encode_event(i))},
                  i.resolved_at == 0 ? 1u << 9 : 0u, "incident " + i.id});
}

void PostgresStore::put_action(const RemediationAction& a) {
  enqueue(WriteOp{0, &sql_put_action(),
                  {a.id, std::to_string(a.ts), a.incident_id, a.service, std::string(to_string(a.kind)),
                   std::string(to_string(a.status)), a.target, a.dry_run ? "true" : "false",
                   jsonb_safe(encode_event(a))},
                  0, "action " + a.id});
}

void PostgresStore::put_action_result(const ActionResult& r) {
  enqueue(WriteOp{0, &sql_put_action_result(),
                  {r.id, std::to_string(r.ts), r.action_id, r.incident_id, r.service, std::string(to_string(r.status)),
                   jsonb_safe(encode_event(r))},
                  0, "action result " + r.id});
}

void PostgresStore::put_acknowledgement(const Acknowledgement& a) {
  if (version_ < 2) throw std::runtime_error("postgres store: acknowledgements need schema version 2");
  enqueue(WriteOp{0, &sql_put_ack(), {a.incident_id, std::to_string(a.ts), a.by, a.note}, 0,
                  "acknowledgement of " + a.incident_id});
}

bool PostgresStore::write_batch(Connection& c, const std::vector<const WriteOp*>& batch) {
  try {
    c.run_pipelined(batch);
    return true;
  } catch (const PgError& e) {
    if (e.connection_lost) throw;
    // The server refused one row for its content (the batch was rolled back): find it by writing
    // the rows one at a time (each its own transaction), keep the others, drop only the refused
    // ones, loudly.
  }
  for (const WriteOp* op : batch) {
    try {
      c.run(*op->sql, op->params, op->null_mask);
    } catch (const PgError& e) {
      if (e.connection_lost) throw;
      std::lock_guard lock(queue_mu_);
      ++stats_.rejected;
      errors_rejected_->inc();
      log::error("store", "{} was refused by the server and dropped: {}", op->what, e.what());
    }
  }
  return true;
}

void PostgresStore::writer_loop() {
  std::unique_ptr<Connection> conn;
  std::int64_t backoff_ms = options_.retry_initial_ms;
  std::int64_t outage_started_ns = 0;  // 0: connected
  std::int64_t give_up_at_ns = 0;      // set once stopping: the shutdown deadline
  std::vector<const WriteOp*> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, nothing left
      if (stopping_ && give_up_at_ns == 0) give_up_at_ns = monotonic_ns() + options_.shutdown_wait_ms * 1'000'000;
      if (give_up_at_ns != 0 && monotonic_ns() >= give_up_at_ns) {
        log::error("store", "{}: shutting down with {} writes not committed (the server stayed unreachable for "
                   "{} ms); they are lost", target_, queue_.size(), options_.shutdown_wait_ms);
        done_seq_ = next_seq_ - 1;
        queue_.clear();
        pending_gauge_->set(0);
        committed_cv_.notify_all();
        return;
      }
      // Pointers into the deque stay valid: producers only push_back, and only this thread pops.
      batch.clear();
      for (std::size_t k = 0; k < queue_.size() && k < options_.batch_size; ++k) batch.push_back(&queue_[k]);
    }
    try {
      if (!conn || conn->broken()) {
        conn.reset();
        conn = std::make_unique<Connection>(options_.conninfo, target_);
      }
      write_batch(*conn, batch);
    } catch (const PgError& e) {
      conn.reset();
      errors_connection_->inc();
      retries_total_->inc();
      std::unique_lock lock(queue_mu_);
      ++stats_.retries;
      if (outage_started_ns == 0) {
        outage_started_ns = monotonic_ns();
        log::warn("store", "{} (connection lost); {} writes queued, retrying with backoff", e.what(), queue_.size());
      } else {
        log::debug("store", "retry failed: {}", e.what());
      }
      // Wait before the next attempt (shortened at shutdown so the deadline is kept).
      std::int64_t wait_ms = backoff_ms;
      if (give_up_at_ns != 0) wait_ms = std::min(wait_ms, std::max<std::int64_t>(0, (give_up_at_ns - monotonic_ns()) / 1'000'000));
      queue_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_ && give_up_at_ns == 0; });
      backoff_ms = std::min(backoff_ms * 2, options_.retry_max_ms);
      continue;
    }
    std::lock_guard lock(queue_mu_);
    if (outage_started_ns != 0) {
      log::info("store", "{}: reconnected after {} ms; writing the {} queued writes", target_,
                (monotonic_ns() - outage_started_ns) / 1'000'000, queue_.size());
      outage_started_ns = 0;
    }
    backoff_ms = options_.retry_initial_ms;
    done_seq_ = batch.back()->seq;
    stats_.written += batch.size();
    writes_total_->inc(static_cast<double>(batch.size()));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    pending_gauge_->set(static_cast<double>(queue_.size()));
    committed_cv_.notify_all();
  }
}

bool PostgresStore::flush(std::int64_t timeout_ms) {
  std::unique_lock lock(queue_mu_);
  const std::uint64_t target = next_seq_ - 1;
  return committed_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return done_seq_ >= target; });
}

std::size_t PostgresStore::pending_writes() const {
  std::lock_guard lock(queue_mu_);
  return queue_.size();
}

PostgresStore::Stats PostgresStore::stats() const {
  std::lock_guard lock(queue_mu_);
  return stats_;
}

// ------------------------------------------------------------------------------------ reads

std::vector<Incident> PostgresStore::list_incidents(const IncidentQuery& q) {
  Where w = incident_where(q);
  std::uint32_t nulls = 0;
  const std::string sql = "SELECT id, json FROM incidents" + w.sql + " ORDER BY opened_at DESC, id COLLATE \"C\" DESC" +
                          w.page(q.limit, q.offset, nulls);
  return read([&](Connection& c) {
    auto r = c.run(sql, w.params, nulls);
    return decode_rows<Incident>(r.get(), "incidents");
  });
}

std::size_t PostgresStore::count_incidents(const IncidentQuery& q) {
  Where w = incident_where(q);
  return read([&](Connection& c) { return count_of(c.run("SELECT COUNT(*) FROM incidents" + w.sql, w.params).get()); });
}

std::optional<Incident> PostgresStore::get_incident(const std::string& id) {
  return read([&](Connection& c) -> std::optional<Incident> {
    auto r = c.run("SELECT id, json FROM incidents WHERE id = $1", {pg_text(id)});
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return decode_row<Incident>(PQgetvalue(r.get(), 0, 1), "incidents", id.c_str());
  });
}

std::vector<Anomaly> PostgresStore::list_anomalies(const AnomalyQuery& q) {
  Where w = anomaly_where(q, version_);
  std::uint32_t nulls = 0;
  const std::string sql = "SELECT id, json FROM anomalies" + w.sql + " ORDER BY ts DESC, id COLLATE \"C\" DESC" +
                          w.page(q.limit, q.offset, nulls);
  return read([&](Connection& c) {
    auto r = c.run(sql, w.params, nulls);
    return decode_rows<Anomaly>(r.get(), "anomalies");
  });
}

std::size_t PostgresStore::count_anomalies(const AnomalyQuery& q) {
  Where w = anomaly_where(q, version_);
  return read([&](Connection& c) { return count_of(c.run("SELECT COUNT(*) FROM anomalies" + w.sql, w.params).get()); });
}

std::vector<RemediationAction> PostgresStore::list_actions(const ActionQuery& q) {
  Where w = action_where(q);
  std::uint32_t nulls = 0;
  const std::string sql = "SELECT id, json FROM actions" + w.sql + " ORDER BY updated_at DESC, id COLLATE \"C\" DESC" +
                          w.page(q.limit, q.offset, nulls);
  return read([&](Connection& c) {
    auto r = c.run(sql, w.params, nulls);
    return decode_rows<RemediationAction>(r.get(), "actions");
  });
}

std::size_t PostgresStore::count_actions(const ActionQuery& q) {
  Where w = action_where(q);
  return read([&](Connection& c) { return count_of(c.run("SELECT COUNT(*) FROM actions" + w.sql, w.params).get()); });
}

std::optional<RemediationAction> PostgresStore::get_action(const std::string& id) {
  return read([&](Connection& c) -> std::optional<RemediationAction> {
    auto r = c.run("SELECT id, json FROM actions WHERE id = $1", {pg_text(id)});
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return decode_row<RemediationAction>(PQgetvalue(r.get(), 0, 1), "actions", id.c_str());
  });
}

std::vector<ActionResult> PostgresStore::list_action_results(const std::string& action_id) {
  return read([&](Connection& c) {
    auto r = c.run("SELECT id, json FROM action_results WHERE action_id = $1 ORDER BY ts, id COLLATE \"C\"",
                   {pg_text(action_id)});
    return decode_rows<ActionResult>(r.get(), "action_results");
  });
}

std::optional<Acknowledgement> PostgresStore::get_acknowledgement(const std::string& incident_id) {
  if (version_ < 2) return std::nullopt;
  return read([&](Connection& c) -> std::optional<Acknowledgement> {
    auto r = c.run("SELECT " + kTsMs + ", acked_by, note FROM incident_acks WHERE incident_id = $1", {pg_text(incident_id)});
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return Acknowledgement{incident_id, std::stoll(PQgetvalue(r.get(), 0, 0)), PQgetvalue(r.get(), 0, 1),
                           PQgetvalue(r.get(), 0, 2)};
  });
}

std::vector<std::string> PostgresStore::list_services() {
  return read([&](Connection& c) {
    auto r = c.run("SELECT s FROM (SELECT service FROM incidents UNION SELECT service FROM actions "
                   "UNION SELECT service FROM anomalies) AS u(s) ORDER BY s COLLATE \"C\"",
                   {});
    std::vector<std::string> out;
    for (int row = 0; row < PQntuples(r.get()); ++row) out.emplace_back(PQgetvalue(r.get(), row, 0));
    return out;
  });
}

}  // namespace selfheal
