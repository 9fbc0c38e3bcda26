#include "logproc/log_parser.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace selfheal::logproc {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

// ---- time ----------------------------------------------------------------------------------------

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool read_digits(std::string_view s, std::size_t& i, std::size_t n, int& out) {
  if (i + n > s.size()) return false;
  int v = 0;
  for (std::size_t k = 0; k < n; ++k) {
    if (!is_digit(s[i + k])) return false;
    v = v * 10 + (s[i + k] - '0');
  }
  out = v;
  i += n;
  return true;
}

// "YYYY-MM-DD[T ]HH:MM:SS[.,frac][Z|+HH:MM|+HHMM]" (also '/' as date separator) at the start of
// `s`. Returns the length consumed, 0 when there is no such timestamp.
std::size_t parse_datetime(std::string_view s, TimeMs& out) {
  std::size_t i = 0;
  int y, mo, d, h, mi, sec;
  if (!read_digits(s, i, 4, y) || i >= s.size() || (s[i] != '-' && s[i] != '/')) return 0;
  const char sep = s[i++];
  if (!read_digits(s, i, 2, mo) || i >= s.size() || s[i] != sep) return 0;
  ++i;
  if (!read_digits(s, i, 2, d) || i >= s.size() || (s[i] != 'T' && s[i] != ' ')) return 0;
  ++i;
  if (!read_digits(s, i, 2, h) || i >= s.size() || s[i] != ':') return 0;
  ++i;
  if (!read_digits(s, i, 2, mi) || i >= s.size() || s[i] != ':') return 0;
  ++i;
  if (!read_digits(s, i, 2, sec)) return 0;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return 0;
  std::int64_t ms = 0;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    int digits = 0;
    while (i < s.size() && is_digit(s[i])) {
      if (digits < 3) ms = ms * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return 0;
    for (int k = digits; k < 3; ++k) ms *= 10;
  }
  std::int64_t offset_min = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i] == '-' ? -1 : 1;
    std::size_t j = i + 1;
    int oh = 0, om = 0;
    if (read_digits(s, j, 2, oh)) {
      std::size_t m = j;
      if (m < s.size() && s[m] == ':') ++m;
      if (read_digits(s, m, 2, om)) j = m;  // "+05:30" / "+0530"; "+05" has no minutes
      offset_min = sign * (oh * 60 + om);
      i = j;
    }
  }
  out = (days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + sec -
         offset_min * 60) * 1000 + ms;
  return i;
}

int month_index(std::string_view m) {
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (std::size_t k = 0; k < kMonths.size(); ++k)
    if (m == kMonths[k]) return static_cast<int>(k) + 1;
  return 0;
}

// Access-log time "10/Oct/2000:13:55:36 -0700".
bool parse_clf_time(std::string_view s, TimeMs& out) {
  std::size_t i = 0;
  int d, y, h, mi, sec;
  if (!read_digits(s, i, 2, d) || i >= s.size() || s[i] != '/') return false;
  ++i;
  if (i + 4 > s.size()) return false;
  const int mo = month_index(s.substr(i, 3));
  if (mo == 0 || s[i + 3] != '/') return false;
  i += 4;
  if (!read_digits(s, i, 4, y) || i >= s.size() || s[i] != ':') return false;
  ++i;
  if (!read_digits(s, i, 2, h) || s.size() <= i || s[i] != ':') return false;
  ++i;
  if (!read_digits(s, i, 2, mi) || s.size() <= i || s[i] != ':') return false;
  ++i;
  if (!read_digits(s, i, 2, sec)) return false;
  std::int64_t offset_min = 0;
  if (i + 6 <= s.size() && s[i] == ' ' && (s[i + 1] == '+' || s[i + 1] == '-')) {
    std::size_t j = i + 2;
    int oh, om;
    if (read_digits(s, j, 2, oh) && read_digits(s, j, 2, om)) offset_min = (s[i + 1] == '-' ? -1 : 1) * (oh * 60 + om);
  }
  out = (days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 + sec -
         offset_min * 60) * 1000;
  return true;
}

