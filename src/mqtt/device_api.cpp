#include "device_api.hpp"

#include "nilecare/http/auth_failure_response.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/string.hpp>
#include <charconv>

#include "nilecare/core/errors.hpp"
#include "nilecare/core/ids.hpp"
#include "nilecare/core/json_limits.hpp"
#include "nilecare/http/query.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/mqtt/device_message.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::mqtt {
namespace log = observability::log;
namespace ec = core::error_code;
using json = nlohmann::json;
using http::Status;

namespace {

constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 1000;
constexpr std::size_t kMaxBodyDepth = 16;
constexpr std::size_t kMaxCommandName = 64;
constexpr std::size_t kMaxLabel = 200;
constexpr auto kRetryAfter = std::chrono::seconds(1);

// The {id} segment of /api/v1/devices/{id}[/...] or /api/v1/patients/{id}/...
std::string IdSegment(const http::Request& request) {
  const auto path = http::Dispatcher::SafePath(request.target());
  if (!path) return {};
  const auto segments = http::PathSegments(*path);
  return segments.size() > 3 ? std::string(segments[3]) : std::string();
}

json VitalsJson(const VitalsReading& reading) {
  json item = VitalsEvent(reading);
  item["received_at"] = FormatTimestamp(reading.received_at);
  item["device_time"] = reading.device_time;
  return item;
}

json DeviceJson(const VitalsDatabase::Device& device) {
  return {{"device_id", device.device_id},
          {"patient_id", device.patient_id ? json(*device.patient_id) : json(nullptr)},
          {"label", device.label ? json(*device.label) : json(nullptr)},
          {"status", device.status ? json(*device.status) : json(nullptr)},
          {"status_at", device.status_at ? json(FormatTimestamp(*device.status_at)) : json(nullptr)},
          {"updated_at", FormatTimestamp(device.updated_at)}};
}

http::Response BadRequest(const http::RequestContext& context, std::string_view message,
                          json details = nullptr) {
  return http::ErrorResponse(context, Status::bad_request, ec::kValidationError, message,
                             std::move(details));
}

// Parses the JSON object body of a PUT/POST.
std::optional<json> ObjectBody(const http::Request& request) {
  auto body = core::ParseBoundedJson(request.body(), kMaxBodyDepth);
  if (!body || !body->is_object()) return std::nullopt;
  return body;
}

}  // namespace

struct DeviceApi::Caller {
  std::string user_id;
  std::vector<std::string> roles;
};

DeviceApi::DeviceApi(boost::asio::io_context& io, const config::GatewaySettings& settings,
                     DeviceDirectory& directory, IngestMetrics& metrics,
                     observability::MetricsRegistry& registry)
    : io_(io),
      settings_(*settings.mqtt),
      directory_(directory),
      metrics_(metrics),
      verifier_(*settings.auth->jwt),
      access_(io,
              settings.realtime ? settings.realtime->patient_access
                                : config::PatientAccessSettings{},
              registry),
      queries_(*settings.database) {}

void DeviceApi::Stop() {
  queries_.Stop();
  access_.Shutdown();
}

void DeviceApi::RegisterRoutes(http::Dispatcher& dispatcher) {
  std::weak_ptr<DeviceApi> weak = weak_from_this();
  auto bind = [weak](void (DeviceApi::*method)(http::RequestContext&, http::Request&,
                                               http::Responder)) {
    return [weak, method](http::RequestContext& context, http::Request& request,
                          http::Responder respond) {
      auto self = weak.lock();
      if (!self) {
        return respond(http::RetryLaterResponse(context, Status::service_unavailable,
                                                ec::kShuttingDown, "Gateway is shutting down",
                                                kRetryAfter));
      }
      ((*self).*method)(context, request, std::move(respond));
    };
  };
  const std::string root = "/api/v1/devices/*";
  dispatcher.AddPattern(root, {http::Verb::get, http::Verb::put}, "/api/v1/devices/{id}",
                        [get = bind(&DeviceApi::GetDevice), put = bind(&DeviceApi::PutDevice)](
                            http::RequestContext& context, http::Request& request,
                            http::Responder respond) {
                          if (request.method() == http::Verb::put) {
                            return put(context, request, std::move(respond));
                          }
                          get(context, request, std::move(respond));
                        });
  dispatcher.AddPattern(root + "/commands", {http::Verb::post}, "/api/v1/devices/{id}/commands",
                        bind(&DeviceApi::PostCommand));
  dispatcher.AddPattern(root + "/vitals", {http::Verb::get}, "/api/v1/devices/{id}/vitals",
                        bind(&DeviceApi::GetDeviceVitals));
  dispatcher.AddPattern("/api/v1/patients/*/vitals/latest", {http::Verb::get},
                        "/api/v1/patients/{id}/vitals/latest", bind(&DeviceApi::GetLatestVitals));
}

