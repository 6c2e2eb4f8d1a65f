#include "events_api.hpp"

#include <algorithm>

#include "nilecare/core/domain_event.hpp"
#include "nilecare/core/errors.hpp"
#include "nilecare/core/json_limits.hpp"
#include "nilecare/http/auth_failure_response.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::kafka {
namespace log = observability::log;
namespace ec = core::error_code;
using http::Status;

namespace {
constexpr std::size_t kMaxKeyLength = 256;
constexpr auto kBrokerRetryAfter = std::chrono::seconds(5);
constexpr auto kQueueFullRetryAfter = std::chrono::seconds(1);
constexpr std::array<std::string_view, 4> kFields = {"event_type", "data", "metadata", "key"};

bool IsHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

bool IsValidTraceparent(std::string_view value) {
  if (value.size() != 55 || value[2] != '-' || value[35] != '-' || value[52] != '-') return false;
  const auto version = value.substr(0, 2), trace = value.substr(3, 32),
             parent = value.substr(36, 16), flags = value.substr(53, 2);
  return IsHex(version) && version != "ff" && IsHex(trace) && IsHex(parent) && IsHex(flags) &&
         trace != std::string(32, '0') && parent != std::string(16, '0');
}

EventsApi::EventsApi(const config::KafkaSettings& settings, const config::JwtSettings& jwt,
                     EventProducer& producer, observability::MetricsRegistry& metrics)
    : settings_(settings),
      verifier_(jwt),
      producer_(producer),
      in_flight_(std::make_shared<std::atomic<std::int64_t>>(0)),
      rejected_(metrics.GetCounter("nilecare_events_api_rejected_total",
                                   "POST /api/v1/events requests refused before producing.")) {}

void EventsApi::RegisterRoutes(http::Dispatcher& dispatcher) {
  dispatcher.AddExact(
      "/api/v1/events", {http::Verb::post}, "/api/v1/events",
      [this](http::RequestContext& context, http::Request& request, http::Responder respond) {
        Post(context, request, std::move(respond));
      });
}

void EventsApi::Post(http::RequestContext& context, http::Request& request,
                     http::Responder respond) {
  const auto reject = [&](http::Response response) {
    rejected_.Inc();
    respond(std::move(response));
  };
  const auto claims =
      http::AuthenticateOrReply(verifier_, context, request, settings_.publish_roles, reject);
  if (!claims) return;
  const auto invalid = [&](std::string_view field, std::string_view reason,
                           std::string_view message) {
    reject(http::InvalidFieldResponse(context, field, reason, message));
  };

  const std::string& body = request.body();
  if (body.size() > settings_.producer.max_event_bytes) {
    return reject(http::ErrorResponse(context, Status::payload_too_large, ec::kPayloadTooLarge,
                                      "Event too large",
                                      {{"max_bytes", settings_.producer.max_event_bytes}}));
  }
  auto parsed = core::ParseBoundedJson(body, core::kMaxEventNesting);
  if (!parsed || !parsed->is_object()) {
    return invalid("body", "not_object", "Body must be a JSON object");
  }
  for (const auto& [name, value] : parsed->items()) {
    if (std::find(kFields.begin(), kFields.end(), name) == kFields.end()) {
      return invalid(name, "unknown_field",
                     "Unknown field (allowed: event_type, data, metadata, key)");
    }
  }
  const auto type = parsed->find("event_type");
  if (type == parsed->end() || !type->is_string()) {
    return invalid("event_type", "required", "event_type is required");
  }
  const auto& event_type = type->get_ref<const std::string&>();
  if (!core::IsValidEventType(event_type)) {
    return invalid("event_type", "format",
                   "event_type must be <entity>.<action> in lower case, e.g. "
                   "appointment.scheduled");
  }
  const auto topic = settings_.topics.find(std::string(core::EventEntity(event_type)));
  if (topic == settings_.topics.end()) {
    return invalid("event_type", "unknown_entity", "Unknown entity: no topic is configured for it");
  }
  const auto data = parsed->find("data");
  if (data == parsed->end() || !data->is_object()) {
    return invalid("data", "not_object", "data must be a JSON object");
  }
  std::optional<nlohmann::json> metadata;
  if (const auto it = parsed->find("metadata"); it != parsed->end() && !it->is_null()) {
    if (!it->is_object()) {
      return invalid("metadata", "not_object", "metadata must be a JSON object");
    }
    metadata = std::move(*it);
  }
  std::string key;
  if (const auto it = parsed->find("key"); it != parsed->end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
        it->get_ref<const std::string&>().size() > kMaxKeyLength) {
      return invalid("key", "format", "key must be a string of 1-256 characters");
    }
    key = it->get<std::string>();
  }