// Epoch seconds (with fraction) or milliseconds, as JSON/logfmt "ts" values often are.
bool parse_epoch(std::string_view s, TimeMs& out) {
  if (s.empty() || s.size() > 20) return false;
  std::int64_t whole = 0;
  std::size_t i = 0;
  while (i < s.size() && is_digit(s[i])) {
    if (i >= 15) return false;  // beyond any plausible epoch in ms; also keeps `whole` from overflowing
    whole = whole * 10 + (s[i++] - '0');
  }
  if (i == 0) return false;
  std::int64_t frac_ms = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && is_digit(s[i])) {
      if (digits < 3) frac_ms = frac_ms * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    for (int k = digits; k < 3; ++k) frac_ms *= 10;
  }
  if (i != s.size()) return false;
  if (whole > 100'000'000'000LL) out = whole;  // already milliseconds
  else out = whole * 1000 + frac_ms;
  return true;
}

bool parse_any_time(std::string_view s, TimeMs& out) {
  s = trim(s);
  if (parse_datetime(s, out) == s.size() && !s.empty()) return true;
  return parse_epoch(s, out);
}

// The issues found while cleaning the line, kept alongside those the layout parser found.
void merge_issues(ParseIssues& into, const ParseIssues& from) {
  into.truncated = into.truncated || from.truncated;
  into.invalid_utf8 = into.invalid_utf8 || from.invalid_utf8;
  into.control_bytes = into.control_bytes || from.control_bytes;
  into.too_deep = into.too_deep || from.too_deep;
  into.attributes_dropped = into.attributes_dropped || from.attributes_dropped;
}

// ---- field names shared by JSON and logfmt ---------------------------------------------------------

enum class Field { Other, Time, Level, Logger, Message };

Field field_of(std::string_view key) {
  static constexpr std::string_view kTime[] = {"ts", "time", "timestamp", "@timestamp", "t", "datetime"};
  static constexpr std::string_view kLevel[] = {"level", "lvl", "severity", "loglevel", "log.level", "levelname"};
  static constexpr std::string_view kLogger[] = {"logger", "logger_name", "loggername", "component", "caller",
                                                 "name", "module", "log.logger"};
  static constexpr std::string_view kMessage[] = {"msg", "message", "log", "event", "text"};
  for (auto k : kTime) if (iequals(key, k)) return Field::Time;
  for (auto k : kLevel) if (iequals(key, k)) return Field::Level;
  for (auto k : kLogger) if (iequals(key, k)) return Field::Logger;
  for (auto k : kMessage) if (iequals(key, k)) return Field::Message;
  return Field::Other;
}

void apply_field(ParsedLine& out, std::string key, std::string value, const ParserOptions& opt, bool& have_message) {
  switch (field_of(key)) {
    case Field::Time: {
      TimeMs t;
      if (!out.has_time && parse_any_time(value, t)) { out.time = t; out.has_time = true; return; }
      break;
    }
    case Field::Level: {
      const LogLevel l = level_from_word(value);
      if (out.level == LogLevel::Unknown && l != LogLevel::Unknown) { out.level = l; return; }
      break;
    }
    case Field::Logger:
      if (out.logger.empty()) { out.logger = std::move(value); return; }
      break;
    case Field::Message:
      if (!have_message) { out.message = std::move(value); have_message = true; return; }
      break;
    case Field::Other:
      break;
  }
  if (out.attributes.size() >= opt.max_attributes) { out.issues.attributes_dropped = true; return; }
  out.attributes.emplace_back(std::move(key), std::move(value));
}

