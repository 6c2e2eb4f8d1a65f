#include "event_dedupe.hpp"

#include <future>

#include "nilecare/observability/log.hpp"

namespace nilecare::kafka {
namespace log = observability::log;

CachedEventDedupe::CachedEventDedupe(std::size_t max_entries, std::chrono::milliseconds ttl,
                                     std::shared_ptr<storage::RedisClient> redis,
                                     std::string key_prefix,
                                     std::chrono::milliseconds redis_timeout,
                                     observability::MetricsRegistry& metrics)
    : cache_(max_entries),
      ttl_(ttl),
      redis_(std::move(redis)),
      key_prefix_(std::move(key_prefix)),
      redis_timeout_(redis_timeout),
      redis_errors_(metrics.GetCounter(
          "nilecare_kafka_dedupe_redis_errors_total",
          "Event-id lookups or writes in Redis that failed (the memory cache answered).")) {}

std::optional<storage::RedisReply> CachedEventDedupe::Redis(std::vector<std::string> args) {
  auto promise = std::make_shared<std::promise<storage::RedisReply>>();
  auto future = promise->get_future();
  redis_->Command(std::move(args),
                  [promise](storage::RedisReply reply) { promise->set_value(std::move(reply)); });
  // The client times the command out itself; the margin only covers its timer's slack.
  if (future.wait_for(redis_timeout_ * 2) != std::future_status::ready) {
    redis_errors_.Inc();
    return std::nullopt;
  }
  auto reply = future.get();
  if (reply.IsError()) {
    redis_errors_.Inc();
    log::Warn("event dedupe: redis command failed", {{"error", reply.text}});
    return std::nullopt;
  }
  return reply;
}

bool CachedEventDedupe::Seen(const std::string& event_id) {
  if (cache_.Get(event_id)) return true;
  if (!redis_) return false;
  const auto reply = Redis({"EXISTS", key_prefix_ + "event:" + event_id});
  if (!reply || reply->integer == 0) return false;
  cache_.Put(event_id, true, core::TtlCache<bool>::Clock::now() + ttl_);
  return true;
}

void CachedEventDedupe::Remember(const std::string& event_id) {
  cache_.Put(event_id, true, core::TtlCache<bool>::Clock::now() + ttl_);
  if (!redis_) return;
  (void)Redis({"SET", key_prefix_ + "event:" + event_id, "1", "PX", std::to_string(ttl_.count())});
}

}  // namespace nilecare::kafka
