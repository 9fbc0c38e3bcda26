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

// An operator saw an incident and took it on (POST /incidents/{id}/acknowledge). Kept apart from
// the classifier's snapshots so that neither overwrites the other.
struct Acknowledgement {
  std::string incident_id;
  TimeMs ts = 0;
  std::string by;    // who (the API records "api" unless the request names someone)
  std::string note;
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

  // Additive extensions (with defaults so that other implementations keep compiling).
  virtual std::size_t count_anomalies(const AnomalyQuery& q) {
    AnomalyQuery all = q;
    all.limit = std::numeric_limits<std::size_t>::max();
    all.offset = 0;
    return list_anomalies(all).size();
  }
  virtual std::size_t count_actions(const ActionQuery& q) {
    ActionQuery all = q;
    all.limit = std::numeric_limits<std::size_t>::max();
    all.offset = 0;
    return list_actions(all).size();
  }
  // Upsert by incident id (the latest acknowledgement wins).
  virtual void put_acknowledgement(const Acknowledgement& a) {}
  virtual std::optional<Acknowledgement> get_acknowledgement(const std::string& incident_id) {
    return std::nullopt;
  }
  // Every service named by a stored incident, action or anomaly, sorted.
  virtual std::vector<std::string> list_services() { return {}; }
};

}  // namespace selfheal