// ---- JSON ------------------------------------------------------------------------------------------

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) out.push_back(static_cast<char>(cp));
  else if (cp < 0x800) { out.push_back(static_cast<char>(0xC0 | (cp >> 6))); out.push_back(static_cast<char>(0x80 | (cp & 0x3F))); }
  else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class JsonScanner {
 public:
  JsonScanner(std::string_view s, std::size_t max_depth) : s_(s), max_depth_(max_depth) {}
  bool too_deep = false;

  void ws() { while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r' || s_[i_] == '\n')) ++i_; }
  bool eat(char c) { ws(); if (i_ < s_.size() && s_[i_] == c) { ++i_; return true; } return false; }
  bool at_end() { ws(); return i_ == s_.size(); }

  bool string(std::string& out) {
    ws();
    if (i_ >= s_.size() || s_[i_] != '"') return false;
    ++i_;
    out.clear();
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (c != '\\') { out.push_back(c); continue; }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
            i_ += 2;
            std::uint32_t lo;
            if (!hex4(lo)) return false;
            if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else cp = 0xFFFD;
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
          }
          append_utf8(out, cp);
          break;
        }
        default: return false;
      }
    }
    return false;
  }

  // Any value; strings decoded, everything else as its JSON text. Nested containers are skipped
  // iteratively (no recursion), bounded by max_depth.
  bool value(std::string& out) {
    ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '"') return string(out);
    if (c == '{' || c == '[') {
      const std::size_t begin = i_;
      std::size_t depth = 0;
      while (i_ < s_.size()) {
        const char d = s_[i_];
        if (d == '"') {
          std::string ignored;
          if (!string(ignored)) return false;
          continue;
        }
        ++i_;
        if (d == '{' || d == '[') {
          // +1: the top-level object this value sits in.
          if (++depth + 1 > max_depth_) { too_deep = true; return false; }
        } else if (d == '}' || d == ']') {
          if (--depth == 0) { out.assign(s_.substr(begin, i_ - begin)); return true; }
        }
      }
      return false;
    }
    const std::size_t begin = i_;
    while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' && !is_ws(s_[i_])) ++i_;
    if (i_ == begin) return false;
    out.assign(s_.substr(begin, i_ - begin));
    return true;
  }

 private:
  bool hex4(std::uint32_t& cp) {
    if (i_ + 4 > s_.size()) return false;
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= static_cast<std::uint32_t>(h - 'A' + 10);
      else return false;
    }
    return true;
  }
  std::string_view s_;
  std::size_t i_ = 0;
  std::size_t max_depth_;
};

bool parse_json(std::string_view line, ParsedLine& out, const ParserOptions& opt) {
  JsonScanner js(line, opt.max_json_depth);
  if (!js.eat('{')) return false;
  ParsedLine r;
  bool have_message = false;
  if (!js.eat('}')) {
    std::string key, value;
    for (;;) {
      if (!js.string(key) || !js.eat(':') || !js.value(value)) {
        out.issues.too_deep = js.too_deep;
        return false;
      }
      apply_field(r, std::move(key), std::move(value), opt, have_message);
      key.clear();
      value.clear();
      if (js.eat(',')) continue;
      if (js.eat('}')) break;
      return false;
    }
  }
  if (!js.at_end()) return false;
  r.format = LogFormat::Json;
  merge_issues(r.issues, out.issues);
  // A JSON line without a message field keeps its fields as attributes and uses the line itself.
  if (!have_message) r.message = std::string(line);
  out = std::move(r);
  return true;
}

// ---- logfmt ----------------------------------------------------------------------------------------

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' || c == '-' || c == '@';
}

bool parse_logfmt(std::string_view line, ParsedLine& out, const ParserOptions& opt) {
  ParsedLine r;
  bool have_message = false;
  std::size_t i = 0, pairs = 0;
  while (i < line.size()) {
    while (i < line.size() && is_ws(line[i])) ++i;
    if (i >= line.size()) break;
    const std::size_t kb = i;
    while (i < line.size() && is_key_char(line[i])) ++i;
    if (i == kb || i >= line.size() || line[i] != '=') return false;
    std::string key(line.substr(kb, i - kb));
    ++i;
    std::string value;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        const char c = line[i++];
        if (c == '"') { closed = true; break; }
        if (c == '\\' && i < line.size()) {
          const char e = line[i++];
          value.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
        } else {
          value.push_back(c);
        }
      }
      if (!closed) return false;
    } else {
      const std::size_t vb = i;
      while (i < line.size() && !is_ws(line[i])) ++i;
      value.assign(line.substr(vb, i - vb));
    }
    apply_field(r, std::move(key), std::move(value), opt, have_message);
    ++pairs;
  }
  if (pairs < 2) return false;
  r.format = LogFormat::Logfmt;
  merge_issues(r.issues, out.issues);
  if (!have_message) r.message = std::string(line);
  out = std::move(r);
  return true;
}

