#pragma once
// The realtime adapter's metric series, looked up once (private to src/realtime).

#include <array>
#include <cstddef>

#include "nilecare/observability/metrics.hpp"

namespace nilecare::realtime {

// Why a connection ended. Decides whether the client's rooms are kept for connection
// state recovery (Socket.IO keeps them unless either side disconnected on purpose).
enum class CloseReason : std::size_t {
  kClientClose,        // Engine.IO close packet or WebSocket close from the client
  kClientDisconnect,   // Socket.IO DISCONNECT from the client (socket.disconnect())
  kServerDisconnect,   // we ended the session on purpose (binary packet, policy)
  kPingTimeout,        // no pong within ping_timeout
  kTransportError,     // read/write error, connection reset
  kParseError,         // a malformed Engine.IO / Socket.IO packet
  kSendOverflow,       // the client could not keep up even with critical packets
  kConnectTimeout,     // no Socket.IO CONNECT within connect_timeout
  kAuthFailed,         // CONNECT refused; the transport is closed after CONNECT_ERROR
  kTokenExpired,       // the access token's exp passed while connected
  kShutdown,           // the gateway is stopping
  kCount,
};
std::string_view ToString(CloseReason reason);
bool Recoverable(CloseReason reason);

struct RealtimeMetrics {
  explicit RealtimeMetrics(observability::MetricsRegistry& registry);

  observability::Gauge& polling_connections;
  observability::Gauge& websocket_connections;
  observability::Gauge& sockets;  // Socket.IO-connected clients
  observability::Counter& handshakes;
  observability::Counter& upgrades;
  observability::Counter& upgrade_failures;
  observability::Counter& packets_in;
  observability::Counter& packets_out;
  observability::Counter& vitals_dropped;  // slow clients: oldest vitals:update evicted
  observability::Counter& rejected_packets_parse;
  observability::Counter& rejected_packets_binary;
  observability::Counter& rejected_transport;  // bad polling / upgrade requests
  observability::Counter& rejected_sessions;   // realtime.max_sessions reached
  std::array<observability::Counter*, static_cast<std::size_t>(CloseReason::kCount)> closes{};
  observability::Counter& connects_ok;
  observability::Counter& connects_auth_failed;
  observability::Counter& connects_bad_namespace;
  observability::Counter& joins_allowed;
  observability::Counter& joins_denied;
  observability::Counter& broadcasts_local;
  observability::Counter& broadcasts_remote;
  observability::Counter& fanout_publish_failures;
  observability::Counter& recoveries_ok;
  observability::Counter& recoveries_failed;
  observability::Counter& alerts_sent;
  observability::Counter& alerts_acknowledged;
  observability::Counter& alerts_escalated;
  observability::Counter& alerts_sms_queued;  // escalation task confirmed on sms.urgent
  observability::Counter& alerts_sms_failed;
  observability::Counter& alerts_unacknowledged;
  observability::Histogram& alert_ack_seconds;
  observability::Counter& events_in;
  observability::Counter& events_unknown;
  observability::Counter& internal_rejected;

  observability::Counter& Closed(CloseReason reason) {
    return *closes[static_cast<std::size_t>(reason)];
  }
};

}  // namespace nilecare::realtime
