// Test helpers for the Grafana dashboards: the metric names a PromQL expression selects, and
// Grafana's template variables and SQL macros replaced by sample values so that an expression or
// a SQL query can run outside Grafana (against a real Prometheus or Postgres).
//
// The PromQL scanner is a lexer plus the few grammar facts that decide what an identifier is:
//   - inside {...} everything is label matchers (names and strings), never a metric;
//   - [...] holds a range or subquery duration;
//   - an identifier followed by `(` is a function or an aggregation (sum, rate, histogram_quantile);
//   - by / without / on / ignoring / group_left / group_right are followed by a list of label names;
//   - an aggregation (sum, topk, ...) may be followed by by/without before its parenthesis;
//   - and / or / unless / bool / offset / atan2 and the literals inf / nan (any case) are keywords;
//   - strings ("...", '...', `...`) and numbers or durations (5m, 1e3, 0x1f) are skipped.
// Every other identifier is a metric name. Grafana variables must be substituted first.
#pragma once

#include <cctype>
#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace selfheal::testing {

inline bool promql_ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
inline bool promql_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }

// Throws std::invalid_argument naming the position on an unterminated string or bracket.
inline std::set<std::string> promql_metric_names(const std::string& expr) {
  static const std::set<std::string> kKeywords = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"};
  // Aggregations may take their modifier before the parenthesis: sum by (x) (expr).
  static const std::set<std::string> kAggregations = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                                                      "count_values", "bottomk", "topk", "quantile", "limitk",
                                                      "limit_ratio"};
  static const std::set<std::string> kLabelListFollows = {"by", "without", "on", "ignoring", "group_left",
                                                          "group_right"};
  std::set<std::string> names;
  const std::size_t n = expr.size();
  std::size_t i = 0;
  auto skip_string = [&](char quote) {
    const std::size_t start = i++;
    while (i < n && expr[i] != quote) i += (expr[i] == '\\' && quote != '`') ? 2 : 1;
    if (i >= n) throw std::invalid_argument("unterminated string at offset " + std::to_string(start) + " in: " + expr);
    ++i;
  };
  auto skip_until = [&](char close) {  // past the matching close, strings inside skipped
    const std::size_t start = i++;
    while (i < n && expr[i] != close) {
      if (expr[i] == '"' || expr[i] == '\'' || expr[i] == '`') skip_string(expr[i]);
      else ++i;
    }
    if (i >= n)
      throw std::invalid_argument(std::string("unclosed '") + expr[start] + "' at offset " + std::to_string(start) +
                                  " in: " + expr);
    ++i;
  };
  auto next_non_space = [&](std::size_t j) {
    while (j < n && std::isspace(static_cast<unsigned char>(expr[j]))) ++j;
    return j;
  };
  while (i < n) {
    const char c = expr[i];
    if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    if (c == '#') {  // comment to the end of the line
      while (i < n && expr[i] != '\n') ++i;
      continue;
    }
    if (c == '"' || c == '\'' || c == '`') { skip_string(c); continue; }
    if (c == '{') { skip_until('}'); continue; }
    if (c == '[') { skip_until(']'); continue; }
    if (std::isdigit(static_cast<unsigned char>(c)) || (c == '.' && i + 1 < n && std::isdigit(static_cast<unsigned char>(expr[i + 1])))) {
      while (i < n && (std::isalnum(static_cast<unsigned char>(expr[i])) || expr[i] == '.')) ++i;  // 1.5e3, 5m, 1h30m
      continue;
    }
    if (promql_ident_start(c)) {
      const std::size_t start = i;
      while (i < n && promql_ident_char(expr[i])) ++i;
      const std::string word = expr.substr(start, i - start);
      const std::size_t after = next_non_space(i);
      if (kLabelListFollows.count(word)) {
        if (after < n && expr[after] == '(') {
          i = after;
          skip_until(')');  // (label, label): names of labels, not metrics
        }
        continue;
      }
      std::string lower = word;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (kKeywords.count(lower)) continue;  // keywords and Inf/NaN are case-insensitive
      if (kAggregations.count(word) && after < n && expr[after] != '(') {
        // `sum by (...)` / `sum without (...)`: the aggregation, then its label list.
        std::size_t k = after;
        while (k < n && promql_ident_char(expr[k])) ++k;
        const std::string modifier = expr.substr(after, k - after);
        if (modifier == "by" || modifier == "without") continue;
      }
      if (after < n && expr[after] == '(') continue;  // a function or an aggregation
      names.insert(word);
      continue;
    }
    ++i;  // operators, parentheses, commas, @
  }
  return names;
}

