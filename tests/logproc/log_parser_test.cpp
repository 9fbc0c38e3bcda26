#include "logproc/log_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace selfheal::logproc {
namespace {

std::string attr(const ParsedLine& p, const std::string& key) {
  for (const auto& [k, v] : p.attributes)
    if (k == key) return v;
  return "<none>";
}

TEST(LogParser, JsonLine) {
  LogParser p;
  auto r = p.parse(R"({"ts":"2026-11-24T10:00:01.250Z","level":"error","logger":"orders.db","msg":"query failed after 250ms","request_id":"abc","duration_ms":250,"ctx":{"a":[1,2]}})");
  EXPECT_EQ(r.format, LogFormat::Json);
  EXPECT_EQ(r.level, LogLevel::Error);
  EXPECT_EQ(r.logger, "orders.db");
  EXPECT_EQ(r.message, "query failed after 250ms");
  ASSERT_TRUE(r.has_time);
  EXPECT_EQ(r.time, 1795514401250);
  EXPECT_EQ(attr(r, "request_id"), "abc");
  EXPECT_EQ(attr(r, "duration_ms"), "250");
  EXPECT_EQ(attr(r, "ctx"), R"({"a":[1,2]})");
}

TEST(LogParser, JsonEscapesAreDecoded) {
  LogParser p;
  auto r = p.parse(R"({"level":"warn","message":"a \"quoted\"\tword \u00e9 \ud83d\ude00"})");
  EXPECT_EQ(r.format, LogFormat::Json);
  EXPECT_EQ(r.message, "a \"quoted\"\tword \xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(LogParser, Logfmt) {
  LogParser p;
  auto r = p.parse(R"(time=2026-11-24T10:00:00Z level=warn caller=pool.go:42 msg="connection pool exhausted" waiters=12)");
  EXPECT_EQ(r.format, LogFormat::Logfmt);
  EXPECT_EQ(r.level, LogLevel::Warn);
  EXPECT_EQ(r.logger, "pool.go:42");
  EXPECT_EQ(r.message, "connection pool exhausted");
  EXPECT_EQ(attr(r, "waiters"), "12");
  EXPECT_TRUE(r.has_time);
}

// Found by the fuzzer: a 20-digit epoch overflowed a 64-bit integer (undefined behaviour).
TEST(LogParser, AbsurdEpochIsNotATime) {
  LogParser p;
  auto r = p.parse("time=20133360121236012120 level=info msg=ok");
  EXPECT_EQ(r.format, LogFormat::Logfmt);
  EXPECT_FALSE(r.has_time);
  EXPECT_EQ(r.message, "ok");
}

TEST(LogParser, JavaStyleText) {
  LogParser p;
  auto r = p.parse("2026-11-24 10:00:00,123 ERROR [http-nio-8080-exec-1] com.shop.orders.OrderService - payment call failed: timeout");
  EXPECT_EQ(r.format, LogFormat::Text);
  EXPECT_EQ(r.level, LogLevel::Error);
  EXPECT_EQ(r.logger, "com.shop.orders.OrderService");
  EXPECT_EQ(r.message, "payment call failed: timeout");
  EXPECT_TRUE(r.has_time);
  EXPECT_EQ(r.time % 1000, 123);
}

TEST(LogParser, LogbackStyleThreadBeforeLevel) {
  LogParser p;
  auto r = p.parse("10:00:00.123 [main] WARN  c.s.Cache - eviction storm: 812 keys");
  EXPECT_EQ(r.format, LogFormat::Text);
  EXPECT_EQ(r.level, LogLevel::Warn);
  EXPECT_EQ(r.logger, "c.s.Cache");
  EXPECT_EQ(r.message, "eviction storm: 812 keys");
  EXPECT_EQ(attr(r, "thread"), "main");
}

TEST(LogParser, HdfsStyleNumericPrefix) {
  LogParser p;
  auto r = p.parse("081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating");
  EXPECT_EQ(r.format, LogFormat::Text);
  EXPECT_EQ(r.level, LogLevel::Info);
  EXPECT_EQ(r.logger, "dfs.DataNode$PacketResponder");
  EXPECT_EQ(r.message, "PacketResponder 1 for block blk_38865049064139660 terminating");
}

TEST(LogParser, SpringBootText) {
  LogParser p;
  auto r = p.parse("2026-01-05 00:04:50.111  INFO 1 --- [nio-8080-exec-4] c.s.orders.web.RequestLogger             : request completed GET /api/orders?user=5299 status=200");
  EXPECT_EQ(r.format, LogFormat::Text);
  EXPECT_EQ(r.level, LogLevel::Info);
  EXPECT_EQ(r.logger, "c.s.orders.web.RequestLogger");
  EXPECT_EQ(r.message, "request completed GET /api/orders?user=5299 status=200");
  EXPECT_EQ(attr(r, "thread"), "nio-8080-exec-4");
  EXPECT_EQ(attr(r, "pid"), "1");
}

TEST(LogParser, PythonStyleText) {
  LogParser p;
  auto r = p.parse("2026-11-24 10:00:00,001 - search.index - INFO - reindexed 12 shards");
  EXPECT_EQ(r.format, LogFormat::Text);
  EXPECT_EQ(r.level, LogLevel::Info);
  EXPECT_EQ(r.logger, "search.index");
  EXPECT_EQ(r.message, "reindexed 12 shards");
}

TEST(LogParser, ApacheErrorLogAndBareLevel) {
  LogParser p;
  auto r = p.parse("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6");
  EXPECT_EQ(r.format, LogFormat::Text);
  EXPECT_EQ(r.level, LogLevel::Error);
  EXPECT_EQ(r.message, "mod_jk child workerEnv in error state 6");
  auto b = p.parse("WARN: disk 91% full");
  EXPECT_EQ(b.format, LogFormat::Text);
  EXPECT_EQ(b.level, LogLevel::Warn);
  EXPECT_EQ(b.message, "disk 91% full");
}

TEST(LogParser, AccessLogLevelFromStatus) {
  LogParser p;
  auto r = p.parse(R"(10.0.0.7 - alice [24/Nov/2026:10:00:00 +0000] "GET /api/orders/42 HTTP/1.1" 503 512 "-" "curl/8.0")");
  EXPECT_EQ(r.format, LogFormat::Access);
  EXPECT_EQ(r.level, LogLevel::Error);
  EXPECT_EQ(attr(r, "status"), "503");
  EXPECT_EQ(attr(r, "path"), "/api/orders/42");
  EXPECT_EQ(attr(r, "method"), "GET");
  EXPECT_EQ(attr(r, "user_agent"), "curl/8.0");
  EXPECT_EQ(attr(r, "user"), "alice");
  EXPECT_TRUE(r.has_time);
  EXPECT_EQ(p.parse(R"(1.2.3.4 - - [24/Nov/2026:10:00:00 +0000] "POST /pay HTTP/1.1" 404 0)").level, LogLevel::Warn);
  EXPECT_EQ(p.parse(R"(1.2.3.4 - - [24/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 10)").level, LogLevel::Info);
}

TEST(LogParser, Syslog3164And5424) {
  LogParser p;
  auto a = p.parse("<27>Nov 24 10:00:00 node-3 kubelet[812]: failed to pull image");
  EXPECT_EQ(a.format, LogFormat::Syslog);
  EXPECT_EQ(a.level, LogLevel::Error);
  EXPECT_EQ(a.logger, "kubelet");
  EXPECT_EQ(a.message, "failed to pull image");
  EXPECT_EQ(attr(a, "pid"), "812");
  auto b = p.parse("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure");
  EXPECT_EQ(b.format, LogFormat::Syslog);
  EXPECT_EQ(b.logger, "sshd(pam_unix)");
  auto c = p.parse("<165>1 2026-11-24T10:00:00.003Z host.example app 42 ID47 [exampleSDID@32473 iut=\"3\"] an event");
  EXPECT_EQ(c.format, LogFormat::Syslog);
  EXPECT_EQ(c.level, LogLevel::Info);
  EXPECT_EQ(c.logger, "app");
  EXPECT_EQ(c.message, "an event");
  EXPECT_TRUE(c.has_time);
}

TEST(LogParser, UnrecognisedLineKeepsItsText) {
  LogParser p;
  auto r = p.parse("something odd happened here");
  EXPECT_EQ(r.format, LogFormat::Unparsed);
  EXPECT_EQ(r.level, LogLevel::Unknown);
  EXPECT_EQ(r.message, "something odd happened here");
}

TEST(LogParser, ContinuationLines) {
  EXPECT_TRUE(is_continuation_line("\tat com.shop.Orders.pay(Orders.java:42)"));
  EXPECT_TRUE(is_continuation_line("Caused by: java.net.SocketTimeoutException: Read timed out"));
  EXPECT_TRUE(is_continuation_line("  File \"app.py\", line 3, in <module>"));
  EXPECT_TRUE(is_continuation_line("    raise ValueError"));
  EXPECT_FALSE(is_continuation_line("2026-11-24 10:00:00 INFO next"));
  EXPECT_FALSE(is_continuation_line(""));
}

TEST(LogParserHostile, OneMegabyteLineIsTruncated) {
  LogParser p;
  std::string line = "ERROR " + std::string(1 << 20, 'x');
  auto r = p.parse(line);
  EXPECT_TRUE(r.issues.truncated);
  EXPECT_LE(r.message.size(), ParserOptions{}.max_line_bytes);
  EXPECT_EQ(r.level, LogLevel::Error);
}

TEST(LogParserHostile, InvalidUtf8AndBinaryAreReplaced) {
  LogParser p;
  auto r = p.parse(std::string("ERROR bad \xC3\x28 and \xF0\x28\x8C\x28 end"));
  EXPECT_TRUE(r.issues.invalid_utf8);
  EXPECT_NE(r.message.find("\xEF\xBF\xBD"), std::string::npos);
  std::string junk;
  for (int i = 0; i < 512; ++i) junk.push_back(static_cast<char>((i * 97) & 0xFF));
  auto j = p.parse(junk);
  EXPECT_TRUE(j.issues.control_bytes || j.issues.invalid_utf8);
  for (char c : j.message) EXPECT_FALSE(c == '\0');
  bool bad = false, ctl = false;
  EXPECT_EQ(sanitize_utf8("ok \xE2\x82\xAC", bad, ctl), "ok \xE2\x82\xAC");
  EXPECT_FALSE(bad);
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80", bad, ctl), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_TRUE(bad);
}

TEST(LogParserHostile, DeeplyNestedJsonIsRefusedWithoutRecursion) {
  LogParser p;
  std::string deep = "{\"a\":";
  for (int i = 0; i < 10000; ++i) deep += "[";
  for (int i = 0; i < 10000; ++i) deep += "]";
  deep += "}";
  auto r = p.parse(deep);
  EXPECT_TRUE(r.issues.too_deep);
  EXPECT_EQ(r.format, LogFormat::Unparsed);
  // Within the limit it parses.
  auto ok = p.parse(R"({"msg":"x","a":[[[1]]]})");
  EXPECT_EQ(ok.format, LogFormat::Json);
  EXPECT_FALSE(ok.issues.too_deep);
}

TEST(LogParserHostile, ManyFieldsAreCapped) {
  LogParser p;
  std::string line = "{\"msg\":\"m\"";
  for (int i = 0; i < 1000; ++i) line += ",\"k" + std::to_string(i) + "\":" + std::to_string(i);
  line += "}";
  auto r = p.parse(line);
  EXPECT_EQ(r.format, LogFormat::Json);
  EXPECT_TRUE(r.issues.attributes_dropped);
  EXPECT_EQ(r.attributes.size(), ParserOptions{}.max_attributes);
}

TEST(LogParser, LevelWords) {
  EXPECT_EQ(level_from_word("WARNING"), LogLevel::Warn);
  EXPECT_EQ(level_from_word("err"), LogLevel::Error);
  EXPECT_EQ(level_from_word("SEVERE"), LogLevel::Error);
  EXPECT_EQ(level_from_word("Fatal"), LogLevel::Fatal);
  EXPECT_EQ(level_from_word("hello"), LogLevel::Unknown);
}

}  // namespace
}  // namespace selfheal::logproc
