#include "nilecare/realtime/realtime_server.hpp"

#include <atomic>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <openssl/crypto.h>

#include "hub.hpp"
#include "nilecare/core/clock.hpp"
#include "nilecare/core/ids.hpp"
#include "nilecare/core/errors.hpp"
#include "nilecare/core/json_limits.hpp"
#include "nilecare/http/query.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/http/websocket_upgrade.hpp"
#include "nilecare/observability/log.hpp"
#include "nilecare/storage/redis_client.hpp"
#include "polling_response.hpp"

namespace nilecare::realtime {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace log = observability::log;
using nlohmann::json;

namespace {

constexpr auto kSweepInterval = std::chrono::seconds(5);
constexpr std::size_t kMaxInternalJsonDepth = 32;
constexpr std::size_t kMaxEventName = 64;
constexpr std::size_t kMaxRoomName = 128;
constexpr std::size_t kMaxRoomsPerEmit = 64;

// Names socket.io-client reserves for its own events: an emit under them would be
// swallowed or misread by the client.
constexpr std::string_view kReservedEvents[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};

struct Query {
  std::string eio;
  std::string transport;
  std::string sid;
};

Query ParseQuery(std::string_view target) {
  return {http::QueryParameter(target, "EIO").value_or(""),
          http::QueryParameter(target, "transport").value_or(""),
          http::QueryParameter(target, "sid").value_or("")};
}

bool IsLoopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address == "::1" ||
         address.rfind("::ffff:127.", 0) == 0;
}

// 1..max_size visible ASCII characters (no spaces or controls).
bool IsPrintableName(std::string_view name, std::size_t max_size) {
  return !name.empty() && name.size() <= max_size &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
         });
}

bool IsEventName(std::string_view name) {
  return IsPrintableName(name, kMaxEventName) &&
         std::find(std::begin(kReservedEvents), std::end(kReservedEvents), name) ==
             std::end(kReservedEvents);
}

bool IsRoomName(std::string_view name) { return IsPrintableName(name, kMaxRoomName); }

}  // namespace

struct RealtimeServer::Impl : std::enable_shared_from_this<RealtimeServer::Impl> {
  Impl(asio::io_context& io_in, const config::GatewaySettings& gateway,
       observability::MetricsRegistry& registry)
      : io(io_in),
        settings(*gateway.realtime),
        metrics(registry),
        verifier(JwtSettingsOf(gateway)),
        access(io_in, settings.patient_access, registry),
        sweep_timer(io_in) {
    std::function<void(std::string)> publish;
    if (settings.redis_fanout) {
      if (!gateway.redis) throw std::runtime_error("realtime.redis_fanout needs the redis section");
      channel = gateway.redis->key_prefix + settings.redis_channel;
      publisher = std::make_unique<storage::RedisClient>(io_in, *gateway.redis, registry,
                                                         "realtime-publish");
      subscriber = std::make_unique<storage::RedisClient>(io_in, *gateway.redis, registry,
                                                          "realtime-subscribe");
      publish = [this](std::string message) {
        publisher->Command({"PUBLISH", channel, std::move(message)},
                           [this](storage::RedisReply reply) {
                             if (reply.IsError()) metrics.fanout_publish_failures.Inc();
                           });
      };
    }
    hub = std::make_shared<Hub>(io_in, settings, verifier, access, metrics, std::move(publish));
    registry.AddCallbackGauge("nilecare_realtime_rooms", "Rooms with at least one local member",
                              {}, [weak = std::weak_ptr<Hub>(hub)] {
                                auto locked = weak.lock();
                                return locked ? static_cast<double>(locked->RoomCount()) : 0.0;
                              });
  }

  static const config::JwtSettings& JwtSettingsOf(const config::GatewaySettings& gateway) {
    if (!gateway.auth || !gateway.auth->jwt) {
      throw std::runtime_error(
          "realtime needs auth.jwt: Socket.IO clients authenticate with a JWT in CONNECT");
    }
    return *gateway.auth->jwt;
  }