  auto event = core::NewDomainEvent(event_type, settings_.source_service, context.correlation_id,
                                    std::move(*data));
  event.user_id = claims->subject;
  event.metadata = std::move(metadata);
  std::string traceparent(http::HeaderValue(request, "traceparent"));
  if (!IsValidTraceparent(traceparent)) traceparent.clear();

  auto record = EventRecord(event, topic->second, std::move(key), std::move(traceparent));
  in_flight_->fetch_add(1);
  // The context lives until `respond` runs; the callback copies what it logs.
  auto on_delivery = [context_copy = context, respond, in_flight = in_flight_,
                      event_id = event.event_id, event_type = event.event_type,
                      topic_name = topic->second](const DeliveryReport& report) {
    in_flight->fetch_sub(1);
    if (report.Delivered()) {
      log::Info("event published", {{"request_id", context_copy.request_id},
                                    {"correlation_id", context_copy.correlation_id},
                                    {"event_id", event_id},
                                    {"event_type", event_type},
                                    {"topic", topic_name},
                                    {"partition", static_cast<std::int64_t>(report.partition)},
                                    {"offset", static_cast<std::int64_t>(report.offset)}});
      return respond(http::SuccessResponse(context_copy, Status::accepted, "Event published",
                                           {{"event_id", event_id},
                                            {"topic", topic_name},
                                            {"partition", report.partition},
                                            {"offset", report.offset}}));
    }
    log::Warn("event not published", {{"request_id", context_copy.request_id},
                                      {"correlation_id", context_copy.correlation_id},
                                      {"event_id", event_id},
                                      {"event_type", event_type},
                                      {"error", report.error}});
    if (report.outcome == DeliveryReport::Outcome::kStopped) {
      return respond(http::RetryLaterResponse(context_copy, Status::service_unavailable,
                                              ec::kShuttingDown, "Gateway shutting down",
                                              kBrokerRetryAfter));
    }
    respond(http::RetryLaterResponse(
        context_copy, Status::service_unavailable, ec::kBrokerUnavailable,
        "Event broker unavailable; the event was not published", kBrokerRetryAfter));
  };
  const auto queued = producer_.Produce(std::move(record), on_delivery);
  if (queued == EnqueueResult::kQueued) return;
  in_flight_->fetch_sub(1);
  rejected_.Inc();
  if (queued == EnqueueResult::kQueueFull) {
    return respond(
        http::RetryLaterResponse(context, Status::service_unavailable, ec::kBrokerUnavailable,
                                 "Too many events waiting for the broker", kQueueFullRetryAfter));
  }
  if (queued == EnqueueResult::kStopped) {
    return respond(http::RetryLaterResponse(context, Status::service_unavailable, ec::kShuttingDown,
                                            "Gateway shutting down", kBrokerRetryAfter));
  }
  respond(http::RetryLaterResponse(context, Status::service_unavailable, ec::kBrokerUnavailable,
                                   "Event broker unavailable; the event was not published",
                                   kBrokerRetryAfter));
}

}  // namespace nilecare::kafka
