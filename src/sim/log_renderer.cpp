#include "sim/log_renderer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sim/random.hpp"

namespace selfheal::sim {
namespace {

// ---- time formatting (hot path: no locale, no gmtime) ----------------------------------------------

struct Civil {
  int year, month, day, hour, minute, second, millis;
};

Civil to_civil(TimeMs t) {
  std::int64_t ms = ((t % 1000) + 1000) % 1000;
  std::int64_t secs = (t - ms) / 1000;
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  std::int64_t sod = secs - days * 86400;
  // Howard Hinnant's civil_from_days.
  std::int64_t z = days + 719468;
  std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  std::int64_t m = mp + (mp < 10 ? 3 : -9);
  return {static_cast<int>(y + (m <= 2)), static_cast<int>(m), static_cast<int>(d), static_cast<int>(sod / 3600),
          static_cast<int>(sod % 3600 / 60), static_cast<int>(sod % 60), static_cast<int>(ms)};
}

using Buf = fmt::memory_buffer;

void put2(Buf& b, int v) {
  b.push_back(static_cast<char>('0' + v / 10));
  b.push_back(static_cast<char>('0' + v % 10));
}
void put3(Buf& b, int v) {
  b.push_back(static_cast<char>('0' + v / 100));
  put2(b, v % 100);
}
void put4(Buf& b, int v) {
  put2(b, v / 100);
  put2(b, v % 100);
}
// 2026-01-05T00:00:01.234Z
void iso(Buf& b, const Civil& c) {
  put4(b, c.year); b.push_back('-'); put2(b, c.month); b.push_back('-'); put2(b, c.day);
  b.push_back('T'); put2(b, c.hour); b.push_back(':'); put2(b, c.minute); b.push_back(':'); put2(b, c.second);
  b.push_back('.'); put3(b, c.millis); b.push_back('Z');
}
// 2026-01-05 00:00:01.234
void spaced(Buf& b, const Civil& c) {
  put4(b, c.year); b.push_back('-'); put2(b, c.month); b.push_back('-'); put2(b, c.day);
  b.push_back(' '); put2(b, c.hour); b.push_back(':'); put2(b, c.minute); b.push_back(':'); put2(b, c.second);
  b.push_back('.'); put3(b, c.millis);
}
void append(Buf& b, std::string_view s) { b.append(s.data(), s.data() + s.size()); }

void json_escaped(Buf& b, std::string_view s) {
  for (char c : s) {
    if (c == '"' || c == '\\') b.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) {
      append(b, "\\u00");
      b.push_back("0123456789abcdef"[(c >> 4) & 15]);
      b.push_back("0123456789abcdef"[c & 15]);
      continue;
    }
    b.push_back(c);
  }
}

// ---- vocabulary ------------------------------------------------------------------------------------

enum class Level { Debug, Info, Warn, Error, Fatal };

std::string_view level_lower(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
    case Level::Fatal: return "fatal";
  }
  return "info";
}
std::string_view level_java(Level l) {
  switch (l) {
    case Level::Debug: return "DEBUG";
    case Level::Info: return " INFO";
    case Level::Warn: return " WARN";
    case Level::Error: return "ERROR";
    case Level::Fatal: return "ERROR";
  }
  return " INFO";
}
std::string_view level_pg(Level l) {
  switch (l) {
    case Level::Debug: return "DEBUG";
    case Level::Info: return "LOG";
    case Level::Warn: return "WARNING";
    case Level::Error: return "ERROR";
    case Level::Fatal: return "FATAL";
  }
  return "LOG";
}
std::string_view level_nginx(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "notice";
    case Level::Warn: return "warn";
    case Level::Error: return "error";
    case Level::Fatal: return "crit";
  }
  return "notice";
}

struct Route {
  const char* method;
  const char* path;  // '#' is replaced by a number
};