  // ---- CORS for long-polling from browsers ----
  std::string AllowedOrigin(const http::Request& request) const {
    const std::string_view origin = http::HeaderValue(request, "Origin");
    if (origin.empty()) return {};
    for (const std::string& allowed : settings.cors_origins) {
      if (allowed == "*" || allowed == origin) return std::string(origin);
    }
    return {};
  }

  static http::Responder WithCors(http::Responder respond, std::string origin) {
    if (origin.empty()) return respond;
    return [respond = std::move(respond), origin = std::move(origin)](http::Response&& response) {
      response.set(http::beast_http::field::access_control_allow_origin, origin);
      response.set(http::beast_http::field::access_control_allow_credentials, "true");
      response.set(http::beast_http::field::vary, "Origin");
      respond(std::move(response));
    };
  }

  // ---- Engine.IO over HTTP (handshake and long-polling) ----
  void HandlePolling(http::RequestContext& context, http::Request& request,
                     http::Responder respond) {
    auto reply = WithCors(std::move(respond), AllowedOrigin(request));
    if (request.method() == http::Verb::options) {
      http::Response response{http::Status::no_content, 11};
      response.set(http::beast_http::field::access_control_allow_methods, "GET, POST");
      response.set(http::beast_http::field::access_control_allow_headers, "content-type");
      return reply(std::move(response));
    }
    const Query query = ParseQuery(request.target());
    if (query.eio != "4") {
      metrics.rejected_transport.Inc();
      return reply(PollingError(eio::TransportError::kUnsupportedProtocolVersion));
    }
    if (query.transport != "polling") {
      metrics.rejected_transport.Inc();
      // transport=websocket without an Upgrade header lands here too.
      return reply(PollingError(query.transport == "websocket"
                                    ? eio::TransportError::kBadRequest
                                    : eio::TransportError::kUnknownTransport));
    }
    if (query.sid.empty()) {
      if (request.method() != http::Verb::get) {
        metrics.rejected_transport.Inc();
        return reply(PollingError(eio::TransportError::kBadHandshakeMethod));
      }
      if (draining.load()) {
        return reply(http::ErrorResponse(context, http::Status::service_unavailable,
                                         core::error_code::kShuttingDown,
                                         "The gateway is shutting down"));
      }
      if (hub->SessionCount() >= settings.max_sessions) {
        metrics.rejected_sessions.Inc();
        return reply(http::ErrorResponse(context, http::Status::service_unavailable,
                                         core::error_code::kNotReady,
                                         "Too many realtime sessions; try again later"));
      }
      auto connection = hub->NewConnection(asio::make_strand(io), context.remote_address);
      reply(PollingPayload(OpenPacket(settings, connection->Sid(), true)));
      connection->StartPolling();
      return;
    }
    auto connection = hub->FindSession(query.sid);
    if (!connection) {
      metrics.rejected_transport.Inc();
      return reply(PollingError(eio::TransportError::kUnknownSid));
    }
    if (request.method() == http::Verb::get) return connection->Poll(std::move(reply));
    if (request.method() == http::Verb::post) {
      if (request.body().size() > settings.max_payload) {
        metrics.rejected_transport.Inc();
        reply(PollingError(eio::TransportError::kBadRequest));
        connection->Close(CloseReason::kParseError, false);
        return;
      }
      return connection->PostData(std::move(request.body()), std::move(reply));
    }
    metrics.rejected_transport.Inc();
    reply(PollingError(eio::TransportError::kBadRequest));
  }