bool DeviceApi::Authenticate(http::RequestContext& context, const http::Request& request,
                             const std::vector<std::string>& roles, Caller& caller,
                             http::Responder& respond) {
  auto claims = http::AuthenticateOrReply(verifier_, context, request, roles, respond);
  if (!claims) return false;
  caller.user_id = std::move(claims->subject);
  caller.roles = std::move(claims->roles);
  return true;
}

std::optional<std::string> DeviceApi::DeviceOf(http::RequestContext& context,
                                               const http::Request& request,
                                               const std::vector<std::string>& roles,
                                               Caller& caller, http::Responder& respond) {
  if (!Authenticate(context, request, roles, caller, respond)) return std::nullopt;
  std::string device_id = IdSegment(request);
  if (!IsValidDeviceId(device_id)) {
    respond(BadRequest(context, "Invalid device id"));
    return std::nullopt;
  }
  return device_id;
}

void DeviceApi::RunQuery(http::RequestContext& context, http::Responder respond,
                         std::function<http::Response(VitalsDatabase&)> query) {
  // The context lives until `respond` is called; copy what the worker needs anyway, so
  // nothing is read from the session on another thread.
  auto shared_respond = std::make_shared<http::Responder>(std::move(respond));
  http::RequestContext copy = context;
  const bool queued = queries_.Submit([copy, shared_respond, query = std::move(query)](
                                          VitalsDatabase* database) {
    if (database == nullptr) {
      return (*shared_respond)(http::RetryLaterResponse(
          copy, Status::service_unavailable, ec::kDatabaseUnavailable,
          "The vitals database is unavailable; retry later", kRetryAfter));
    }
    try {
      (*shared_respond)(query(*database));
    } catch (const std::exception& error) {
      log::Error("device API query failed",
                 {{"request_id", copy.request_id}, {"error", error.what()}});
      database->Disconnect();
      (*shared_respond)(http::RetryLaterResponse(copy, Status::service_unavailable,
                                                 ec::kDatabaseUnavailable,
                                                 "The vitals database query failed; retry later",
                                                 kRetryAfter));
    }
  });
  if (!queued) {
    (*shared_respond)(http::RetryLaterResponse(context, Status::service_unavailable,
                                               ec::kDatabaseBusy,
                                               "Too many device queries waiting; retry later",
                                               kRetryAfter));
  }
}

void DeviceApi::GetDevice(http::RequestContext& context, http::Request& request,
                          http::Responder respond) {
  Caller caller;
  const auto found = DeviceOf(context, request, settings_.read_roles, caller, respond);
  if (!found) return;
  const std::string& device_id = *found;
  RunQuery(context, std::move(respond), [device_id, context](VitalsDatabase& db) {
    const auto device = db.GetDevice(device_id);
    if (!device) {
      return http::ErrorResponse(context, Status::not_found, ec::kNotFound, "Unknown device");
    }
    return http::SuccessResponse(context, Status::ok, "Device", DeviceJson(*device));
  });
}

void DeviceApi::PutDevice(http::RequestContext& context, http::Request& request,
                          http::Responder respond) {
  Caller caller;
  const auto found = DeviceOf(context, request, settings_.write_roles, caller, respond);
  if (!found) return;
  const std::string& device_id = *found;
  const auto body = ObjectBody(request);
  if (!body) return respond(BadRequest(context, "Expected a JSON object body"));
  std::optional<std::string> patient_id;
  if (const auto it = body->find("patient_id"); it != body->end() && !it->is_null()) {
    if (!it->is_string() || !realtime::IsValidPatientId(it->get_ref<const std::string&>())) {
      return respond(BadRequest(context, "patient_id must be 1-64 characters of [A-Za-z0-9._:-]",
                                {{"field", "patient_id"}}));
    }
    patient_id = it->get<std::string>();
  } else if (it == body->end()) {
    return respond(BadRequest(context, "patient_id is required (null unmaps the device)",
                              {{"field", "patient_id"}}));
  }
  std::optional<std::string> label;
  if (const auto it = body->find("label"); it != body->end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxLabel) {
      return respond(BadRequest(context, "label must be a string of at most 200 bytes",
                                {{"field", "label"}}));
    }
    label = it->get<std::string>();
  }
  auto self = shared_from_this();
  RunQuery(context, std::move(respond),
           [self, device_id, patient_id, label, context, user = caller.user_id](VitalsDatabase& db) {
             const auto device = db.PutDevice(device_id, patient_id, label);
             self->directory_.Set(device_id, patient_id.value_or(""));
             log::Info("device mapping changed",
                       {{"request_id", context.request_id}, {"device_id", device_id},
                        {"user_id", user}, {"mapped", patient_id.has_value()}});
             return http::SuccessResponse(context, Status::ok, "Device saved", DeviceJson(device));
           });
}

