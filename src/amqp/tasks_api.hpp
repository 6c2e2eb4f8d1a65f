#pragma once
// POST /api/v1/tasks/{queue} (private to src/amqp): callers that speak only HTTP enqueue a
// background task. 202 only once the broker confirmed it (persistent, on a durable queue).

#include <atomic>
#include <cstdint>
#include <memory>

#include "nilecare/auth/jwt_verifier.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/core/task_sink.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"

namespace nilecare::amqp {

class TasksApi {
 public:
  TasksApi(const config::RabbitMqSettings& settings, const config::JwtSettings& jwt,
           core::TaskSink& tasks, observability::MetricsRegistry& metrics);

  void RegisterRoutes(http::Dispatcher& dispatcher);
  std::int64_t InFlight() const { return in_flight_->load(); }

 private:
  void Post(http::RequestContext& context, http::Request& request, http::Responder respond);

  const config::RabbitMqSettings& settings_;
  auth::JwtVerifier verifier_;
  core::TaskSink& tasks_;
  std::shared_ptr<std::atomic<std::int64_t>> in_flight_;
  observability::Counter& rejected_;
};

// "30s", "1500ms" or a number of milliseconds, rounded up (each distinct delay is a queue on
// the broker): to whole seconds up to 1 min, 10 s up to 10 min, 1 min up to 2 h, then 10 min.
// nullopt when malformed or negative.
std::optional<std::chrono::milliseconds> ParseTaskDelay(const nlohmann::json& value);

}  // namespace nilecare::amqp
