// Recognises the layout of one log line without configuration and splits it into time, level,
// logger, message and attributes: JSON lines, logfmt, common text layouts (timestamp level logger
// message, Java/logback/Python style), nginx/Apache access logs and syslog (RFC 3164 and 5424).
// A line it cannot recognise is still a result (format Unparsed, the whole line as message).
//
// Hostile input is bounded: lines longer than `max_line_bytes` are truncated, invalid UTF-8 and
// control bytes are replaced, JSON nested deeper than `max_json_depth` is not decoded; each of
// these is reported in ParseIssues so the caller can count it.
//
// Threading: LogParser is stateless after construction; parse() is const and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "contracts/events.hpp"

namespace selfheal::logproc {

struct ParserOptions {
  std::size_t max_line_bytes = 64 * 1024;
  std::size_t max_json_depth = 32;
  std::size_t max_attributes = 64;
};

struct ParseIssues {
  bool truncated = false;      // longer than max_line_bytes
  bool invalid_utf8 = false;   // bytes replaced by U+FFFD
  bool control_bytes = false;  // NUL and other control bytes replaced by '?'
  bool too_deep = false;       // JSON nested beyond max_json_depth: kept as unparsed text
  bool attributes_dropped = false;  // more than max_attributes fields
};

struct ParsedLine {
  LogFormat format = LogFormat::Unparsed;
  LogLevel level = LogLevel::Unknown;
  TimeMs time = 0;             // the line's own timestamp when it had a complete one
  bool has_time = false;
  std::string logger;
  std::string message;
  Labels attributes;
  ParseIssues issues;
};

class LogParser {
 public:
  explicit LogParser(ParserOptions options = {}) : opt_(options) {}
  ParsedLine parse(std::string_view line) const;

 private:
  ParserOptions opt_;
};

// A line that continues the previous record (stack traces): "\tat ...", "Caused by: ...",
// "  File ...", "... 12 more", any line starting with whitespace.
bool is_continuation_line(std::string_view line);

// "ERROR", "err", "Warning", "E" ... -> level; Unknown when not a level word.
LogLevel level_from_word(std::string_view word);

// Makes `s` valid UTF-8 with no control bytes except tab; returns what it had to change.
std::string sanitize_utf8(std::string_view s, bool& invalid_utf8, bool& control_bytes);

}  // namespace selfheal::logproc