  // ---- Engine.IO over WebSocket ----
  void HandleUpgrade(http::WebSocketUpgrade& upgrade) {
    const Query query = ParseQuery(upgrade.request.target());
    // The socket is re-wrapped on the strand of the session it belongs to, so a
    // polling session upgraded to a WebSocket keeps running on one strand.
    beast::error_code ec;
    auto& old_socket = upgrade.stream.socket();
    const auto protocol = old_socket.local_endpoint(ec).protocol();
    if (ec) return;
    const bool has_sid = !query.sid.empty();
    std::shared_ptr<Connection> connection;
    if (has_sid) connection = hub->FindSession(query.sid);
    http::Strand strand = connection ? connection->Executor() : asio::make_strand(io);
    const auto native = old_socket.release(ec);
    if (ec) return;
    http::StrandSocket socket(strand);
    socket.assign(protocol, native, ec);
    if (ec) return;
    auto ws = std::make_unique<WebSocket>(http::StrandStream(std::move(socket)));

    eio::TransportError refusal{};
    bool refuse = false;
    if (query.eio != "4") {
      refuse = true;
      refusal = eio::TransportError::kUnsupportedProtocolVersion;
    } else if (query.transport != "websocket") {
      refuse = true;
      refusal = eio::TransportError::kBadRequest;
    } else if (!settings.cors_origins.empty() && !http::HeaderValue(upgrade.request, "Origin").empty() &&
               AllowedOrigin(upgrade.request).empty()) {
      refuse = true;
      refusal = eio::TransportError::kForbidden;
    } else if (upgrade.buffer.size() > 0) {
      // A client must wait for 101 before sending frames.
      refuse = true;
      refusal = eio::TransportError::kBadRequest;
    } else if (has_sid && !connection) {
      refuse = true;
      refusal = eio::TransportError::kUnknownSid;
    } else if (!has_sid && draining.load()) {
      refuse = true;
      refusal = eio::TransportError::kForbidden;
    } else if (!has_sid && hub->SessionCount() >= settings.max_sessions) {
      metrics.rejected_sessions.Inc();
      refuse = true;
      refusal = eio::TransportError::kForbidden;
    }
    if (refuse) {
      metrics.rejected_transport.Inc();
      asio::dispatch(strand, [ws = std::move(ws), refusal]() mutable {
        RefuseUpgrade(std::move(ws), refusal);
      });
      return;
    }
    if (connection) return connection->Probe(std::move(ws), std::move(upgrade.request));
    connection = hub->NewConnection(strand, upgrade.context.remote_address);
    connection->StartWebSocket(std::move(ws), std::move(upgrade.request));
  }

