// Where anomalies, incidents and remediation decisions are kept. Implementations: SqliteStore
// (embedded default, ./data/selfheal.db) and PostgresStore. Both apply versioned schema migrations
// at open.
//
// Threading: implementations are safe to call from several threads (the API serves reads while the
// persister writes).
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "contracts/events.hpp"

namespace selfheal {

struct TimeRange {
  TimeMs from = std::numeric_limits<TimeMs>::min();
  TimeMs to = std::numeric_limits<TimeMs>::max();
};

struct IncidentQuery {
  std::optional<IncidentStatus> status;
  std::optional<IncidentType> type;
  std::string service;  // empty: any
  TimeRange opened;
  std::size_t limit = 50;
  std::size_t offset = 0;
};

struct AnomalyQuery {
  std::string service;
  std::string incident_id;  // anomalies attached to this incident
  TimeRange time;
  double min_score = 0;
  std::size_t limit = 100;
  std::size_t offset = 0;
};

struct ActionQuery {
  std::string incident_id;
  std::string service;
  std::optional<ActionStatus> status;
  TimeRange time;
  std::size_t limit = 100;
  std::size_t offset = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  virtual void put_anomaly(const Anomaly& a) = 0;
  // Upsert by id; a snapshot with a lower revision than the stored one is ignored.
  virtual void put_incident(const Incident& i) = 0;
  // Upsert by id (an action's status changes over its life).
  virtual void put_action(const RemediationAction& a) = 0;
  virtual void put_action_result(const ActionResult& r) = 0;

  virtual std::vector<Incident> list_incidents(const IncidentQuery& q) = 0;
  virtual std::size_t count_incidents(const IncidentQuery& q) = 0;
  virtual std::optional<Incident> get_incident(const std::string& id) = 0;
  virtual std::vector<Anomaly> list_anomalies(const AnomalyQuery& q) = 0;
  virtual std::vector<RemediationAction> list_actions(const ActionQuery& q) = 0;
  virtual std::optional<RemediationAction> get_action(const std::string& id) = 0;
  virtual std::vector<ActionResult> list_action_results(const std::string& action_id) = 0;

  // The schema version after migrations.
  virtual int schema_version() = 0;
};

}  // namespace selfheal