// ---- access logs -----------------------------------------------------------------------------------

// `host ident user [time] "request" status bytes ["referer" "agent"]`
bool parse_access(std::string_view line, ParsedLine& out) {
  std::size_t i = 0;
  std::string_view fields[3];
  for (auto& f : fields) {
    const std::size_t b = i;
    while (i < line.size() && !is_ws(line[i])) ++i;
    if (i == b || i >= line.size()) return false;
    f = line.substr(b, i - b);
    ++i;
  }
  if (i >= line.size() || line[i] != '[') return false;
  const std::size_t te = line.find(']', i);
  if (te == std::string_view::npos) return false;
  TimeMs t;
  if (!parse_clf_time(line.substr(i + 1, te - i - 1), t)) return false;
  i = te + 1;
  if (i + 1 >= line.size() || line[i] != ' ' || line[i + 1] != '"') return false;
  i += 2;
  const std::size_t re = line.find('"', i);
  if (re == std::string_view::npos) return false;
  const std::string_view request = line.substr(i, re - i);
  i = re + 1;
  while (i < line.size() && is_ws(line[i])) ++i;
  if (i + 3 > line.size() || !is_digit(line[i]) || !is_digit(line[i + 1]) || !is_digit(line[i + 2])) return false;
  const std::string_view status = line.substr(i, 3);
  i += 3;
  if (i < line.size() && !is_ws(line[i])) return false;
  while (i < line.size() && is_ws(line[i])) ++i;
  const std::size_t bb = i;
  while (i < line.size() && !is_ws(line[i])) ++i;
  const std::string_view bytes = line.substr(bb, i - bb);

  ParsedLine r;
  r.format = LogFormat::Access;
  r.time = t;
  r.has_time = true;
  r.level = status[0] == '5' ? LogLevel::Error : status[0] == '4' ? LogLevel::Warn : LogLevel::Info;
  r.logger = "access";
  r.message = std::string(request) + " " + std::string(status);
  r.attributes.emplace_back("client", std::string(fields[0]));
  if (fields[2] != "-") r.attributes.emplace_back("user", std::string(fields[2]));
  const std::size_t sp1 = request.find(' ');
  if (sp1 != std::string_view::npos) {
    r.attributes.emplace_back("method", std::string(request.substr(0, sp1)));
    const std::size_t sp2 = request.find(' ', sp1 + 1);
    r.attributes.emplace_back("path", std::string(request.substr(sp1 + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp1 - 1)));
  }
  r.attributes.emplace_back("status", std::string(status));
  if (!bytes.empty() && bytes != "-") r.attributes.emplace_back("bytes", std::string(bytes));
  // Optional "referer" "user agent".
  auto quoted = [&](const char* name) {
    while (i < line.size() && is_ws(line[i])) ++i;
    if (i >= line.size() || line[i] != '"') return;
    const std::size_t e = line.find('"', i + 1);
    if (e == std::string_view::npos) return;
    const std::string_view v = line.substr(i + 1, e - i - 1);
    if (!v.empty() && v != "-") r.attributes.emplace_back(name, std::string(v));
    i = e + 1;
  };
  quoted("referer");
  quoted("user_agent");
  merge_issues(r.issues, out.issues);
  out = std::move(r);
  return true;
}

// ---- syslog ----------------------------------------------------------------------------------------

LogLevel level_from_syslog_severity(int sev) {
  switch (sev) {
    case 0: case 1: case 2: return LogLevel::Fatal;
    case 3: return LogLevel::Error;
    case 4: return LogLevel::Warn;
    case 5: case 6: return LogLevel::Info;
    default: return LogLevel::Debug;
  }
}

