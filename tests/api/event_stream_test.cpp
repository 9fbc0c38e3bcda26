#include <gtest/gtest.h>

#include <thread>

#include "api/event_stream.hpp"

namespace selfheal {
namespace {

TEST(EventStream, ReadersSeeEntriesAfterTheirCursorAndSlowReadersSkipAhead) {
  EventStream s(3);
  EXPECT_EQ(s.last_seq(), 0u);
  std::uint64_t missed = 99;
  EXPECT_TRUE(s.wait_after(0, std::chrono::milliseconds(1), &missed).empty());
  for (int k = 0; k < 5; ++k) s.publish("incident", "{\"k\":" + std::to_string(k) + "}");
  auto got = s.wait_after(3, std::chrono::milliseconds(1), &missed);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].seq, 4u);
  EXPECT_EQ(missed, 0u);
  got = s.wait_after(0, std::chrono::milliseconds(1), &missed);
  ASSERT_EQ(got.size(), 3u);  // the ring holds 3
  EXPECT_EQ(got[0].seq, 3u);
  EXPECT_EQ(missed, 2u);
}

TEST(EventStream, WaitWakesOnPublishAndOnClose) {
  EventStream s;
  std::thread t([&] { s.publish("anomaly", "{}"); });
  auto got = s.wait_after(0, std::chrono::seconds(10), nullptr);
  t.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type, "anomaly");
  std::thread closer([&] { s.close(); });
  auto none = s.wait_after(1, std::chrono::seconds(10), nullptr);
  closer.join();
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(s.closed());
}

}  // namespace
}  // namespace selfheal
