#include "api/event_stream.hpp"

namespace selfheal {

void EventStream::publish(std::string type, std::string data) {
  {
    std::lock_guard lock(mu_);
    ring_.push_back(Entry{next_seq_++, std::move(type), std::move(data)});
    while (ring_.size() > capacity_) ring_.pop_front();
  }
  cv_.notify_all();
}

std::vector<EventStream::Entry> EventStream::wait_after(std::uint64_t after, std::chrono::milliseconds timeout,
                                                        std::uint64_t* missed) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return closed_ || next_seq_ - 1 > after; });
  std::vector<Entry> out;
  if (missed) *missed = 0;
  if (closed_ || ring_.empty()) return out;
  const std::uint64_t first = ring_.front().seq;
  if (after + 1 < first && missed) *missed = first - after - 1;
  for (const Entry& e : ring_)
    if (e.seq > after) out.push_back(e);
  return out;
}

std::uint64_t EventStream::last_seq() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

void EventStream::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool EventStream::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

}  // namespace selfheal