// "app[pid]:" or "app:" -> logger and pid.
bool split_tag(std::string_view tag, std::string& app, std::string& pid) {
  if (tag.empty() || tag.back() != ':') return false;
  tag.remove_suffix(1);
  const std::size_t lb = tag.find('[');
  if (lb != std::string_view::npos) {
    if (tag.back() != ']') return false;
    pid = std::string(tag.substr(lb + 1, tag.size() - lb - 2));
    tag = tag.substr(0, lb);
  }
  if (tag.empty()) return false;
  app = std::string(tag);
  return true;
}

bool parse_syslog(std::string_view line, ParsedLine& out) {
  std::size_t i = 0;
  int severity = -1;
  if (!line.empty() && line[0] == '<') {
    std::size_t j = 1;
    int pri = 0;
    while (j < line.size() && j <= 4 && is_digit(line[j])) pri = pri * 10 + (line[j++] - '0');
    if (j == 1 || j >= line.size() || line[j] != '>' || pri > 191) return false;
    severity = pri % 8;
    i = j + 1;
  }
  ParsedLine r;
  r.format = LogFormat::Syslog;
  std::string_view rest = line.substr(i);
  // RFC 5424: "1 TIMESTAMP HOST APP PROCID MSGID [SD|-] MSG"
  if (severity >= 0 && rest.size() > 2 && rest[0] == '1' && rest[1] == ' ') {
    std::size_t k = 2;
    std::string_view parts[5];
    for (auto& p : parts) {
      const std::size_t b = k;
      while (k < rest.size() && rest[k] != ' ') ++k;
      p = rest.substr(b, k - b);
      if (k < rest.size()) ++k;
    }
    TimeMs t;
    if (parse_datetime(parts[0], t) == parts[0].size() && !parts[0].empty()) { r.time = t; r.has_time = true; }
    if (parts[1] != "-") r.attributes.emplace_back("host", std::string(parts[1]));
    if (parts[2] != "-") r.logger = std::string(parts[2]);
    if (parts[3] != "-") r.attributes.emplace_back("pid", std::string(parts[3]));
    if (parts[4] != "-") r.attributes.emplace_back("msgid", std::string(parts[4]));
    std::string_view msg = rest.substr(std::min(k, rest.size()));
    if (msg.starts_with("- ")) msg.remove_prefix(2);
    else if (msg == "-") msg = {};
    else if (msg.starts_with("[")) {
      // Structured data: skip the bracketed elements, honouring escaped ']'.
      std::size_t m = 0;
      while (m < msg.size() && msg[m] == '[') {
        ++m;
        while (m < msg.size() && msg[m] != ']') m += (msg[m] == '\\' ? 2 : 1);
        ++m;
      }
      msg = msg.substr(std::min(m, msg.size()));
      if (msg.starts_with(" ")) msg.remove_prefix(1);
    }
    r.message = std::string(msg);
    r.level = level_from_syslog_severity(severity);
    merge_issues(r.issues, out.issues);
    out = std::move(r);
    return true;
  }
  // RFC 3164: "Mmm dd hh:mm:ss HOST TAG: MSG" (the year is not written: no complete time).
  if (rest.size() < 16 || month_index(rest.substr(0, 3)) == 0 || rest[3] != ' ') return false;
  std::size_t k = 4;
  if (rest[k] == ' ') ++k;
  while (k < rest.size() && is_digit(rest[k])) ++k;
  if (k >= rest.size() || rest[k] != ' ') return false;
  ++k;
  int h, mi, s;
  if (!read_digits(rest, k, 2, h) || k >= rest.size() || rest[k] != ':') return false;
  ++k;
  if (!read_digits(rest, k, 2, mi) || k >= rest.size() || rest[k] != ':') return false;
  ++k;
  if (!read_digits(rest, k, 2, s) || k >= rest.size() || rest[k] != ' ') return false;
  ++k;
  const std::size_t hb = k;
  while (k < rest.size() && rest[k] != ' ') ++k;
  const std::string_view host = rest.substr(hb, k - hb);
  if (k < rest.size()) ++k;
  const std::size_t tb = k;
  while (k < rest.size() && rest[k] != ' ') ++k;
  std::string app, pid;
  if (!split_tag(rest.substr(tb, k - tb), app, pid)) return false;
  if (k < rest.size()) ++k;
  r.attributes.emplace_back("host", std::string(host));
  if (!pid.empty()) r.attributes.emplace_back("pid", pid);
  r.logger = std::move(app);
  r.message = std::string(rest.substr(std::min(k, rest.size())));
  if (severity >= 0) {
    r.level = level_from_syslog_severity(severity);
  } else {
    // Without a priority the message may still start with a level word ("error: ...").
    const std::size_t e = r.message.find_first_of(" :");
    r.level = level_from_word(std::string_view(r.message).substr(0, e));
  }
  merge_issues(r.issues, out.issues);
  out = std::move(r);
  return true;
}