// Sample values for Grafana's template variables, formatted the way Grafana formats them for the
// datasource of the query: for SQL, each value single-quoted and comma-separated ('a','b'); for
// PromQL, one value as is and several as a regex alternation (a|b). ${name:format} picks a format
// explicitly (regex, pipe, csv, raw, singlequote, doublequote). $__interval and friends become
// durations. An unknown variable is an error: a dashboard using a variable it does not define is
// broken.
inline std::string substitute_grafana_variables(const std::string& text,
                                                const std::map<std::string, std::vector<std::string>>& values, bool sql) {
  static const std::map<std::string, std::string> kBuiltins = {
      {"__interval", "1m"}, {"__rate_interval", "1m"}, {"__range", "1h"}, {"__interval_ms", "60000"},
      {"__range_s", "3600"}, {"__range_ms", "3600000"}};
  auto join = [](const std::vector<std::string>& v, const std::string& sep, const std::string& quote) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      std::string item;
      for (char c : v[i]) item += (c == '\'' && quote == "'") ? std::string("''") : std::string(1, c);
      out += (i ? sep : "") + quote + item + quote;
    }
    return out;
  };
  auto format = [&](const std::string& name, const std::string& fmt) -> std::string {
    if (auto it = kBuiltins.find(name); it != kBuiltins.end()) return it->second;
    auto it = values.find(name);
    if (it == values.end() || it->second.empty())
      throw std::invalid_argument("unknown Grafana variable $" + name + " in: " + text);
    const auto& v = it->second;
    if (fmt == "regex") return v.size() == 1 ? v[0] : "(" + join(v, "|", "") + ")";
    if (fmt == "pipe") return join(v, "|", "");
    if (fmt == "csv" || fmt == "raw") return join(v, ",", "");
    if (fmt == "singlequote") return join(v, ",", "'");
    if (fmt == "doublequote") return join(v, ",", "\"");
    if (!fmt.empty()) throw std::invalid_argument("unsupported variable format ${" + name + ":" + fmt + "} in: " + text);
    if (sql) return join(v, ",", "'");
    return v.size() == 1 ? v[0] : "(" + join(v, "|", "") + ")";
  };
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '$' && i + 1 < text.size() && text[i + 1] == '{') {
      const std::size_t close = text.find('}', i);
      if (close == std::string::npos) throw std::invalid_argument("unclosed ${ in: " + text);
      std::string name = text.substr(i + 2, close - i - 2), fmt;
      if (auto colon = name.find(':'); colon != std::string::npos) {
        fmt = name.substr(colon + 1);
        name.resize(colon);
      }
      out += format(name, fmt);
      i = close + 1;
    } else if (text[i] == '$' && i + 1 < text.size() && (std::isalpha(static_cast<unsigned char>(text[i + 1])) || text[i + 1] == '_')) {
      std::size_t j = i + 1;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) ++j;
      out += format(text.substr(i + 1, j - i - 1), "");
      i = j;
    } else if (text.compare(i, 2, "[[") == 0 && text.find("]]", i) != std::string::npos) {
      const std::size_t close = text.find("]]", i);
      out += format(text.substr(i + 2, close - i - 2), "");
      i = close + 2;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// Seconds in a Grafana interval argument: 5m, '5m', 1h, 30s, 1d, $__interval (taken as 1m).
inline long grafana_interval_seconds(std::string arg) {
  auto trim = [](std::string s) {
    while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.front())) || s.front() == '\'')) s.erase(s.begin());
    while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == '\'')) s.pop_back();
    return s;
  };
  arg = trim(arg);
  if (arg == "$__interval" || arg == "${__interval}") return 60;
  std::size_t digits = 0;
  while (digits < arg.size() && std::isdigit(static_cast<unsigned char>(arg[digits]))) ++digits;
  if (digits == 0) throw std::invalid_argument("bad interval '" + arg + "'");
  const long n = std::stol(arg.substr(0, digits));
  const std::string unit = arg.substr(digits);
  if (unit == "s" || unit.empty()) return n;
  if (unit == "m") return n * 60;
  if (unit == "h") return n * 3600;
  if (unit == "d") return n * 86400;
  if (unit == "ms") return std::max(1L, n / 1000);
  throw std::invalid_argument("bad interval unit in '" + arg + "'");
}

