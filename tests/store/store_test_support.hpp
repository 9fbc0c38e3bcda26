// Shared by the store tests: event factories and the two backends behind one small interface, so
// the behavioural suite runs unchanged against SQLite and against a real PostgreSQL.
#pragma once

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/postgres_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/postgres_server.hpp"

namespace selfheal::testing {

namespace fs = std::filesystem;

// A fresh directory per test under the system temp dir, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("selfheal-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

inline Incident make_incident(const std::string& id, std::uint32_t revision, TimeMs opened, const std::string& service,
                              IncidentType type = IncidentType::MemoryLeak,
                              IncidentStatus status = IncidentStatus::Open) {
  Incident i;
  i.id = id;
  i.revision = revision;
  i.type = type;
  i.status = status;
  i.service = service;
  i.namespace_name = "shop";
  i.title = "incident " + id + " rev " + std::to_string(revision);
  i.opened_at = opened;
  i.updated_at = opened + revision;
  i.evidence.push_back(Evidence{"metric", "memory_used_ratio", "memory 91% of limit", 0.91, 0.42, opened});
  i.timeline.push_back(TimelineEntry{opened, "opened"});
  return i;
}

inline Anomaly make_anomaly(const std::string& id, TimeMs ts, const std::string& service, double score) {
  Anomaly a;
  a.id = id;
  a.ts = ts;
  a.service = service;
  a.series = service + ":memory_used_ratio";
  a.signal = "memory_used_ratio";
  a.score = score;
  a.value = 0.9;
  a.model = "robust_z";
  return a;
}

inline RemediationAction make_action(const std::string& id, TimeMs ts, const std::string& incident,
                                     const std::string& service, ActionStatus status) {
  RemediationAction a;
  a.id = id;
  a.ts = ts;
  a.incident_id = incident;
  a.service = service;
  a.kind = ActionKind::DeletePod;
  a.namespace_name = "shop";
  a.target = service + "-abcdef0123-xyz12";
  a.status = status;
  a.reason = "memory leak";
  return a;
}

// One database per test, opened as often as the test likes (each open() sees the same data).
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Empty when ready; otherwise why the backend could not be set up.
  virtual std::string error() const { return ""; }
  virtual std::unique_ptr<Store> open(int target_version = -1) = 0;
  // Raw SQL on the underlying database, around the store (for setting up odd states).
  virtual bool exec(const std::string& sql) = 0;
  // First column of the first row, as text.
  virtual std::string query_value(const std::string& sql) = 0;
};

class SqliteBackend final : public StoreBackend {
 public:
  std::unique_ptr<Store> open(int target_version) override {
    return std::make_unique<SqliteStore>(path_, target_version);
  }
  bool exec(const std::string& sql) override {
    sqlite3* db = nullptr;
    bool ok = sqlite3_open(path_.c_str(), &db) == SQLITE_OK &&
              sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
  }
  std::string query_value(const std::string& sql) override {
    sqlite3* db = nullptr;
    std::string out = "ERROR";
    sqlite3_stmt* st = nullptr;
    if (sqlite3_open(path_.c_str(), &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(st, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

 private:
  TempDir dir_;
  std::string path_ = dir_.file("store.db");
};

// One PostgreSQL server per test process (started on first use, stopped at exit); one database
// per backend object.
inline PostgresServer& shared_postgres() {
  static PostgresServer server;
  return server;
}

class PostgresBackend final : public StoreBackend {
 public:
  PostgresBackend() : pg_(shared_postgres()) {
    if (!pg_.ok()) return;
    dbname_ = "store_test_" + std::to_string(counter_++);
    created_ = pg_.create_database(dbname_);
  }
  std::string error() const override {
    if (!pg_.ok()) return pg_.error();
    return created_ ? "" : "CREATE DATABASE " + dbname_ + " failed";
  }
  std::unique_ptr<Store> open(int target_version) override {
    return std::make_unique<PostgresStore>(options(target_version));
  }
  PostgresStoreOptions options(int target_version = -1) const {
    PostgresStoreOptions o;
    o.conninfo = pg_.conninfo(dbname_);
    o.target_version = target_version;
    o.retry_initial_ms = 20;
    o.retry_max_ms = 250;  // tests restart the server: come back quickly
    return o;
  }
  bool exec(const std::string& sql) override { return pg_.psql(sql, dbname_).first == 0; }
  std::string query_value(const std::string& sql) override { return pg_.query_value(sql, dbname_); }
  PostgresServer& server() { return pg_; }
  const std::string& dbname() const { return dbname_; }

 private:
  static inline int counter_ = 0;
  PostgresServer& pg_;
  std::string dbname_;
  bool created_ = false;
};

}  // namespace selfheal::testing