// ---- text layouts ----------------------------------------------------------------------------------

std::string_view strip_brackets(std::string_view t) {
  if (t.size() >= 2 && ((t.front() == '[' && t.back() == ']') || (t.front() == '<' && t.back() == '>') ||
                        (t.front() == '(' && t.back() == ')')))
    t = t.substr(1, t.size() - 2);
  if (!t.empty() && t.back() == ':') t.remove_suffix(1);
  return trim(t);
}

bool looks_like_logger(std::string_view t) {
  if (t.empty() || t.size() > 200) return false;
  bool letter = false;
  for (char c : t) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) letter = true;
    else if (!(is_digit(c) || c == '.' || c == '_' || c == '$' || c == '-' || c == '/' || c == '#')) return false;
  }
  return letter;
}

// Next whitespace-delimited token from `i`; a token opening with '[' runs to its ']'.
std::string_view next_token(std::string_view s, std::size_t& i) {
  while (i < s.size() && is_ws(s[i])) ++i;
  const std::size_t b = i;
  if (i < s.size() && s[i] == '[') {
    const std::size_t e = s.find(']', i);
    if (e != std::string_view::npos) {
      i = e + 1;
      if (i < s.size() && s[i] == ':') ++i;
      return s.substr(b, i - b);
    }
  }
  while (i < s.size() && !is_ws(s[i])) ++i;
  return s.substr(b, i - b);
}