void DeviceApi::PostCommand(http::RequestContext& context, http::Request& request,
                            http::Responder respond) {
  Caller caller;
  const auto found = DeviceOf(context, request, settings_.write_roles, caller, respond);
  if (!found) return;
  const std::string& device_id = *found;
  if (request.body().size() > settings_.max_command_bytes) {
    return respond(http::ErrorResponse(context, Status::payload_too_large, ec::kPayloadTooLarge,
                                       "Command body too large",
                                       {{"limit", settings_.max_command_bytes}}));
  }
  const auto body = ObjectBody(request);
  if (!body) return respond(BadRequest(context, "Expected a JSON object body"));
  const auto command = body->find("command");
  if (command == body->end() || !command->is_string() ||
      command->get_ref<const std::string&>().empty() ||
      command->get_ref<const std::string&>().size() > kMaxCommandName) {
    return respond(BadRequest(context, "command must be a non-empty string (at most 64 bytes)",
                              {{"field", "command"}}));
  }
  json params = json::object();
  if (const auto it = body->find("params"); it != body->end() && !it->is_null()) {
    if (!it->is_object()) {
      return respond(BadRequest(context, "params must be an object", {{"field", "params"}}));
    }
    params = *it;
  }
  if (connection_ == nullptr || !connection_->Connected()) {
    metrics_.commands_failed.Inc();
    return respond(http::RetryLaterResponse(context, Status::service_unavailable,
                                            ec::kBrokerUnavailable,
                                            "The MQTT broker is not connected; retry later",
                                            kRetryAfter));
  }
  const std::string command_id = core::NewUuid();
  const json message = {{"command_id", command_id},
                        {"command", *command},
                        {"params", params},
                        {"issued_by", caller.user_id},
                        {"issued_at", FormatTimestamp(Now())},
                        {"correlation_id", context.correlation_id}};
  // One answer, whichever comes first: the broker's PUBACK, a publish failure, or
  // mqtt.command_timeout.
  struct Pending {
    std::mutex mutex;
    http::Responder respond;
    bool answered{false};
    std::function<void()> cancel_timer;
  };
  auto pending = std::make_shared<Pending>();
  pending->respond = std::move(respond);
  http::RequestContext copy = context;
  auto answer = [pending](http::Response response) {
    std::function<void()> cancel;
    {
      std::lock_guard lock(pending->mutex);
      if (pending->answered) return;
      pending->answered = true;
      cancel = std::move(pending->cancel_timer);
    }
    pending->respond(std::move(response));
    if (cancel) cancel();
  };
  // The deadline: a broker that neither acks nor fails within command_timeout. The timer
  // lives on its own strand; the publish completion cancels it from a Paho thread.
  auto timer = std::make_shared<boost::asio::steady_timer>(boost::asio::make_strand(io_),
                                                           settings_.command_timeout);
  pending->cancel_timer = [timer] {
    boost::asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  };
  timer->async_wait([answer, copy, timer](const boost::system::error_code& error) {
    if (error) return;
    answer(http::RetryLaterResponse(copy, Status::service_unavailable, ec::kBrokerUnavailable,
                                    "The MQTT broker did not acknowledge the command in time",
                                    kRetryAfter));
  });
  IngestMetrics& metrics = metrics_;
  const std::string topic = settings_.topic_root + "/" + device_id + "/commands";
  connection_->Publish(
      topic, message.dump(), 1, false,
      [answer, copy, command_id, device_id, &metrics](bool ok, std::string_view error) {
        if (ok) {
          metrics.commands_published.Inc();
          log::Info("device command published", {{"request_id", copy.request_id},
                                                  {"device_id", device_id},
                                                  {"command_id", command_id}});
          return answer(http::SuccessResponse(copy, Status::accepted, "Command sent to the device",
                                              {{"command_id", command_id}, {"device_id", device_id}}));
        }
        metrics.commands_failed.Inc();
        log::Warn("device command not acknowledged by the broker",
                  {{"request_id", copy.request_id}, {"device_id", device_id}, {"error", error}});
        answer(http::RetryLaterResponse(copy, Status::service_unavailable, ec::kBrokerUnavailable,
                                        "The MQTT broker did not acknowledge the command",
                                        kRetryAfter));
      });
}