const std::vector<Route>& routes_of(const std::string& service) {
  static const std::vector<Route> frontend = {{"GET", "/"}, {"GET", "/product/#"}, {"GET", "/cart"},
                                              {"POST", "/cart/items"}, {"POST", "/checkout"}, {"GET", "/static/app.#.js"}};
  static const std::vector<Route> orders = {{"POST", "/api/orders"}, {"GET", "/api/orders/#"}, {"GET", "/api/orders?user=#"}};
  static const std::vector<Route> payments = {{"POST", "/v1/charges"}, {"GET", "/v1/charges/#"}, {"POST", "/v1/refunds"}};
  static const std::vector<Route> search = {{"GET", "/search?q=shoes&page=#"}, {"GET", "/search?q=lamp"}, {"GET", "/suggest?q=ch"}};
  static const std::vector<Route> inventory = {{"GET", "/stock/#"}, {"POST", "/stock/#/reserve"}, {"GET", "/warehouses"}};
  static const std::vector<Route> cache = {{"GET", "product:#"}, {"SET", "session:#"}, {"GET", "cart:#"}};
  static const std::vector<Route> generic = {{"GET", "/api/items/#"}, {"POST", "/api/items"}};
  if (service == "frontend") return frontend;
  if (service == "orders") return orders;
  if (service == "payments") return payments;
  if (service == "search") return search;
  if (service == "inventory") return inventory;
  if (service == "cache") return cache;
  return generic;
}

const char* kStatements[] = {
    "SELECT id, status, total FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20",
    "INSERT INTO orders (user_id, total, status) VALUES ($1, $2, 'new') RETURNING id",
    "UPDATE stock SET reserved = reserved + $1 WHERE sku = $2",
    "SELECT sku, qty FROM stock WHERE sku = ANY($1)",
    "SELECT p.id, p.name, p.price FROM products p WHERE p.id = $1",
    "INSERT INTO payments (order_id, amount, provider_ref) VALUES ($1, $2, $3)"};

// Background chatter: (level, message). The WARN/ERROR ones are harmless and always present, so
// "an ERROR appeared" is not by itself a sign of trouble.
struct Chatter {
  Level level;
  const char* logger;
  const char* message;
};
const Chatter kChatter[] = {
    {Level::Info, "health", "health check passed"},
    {Level::Info, "metrics", "flushed # metric points to collector"},
    {Level::Info, "pool", "connection pool stats: active=# idle=4 waiting=0"},
    {Level::Info, "scheduler", "job refresh-catalog finished in #ms"},
    {Level::Info, "config", "feature flags refreshed (42 flags)"},
    {Level::Debug, "http", "keep-alive connection closed by peer"},
    {Level::Warn, "config", "deprecated config key 'http.timeout' used; use 'http.client.timeout'"},
    {Level::Warn, "http", "slow client: response write took #ms"},
    {Level::Warn, "tracing", "span exporter queue is 80% full, dropping low-priority spans"},
    {Level::Error, "flags", "failed to refresh feature flags: context deadline exceeded; using cached values"},
    {Level::Error, "http", "client closed connection before response was sent (499)"},
};
const Chatter kPgChatter[] = {
    {Level::Info, "", "checkpoint starting: time"},
    {Level::Info, "", "checkpoint complete: wrote # buffers (0.4%); 0 WAL file(s) added, 0 removed, 1 recycled"},
    {Level::Info, "", "automatic vacuum of table \"shop.public.orders\": index scans: 1"},
    {Level::Info, "", "automatic analyze of table \"shop.public.stock\""},
    {Level::Warn, "", "there is no transaction in progress"},
    {Level::Error, "", "duplicate key value violates unique constraint \"payments_provider_ref_key\""},
};

std::string java_logger(const std::string& service, const char* tail) {
  return "c.s." + service + "." + tail;
}

// ---- one pod's tick --------------------------------------------------------------------------------

class PodWriter {
 public:
  PodWriter(const ServiceState& st, const PodState& pod, LogStyle style, std::vector<RawLog>& out)
      : st_(st), pod_(pod), style_(style), out_(out),
        rng_(mix(mix(st.seed, stable_hash(pod.pod)), static_cast<std::uint64_t>(st.ts))) {}

