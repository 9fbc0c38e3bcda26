// Versioned JSON encoding of events, for transports that leave the process (Kafka), the store and
// the API. Envelope: {"type":"anomaly","v":1,"data":{...}}. A decoder accepts every version up to
// kEventSchemaVersion; a field that is missing or has the wrong type is reported by its path.
#pragma once

#include <string>
#include <string_view>

#include "contracts/events.hpp"

namespace selfheal {

inline constexpr int kEventSchemaVersion = 1;

std::string encode_event(const Event& event);

struct DecodeResult {
  bool ok = false;
  Event event;
  std::string error;  // e.g. "data.contributions[1].score: expected a number, got string"
};

DecodeResult decode_event(std::string_view json);

}  // namespace selfheal