void DeviceApi::GetDeviceVitals(http::RequestContext& context, http::Request& request,
                                http::Responder respond) {
  Caller caller;
  const auto found = DeviceOf(context, request, settings_.read_roles, caller, respond);
  if (!found) return;
  const std::string& device_id = *found;
  std::optional<TimePoint> from;
  std::optional<TimePoint> to;
  std::size_t limit = kDefaultLimit;
  for (auto [name, out] : {std::pair{"from", &from}, std::pair{"to", &to}}) {
    if (const auto text = http::QueryParameter(request.target(), name)) {
      *out = ParseTimestamp(*text);
      if (!*out) {
        return respond(BadRequest(context, std::string(name) + " must be an ISO 8601 timestamp with a zone",
                                  {{"field", name}}));
      }
    }
  }
  if (const auto text = http::QueryParameter(request.target(), "limit")) {
    std::size_t value = 0;
    const auto [ptr, error] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (error != std::errc() || ptr != text->data() + text->size() || value == 0 || value > kMaxLimit) {
      return respond(BadRequest(context, "limit must be 1-1000", {{"field", "limit"}}));
    }
    limit = value;
  }
  auto query = [device_id, from, to, limit, context](VitalsDatabase& db) {
    json items = json::array();
    for (const VitalsReading& reading : db.DeviceVitals(device_id, from, to, limit)) {
      items.push_back(VitalsJson(reading));
    }
    return http::SuccessResponse(context, Status::ok, "Device vitals",
                                 {{"device_id", device_id}, {"count", items.size()}, {"items", items}});
  };
  const std::string patient_id = directory_.PatientOf(device_id);
  if (patient_id.empty()) return RunQuery(context, std::move(respond), std::move(query));
  // A mapped device's readings are that patient's data: the patient-access policy decides.
  auto self = shared_from_this();
  access_.Check(caller.user_id, caller.roles, patient_id,
                [self, &context, respond = std::move(respond), query = std::move(query)](
                    realtime::AccessDecision decision) mutable {
                  if (!decision.allowed) {
                    return respond(http::ErrorResponse(context, Status::forbidden, ec::kForbidden,
                                                       decision.reason));
                  }
                  self->RunQuery(context, std::move(respond), std::move(query));
                });
}

void DeviceApi::GetLatestVitals(http::RequestContext& context, http::Request& request,
                                http::Responder respond) {
  Caller caller;
  if (!Authenticate(context, request, settings_.read_roles, caller, respond)) return;
  const std::string patient_id = IdSegment(request);
  if (!realtime::IsValidPatientId(patient_id)) {
    return respond(BadRequest(context, "Invalid patient id"));
  }
  auto self = shared_from_this();
  access_.Check(caller.user_id, caller.roles, patient_id,
                [self, &context, patient_id, respond = std::move(respond)](
                    realtime::AccessDecision decision) mutable {
                  if (!decision.allowed) {
                    return respond(http::ErrorResponse(context, Status::forbidden, ec::kForbidden,
                                                       decision.reason));
                  }
                  log::Info("audit phi_accessed", {{"request_id", context.request_id},
                                                   {"resource", "vitals_latest"},
                                                   {"patient_id", patient_id}});
                  self->RunQuery(context, std::move(respond), [patient_id, context](VitalsDatabase& db) {
                    const auto latest = db.LatestForPatient(patient_id);
                    if (!latest) {
                      return http::ErrorResponse(context, Status::not_found, ec::kNotFound,
                                                 "No vitals recorded for this patient");
                    }
                    return http::SuccessResponse(context, Status::ok, "Latest vitals",
                                                 VitalsJson(*latest));
                  });
                });
}

}  // namespace nilecare::mqtt
