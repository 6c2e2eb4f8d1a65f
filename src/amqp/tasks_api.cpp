#include "tasks_api.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "nilecare/config/units.hpp"
#include "nilecare/core/errors.hpp"
#include "nilecare/core/json_limits.hpp"
#include "nilecare/http/auth_failure_response.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::amqp {
namespace log = observability::log;
namespace ec = core::error_code;
using http::Status;

namespace {
constexpr std::string_view kPrefix = "/api/v1/tasks/";
constexpr auto kBrokerRetryAfter = std::chrono::seconds(5);
constexpr auto kFullRetryAfter = std::chrono::seconds(1);
constexpr std::size_t kMaxPayloadNesting = 32;
constexpr std::array<std::string_view, 3> kFields = {"payload", "priority", "delay"};

http::Response TooLarge(const http::RequestContext& context, std::size_t max_bytes) {
  return http::ErrorResponse(context, Status::payload_too_large, ec::kPayloadTooLarge,
                             "Task too large", {{"max_bytes", max_bytes}});
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseTaskDelay(const nlohmann::json& value) {
  std::optional<std::chrono::milliseconds> delay;
  if (value.is_number_unsigned()) {
    delay = std::chrono::milliseconds(value.get<std::uint64_t>());
  } else if (value.is_string()) {
    delay = config::ParseDuration(value.get_ref<const std::string&>());
  }
  // The upper check keeps the rounding below from overflowing.
  if (!delay || delay->count() < 0 ||
      delay->count() > std::numeric_limits<std::chrono::milliseconds::rep>::max() - 999) {
    return std::nullopt;
  }
  // Every distinct delay is a queue on the broker: a coarser step the longer the delay keeps
  // them few (at most ~360 per work queue up to 24 h), never shorter than asked.
  using std::chrono::minutes;
  using std::chrono::seconds;
  const auto step = *delay <= seconds(60)    ? std::chrono::milliseconds(seconds(1))
                    : *delay <= minutes(10)  ? std::chrono::milliseconds(seconds(10))
                    : *delay <= minutes(120) ? std::chrono::milliseconds(minutes(1))
                                             : std::chrono::milliseconds(minutes(10));
  return (*delay + step - std::chrono::milliseconds(1)) / step * step;
}

TasksApi::TasksApi(const config::RabbitMqSettings& settings, const config::JwtSettings& jwt,
                   core::TaskSink& tasks, observability::MetricsRegistry& metrics)
    : settings_(settings),
      verifier_(jwt),
      tasks_(tasks),
      in_flight_(std::make_shared<std::atomic<std::int64_t>>(0)),
      rejected_(metrics.GetCounter("nilecare_tasks_api_rejected_total",
                                   "POST /api/v1/tasks requests refused before publishing.")) {}

void TasksApi::RegisterRoutes(http::Dispatcher& dispatcher) {
  dispatcher.AddPattern(
      "/api/v1/tasks/*", {http::Verb::post}, "/api/v1/tasks/{queue}",
      [this](http::RequestContext& context, http::Request& request, http::Responder respond) {
        Post(context, request, std::move(respond));
      });
}

void TasksApi::Post(http::RequestContext& context, http::Request& request,
                    http::Responder respond) {
  const auto reject = [&](http::Response response) {
    rejected_.Inc();
    respond(std::move(response));
  };
  if (!http::AuthenticateOrReply(verifier_, context, request, settings_.publish_roles, reject)) {
    return;
  }
  const auto invalid = [&](std::string_view field, std::string_view reason,
                           std::string_view message) {
    reject(http::InvalidFieldResponse(context, field, reason, message));
  };
  const auto path = http::Dispatcher::SafePath(request.target());
  const std::string queue = path ? std::string(path->substr(kPrefix.size())) : std::string();
  if (!tasks_.HasQueue(queue)) {
    return reject(http::ErrorResponse(context, Status::not_found, ec::kNotFound,
                                      "Unknown task queue", {{"queue", queue}}));
  }
  const std::string& body = request.body();
  if (body.size() > settings_.max_task_bytes) {
    return reject(TooLarge(context, settings_.max_task_bytes));
  }
  auto parsed = core::ParseBoundedJson(body, kMaxPayloadNesting);
  if (!parsed || !parsed->is_object()) {
    return invalid("body", "not_object", "Body must be a JSON object");
  }
  for (const auto& [name, value] : parsed->items()) {
    if (std::find(kFields.begin(), kFields.end(), name) == kFields.end()) {
      return invalid(name, "unknown_field", "Unknown field (allowed: payload, priority, delay)");
    }
  }
  const auto payload = parsed->find("payload");
  if (payload == parsed->end() || !payload->is_object()) {
    return invalid("payload", "not_object", "payload must be a JSON object");
  }
  core::TaskRequest task;
  task.queue = queue;
  task.correlation_id = context.correlation_id;
  task.source = "api";
  if (const auto it = parsed->find("priority"); it != parsed->end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
        it->get<std::int64_t>() > settings_.max_priority) {
      return invalid(
          "priority", "range",
          "priority must be an integer from 0 to " + std::to_string(settings_.max_priority));
    }
    task.priority = it->get<int>();
  }
  if (const auto it = parsed->find("delay"); it != parsed->end() && !it->is_null()) {
    const auto delay = ParseTaskDelay(*it);
    if (!delay || *delay > settings_.max_delay) {
      return invalid("delay", "format",
                     "delay must be a duration such as \"30s\" or \"5m\", at most " +
                         config::FormatDuration(settings_.max_delay));
    }
    task.delay = *delay;
  }
  // Re-serialised, the payload may outgrow the body (1e2 becomes 100.0): Enqueue checks the
  // limit again and answers kTooLarge.
  task.body = payload->dump();
  const auto priority = task.priority;
  const auto delay = task.delay;
  in_flight_->fetch_add(1);
  // The context lives until `respond` runs; the callback copies what it logs.
  tasks_.Enqueue(std::move(task), [context_copy = context, respond, in_flight = in_flight_, queue,
                                   priority, delay, max_bytes = settings_.max_task_bytes,
                                   rejected = &rejected_](core::TaskResult result) {
    in_flight->fetch_sub(1);
    using Outcome = core::TaskResult::Outcome;
    if (result.Confirmed()) {
      log::Info("task queued", {{"request_id", context_copy.request_id},
                                {"correlation_id", context_copy.correlation_id},
                                {"task_id", result.task_id},
                                {"queue", queue},
                                {"delay_ms", static_cast<std::int64_t>(delay.count())}});
      nlohmann::json data = {{"task_id", result.task_id}, {"queue", queue}};
      if (priority >= 0) data["priority"] = priority;
      if (delay.count() > 0) data["delay_ms"] = delay.count();
      return respond(
          http::SuccessResponse(context_copy, Status::accepted, "Task queued", std::move(data)));
    }
    rejected->Inc();
    log::Warn("task not queued", {{"request_id", context_copy.request_id},
                                  {"correlation_id", context_copy.correlation_id},
                                  {"task_id", result.task_id},
                                  {"queue", queue},
                                  {"error", result.error}});
    switch (result.outcome) {
      case Outcome::kStopped:
        return respond(http::RetryLaterResponse(context_copy, Status::service_unavailable,
                                                ec::kShuttingDown, "Gateway shutting down",
                                                kBrokerRetryAfter));
      case Outcome::kFull:
        return respond(http::RetryLaterResponse(
            context_copy, Status::service_unavailable, ec::kBrokerUnavailable,
            "Too many tasks waiting for the broker", kFullRetryAfter));
      case Outcome::kUnknownQueue:
        return respond(http::ErrorResponse(context_copy, Status::not_found, ec::kNotFound,
                                           "Unknown task queue", {{"queue", queue}}));
      case Outcome::kTooLarge: return respond(TooLarge(context_copy, max_bytes));
      default:
        return respond(http::RetryLaterResponse(
            context_copy, Status::service_unavailable, ec::kBrokerUnavailable,
            "Task broker unavailable; the task was not confirmed", kBrokerRetryAfter));
    }
  });
}

}  // namespace nilecare::amqp
