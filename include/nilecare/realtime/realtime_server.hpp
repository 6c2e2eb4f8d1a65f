#pragma once
// The realtime adapter: a Socket.IO v4-compatible server (Engine.IO v4, Socket.IO v5) on the
// gateway's HTTP port, for the stock socket.io-client. See docs/realtime.md.
//
// YAML (`realtime:`; defaults in config::RealtimeSettings):
//   path: /socket.io/           Engine.IO endpoint (polling and WebSocket)
//   ping_interval: 25s          server ping period; the client must pong within
//   ping_timeout: 20s
//   connect_timeout: 45s        Engine.IO open -> Socket.IO CONNECT
//   upgrade_timeout: 10s        polling -> websocket probe must finish within
//   max_payload: 1000000        bytes per packet (WebSocket message / polling POST)
//   max_packets_per_poll: 256
//   send_queue_packets: 1024    per-client send queue bound (vitals dropped first,
//   send_queue_bytes: 4MiB        then the client is disconnected)
//   max_rooms_per_client: 256
//   max_sessions: 20000         Engine.IO sessions at once; more are refused
//   cors_origins: []            browser origins allowed to long-poll / open a WebSocket
//   recovery_window: 2m         connection state recovery (0 = off)
//   recovery_max_packets: 100000
//   patient_access: { roles, care_team_url, cache_ttl, cache_size, timeout }
//   internal_token: ""          /internal/*: "" = loopback callers only, else Bearer token
//   alert_ack_timeout: 30s      alert:critical not acknowledged -> re-sent and escalated
//   alert_max_resends: 3
//   redis_fanout: false         room broadcasts through Redis pub/sub (needs `redis:`)
//   redis_channel: realtime     prefixed with redis.key_prefix
//
// Needs auth.jwt: CONNECT carries { token } and it is verified like a REST bearer token.

#include <memory>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/component.hpp"
#include "nilecare/core/domain_event.hpp"
#include "nilecare/core/task_sink.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/realtime/room_sink.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::realtime {

class RealtimeServer final : public core::Component {
 public:
  // Throws std::runtime_error when the settings cannot work (no auth.jwt, bad Redis URL).
  RealtimeServer(boost::asio::io_context& io, const config::GatewaySettings& settings,
                 observability::MetricsRegistry& metrics);
  ~RealtimeServer() override;

  // Where patient-room joins are announced as audit.events phi_accessed (Kafka adapter);
  // null = the audit log line only. Call before Start().
  void SetEventSink(core::EventSink* events);
  // Unacknowledged critical alerts also become an SMS task (queue sms.urgent, priority 10)
  // at their first escalation.
  void SetTaskSink(core::TaskSink* tasks);

  // The Engine.IO endpoint (polling + WebSocket upgrade) and /internal/notifications,
  // /internal/emit.
  void RegisterRoutes(http::Dispatcher& dispatcher);
  // For the other adapters: emit to rooms.
  RoomSink& Rooms();

  std::string_view Name() const override { return "realtime"; }
  void Start() override;
  void BeginStop() override;
  bool Idle() const override;
  void Stop() override;
  core::ComponentHealth Health() const override;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace nilecare::realtime
