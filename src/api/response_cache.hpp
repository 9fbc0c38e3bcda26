// Serialized answers of a read route, keyed by the request's query, valid for one generation of
// the data behind them. The incident list is read far more often than incidents change (a
// dashboard polls it, the load target is 2,000 req/s), so the persister bumps the generation on
// every incident it stores and readers reuse the JSON text of the last answer until then, without
// touching the store or the JSON encoder. The generation also makes the ETag.
//
// Correctness under races: a reader takes the generation BEFORE querying the store and files its
// answer under that generation; a writer stores first and bumps after. An answer computed while a
// write was landing is therefore filed under the old generation and never served after the bump.
//
// Single flight: when many readers miss the same key at once (every client right after an
// incident changed), one computes and the others wait for its answer instead of all running the
// same store query at the same time.
//
// Bounded: at most `capacity` entries; when full, the whole cache is cleared (keys are query
// strings, so a client walking through many pages cannot grow memory).
//
// Threading: every method is safe from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace selfheal {

class ResponseCache {
 public:
  struct Entry {
    std::uint64_t generation = 0;
    std::string body;
    std::string etag;  // quoted, e.g. "\"1a2b-17\""
  };

  // `epoch` distinguishes ETags of different processes (the generation restarts at 0).
  ResponseCache(std::size_t capacity, std::string epoch) : capacity_(capacity), epoch_(std::move(epoch)) {}

  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // After the data changed (the change must already be visible to readers of the store).
  void invalidate() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  // The entry for `key` if it is of the current generation.
  std::shared_ptr<const Entry> find(const std::string& key) const;
  // Files an answer computed from data read at `generation`; returns it with its ETag.
  std::shared_ptr<const Entry> put(const std::string& key, std::uint64_t generation, std::string body);

  // The current entry for `key`, computing it with `compute` (a JSON body) when there is none; while
  // one caller computes a key, the others asking for it wait. An exception from `compute` reaches
  // its caller and lets a waiting one try.
  std::shared_ptr<const Entry> get_or_compute(const std::string& key, const std::function<std::string()>& compute);

  std::string etag_for(const std::string& key, std::uint64_t generation) const;
  std::size_t size() const;
  std::size_t waiting() const;  // callers waiting for another one's computation (for tests)

 private:
  std::size_t capacity_;
  std::string epoch_;
  std::atomic<std::uint64_t> generation_{0};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Entry>> entries_;
  std::set<std::string> computing_;
  std::condition_variable computed_;
  std::size_t waiting_ = 0;
};

}  // namespace selfheal