  // ---- the internal API ----
  // Loopback only by default; with internal_token, the token (compared in constant time)
  // from anywhere.
  bool AllowInternal(const http::RequestContext& context, const http::Request& request,
                     http::Responder& respond) {
    if (settings.internal_token.empty()) {
      if (IsLoopback(context.remote_address)) return true;
      metrics.internal_rejected.Inc();
      respond(http::ErrorResponse(context, http::Status::forbidden, core::error_code::kForbidden,
                                  "The internal API answers loopback callers only"));
      return false;
    }
    const std::string_view header = http::HeaderValue(request, "Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    const std::string& expected = settings.internal_token;
    const bool ok = header.size() == kBearer.size() + expected.size() &&
                    header.compare(0, kBearer.size(), kBearer) == 0 &&
                    CRYPTO_memcmp(header.data() + kBearer.size(), expected.data(),
                                  expected.size()) == 0;
    if (ok) return true;
    metrics.internal_rejected.Inc();
    respond(http::ErrorResponse(context, http::Status::unauthorized,
                                core::error_code::kUnauthorized, "A valid service token is required"));
    return false;
  }

  std::optional<json> JsonBody(const http::RequestContext& context, const http::Request& request,
                               http::Responder& respond) {
    auto body = core::ParseBoundedJson(request.body(), kMaxInternalJsonDepth);
    if (!body || !body->is_object()) {
      respond(http::ErrorResponse(context, http::Status::bad_request,
                                  core::error_code::kBadRequest,
                                  "Expected a JSON object (nested at most 32 levels)"));
      return std::nullopt;
    }
    return body;
  }

  void Invalid(const http::RequestContext& context, http::Responder& respond,
               std::string_view message) {
    respond(http::ErrorResponse(context, http::Status::bad_request,
                                core::error_code::kBadRequest, message));
  }

  void HandleNotification(http::RequestContext& context, http::Request& request,
                          http::Responder respond) {
    if (!AllowInternal(context, request, respond)) return;
    auto body = JsonBody(context, request, respond);
    if (!body) return;
    const auto user = body->find("user_id");
    std::string user_id;
    if (user != body->end() && user->is_string()) user_id = user->get<std::string>();
    if (user != body->end() && user->is_number_integer()) user_id = user->dump();
    if (user_id.empty() || !IsRoomName("user:" + user_id)) {
      return Invalid(context, respond, "user_id (a string or integer) is required");
    }
    if (!body->contains("id")) (*body)["id"] = core::NewUuid();
    if (!body->contains("timestamp")) {
      (*body)["timestamp"] = core::FormatIso8601(std::chrono::system_clock::now());
    }
    const std::string room = "user:" + user_id;
    const std::size_t delivered = hub->Emit({room}, "notification:new", *body);
    respond(http::SuccessResponse(context, http::Status::accepted, "Notification sent",
                                  {{"id", (*body)["id"]},
                                   {"event", "notification:new"},
                                   {"room", room},
                                   {"local_recipients", delivered}}));
  }

  void HandleEmit(http::RequestContext& context, http::Request& request,
                  http::Responder respond) {
    if (!AllowInternal(context, request, respond)) return;
    auto body = JsonBody(context, request, respond);
    if (!body) return;
    std::vector<std::string> rooms;
    if (const auto room = body->find("room"); room != body->end() && room->is_string()) {
      rooms.push_back(room->get<std::string>());
    }
    if (const auto list = body->find("rooms"); list != body->end() && list->is_array()) {
      for (const json& room : *list) {
        if (!room.is_string()) return Invalid(context, respond, "rooms must be strings");
        rooms.push_back(room.get<std::string>());
      }
    }
    if (rooms.empty() || rooms.size() > kMaxRoomsPerEmit ||
        !std::all_of(rooms.begin(), rooms.end(), [](const std::string& r) { return IsRoomName(r); })) {
      return Invalid(context, respond,
                     "room (or rooms, at most 64) is required: printable names of 1-128 characters");
    }
    const auto event = body->find("event");
    if (event == body->end() || !event->is_string() || !IsEventName(event->get<std::string>())) {
      return Invalid(context, respond,
                     "event is required: 1-64 printable characters, not a reserved name");
    }
    const std::string name = event->get<std::string>();
    json data = body->contains("data") ? (*body)["data"] : json();
    json result = {{"event", name}, {"rooms", rooms}};
    if (name == "alert:critical") {
      result["alert_id"] = hub->EmitCritical(rooms, std::move(data));
    } else {
      result["local_recipients"] = hub->Emit(rooms, name, data);
    }
    respond(http::SuccessResponse(context, http::Status::accepted, "Event emitted",
                                  std::move(result)));
  }

  void Sweep() {
    sweep_timer.expires_after(kSweepInterval);
    sweep_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->hub->Sweep();
      self->Sweep();
    });
  }

  asio::io_context& io;
  config::RealtimeSettings settings;
  RealtimeMetrics metrics;
  auth::JwtVerifier verifier;
  PatientAccess access;
  asio::steady_timer sweep_timer;
  std::string channel;
  std::unique_ptr<storage::RedisClient> publisher;
  std::unique_ptr<storage::RedisClient> subscriber;
  std::shared_ptr<Hub> hub;
  std::atomic<bool> draining{false};
  std::atomic<bool> started{false};
};

RealtimeServer::RealtimeServer(asio::io_context& io, const config::GatewaySettings& settings,
                               observability::MetricsRegistry& metrics)
    : impl_(std::make_shared<Impl>(io, settings, metrics)) {}

RealtimeServer::~RealtimeServer() = default;

