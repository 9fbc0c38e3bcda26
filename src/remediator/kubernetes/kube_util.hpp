// Small helpers shared by the Kubernetes client's files (not part of its public API).
#pragma once

#include <string>

#include "contracts/events.hpp"

namespace selfheal::kube {

bool read_file(const std::string& path, std::string& out);
std::string trim(const std::string& s);
// Standard base64; whitespace is skipped. Returns false on any other invalid character.
bool base64_decode(const std::string& in, std::string& out);
// RFC 3339 ("2026-11-24T10:00:00Z", fractions and offsets accepted) <-> ms since the epoch.
bool parse_rfc3339(const std::string& s, TimeMs& out);
std::string format_rfc3339(TimeMs t);
std::string url_encode(const std::string& s);
// A DNS-1123 subdomain (what Kubernetes accepts as a pod, deployment or namespace name).
bool valid_object_name(const std::string& s);

}  // namespace selfheal::kube
