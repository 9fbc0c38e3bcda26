#include "api/response_cache.hpp"

#include <cstdio>
#include <functional>

namespace selfheal {

std::shared_ptr<const ResponseCache::Entry> ResponseCache::find(const std::string& key) const {
  const std::uint64_t current = generation();
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second->generation != current) return nullptr;
  return it->second;
}

std::shared_ptr<const ResponseCache::Entry> ResponseCache::put(const std::string& key, std::uint64_t generation,
                                                               std::string body) {
  auto entry = std::make_shared<Entry>();
  entry->generation = generation;
  entry->body = std::move(body);
  entry->etag = etag_for(key, generation);
  std::lock_guard lock(mu_);
  // Only a newer answer replaces an older one (two readers may race to fill the same key).
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    if (it->second->generation <= generation) it->second = entry;
    return entry;
  }
  if (entries_.size() >= capacity_) entries_.clear();
  entries_.emplace(key, entry);
  return entry;
}

std::shared_ptr<const ResponseCache::Entry> ResponseCache::get_or_compute(
    const std::string& key, const std::function<std::string()>& compute) {
  std::unique_lock lock(mu_);
  for (;;) {
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second->generation == generation()) return it->second;
    if (!computing_.count(key)) break;
    ++waiting_;
    computed_.wait(lock);
    --waiting_;
  }
  computing_.insert(key);
  const std::uint64_t at = generation();  // before reading the store: see the header
  lock.unlock();
  std::string body;
  try {
    body = compute();
  } catch (...) {
    lock.lock();
    computing_.erase(key);
    computed_.notify_all();
    throw;
  }
  auto entry = put(key, at, std::move(body));
  lock.lock();
  computing_.erase(key);
  computed_.notify_all();
  return entry;
}

std::size_t ResponseCache::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

std::string ResponseCache::etag_for(const std::string& key, std::uint64_t generation) const {
  // The key is part of the tag so that two queries never share one (ETags are per URL anyway, but
  // a proxy may be sloppy); hashed to keep the header short.
  char buf[64];
  std::snprintf(buf, sizeof buf, "%016zx-%llu", std::hash<std::string>{}(key),
                static_cast<unsigned long long>(generation));
  return "\"" + epoch_ + "-" + buf + "\"";
}

std::size_t ResponseCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace selfheal
