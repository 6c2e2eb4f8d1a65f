#pragma once
// A bounded, thread-safe LRU cache whose entries expire: answers of remote checks (token
// validation, care-team membership) that may be reused for a short while. The least
// recently used entry makes room when `capacity` is reached.

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace nilecare::core {

template <typename Value>
class TtlCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TtlCache(std::size_t capacity) : capacity_(capacity) {}

  std::optional<Value> Get(const std::string& key, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    if (it->second.expires <= now) {
      order_.erase(it->second.position);
      entries_.erase(it);
      return std::nullopt;
    }
    order_.splice(order_.begin(), order_, it->second.position);
    return it->second.value;
  }

  void Put(const std::string& key, Value value, Clock::time_point expires) {
    if (capacity_ == 0) return;
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      order_.erase(it->second.position);
      entries_.erase(it);
    }
    while (entries_.size() >= capacity_ && !order_.empty()) {
      entries_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(key);
    entries_.emplace(key, Entry{std::move(value), expires, order_.begin()});
  }

  std::size_t Size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  struct Entry {
    Value value;
    Clock::time_point expires;
    std::list<std::string>::iterator position;
  };

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // most recently used first
};

}  // namespace nilecare::core
