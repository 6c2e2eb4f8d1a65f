#pragma once
// POST /api/v1/events (private to src/kafka): callers that speak only HTTP publish domain
// events. The reply waits for the broker: 202 means the event is in Kafka (acks=all).

#include <atomic>
#include <cstdint>

#include "nilecare/auth/jwt_verifier.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/kafka/event_producer.hpp"
#include "nilecare/observability/metrics.hpp"

namespace nilecare::kafka {

class EventsApi {
 public:
  EventsApi(const config::KafkaSettings& settings, const config::JwtSettings& jwt,
            EventProducer& producer, observability::MetricsRegistry& metrics);

  void RegisterRoutes(http::Dispatcher& dispatcher);
  // Requests waiting for their delivery report.
  std::int64_t InFlight() const { return in_flight_->load(); }

 private:
  void Post(http::RequestContext& context, http::Request& request, http::Responder respond);

  const config::KafkaSettings& settings_;
  auth::JwtVerifier verifier_;
  EventProducer& producer_;
  std::shared_ptr<std::atomic<std::int64_t>> in_flight_;
  observability::Counter& rejected_;
};

// W3C trace context: "00-<32 hex>-<16 hex>-<2 hex>", not all-zero ids. Anything else is
// dropped rather than forwarded.
bool IsValidTraceparent(std::string_view value);

}  // namespace nilecare::kafka
