// State a service keeps per event key (per monitored service: every event is keyed by its
// service), written out so that it can move with the key's partition.
//
// Over a bus that moves partitions between processes (Kafka), EventService checkpoints the state
// of every key it handled to the `state` topic every `bus.checkpoint_interval` of event time, and
// when it gains a partition it restores the newest checkpoint of each key that partition carries
// before handling anything from it; what the checkpoint already covers is skipped, the rest is
// replayed (see event_service.hpp). Over the in-process bus nothing moves and nothing is saved.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace selfheal {

class KeyedState {
 public:
  virtual ~KeyedState() = default;
  // The state held for `key` as JSON; null when there is nothing worth keeping for it.
  virtual nlohmann::json save_key(const std::string& key) const = 0;
  // Replaces whatever is held for `key` with `state` (from save_key, possibly in another process).
  // Throws std::invalid_argument naming the field on a malformed state; nothing is changed then.
  virtual void restore_key(const std::string& key, const nlohmann::json& state) = 0;
};

}  // namespace selfheal