  struct Entry {
    TimeMs ts;
    int kind;  // 0 request, 1 chatter, 2 condition, 3 lifecycle
    int arg;
  };

  void write(const LogRendererOptions& opt) {
    const bool running = pod_.phase == "Running" || pod_.phase == "Terminating";
    const double dt = static_cast<double>(st_.tick_ms) / 1000.0;
    const TimeMs t0 = st_.ts - st_.tick_ms;
    entries_.clear();
    auto at = [&] { return t0 + static_cast<TimeMs>(rng_.below(static_cast<std::uint64_t>(std::max<std::int64_t>(1, st_.tick_ms)))); };
    // Lifecycle first in the tick (they caused the tick's state).
    for (std::size_t i = 0; i < pod_.events.size(); ++i) entries_.push_back({t0 + 1, 3, static_cast<int>(i)});
    if (running) {
      std::uint32_t req = rng_.poisson(pod_.requests_per_s * dt * opt.request_sample);
      for (std::uint32_t i = 0; i < req; ++i) entries_.push_back({at(), 0, 0});
      std::uint32_t chat = rng_.poisson(opt.background_per_s * dt);
      for (std::uint32_t i = 0; i < chat; ++i) entries_.push_back({at(), 1, 0});
      for (std::size_t c = 0; c < pod_.conditions.size(); ++c) {
        std::uint32_t k = rng_.poisson(condition_rate(pod_.conditions[c]) * dt);
        for (std::uint32_t i = 0; i < k; ++i) entries_.push_back({at(), 2, static_cast<int>(c)});
      }
    }
    if (entries_.size() > opt.max_lines_per_pod_tick) entries_.resize(opt.max_lines_per_pod_tick);
    std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.ts < b.ts; });
    for (const auto& e : entries_) {
      switch (e.kind) {
        case 0: request(e.ts); break;
        case 1: chatter(e.ts); break;
        case 2: condition(e.ts, pod_.conditions[e.arg]); break;
        case 3: lifecycle(e.ts, pod_.events[e.arg]); break;
      }
    }
  }

 private:
  double condition_rate(const std::string& c) const {
    double err_frac = pod_.requests_per_s > 0 ? pod_.errors_per_s / pod_.requests_per_s : 0;
    if (c == "gc_pressure") return 0.3;
    if (c == "memory_pressure") return 0.3;
    if (c == "cpu_throttled") return 0.15;
    if (c == "too_many_connections") return 1.0;
    if (c == "slow_queries") return 1.5;
    if (c == "pool_exhausted") return 0.6;
    if (c == "slow_query") return 0.6;
    if (c == "request_timeout") return 0.5;
    if (c == "bad_release") return 0.3 + 2.0 * err_frac;
    if (c == "stuck_state") return 0.3 + 1.5 * err_frac;
    if (c.rfind("connection_refused:", 0) == 0) return 0.3 + 2.0 * err_frac;
    if (c.rfind("upstream_errors:", 0) == 0) return 0.3;
    if (c.rfind("upstream_slow:", 0) == 0) return 0.3;
    return 0;  // crash_loop: the crash itself is logged as a lifecycle event
  }

  std::string rid() {
    std::uint64_t v = rng_.next();
    std::string s(16, '0');
    for (int i = 15; i >= 0; --i) {
      s[i] = "0123456789abcdef"[v & 15];
      v >>= 4;
    }
    return s;
  }
  std::string user() { return "u-" + std::to_string(1000 + rng_.below(rng_.chance(0.3) ? 50 : 9000)); }
  std::string path_of(const Route& r) {
    std::string p = r.path;
    if (auto pos = p.find('#'); pos != std::string::npos) p.replace(pos, 1, std::to_string(100 + rng_.below(99900)));
    return p;
  }
  static std::string fill(const char* msg, std::uint64_t n) {
    std::string m = msg;
    if (auto pos = m.find('#'); pos != std::string::npos) m.replace(pos, 1, std::to_string(n));
    return m;
  }

  // Why a failed request failed, from the pod's conditions (the first that explains errors).
  std::string error_cause(int& status) {
    for (const auto& c : pod_.conditions) {
      if (c.rfind("connection_refused:", 0) == 0) {
        status = 502;
        std::string dep = c.substr(19);
        return "call to " + dep + " failed: dial tcp " + dep + ":443: connect: connection refused";
      }
      if (c == "request_timeout" || c.rfind("upstream_slow:", 0) == 0) {
        status = 504;
        return "upstream request timeout after " + std::to_string(2000 + rng_.below(1000)) + "ms";
      }
      if (c == "pool_exhausted") {
        status = 503;
        return "could not acquire a database connection within 5000ms: pool exhausted (max=20)";
      }
      if (c == "bad_release") {
        status = 500;
        return "unhandled exception: java.lang.NullPointerException: Cannot invoke \"Price.amount()\" because \"item.price\" is null";
      }
      if (c == "stuck_state") {
        status = 500;
        return "cache entry product:" + std::to_string(100 + rng_.below(900)) + " is corrupt: unexpected end of serialized data";
      }
      if (c.rfind("upstream_errors:", 0) == 0) {
        status = 502;
        return "upstream " + c.substr(16) + " answered 503 Service Unavailable";
      }
    }
    status = 500;
    return rng_.chance(0.5) ? "internal error: unexpected EOF while reading request body"
                            : "internal error: context canceled";
  }

  void request(TimeMs ts) {
    const auto& rs = routes_of(st_.service);
    const Route& r = rs[rng_.below(rs.size())];
    double dur_s = rng_.lognormal(pod_.latency_median_s > 0 ? pod_.latency_median_s : 0.005, pod_.latency_sigma > 0 ? pod_.latency_sigma : 0.4);
    double err_frac = pod_.requests_per_s > 0 ? pod_.errors_per_s / pod_.requests_per_s : 0;
    bool failed = rng_.chance(err_frac);
    int status = r.method[0] == 'P' ? 201 : 200;
    std::string cause;
    if (failed) cause = error_cause(status);
    else if (rng_.chance(0.02)) status = 404;
    std::string path = path_of(r);
    std::string id = rid();
    double dur_ms = std::round(dur_s * 1e5) / 100.0;

    if (style_ == LogStyle::Nginx) {
      Buf b;
      Civil c = to_civil(ts);
      static const char* kMon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
      fmt::format_to(std::back_inserter(b), "10.244.{}.{} - {} [{:02}/{}/{}:{:02}:{:02}:{:02} +0000] \"{} {} HTTP/1.1\" {} {} \"-\" \"{}\" rt={:.3f} request_id={}",
                     rng_.below(4), 2 + rng_.below(250), rng_.chance(0.4) ? user() : std::string("-"), c.day, kMon[c.month - 1], c.year, c.hour,
                     c.minute, c.second, r.method, path, status, failed ? 157 : 200 + rng_.below(20000),
                     rng_.chance(0.7) ? "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36" : "shop-ios/4.2.1",
                     dur_s, id);
      emit(ts, b);
      if (failed) line(ts, Level::Error, "", "*" + std::to_string(rng_.below(100000)) + " " + cause + " while reading response header from upstream, request: \"" + r.method + " " + path + " HTTP/1.1\"", "", 0, 0, "");
      return;
    }
    if (style_ == LogStyle::Postgres) {
      const char* stmt = kStatements[rng_.below(std::size(kStatements))];
      double q_ms = std::round(rng_.lognormal(pod_.db_query_median_s > 0 ? pod_.db_query_median_s : 0.004, pod_.latency_sigma) * 1e6) / 1000.0;
      line(ts, Level::Info, "", fmt::format("duration: {:.3f} ms  statement: {}", q_ms, stmt), "", 0, 0, "");
      if (failed) line(ts, Level::Error, "", "canceling statement due to statement timeout", "", 0, 0, "");
      return;
    }
    std::string msg;
    if (st_.service == "cache")
      msg = failed ? "command failed: " + cause : std::string(r.method) + " " + path + (rng_.chance(0.85) ? " hit" : " miss");
    else
      msg = failed ? "request failed: " + cause : "request completed";
    line(ts, failed ? Level::Error : Level::Info, style_ == LogStyle::Java ? java_logger(st_.service, "web.RequestLogger") : "http",
         msg, id, status, dur_ms, path, r.method, true);
    if (failed && style_ == LogStyle::Java && status == 500 && rng_.chance(0.5))
      stack_trace(ts, cause.rfind("java.", 0) == 0 || cause.rfind("unhandled exception: ", 0) == 0
                          ? cause.substr(cause.find("java."))
                          : "java.lang.IllegalStateException: " + cause);
  }

  void chatter(TimeMs ts) {
    if (style_ == LogStyle::Postgres) {
      const Chatter& c = kPgChatter[rng_.below(std::size(kPgChatter))];
      line(ts, c.level, "", fill(c.message, 10 + rng_.below(900)), "", 0, 0, "");
      return;
    }
    const Chatter& c = kChatter[rng_.below(std::size(kChatter))];
    line(ts, c.level, style_ == LogStyle::Java ? java_logger(st_.service, c.logger) : std::string(c.logger),
         fill(c.message, 10 + rng_.below(900)), "", 0, 0, "");
  }

  void condition(TimeMs ts, const std::string& c) {
    const double mem_mb = pod_.memory_bytes / 1048576.0, lim_mb = pod_.memory_limit_bytes / 1048576.0;
    const std::string lg = style_ == LogStyle::Java ? java_logger(st_.service, "runtime.Monitor") : std::string("runtime");
    if (c == "gc_pressure") {
      if (style_ == LogStyle::Java)
        line(ts, Level::Warn, java_logger(st_.service, "jvm.GcMonitor"),
             fmt::format("GC overhead high: {}% of time in G1 Old Generation collections over the last minute, heap {:.0f}MB/{:.0f}MB",
                         40 + rng_.below(50), mem_mb, lim_mb), "", 0, 0, "");
      else
        line(ts, Level::Warn, lg, fmt::format("gc pause {}ms, heap in use {:.0f}MiB of {:.0f}MiB limit", 50 + rng_.below(400), mem_mb, lim_mb), "", 0, 0, "");
    } else if (c == "memory_pressure") {
      line(ts, Level::Warn, lg, fmt::format("memory usage {:.0f}% of container limit ({:.0f}MiB/{:.0f}MiB), approaching OOM", 100 * mem_mb / lim_mb, mem_mb, lim_mb), "", 0, 0, "");
    } else if (c == "cpu_throttled") {
      line(ts, Level::Warn, lg, fmt::format("event loop lag {}ms; worker pool saturated ({} requests queued)", 100 + rng_.below(900), 20 + rng_.below(200)), "", 0, 0, "");
    } else if (c == "too_many_connections") {
      line(ts, Level::Fatal, "", "sorry, too many clients already", "", 0, 0, "");
    } else if (c == "slow_queries") {
      const char* stmt = kStatements[rng_.below(std::size(kStatements))];
      line(ts, Level::Info, "", fmt::format("duration: {:.3f} ms  statement: {}", rng_.lognormal(pod_.db_query_median_s * 1000, 0.5), stmt), "", 0, 0, "");
      if (rng_.chance(0.3)) line(ts, Level::Warn, "", fmt::format("process {} still waiting for ShareLock on transaction {} after 1000.000 ms", 100 + rng_.below(900), 700000 + rng_.below(9999)), "", 0, 0, "");
    } else if (c == "pool_exhausted") {
      line(ts, Level::Warn, style_ == LogStyle::Java ? java_logger(st_.service, "db.HikariPool") : std::string("db"),
           "HikariPool-1 - Connection is not available, request timed out after 5000ms (total=20, active=20, idle=0, waiting=" + std::to_string(5 + rng_.below(60)) + ")", "", 0, 0, "");
    } else if (c == "slow_query") {
      line(ts, Level::Warn, style_ == LogStyle::Java ? java_logger(st_.service, "db.QueryLogger") : std::string("db"),
           fmt::format("slow query took {}ms: {}", 200 + rng_.below(4000), kStatements[rng_.below(std::size(kStatements))]), "", 0, 0, "");
      if (rng_.chance(0.3)) line(ts, Level::Error, style_ == LogStyle::Java ? java_logger(st_.service, "db.QueryLogger") : std::string("db"),
                                 "query timeout: canceling statement due to statement timeout (5000ms)", "", 0, 0, "");
    } else if (c == "request_timeout") {
      line(ts, Level::Error, "http", fmt::format("request timed out after {}ms", 2000 + rng_.below(1000)), rid(), 504, 0, "");
    } else if (c == "bad_release") {
      line(ts, Level::Error, style_ == LogStyle::Java ? java_logger(st_.service, "web.ErrorHandler") : std::string("http"),
           "unhandled exception in handler: java.lang.NullPointerException: Cannot invoke \"Price.amount()\" because \"item.price\" is null", rid(), 500, 0, "");
      if (style_ == LogStyle::Java) stack_trace(ts, "java.lang.NullPointerException: Cannot invoke \"Price.amount()\" because \"item.price\" is null");
    } else if (c == "stuck_state") {
      line(ts, Level::Error, style_ == LogStyle::Java ? java_logger(st_.service, "cache.LocalCache") : std::string("cache"),
           "worker 3 has not made progress for 120s; cached value for key product:" + std::to_string(100 + rng_.below(900)) + " failed to deserialize", "", 0, 0, "");
    } else if (c.rfind("connection_refused:", 0) == 0) {
      std::string dep = c.substr(19);
      line(ts, Level::Error, style_ == LogStyle::Java ? java_logger(st_.service, "client.HttpClient") : std::string("client"),
           "dial tcp " + dep + ":443: connect: connection refused (retrying in 500ms, attempt " + std::to_string(1 + rng_.below(5)) + "/5)", "", 0, 0, "");
    } else if (c.rfind("upstream_errors:", 0) == 0) {
      line(ts, Level::Warn, "client", "upstream " + c.substr(16) + " error rate high; circuit breaker half-open", "", 0, 0, "");
    } else if (c.rfind("upstream_slow:", 0) == 0) {
      line(ts, Level::Warn, "client", fmt::format("call to {} took {}ms (timeout 2000ms)", c.substr(14), 500 + rng_.below(1500)), "", 0, 0, "");
    }
  }

  void lifecycle(TimeMs ts, const std::string& ev) {
    const std::string lg = style_ == LogStyle::Java ? java_logger(st_.service, "Application") : std::string("main");
    if (ev == "started") {
      if (style_ == LogStyle::Postgres) {
        line(ts, Level::Info, "", "starting PostgreSQL 15.5 on x86_64-pc-linux-gnu", "", 0, 0, "");
        line(ts, Level::Info, "", "database system is ready to accept connections", "", 0, 0, "");
      } else if (style_ == LogStyle::Nginx) {
        line(ts, Level::Info, "", "using the \"epoll\" event method", "", 0, 0, "");
        line(ts, Level::Info, "", "start worker processes", "", 0, 0, "");
      } else {
        line(ts, Level::Info, lg, "starting " + st_.service + " (pid 1) on " + pod_.node, "", 0, 0, "");
        line(ts, Level::Info, lg, "listening on :8080", "", 0, 0, "");
      }
    } else if (ev == "ready") {
      line(ts, Level::Info, lg, "readiness probe passing; accepting traffic", "", 0, 0, "");
    } else if (ev == "oom_killed") {
      if (style_ == LogStyle::Java) {
        line(ts, Level::Error, java_logger(st_.service, "Application"), "java.lang.OutOfMemoryError: Java heap space", "", 0, 0, "");
        stack_trace(ts, "java.lang.OutOfMemoryError: Java heap space");
      } else if (style_ == LogStyle::Postgres) {
        line(ts, Level::Fatal, "", "out of memory: Failed on request of size 8192 in memory context \"ExecutorState\"", "", 0, 0, "");
      } else {
        line(ts, Level::Fatal, lg, "fatal error: runtime: out of memory", "", 0, 0, "");
      }
    } else if (ev == "crashed") {
      if (style_ == LogStyle::Java) {
        line(ts, Level::Error, java_logger(st_.service, "boot.SpringApplication"), "Application run failed", "", 0, 0, "");
        stack_trace(ts, "java.lang.IllegalStateException: Failed to load ApplicationContext: required property 'db.url' is missing");
      } else {
        line(ts, Level::Fatal, lg, "panic: runtime error: invalid memory address or nil pointer dereference", "", 0, 0, "");
        emit_raw(ts, "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6b2f1a]");
        emit_raw(ts, "goroutine 1 [running]:");
        emit_raw(ts, "main.loadConfig(...)");
        emit_raw(ts, "\t/src/cmd/" + st_.service + "/main.go:57 +0x1a");
      }
    } else if (ev == "deleted" || ev == "replaced" || ev == "scaled_down") {
      line(ts, Level::Info, lg, "received SIGTERM; draining connections and shutting down gracefully", "", 0, 0, "");
    } else if (ev == "state_cleared") {
      line(ts, Level::Info, lg, "admin: POST /admin/clear-state: local cache flushed, workers restarted", "", 0, 0, "");
    }
  }

  void stack_trace(TimeMs ts, const std::string& exception) {
    const std::string& s = st_.service;
    emit_raw(ts, exception);
    emit_raw(ts, "\tat com.shop." + s + ".service.OrderPricing.total(OrderPricing.java:" + std::to_string(40 + rng_.below(80)) + ")");
    emit_raw(ts, "\tat com.shop." + s + ".web.Controller.handle(Controller.java:" + std::to_string(60 + rng_.below(80)) + ")");
    emit_raw(ts, "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)");
    emit_raw(ts, "\tat org.apache.tomcat.util.threads.TaskThread$WrappingRunnable.run(TaskThread.java:61)");
    emit_raw(ts, "\t... 42 common frames omitted");
  }

  // One logical line in the pod's layout.
  void line(TimeMs ts, Level level, const std::string& logger, const std::string& msg, const std::string& request_id,
            int status, double duration_ms, const std::string& path, const char* method = nullptr, bool with_user = false) {
    Buf b;
    Civil c = to_civil(ts);
    switch (style_) {
      case LogStyle::Json:
        append(b, "{\"ts\":\"");
        iso(b, c);
        append(b, "\",\"level\":\"");
        append(b, level_lower(level));
        append(b, "\",\"logger\":\"");
        json_escaped(b, logger);
        append(b, "\",\"msg\":\"");
        json_escaped(b, msg);
        b.push_back('"');
        if (!request_id.empty()) fmt::format_to(std::back_inserter(b), ",\"request_id\":\"{}\"", request_id);
        if (method) fmt::format_to(std::back_inserter(b), ",\"method\":\"{}\",\"path\":\"{}\"", method, path);
        if (status) fmt::format_to(std::back_inserter(b), ",\"status\":{}", status);
        if (duration_ms > 0) fmt::format_to(std::back_inserter(b), ",\"duration_ms\":{}", duration_ms);
        if (with_user) fmt::format_to(std::back_inserter(b), ",\"user\":\"{}\"", user());
        b.push_back('}');
        break;
      case LogStyle::Logfmt:
        append(b, "ts=");
        iso(b, c);
        append(b, " level=");
        append(b, level_lower(level));
        if (!logger.empty()) { append(b, " logger="); append(b, logger); }
        append(b, " msg=\"");
        json_escaped(b, msg);
        b.push_back('"');
        if (!request_id.empty()) { append(b, " request_id="); append(b, request_id); }
        if (method) fmt::format_to(std::back_inserter(b), " method={} path={}", method, path);
        if (status) fmt::format_to(std::back_inserter(b), " status={}", status);
        if (duration_ms > 0) fmt::format_to(std::back_inserter(b), " duration_ms={}", duration_ms);
        if (with_user) fmt::format_to(std::back_inserter(b), " user={}", user());
        break;
      case LogStyle::Java:
        spaced(b, c);
        b.push_back(' ');
        append(b, level_java(level));
        fmt::format_to(std::back_inserter(b), " 1 --- [nio-8080-exec-{}] {:<40} : ", 1 + rng_.below(10), logger);
        append(b, msg);
        if (method) fmt::format_to(std::back_inserter(b), " {} {}", method, path);
        if (status) fmt::format_to(std::back_inserter(b), " status={}", status);
        if (duration_ms > 0) fmt::format_to(std::back_inserter(b), " took={}ms", duration_ms);
        if (with_user) fmt::format_to(std::back_inserter(b), " user={}", user());
        if (!request_id.empty()) fmt::format_to(std::back_inserter(b), " [request_id={}]", request_id);
        break;
      case LogStyle::Nginx:
        put4(b, c.year); b.push_back('/'); put2(b, c.month); b.push_back('/'); put2(b, c.day); b.push_back(' ');
        put2(b, c.hour); b.push_back(':'); put2(b, c.minute); b.push_back(':'); put2(b, c.second);
        append(b, " [");
        append(b, level_nginx(level));
        append(b, "] 1#1: ");
        append(b, msg);
        break;
      case LogStyle::Postgres:
        spaced(b, c);
        fmt::format_to(std::back_inserter(b), " UTC [{}] ", 100 + (stable_hash(pod_.pod) % 900));
        append(b, level_pg(level));
        append(b, ":  ");
        append(b, msg);
        break;
    }
    emit(ts, b);
  }

  void emit_raw(TimeMs ts, const std::string& text) {
    RawLog r;
    r.ts = ts;
    r.service = st_.service;
    r.pod = pod_.pod;
    r.line = text;
    out_.push_back(std::move(r));
  }
  void emit(TimeMs ts, const Buf& b) {
    RawLog r;
    r.ts = ts;
    r.service = st_.service;
    r.pod = pod_.pod;
    r.line.assign(b.data(), b.size());
    out_.push_back(std::move(r));
  }

  const ServiceState& st_;
  const PodState& pod_;
  LogStyle style_;
  std::vector<RawLog>& out_;
  Rng rng_;
  std::vector<Entry> entries_;
};

}  // namespace

