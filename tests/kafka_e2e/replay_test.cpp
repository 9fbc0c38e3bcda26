// `selfheal replay` against `selfheal dev-broker`: a consumer group rewound to a time re-reads
// exactly the events from that time on; a time slice prints exactly the events inside it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "bus/kafka_bus.hpp"
#include "contracts/events_json.hpp"
#include "core/clock.hpp"
#include "support/child_process.hpp"

namespace selfheal {
namespace {

using testing::ChildProcess;
using namespace std::chrono_literals;

const char* binary() { return std::getenv("SELFHEAL_BINARY"); }

constexpr TimeMs kBase = 1'767'571'200'000;  // 2026-01-05T00:00:00Z
constexpr int kEvents = 30;                 // one a simulated minute, per service

std::vector<Delivery> poll_for(Subscription& s, std::size_t want, std::chrono::milliseconds timeout) {
  std::vector<Delivery> out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < want && std::chrono::steady_clock::now() < deadline)
    if (s.poll(out, want - out.size()) == 0) s.wait(100ms);
  return out;
}

class ReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(binary(), nullptr);
    dir_ = (std::filesystem::temp_directory_path() / ("selfheal-replay-" + std::to_string(::getpid()))).string();
    std::filesystem::create_directories(dir_);
    broker_ = std::make_unique<ChildProcess>(std::vector<std::string>{binary(), "dev-broker", "--partitions", "4"},
                                             dir_ + "/dev-broker.log", /*stdin_pipe=*/true);
    std::string line = broker_->wait_for_output("bootstrap.servers=", 20s);
    ASSERT_FALSE(line.empty()) << broker_->output();
    options_.bootstrap_servers = line.substr(line.find('=') + 1);
    options_.properties = {"log_level=3"};
    bus_ = std::make_unique<KafkaBus>(options_, nullptr);
    for (int i = 0; i < kEvents; ++i)
      for (const char* svc : {"orders", "search"})
        ASSERT_EQ(bus_->publish("features", RawLog{std::string(svc) + "-" + std::to_string(i), kBase + i * 60'000, svc,
                                                   std::string(svc) + "-0", "line"}),
                  PublishStatus::Ok);
    bus_->flush(5s);
  }
  void TearDown() override {
    bus_.reset();
    if (broker_) broker_->stop(SIGTERM, 5s);
    std::filesystem::remove_all(dir_);
  }

  // Runs `selfheal replay ARGS` to its end; returns its exit status, its output in `out`.
  int replay(std::vector<std::string> extra, std::string& out) {
    std::vector<std::string> argv = {binary(), "replay", "--set", "kafka.bootstrap_servers=" + options_.bootstrap_servers,
                                     "--set", "kafka.properties=log_level=3"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    ChildProcess p(argv, dir_ + "/replay-" + std::to_string(++runs_) + ".log");
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (p.running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    int status = p.stop(SIGKILL, 1s);
    out = p.output();
    return status;
  }

  std::string dir_;
  std::unique_ptr<ChildProcess> broker_;
  KafkaOptions options_;
  std::unique_ptr<KafkaBus> bus_;
  int runs_ = 0;
};

TEST_F(ReplayTest, RewoundGroupReprocessesExactlyFromTheGivenTime) {
  {
    auto sub = bus_->subscribe("features", "detector");
    ASSERT_EQ(poll_for(*sub, 2 * kEvents, 30s).size(), 2u * kEvents);
    sub->commit();
  }  // the member leaves: a group is rewound while its members are stopped
  std::string out;
  ASSERT_EQ(replay({"--topic", "features", "--from", format_iso8601(kBase + 20 * 60'000), "--group", "detector"}, out), 0)
      << out;
  EXPECT_NE(out.find("group detector rewound"), std::string::npos) << out;

  auto again = bus_->subscribe("features", "detector");
  auto got = poll_for(*again, 2 * (kEvents - 20), 20s);
  auto extra = poll_for(*again, 1, 1s);  // the partitions are at their ends: anything would be here now
  EXPECT_TRUE(extra.empty()) << event_id(extra.front().event) << " was read again";
  std::set<std::string> ids;
  for (const auto& d : got) ids.insert(event_id(d.event));
  EXPECT_EQ(got.size(), 2u * (kEvents - 20));
  for (int i = 20; i < kEvents; ++i) {
    EXPECT_TRUE(ids.count("orders-" + std::to_string(i))) << i;
    EXPECT_TRUE(ids.count("search-" + std::to_string(i))) << i;
  }
}

TEST_F(ReplayTest, TimeSliceIsPrintedExactly) {
  std::string out;
  ASSERT_EQ(replay({"--topic", "features", "--from", format_iso8601(kBase + 5 * 60'000), "--to",
                    format_iso8601(kBase + 8 * 60'000)},
                   out),
            0)
      << out;
  std::set<std::string> ids;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    DecodeResult r = decode_event(line);
    ASSERT_TRUE(r.ok) << line;
    ids.insert(event_id(r.event));
  }
  EXPECT_EQ(ids, (std::set<std::string>{"orders-5", "orders-6", "orders-7", "search-5", "search-6", "search-7"})) << out;
  EXPECT_NE(out.find("replay: 6 event(s)"), std::string::npos) << out;
}

TEST_F(ReplayTest, BadTimeIsRefusedNamingTheOption) {
  std::string out;
  EXPECT_EQ(replay({"--topic", "features", "--from", "yesterday"}, out), 2);
  EXPECT_NE(out.find("--from expects an ISO 8601 time"), std::string::npos) << out;
  EXPECT_EQ(replay({"--topic", "features", "--from", format_iso8601(kBase), "--to", format_iso8601(kBase - 1)}, out), 2);
  EXPECT_NE(out.find("--to must be after --from"), std::string::npos) << out;
}

}  // namespace
}  // namespace selfheal