bool parse_text(std::string_view line, ParsedLine& out) {
  ParsedLine r;
  std::size_t i = 0;
  bool stamped = false;
  // Timestamp: ISO-like (bare or bracketed), or a bracketed time of any shape ("[Sun Dec 04
  // 04:47:44 2005]"), or a clock time "10:00:00.123".
  {
    std::size_t j = 0;
    const bool bracketed = !line.empty() && line[0] == '[';
    if (bracketed) j = 1;
    TimeMs t;
    const std::size_t n = parse_datetime(line.substr(j), t);
    if (n > 0) {
      std::size_t e = j + n;
      if (bracketed) {
        if (e < line.size() && line[e] == ']') ++e;
        else e = 0;
      }
      if (e > 0) {
        r.time = t;
        r.has_time = true;
        stamped = true;
        i = e;
      }
    }
    if (!stamped && bracketed) {
      const std::size_t e = line.find(']');
      if (e != std::string_view::npos && e < 64) {
        const std::string_view inside = line.substr(1, e - 1);
        if (std::count(inside.begin(), inside.end(), ':') >= 2 && std::any_of(inside.begin(), inside.end(), is_digit)) {
          stamped = true;
          i = e + 1;
        }
      }
    }
    if (!stamped) {
      std::size_t k = 0;
      int h, m, s;
      if (read_digits(line, k, 2, h) && k < line.size() && line[k] == ':' && (++k, read_digits(line, k, 2, m)) &&
          k < line.size() && line[k] == ':' && (++k, read_digits(line, k, 2, s))) {
        if (k < line.size() && (line[k] == '.' || line[k] == ',')) {
          ++k;
          while (k < line.size() && is_digit(line[k])) ++k;
        }
        if (k == line.size() || is_ws(line[k])) {
          stamped = true;
          i = k;
        }
      }
    }
  }
  // Up to three tokens after the time may hold the level, with a thread ("[main]") or a process
  // id before it, and a logger after it; Python's "name - LEVEL - msg" puts the logger first.
  std::string_view candidate_logger;
  std::size_t message_start = i;
  std::size_t k = i;
  bool found_level = false;
  for (int n = 0; n < 4 && k < line.size(); ++n) {
    std::string_view tok = next_token(line, k);
    if (tok.empty()) break;
    if (tok == "-" || tok == "|") { message_start = k; continue; }
    const LogLevel l = level_from_word(strip_brackets(tok));
    if (l != LogLevel::Unknown) {
      r.level = l;
      found_level = true;
      message_start = k;
      break;
    }
    // Without a time, only numeric fields (HDFS's "081109 203615 148") may come before the level.
    const bool numeric = std::all_of(tok.begin(), tok.end(), [](char c) { return is_digit(c) || c == '.' || c == ':' || c == ','; });
    if (!stamped && !(numeric && n < 3)) break;
    if (tok.front() == '[') r.attributes.emplace_back("thread", std::string(strip_brackets(tok)));
    else if (looks_like_logger(strip_brackets(tok))) candidate_logger = strip_brackets(tok);
    else if (!std::all_of(tok.begin(), tok.end(), is_digit)) break;
    message_start = k;
  }
  if (!found_level && !stamped) return false;
  if (!found_level) {
    // A time without a level: keep what follows as the message.
    r.attributes.clear();
    candidate_logger = {};
    message_start = i;
  }
  // After the level: an optional thread ("[main]") and an optional logger, ended by ':' or followed
  // by '-', or bracketed, or a dotted class name.
  k = message_start;
  for (int n = 0; found_level && n < 5; ++n) {
    std::size_t peek = k;
    const std::string_view tok = next_token(line, peek);
    if (tok.empty()) break;
    std::size_t after = peek;
    const std::string_view next = next_token(line, after);
    const bool ends_colon = tok.back() == ':';
    const bool bracketed = tok.front() == '[';
    const std::string_view name = strip_brackets(tok);
    // Spring Boot: "LEVEL <pid> --- [thread] logger : message".
    if (std::all_of(tok.begin(), tok.end(), is_digit) && (next == "---" || next.front() == '[')) {
      r.attributes.emplace_back("pid", std::string(tok));
      k = peek;
      continue;
    }
    if (tok == "---") {
      k = peek;
      continue;
    }
    if (bracketed && candidate_logger.empty() && name.find('.') == std::string_view::npos &&
        (next == "-" || (!next.empty() && (next.back() == ':' || next.front() == '[' || next.find('.') != std::string_view::npos)))) {
      r.attributes.emplace_back("thread", std::string(name));  // "[main] com.shop.X - msg"
      k = peek;
      continue;
    }
    if ((next == "-" || next == ":" || ends_colon || bracketed) && looks_like_logger(name)) {
      candidate_logger = name;
      k = (next == "-" || next == ":") ? after : peek;
    } else if (tok.size() > 1 && tok.find('.') != std::string_view::npos && looks_like_logger(tok) && tok.back() != '.' &&
               candidate_logger.empty()) {
      // Java class names ("com.shop.OrderService") without a separator.
      candidate_logger = tok;
      k = peek;
    }
    break;
  }
  std::string_view msg = line.substr(std::min(k, line.size()));
  msg = trim(msg);
  if (msg.starts_with("- ")) msg.remove_prefix(2);
  else if (msg.starts_with(": ")) msg.remove_prefix(2);
  r.logger = std::string(candidate_logger);
  r.message = std::string(trim(msg));
  r.format = LogFormat::Text;
  merge_issues(r.issues, out.issues);
  out = std::move(r);
  return true;
}

}  // namespace