void RealtimeServer::SetEventSink(core::EventSink* events) { impl_->hub->SetEventSink(events); }
void RealtimeServer::SetTaskSink(core::TaskSink* tasks) { impl_->hub->SetTaskSink(tasks); }

void RealtimeServer::RegisterRoutes(http::Dispatcher& dispatcher) {
  // The dispatcher outlives the io_context; Impl (timers, sockets) must not: the routes hold
  // it weakly, and after the component is gone they answer as a stopping gateway.
  std::weak_ptr<Impl> weak = impl_;
  using Method = void (Impl::*)(http::RequestContext&, http::Request&, http::Responder);
  auto route = [weak](Method method) {
    return [weak, method](http::RequestContext& context, http::Request& request,
                          http::Responder respond) {
      const auto impl = weak.lock();
      if (!impl) {
        return respond(http::RetryLaterResponse(context, http::Status::service_unavailable,
                                                core::error_code::kShuttingDown,
                                                "Gateway is shutting down",
                                                std::chrono::seconds(1)));
      }
      ((*impl).*method)(context, request, std::move(respond));
    };
  };
  dispatcher.AddPrefix(impl_->settings.path, {http::Verb::get, http::Verb::post, http::Verb::options},
                       "realtime", route(&Impl::HandlePolling));
  dispatcher.AddUpgrade(impl_->settings.path, "realtime_websocket",
                        [weak](http::WebSocketUpgrade& upgrade) {
                          // Gone: the upgrade (and its socket) is dropped, closing it.
                          if (const auto impl = weak.lock()) impl->HandleUpgrade(upgrade);
                        });
  dispatcher.AddExact("/internal/notifications", {http::Verb::post}, "internal_notifications",
                      route(&Impl::HandleNotification));
  dispatcher.AddExact("/internal/emit", {http::Verb::post}, "internal_emit",
                      route(&Impl::HandleEmit));
}

RoomSink& RealtimeServer::Rooms() { return *impl_->hub; }

void RealtimeServer::Start() {
  if (impl_->subscriber) {
    impl_->publisher->Start();
    impl_->subscriber->Start();
    impl_->subscriber->Subscribe(impl_->channel,
                                 [weak = std::weak_ptr<Hub>(impl_->hub)](
                                     const std::string&, const std::string& payload) {
                                   if (auto hub = weak.lock()) hub->OnFanout(payload);
                                 });
  }
  impl_->Sweep();
  impl_->started = true;
  log::Info("realtime ready",
            {{"path", impl_->settings.path},
             {"recovery_window_ms", static_cast<std::int64_t>(impl_->settings.recovery_window.count())},
             {"redis_fanout", impl_->settings.redis_fanout}});
}

void RealtimeServer::BeginStop() {
  impl_->draining = true;
  // Transports close cleanly (a WebSocket close frame, a close packet for a pending poll):
  // clients reconnect, to another instance if there is one.
  impl_->hub->CloseAll(CloseReason::kShutdown);
}

bool RealtimeServer::Idle() const { return impl_->hub->SessionCount() == 0; }

void RealtimeServer::Stop() {
  impl_->draining = true;
  impl_->sweep_timer.cancel();
  impl_->hub->CloseAll(CloseReason::kShutdown);
  impl_->hub->Stop();
  impl_->access.Shutdown();
  if (impl_->subscriber) {
    impl_->subscriber->Stop();
    impl_->publisher->Stop();
  }
}

core::ComponentHealth RealtimeServer::Health() const {
  if (impl_->draining) return {core::HealthState::kStopping, "draining"};
  if (!impl_->started) return {core::HealthState::kStarting, {}};
  if (impl_->subscriber && !impl_->subscriber->Connected()) {
    // Still serving local clients; broadcasts from other instances are not arriving.
    return {core::HealthState::kDegraded, "redis fan-out disconnected"};
  }
  return {core::HealthState::kUp, {}};
}

}  // namespace nilecare::realtime