bool parse_log_style(std::string_view s, LogStyle& out) {
  if (s == "json") out = LogStyle::Json;
  else if (s == "logfmt") out = LogStyle::Logfmt;
  else if (s == "java") out = LogStyle::Java;
  else if (s == "nginx") out = LogStyle::Nginx;
  else if (s == "postgres") out = LogStyle::Postgres;
  else return false;
  return true;
}

std::string_view to_string(LogStyle s) {
  switch (s) {
    case LogStyle::Json: return "json";
    case LogStyle::Logfmt: return "logfmt";
    case LogStyle::Java: return "java";
    case LogStyle::Nginx: return "nginx";
    case LogStyle::Postgres: return "postgres";
  }
  return "json";
}

std::string LogRendererOptions::set_styles(const std::vector<std::string>& pairs) {
  styles.clear();
  for (const auto& p : pairs) {
    auto eq = p.find('=');
    LogStyle st;
    if (eq == std::string::npos || eq == 0) return "\"" + p + "\": expected service=layout";
    if (!parse_log_style(p.substr(eq + 1), st))
      return "\"" + p + "\": unknown layout \"" + p.substr(eq + 1) + "\"; expected json, logfmt, java, nginx or postgres";
    styles[p.substr(0, eq)] = st;
  }
  return {};
}

LogRenderer::LogRenderer(LogRendererOptions options) : options_(std::move(options)) {}

LogStyle LogRenderer::style_of(const std::string& service) const {
  auto it = options_.styles.find(service);
  return it == options_.styles.end() ? options_.default_style : it->second;
}

void LogRenderer::render(const ServiceState& state, std::vector<RawLog>& out) {
  const LogStyle style = style_of(state.service);
  for (const auto& pod : state.pods) PodWriter(state, pod, style, out).write(options_);
}

}  // namespace selfheal::sim