// Grafana's PostgreSQL macros expanded the way Grafana expands them, for a time range given as
// ISO 8601 UTC strings (from, to) and as epoch seconds: $__time, $__timeEpoch, $__timeFilter,
// $__timeFrom, $__timeTo, $__timeGroup, $__timeGroupAlias, $__unixEpochFilter, $__unixEpochFrom,
// $__unixEpochTo, $__unixEpochGroup, $__unixEpochGroupAlias. An unknown $__macro( is an error.
struct GrafanaTimeRange {
  std::string from_iso, to_iso;  // 2026-01-05T00:00:00Z
  long from_epoch = 0, to_epoch = 0;
};

inline std::string expand_grafana_sql_macros(const std::string& sql, const GrafanaTimeRange& range) {
  std::string out;
  std::size_t i = 0;
  while (i < sql.size()) {
    if (sql.compare(i, 3, "$__") != 0) {
      out += sql[i++];
      continue;
    }
    std::size_t j = i + 3;
    while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
    const std::string name = sql.substr(i + 3, j - i - 3);
    if (j >= sql.size() || sql[j] != '(') {  // $__interval and other variables: not a macro
      out += sql.substr(i, j - i);
      i = j;
      continue;
    }
    // Arguments up to the matching parenthesis, split on top-level commas.
    std::vector<std::string> args(1);
    int depth = 0;
    std::size_t k = j + 1;
    char quote = 0;
    for (; k < sql.size(); ++k) {
      const char c = sql[k];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '\'' || c == '"') {
        quote = c;
      } else if (c == '(') {
        ++depth;
      } else if (c == ')') {
        if (depth == 0) break;
        --depth;
      } else if (c == ',' && depth == 0) {
        args.emplace_back();
        continue;
      }
      args.back() += c;
    }
    if (k >= sql.size()) throw std::invalid_argument("unclosed $__" + name + "( in: " + sql);
    for (auto& a : args) {
      while (!a.empty() && std::isspace(static_cast<unsigned char>(a.front()))) a.erase(a.begin());
      while (!a.empty() && std::isspace(static_cast<unsigned char>(a.back()))) a.pop_back();
    }
    const std::string col = args[0];
    const std::string from = "'" + range.from_iso + "'", to = "'" + range.to_iso + "'";
    const std::string from_s = std::to_string(range.from_epoch), to_s = std::to_string(range.to_epoch);
    auto need = [&](std::size_t n) {
      if (args.size() < n || args[0].empty())
        throw std::invalid_argument("$__" + name + " needs " + std::to_string(n) + " argument(s) in: " + sql);
    };
    std::string expansion;
    if (name == "time") need(1), expansion = col + " AS \"time\"";
    else if (name == "timeEpoch") need(1), expansion = "extract(epoch from " + col + ") AS \"time\"";
    else if (name == "timeFilter") need(1), expansion = col + " BETWEEN " + from + " AND " + to;
    else if (name == "timeFrom") expansion = from;
    else if (name == "timeTo") expansion = to;
    else if (name == "timeGroup" || name == "timeGroupAlias") {
      need(2);
      const std::string n = std::to_string(grafana_interval_seconds(args[1]));
      expansion = "floor(extract(epoch from " + col + ")/" + n + ")*" + n + (name == "timeGroupAlias" ? " AS \"time\"" : "");
    } else if (name == "unixEpochFilter") need(1), expansion = col + " >= " + from_s + " AND " + col + " <= " + to_s;
    else if (name == "unixEpochFrom") expansion = from_s;
    else if (name == "unixEpochTo") expansion = to_s;
    else if (name == "unixEpochGroup" || name == "unixEpochGroupAlias") {
      need(2);
      const std::string n = std::to_string(grafana_interval_seconds(args[1]));
      expansion = "floor(" + col + "/" + n + ")*" + n + (name == "unixEpochGroupAlias" ? " AS \"time\"" : "");
    } else {
      throw std::invalid_argument("unknown Grafana SQL macro $__" + name + " in: " + sql);
    }
    out += expansion;
    i = k + 1;
  }
  return out;
}

}  // namespace selfheal::testing
