// The OpenAPI 3 description of /api/v1. Kept as one JSON document, next to the routes it describes;
// tests/api checks every route and response against it.
#include "api/openapi.hpp"

namespace selfheal {

const std::string& openapi_document() {
  static const std::string doc = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "selfheal API",
    "version": "1.0.0",
    "description": "Incidents, anomalies and remediation actions of selfheal. Mutating routes need 'Authorization: Bearer <api.token>'; with api.read_requires_token every route but /openapi.json and /healthz does. Errors are {\"error\":{\"code\",\"message\"}}, also for unknown routes (404 not_found) and for a method a path does not answer (405 method_not_allowed, with an Allow header). Times are milliseconds since the Unix epoch (query parameters also accept ISO 8601)."
  },
  "servers": [{"url": "/api/v1"}],
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "parameters": {
      "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
      "offset": {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
      "from": {"name": "from", "in": "query", "description": "inclusive lower bound: ms since the epoch or ISO 8601", "schema": {"type": "string"}},
      "to": {"name": "to", "in": "query", "description": "inclusive upper bound: ms since the epoch or ISO 8601", "schema": {"type": "string"}},
      "service": {"name": "service", "in": "query", "schema": {"type": "string"}},
      "id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}
    },
    "responses": {
      "BadRequest": {"description": "a parameter or the body is invalid", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unauthorized": {"description": "bearer token missing or wrong", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "mutations are disabled because api.token is not set", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "no such resource", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Conflict": {"description": "the resource is not in a state that allows this", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "TooLarge": {"description": "request body over api.max_body_bytes", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotModified": {"description": "the answer has not changed since the ETag given in If-None-Match (no body)"}
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "object", "required": ["code", "message"], "properties": {
          "code": {"type": "string"}, "message": {"type": "string"}}}}},
      "Evidence": {"type": "object", "required": ["kind", "signal", "text", "ts"], "properties": {
        "kind": {"type": "string"}, "signal": {"type": "string"}, "text": {"type": "string"},
        "value": {"type": "number", "nullable": true}, "baseline": {"type": "number", "nullable": true},
        "ts": {"type": "integer"}}},
      "TimelineEntry": {"type": "object", "required": ["ts", "text"], "properties": {
        "ts": {"type": "integer"}, "text": {"type": "string"}}},
      "Incident": {"type": "object", "required": ["id", "revision", "type", "status", "severity", "service", "title", "opened_at", "updated_at", "resolved_at", "evidence", "timeline", "anomaly_ids"], "properties": {
        "id": {"type": "string"}, "revision": {"type": "integer"},
        "type": {"type": "string", "enum": ["unknown", "memory_leak", "cpu_saturation", "db_latency", "error_burst", "crash_loop", "traffic_surge", "bad_state", "dependency_outage"]},
        "status": {"type": "string", "enum": ["open", "mitigating", "resolved", "escalated"]},
        "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
        "service": {"type": "string"}, "namespace": {"type": "string"}, "target_pod": {"type": "string"},
        "affected_services": {"type": "array", "items": {"type": "string"}},
        "title": {"type": "string"}, "summary": {"type": "string"},
        "opened_at": {"type": "integer"}, "updated_at": {"type": "integer"}, "resolved_at": {"type": "integer"},
        "evidence": {"type": "array", "items": {"$ref": "#/components/schemas/Evidence"}},
        "timeline": {"type": "array", "items": {"$ref": "#/components/schemas/TimelineEntry"}},
        "anomaly_ids": {"type": "array", "items": {"type": "string"}}}},
      "Contribution": {"type": "object", "required": ["feature"], "properties": {
        "feature": {"type": "string"}, "value": {"type": "number", "nullable": true},
        "expected": {"type": "number", "nullable": true}, "score": {"type": "number", "nullable": true}}},
      "Anomaly": {"type": "object", "required": ["id", "ts", "service", "series", "signal", "score", "source", "model"], "properties": {
        "id": {"type": "string"}, "ts": {"type": "integer"}, "service": {"type": "string"}, "pod": {"type": "string"},
        "series": {"type": "string"}, "signal": {"type": "string"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "value": {"type": "number", "nullable": true}, "expected": {"type": "number", "nullable": true},
        "source": {"type": "string", "enum": ["model", "rule"]},
        "model": {"type": "string"}, "model_version": {"type": "string"}, "window_id": {"type": "string"},
        "time_to_exhaustion_s": {"type": "number", "nullable": true},
        "contributions": {"type": "array", "items": {"$ref": "#/components/schemas/Contribution"}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
      "RemediationAction": {"type": "object", "required": ["id", "ts", "service", "kind", "status"], "properties": {
        "id": {"type": "string"}, "ts": {"type": "integer"}, "incident_id": {"type": "string"}, "service": {"type": "string"},
        "kind": {"type": "string", "enum": ["delete_pod", "rollout_restart", "scale_deployment", "clear_state", "notify_only"]},
        "namespace": {"type": "string"}, "target": {"type": "string"}, "replicas": {"type": "integer"},
        "playbook": {"type": "string"}, "step": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "approved", "rejected", "executing", "succeeded", "failed", "skipped", "dry_run", "verified", "not_recovered"]},
        "reason": {"type": "string"}, "dry_run": {"type": "boolean"}}},
      "ActionResult": {"type": "object", "required": ["id", "ts", "action_id", "service", "status"], "properties": {
        "id": {"type": "string"}, "ts": {"type": "integer"}, "action_id": {"type": "string"}, "incident_id": {"type": "string"},
        "service": {"type": "string"}, "status": {"type": "string"}, "detail": {"type": "string"}}},
      "Acknowledgement": {"type": "object", "required": ["incident_id", "ts", "by", "note"], "properties": {
        "incident_id": {"type": "string"}, "ts": {"type": "integer"}, "by": {"type": "string"}, "note": {"type": "string"}}},
      "Page": {"type": "object", "required": ["items", "total", "limit", "offset"], "properties": {
        "items": {"type": "array"}, "total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"}}},
      "IncidentPage": {"allOf": [{"$ref": "#/components/schemas/Page"}, {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Incident"}}}}]},
      "AnomalyPage": {"allOf": [{"$ref": "#/components/schemas/Page"}, {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Anomaly"}}}}]},
      "ActionPage": {"allOf": [{"$ref": "#/components/schemas/Page"}, {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/RemediationAction"}}}}]},
      "IncidentDetail": {"type": "object", "required": ["incident", "acknowledgement", "anomalies", "actions", "action_results"], "properties": {
        "incident": {"$ref": "#/components/schemas/Incident"},
        "acknowledgement": {"allOf": [{"$ref": "#/components/schemas/Acknowledgement"}], "nullable": true},
        "anomalies": {"type": "array", "items": {"$ref": "#/components/schemas/Anomaly"}},
        "actions": {"type": "array", "items": {"$ref": "#/components/schemas/RemediationAction"}},
        "action_results": {"type": "array", "items": {"$ref": "#/components/schemas/ActionResult"}}}},
      "ActionDetail": {"type": "object", "required": ["action", "results"], "properties": {
        "action": {"$ref": "#/components/schemas/RemediationAction"},
        "results": {"type": "array", "items": {"$ref": "#/components/schemas/ActionResult"}}}},
      "ServiceHealth": {"type": "object", "required": ["service", "health", "open_incidents", "last_incident", "last_action"], "properties": {
        "service": {"type": "string"},
        "health": {"type": "string", "enum": ["healthy", "degraded", "critical"]},
        "open_incidents": {"type": "integer"},
        "last_incident": {"allOf": [{"$ref": "#/components/schemas/Incident"}], "nullable": true},
        "last_action": {"allOf": [{"$ref": "#/components/schemas/RemediationAction"}], "nullable": true}}},
      "ServiceList": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/ServiceHealth"}}}},
      "ScoreSeries": {"type": "object", "required": ["from", "to", "step", "series"], "properties": {
        "from": {"type": "integer"}, "to": {"type": "integer"}, "step": {"type": "integer", "description": "bucket length, ms"},
        "series": {"type": "array", "items": {"type": "object", "required": ["service", "points"], "properties": {
          "service": {"type": "string"},
          "points": {"type": "array", "items": {"type": "object", "required": ["ts", "score", "signal"], "properties": {
            "ts": {"type": "integer", "description": "bucket start"},
            "score": {"type": "number", "minimum": 0, "maximum": 1, "description": "highest score in the bucket"},
            "signal": {"type": "string", "description": "the signal of that highest score"}}}}}}}}},
      "ResourcePoint": {"type": "object", "required": ["ts", "cpu_utilization_mean", "cpu_utilization_max", "cpu_millicores_mean", "memory_utilization_max", "memory_bytes_max", "latency_p95_s", "error_ratio", "requests_per_s"], "properties": {
        "ts": {"type": "integer", "description": "end of the service's metric window"},
        "cpu_utilization_mean": {"type": "number", "nullable": true, "description": "share of the CPU limit, mean over pods"},
        "cpu_utilization_max": {"type": "number", "nullable": true, "description": "share of the CPU limit, busiest pod"},
        "cpu_millicores_mean": {"type": "number", "nullable": true},
        "memory_utilization_max": {"type": "number", "nullable": true, "description": "share of the memory limit, fullest pod"},
        "memory_bytes_max": {"type": "number", "nullable": true},
        "latency_p95_s": {"type": "number", "nullable": true},
        "error_ratio": {"type": "number", "nullable": true, "minimum": 0, "maximum": 1},
        "requests_per_s": {"type": "number", "nullable": true}}},
      "ServiceMetrics": {"type": "object", "required": ["service", "from", "to", "points"], "properties": {
        "service": {"type": "string"}, "from": {"type": "integer"}, "to": {"type": "integer"},
        "points": {"type": "array", "items": {"$ref": "#/components/schemas/ResourcePoint"}}}},
      "Health": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["ok"]}}},
      "ModelList": {"type": "object", "required": ["items"], "properties": {
        "items": {"type": "array", "items": {"type": "object", "required": ["source", "name", "version", "anomalies", "last_seen"], "properties": {
          "source": {"type": "string", "enum": ["model", "rule"]}, "name": {"type": "string"}, "version": {"type": "string"},
          "anomalies": {"type": "integer", "description": "anomalies it produced that this API has seen"},
          "last_seen": {"type": "integer", "description": "time of its latest anomaly"}}}}}},
      "OperatorNote": {"type": "object", "properties": {
        "by": {"type": "string", "maxLength": 200}, "note": {"type": "string", "maxLength": 2000}}},
      "ManualActionRequest": {"type": "object", "required": ["service", "kind"], "properties": {
        "service": {"type": "string"}, "incident_id": {"type": "string"},
        "kind": {"type": "string", "enum": ["delete_pod", "rollout_restart", "scale_deployment", "clear_state", "notify_only"]},
        "namespace": {"type": "string", "default": "shop"}, "target": {"type": "string"},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 1000}, "dry_run": {"type": "boolean"}}}
    }
  },
  "paths": {
    "/incidents": {"get": {"summary": "List incidents, newest first", "operationId": "listIncidents",
      "parameters": [
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["open", "mitigating", "resolved", "escalated"]}},
        {"$ref": "#/components/parameters/service"},
        {"name": "type", "in": "query", "schema": {"type": "string"}},
        {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"},
        {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/offset"}],
      "responses": {"200": {"description": "a page of incidents; the ETag changes whenever any incident does", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IncidentPage"}}}},
                    "304": {"$ref": "#/components/responses/NotModified"},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/incidents/{id}": {"get": {"summary": "One incident with its evidence, timeline, anomalies and actions", "operationId": "getIncident",
      "parameters": [{"$ref": "#/components/parameters/id"}],
      "responses": {"200": {"description": "the incident", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IncidentDetail"}}}},
                    "401": {"$ref": "#/components/responses/Unauthorized"}, "404": {"$ref": "#/components/responses/NotFound"}}}},
    "/incidents/{id}/acknowledge": {"post": {"summary": "An operator takes the incident on", "operationId": "acknowledgeIncident",
      "security": [{"bearer": []}], "parameters": [{"$ref": "#/components/parameters/id"}],
      "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OperatorNote"}}}},
      "responses": {"200": {"description": "acknowledged", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Acknowledgement"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                    "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                    "413": {"$ref": "#/components/responses/TooLarge"}}}},
    "/incidents/{id}/resolve": {"post": {"summary": "An operator closes the incident (publishes a resolved snapshot on 'incidents')", "operationId": "resolveIncident",
      "security": [{"bearer": []}], "parameters": [{"$ref": "#/components/parameters/id"}],
      "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OperatorNote"}}}},
      "responses": {"200": {"description": "the resolved incident", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Incident"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                    "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                    "409": {"$ref": "#/components/responses/Conflict"}, "413": {"$ref": "#/components/responses/TooLarge"}}}},
    "/anomalies": {"get": {"summary": "List anomalies, newest first", "operationId": "listAnomalies",
      "parameters": [{"$ref": "#/components/parameters/service"},
        {"name": "incident", "in": "query", "schema": {"type": "string"}},
        {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"},
        {"name": "min_score", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 1}},
        {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/offset"}],
      "responses": {"200": {"description": "a page of anomalies", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnomalyPage"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/anomalies/scores": {"get": {"summary": "Anomaly scores over time: per service, the highest score in each step (default: the hour before the newest point seen, 1-minute steps)", "operationId": "anomalyScores",
      "parameters": [{"$ref": "#/components/parameters/service"},
        {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"},
        {"name": "step", "in": "query", "description": "bucket length in ms (at most 10000 buckets)", "schema": {"type": "integer", "minimum": 1000, "maximum": 86400000, "default": 60000}}],
      "responses": {"200": {"description": "score series", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreSeries"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/actions": {
      "get": {"summary": "List remediation actions, newest first", "operationId": "listActions",
        "parameters": [{"name": "incident", "in": "query", "schema": {"type": "string"}},
          {"$ref": "#/components/parameters/service"},
          {"name": "status", "in": "query", "schema": {"type": "string"}},
          {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"},
          {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/offset"}],
        "responses": {"200": {"description": "a page of actions", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActionPage"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"}}},
      "post": {"summary": "Request a manual action: published as a pending action with reason 'manual request', so the remediator's guardrails apply", "operationId": "requestAction",
        "security": [{"bearer": []}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ManualActionRequest"}}}},
        "responses": {"202": {"description": "published", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RemediationAction"}}}},
                      "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                      "403": {"$ref": "#/components/responses/Forbidden"}, "413": {"$ref": "#/components/responses/TooLarge"}}}},
    "/actions/{id}": {"get": {"summary": "One action with its results", "operationId": "getAction",
      "parameters": [{"$ref": "#/components/parameters/id"}],
      "responses": {"200": {"description": "the action", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActionDetail"}}}},
                    "401": {"$ref": "#/components/responses/Unauthorized"}, "404": {"$ref": "#/components/responses/NotFound"}}}},
    "/actions/{id}/approve": {"post": {"summary": "Approve a pending action (publishes it with status approved on 'actions')", "operationId": "approveAction",
      "security": [{"bearer": []}], "parameters": [{"$ref": "#/components/parameters/id"}],
      "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OperatorNote"}}}},
      "responses": {"202": {"description": "published", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RemediationAction"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                    "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                    "409": {"$ref": "#/components/responses/Conflict"}, "413": {"$ref": "#/components/responses/TooLarge"}}}},
    "/actions/{id}/reject": {"post": {"summary": "Reject a pending action (publishes it with status rejected on 'actions')", "operationId": "rejectAction",
      "security": [{"bearer": []}], "parameters": [{"$ref": "#/components/parameters/id"}],
      "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OperatorNote"}}}},
      "responses": {"202": {"description": "published", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RemediationAction"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                    "403": {"$ref": "#/components/responses/Forbidden"}, "404": {"$ref": "#/components/responses/NotFound"},
                    "409": {"$ref": "#/components/responses/Conflict"}, "413": {"$ref": "#/components/responses/TooLarge"}}}},
    "/services": {"get": {"summary": "Health of every known service from its latest incidents and actions", "operationId": "listServices",
      "responses": {"200": {"description": "services", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceList"}}}},
                    "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/services/{name}/metrics": {"get": {"summary": "Recent CPU, memory, p95 latency, error ratio and request rate of one service, one point per closed metric window (kept in memory: the last api.series_points windows; default range: the 2 hours before the newest point)", "operationId": "serviceMetrics",
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
        {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"}],
      "responses": {"200": {"description": "the series", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServiceMetrics"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                    "404": {"$ref": "#/components/responses/NotFound"}}}},
    "/models": {"get": {"summary": "The models and rules that produced anomalies (since the API started, plus the store's recent anomalies), with version, count and last time", "operationId": "listModels",
      "responses": {"200": {"description": "models", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelList"}}}},
                    "401": {"$ref": "#/components/responses/Unauthorized"}}}},
    "/healthz": {"servers": [{"url": "/"}], "get": {"summary": "Liveness of the API server (served at /healthz, outside /api/v1; never needs a token)", "operationId": "healthz",
      "responses": {"200": {"description": "the server answers", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Health"}}}}}}},
    "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
      "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}}}},
    "/events": {"get": {"summary": "Server-Sent Events: every new incident snapshot, action, action result, anomaly and acknowledgement. Each message: 'id: <seq>', 'event: <type>', 'data: <event JSON envelope>'. Resume with Last-Event-ID.", "operationId": "events",
      "parameters": [{"name": "types", "in": "query", "description": "comma-separated subset of incident, action, action_result, anomaly, acknowledgement", "schema": {"type": "string"}}],
      "responses": {"200": {"description": "an endless event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                    "400": {"$ref": "#/components/responses/BadRequest"}, "401": {"$ref": "#/components/responses/Unauthorized"},
                    "503": {"description": "too many stream clients (api.sse_max_clients)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}}
  }
})json";
  return doc;
}

}  // namespace selfheal
