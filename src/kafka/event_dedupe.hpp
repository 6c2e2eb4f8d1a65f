#pragma once
// Handled event ids (private to src/kafka): a bounded in-memory cache, and Redis when
// `redis:` is configured so that a restarted gateway (or another instance taking over a
// partition) does not notify clinicians again. Redis trouble never blocks events: the
// cache still answers and the failure is counted.

#include <chrono>
#include <memory>
#include <string>

#include "event_handler.hpp"
#include "nilecare/core/ttl_cache.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/storage/redis_client.hpp"

namespace nilecare::kafka {

class CachedEventDedupe final : public EventDedupe {
 public:
  // `redis` may be null. Keys: <key_prefix>event:<event_id>.
  CachedEventDedupe(std::size_t max_entries, std::chrono::milliseconds ttl,
                    std::shared_ptr<storage::RedisClient> redis, std::string key_prefix,
                    std::chrono::milliseconds redis_timeout, observability::MetricsRegistry& metrics);

  bool Seen(const std::string& event_id) override;
  void Remember(const std::string& event_id) override;

 private:
  std::optional<storage::RedisReply> Redis(std::vector<std::string> args);

  core::TtlCache<bool> cache_;
  std::chrono::milliseconds ttl_;
  std::shared_ptr<storage::RedisClient> redis_;
  std::string key_prefix_;
  std::chrono::milliseconds redis_timeout_;
  observability::Counter& redis_errors_;
};

}  // namespace nilecare::kafka
