#include "bus/in_process_bus.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "core/metrics.hpp"

namespace selfheal {

int partition_for_key(std::string_view key, int partitions) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return partitions <= 1 ? 0 : static_cast<int>(h % static_cast<std::uint64_t>(partitions));
}

class InProcessSubscription final : public Subscription {
 public:
  InProcessSubscription(InProcessBus& bus, InProcessBus::Member* m) : bus_(bus), m_(m) {}
  ~InProcessSubscription() override { bus_.leave(m_); }

  std::size_t poll(std::vector<Delivery>& out, std::size_t max) override {
    std::size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(bus_.mu_);
      auto parts = bus_.assigned_locked(*m_);
      if (parts.empty()) return 0;
      // Round-robin over the member's partitions, a bounded batch from each, so one busy
      // partition cannot starve the others.
      std::size_t idle = 0;
      while (n < max && idle < parts.size()) {
        int p = parts[m_->cursor++ % parts.size()];
        auto& q = m_->group->partitions[static_cast<std::size_t>(p)];
        if (q.empty()) {
          ++idle;
          continue;
        }
        idle = 0;
        std::size_t take = std::min<std::size_t>({q.size(), max - n, 256});
        for (std::size_t i = 0; i < take; ++i) {
          out.push_back(std::move(q.front()));
          q.pop_front();
        }
        n += take;
      }
    }
    if (n) bus_.room_.notify_all();
    return n;
  }

  void wait(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(bus_.mu_);
    auto ready = [&] {
      if (bus_.closed_) return true;
      for (int p : bus_.assigned_locked(*m_))
        if (!m_->group->partitions[static_cast<std::size_t>(p)].empty()) return true;
      return false;
    };
    bus_.data_.wait_for(lock, timeout, ready);
  }

  void commit() override {}  // events leave the queue when polled; nothing survives the process
  const std::string& topic() const override { return m_->topic; }
  const std::string& group() const override { return m_->group_name; }

 private:
  InProcessBus& bus_;
  InProcessBus::Member* m_;
};

InProcessBus::InProcessBus(Options options, MetricsRegistry* metrics)
    : options_(options), metrics_(metrics) {
  if (options_.partitions < 1) options_.partitions = 1;
  if (options_.queue_capacity < 1) options_.queue_capacity = 1;
}

InProcessBus::~InProcessBus() { close(); }

InProcessBus::Topic& InProcessBus::topic_locked(std::string_view name) {
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    it = topics_.emplace(std::string(name), Topic{}).first;
    if (metrics_) {
      std::string topic(name);
      metrics_->gauge_fn("selfheal_bus_queue_depth_events", "Events waiting in in-process bus queues",
                         {{"topic", topic}}, [this, topic] { return static_cast<double>(depth(topic)); });
    }
  }
  return it->second;
}

bool InProcessBus::has_room_locked(const Topic& t, int partition) const {
  for (const auto& [name, g] : t.groups)
    if (g.partitions[static_cast<std::size_t>(partition)].size() >= options_.queue_capacity) return false;
  return true;
}

std::vector<int> InProcessBus::assigned_locked(const Member& m) const {
  std::vector<int> out;
  const auto& members = m.group->members;
  auto it = std::find(members.begin(), members.end(), &m);
  if (it == members.end()) return out;
  std::size_t idx = static_cast<std::size_t>(it - members.begin());
  for (int p = 0; p < options_.partitions; ++p)
    if (static_cast<std::size_t>(p) % members.size() == idx) out.push_back(p);
  return out;
}

PublishStatus InProcessBus::publish(std::string_view topic, Event event) {
  const int partition = partition_for_key(event_key(event), options_.partitions);
  bool counted_block = false;
  std::unique_lock<std::mutex> lock(mu_);
  Topic& t = topic_locked(topic);
  std::int64_t waited_ms = 0;
  while (!closed_ && !has_room_locked(t, partition)) {
    if (!counted_block) {
      counted_block = true;
      ++t.blocked;
      if (metrics_)
        metrics_->counter("selfheal_bus_publish_blocked_total",
                          "Publishes that had to wait for room in a full queue (backpressure)",
                          {{"topic", std::string(topic)}}).inc();
    }
    if (backpressure_handler_) {
      auto handler = backpressure_handler_;
      lock.unlock();
      bool progressed = handler();
      lock.lock();
      if (progressed) continue;
    }
    room_.wait_for(lock, std::chrono::milliseconds(100));
    waited_ms += 100;
    if (waited_ms % 10'000 == 0)
      log::warn("bus", "publish to {} has waited {} s for room; is its consumer running?", topic, waited_ms / 1000);
  }
  if (closed_) {
    if (metrics_)
      metrics_->counter("selfheal_bus_publish_refused_total", "Publishes refused because the bus was closed",
                        {{"topic", std::string(topic)}}).inc();
    return PublishStatus::Closed;
  }
  ++t.published;
  if (t.groups.empty()) return PublishStatus::Ok;  // nobody subscribed: like a topic without consumers
  // Copy to every group but the last, which takes the original.
  std::size_t remaining = t.groups.size();
  for (auto& [name, g] : t.groups) {
    Delivery d;
    d.topic = std::string(topic);
    d.partition = partition;
    d.offset = g.next_offset[static_cast<std::size_t>(partition)]++;
    d.event = (--remaining == 0) ? std::move(event) : event;
    g.partitions[static_cast<std::size_t>(partition)].push_back(std::move(d));
  }
  lock.unlock();
  data_.notify_all();
  return PublishStatus::Ok;
}

std::unique_ptr<Subscription> InProcessBus::subscribe(std::string_view topic, std::string_view group) {
  std::lock_guard<std::mutex> lock(mu_);
  Topic& t = topic_locked(topic);
  auto it = t.groups.find(group);
  if (it == t.groups.end()) {
    Group g;
    g.partitions.resize(static_cast<std::size_t>(options_.partitions));
    g.next_offset.assign(static_cast<std::size_t>(options_.partitions), 0);
    it = t.groups.emplace(std::string(group), std::move(g)).first;
  }
  auto* m = new Member{&it->second, std::string(topic), std::string(group), 0};
  it->second.members.push_back(m);
  return std::make_unique<InProcessSubscription>(*this, m);
}

void InProcessBus::leave(Member* m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& members = m->group->members;
    members.erase(std::remove(members.begin(), members.end(), m), members.end());
  }
  delete m;
}

void InProcessBus::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  room_.notify_all();
  data_.notify_all();
}

void InProcessBus::set_backpressure_handler(std::function<bool()> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  backpressure_handler_ = std::move(handler);
}

std::size_t InProcessBus::depth(std::string_view topic) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = topics_.find(topic);
  if (it == topics_.end()) return 0;
  std::size_t n = 0;
  for (const auto& [name, g] : it->second.groups)
    for (const auto& q : g.partitions) n += q.size();
  return n;
}

std::uint64_t InProcessBus::blocked_publishes() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::uint64_t n = 0;
  for (const auto& [name, t] : topics_) n += t.blocked;
  return n;
}

}  // namespace selfheal