LogLevel level_from_word(std::string_view w) {
  if (w.empty() || w.size() > 11) return LogLevel::Unknown;
  switch (lower(w[0])) {  // cheap rejection of ordinary words before the table
    case 't': case 'f': case 'd': case 'i': case 'n': case 'w': case 'e': case 's': case 'c': case 'a': case 'p':
      break;
    default:
      return LogLevel::Unknown;
  }
  struct Entry { std::string_view word; LogLevel level; };
  static constexpr Entry kWords[] = {
      {"trace", LogLevel::Trace},  {"finest", LogLevel::Trace},  {"finer", LogLevel::Trace},
      {"debug", LogLevel::Debug},  {"dbg", LogLevel::Debug},     {"fine", LogLevel::Debug},
      {"info", LogLevel::Info},    {"information", LogLevel::Info}, {"notice", LogLevel::Info},
      {"inf", LogLevel::Info},     {"warn", LogLevel::Warn},     {"warning", LogLevel::Warn},
      {"wrn", LogLevel::Warn},     {"error", LogLevel::Error},   {"err", LogLevel::Error},
      {"severe", LogLevel::Error}, {"fatal", LogLevel::Fatal},   {"critical", LogLevel::Fatal},
      {"crit", LogLevel::Fatal},   {"alert", LogLevel::Fatal},   {"emerg", LogLevel::Fatal},
      {"emergency", LogLevel::Fatal}, {"panic", LogLevel::Fatal}};
  for (const auto& e : kWords)
    if (iequals(w, e.word)) return e.level;
  return LogLevel::Unknown;
}

bool is_continuation_line(std::string_view line) {
  if (line.empty()) return false;
  if (line[0] == ' ' || line[0] == '\t') return true;  // "\tat ...", "  File ...", indented detail
  return line.starts_with("Caused by:") || line.starts_with("Suppressed:") || line.starts_with("... ");
}

std::string sanitize_utf8(std::string_view s, bool& invalid_utf8, bool& control_bytes) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    // Printable ASCII runs are copied in one go: nearly every line is nothing but one.
    std::size_t run = i;
    while (run < s.size() && ((p[run] >= 0x20 && p[run] < 0x7F) || p[run] == '\t')) ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i >= s.size()) break;
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t') || c == 0x7F) { out.push_back('?'); control_bytes = true; }
      else out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) { len = 2; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; min = 0x10000; }
    bool ok = len > 0 && i + len <= s.size();
    std::uint32_t cp = ok ? (c & (0x7F >> len)) : 0;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (!ok) {
      out += "\xEF\xBF\xBD";
      invalid_utf8 = true;
      ++i;
      continue;
    }
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

ParsedLine LogParser::parse(std::string_view raw) const {
  ParsedLine out;
  if (raw.size() > opt_.max_line_bytes) {
    raw = raw.substr(0, opt_.max_line_bytes);
    out.issues.truncated = true;
  }
  while (!raw.empty() && (raw.back() == '\r' || raw.back() == '\n')) raw.remove_suffix(1);
  const std::string clean = sanitize_utf8(raw, out.issues.invalid_utf8, out.issues.control_bytes);
  const std::string_view line = trim(clean);

  if (!line.empty() && line.front() == '{') {
    if (parse_json(line, out, opt_)) return out;
    if (out.issues.too_deep) {
      out.message = std::string(line);
      return out;  // Unparsed: decoding it would cost unbounded work
    }
  }
  if (!line.empty() && line.front() == '<' && parse_syslog(line, out)) return out;
  if (parse_access(line, out)) return out;
  if (line.size() >= 16 && month_index(line.substr(0, 3)) != 0 && parse_syslog(line, out)) return out;
  if (parse_text(line, out)) return out;
  if (line.find('=') != std::string_view::npos && parse_logfmt(line, out, opt_)) return out;
  out.format = LogFormat::Unparsed;
  out.level = LogLevel::Unknown;
  out.message = std::string(line);
  return out;
}

}  // namespace selfheal::logproc
