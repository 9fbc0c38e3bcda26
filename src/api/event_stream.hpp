// The fan-out behind GET /api/v1/events (Server-Sent Events): a bounded ring of the latest events,
// each with a sequence number, that every stream client reads from its own cursor. A client that
// falls further behind than the ring holds skips ahead (it is told how many it missed), so a slow
// client never holds memory or the publisher.
//
// Threading: publish() from the service's executor thread (or an HTTP thread), wait_after() from
// HTTP threads; everything is guarded by one mutex with a condition variable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace selfheal {

class EventStream {
 public:
  struct Entry {
    std::uint64_t seq = 0;
    std::string type;  // incident | action | action_result | anomaly | acknowledgement
    std::string data;  // one line of JSON
  };

  explicit EventStream(std::size_t capacity = 4096) : capacity_(capacity) {}

  void publish(std::string type, std::string data);
  // Entries with seq > `after`, waiting up to `timeout` for one to arrive. `missed` receives how
  // many entries after `after` were already dropped from the ring. Returns empty on timeout/close.
  std::vector<Entry> wait_after(std::uint64_t after, std::chrono::milliseconds timeout, std::uint64_t* missed);
  std::uint64_t last_seq() const;
  // Wakes every waiter; later waits return at once.
  void close();
  bool closed() const;

 private:
  std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> ring_;
  std::uint64_t next_seq_ = 1;
  bool closed_ = false;
};

}  // namespace selfheal
