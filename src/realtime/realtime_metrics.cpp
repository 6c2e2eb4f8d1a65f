#include "realtime_metrics.hpp"

#include <string>

namespace nilecare::realtime {

std::string_view ToString(CloseReason reason) {
  switch (reason) {
    case CloseReason::kClientClose: return "client_close";
    case CloseReason::kClientDisconnect: return "client_disconnect";
    case CloseReason::kServerDisconnect: return "server_disconnect";
    case CloseReason::kPingTimeout: return "ping_timeout";
    case CloseReason::kTransportError: return "transport_error";
    case CloseReason::kParseError: return "parse_error";
    case CloseReason::kSendOverflow: return "send_overflow";
    case CloseReason::kConnectTimeout: return "connect_timeout";
    case CloseReason::kAuthFailed: return "auth_failed";
    case CloseReason::kTokenExpired: return "token_expired";
    case CloseReason::kShutdown: return "shutdown";
    case CloseReason::kCount: break;
  }
  return "unknown";
}

bool Recoverable(CloseReason reason) {
  switch (reason) {
    case CloseReason::kClientClose:
    case CloseReason::kPingTimeout:
    case CloseReason::kTransportError:
    case CloseReason::kSendOverflow:
    case CloseReason::kTokenExpired:
    case CloseReason::kShutdown:
      return true;
    default:
      return false;
  }
}

namespace {
constexpr std::string_view kPackets = "nilecare_realtime_packets_total";
constexpr std::string_view kPacketsHelp = "Engine.IO packets by direction";
constexpr std::string_view kRejected = "nilecare_realtime_rejected_total";
constexpr std::string_view kRejectedHelp =
    "Packets and requests refused (logged without content), by reason";
constexpr std::string_view kConnects = "nilecare_realtime_connects_total";
constexpr std::string_view kConnectsHelp = "Socket.IO CONNECT attempts by result";
constexpr std::string_view kJoins = "nilecare_realtime_patient_joins_total";
constexpr std::string_view kJoinsHelp = "subscribe:patient requests by result";
constexpr std::string_view kBroadcasts = "nilecare_realtime_broadcasts_total";
constexpr std::string_view kBroadcastsHelp = "Room broadcasts by origin (this instance or Redis)";
constexpr std::string_view kRecoveries = "nilecare_realtime_recoveries_total";
constexpr std::string_view kRecoveriesHelp = "Connection state recovery attempts by result";
constexpr std::string_view kAlerts = "nilecare_realtime_alerts_total";
constexpr std::string_view kAlertsHelp = "alert:critical lifecycle events";
constexpr std::string_view kConnections = "nilecare_realtime_connections";
constexpr std::string_view kConnectionsHelp = "Open Engine.IO connections by transport";
constexpr std::string_view kUpgrades = "nilecare_realtime_upgrades_total";
constexpr std::string_view kUpgradesHelp = "polling -> websocket upgrades by result";
constexpr std::string_view kEvents = "nilecare_realtime_client_events_total";
constexpr std::string_view kEventsHelp = "Socket.IO events received from clients by kind";
}  // namespace

RealtimeMetrics::RealtimeMetrics(observability::MetricsRegistry& registry)
    : polling_connections(
          registry.GetGauge(kConnections, kConnectionsHelp, {{"transport", "polling"}})),
      websocket_connections(
          registry.GetGauge(kConnections, kConnectionsHelp, {{"transport", "websocket"}})),
      sockets(registry.GetGauge("nilecare_realtime_sockets",
                                "Clients connected at the Socket.IO level (authenticated)")),
      handshakes(registry.GetCounter("nilecare_realtime_handshakes_total",
                                     "Engine.IO sessions opened")),
      upgrades(registry.GetCounter(kUpgrades, kUpgradesHelp, {{"result", "ok"}})),
      upgrade_failures(registry.GetCounter(kUpgrades, kUpgradesHelp, {{"result", "failed"}})),
      packets_in(registry.GetCounter(kPackets, kPacketsHelp, {{"direction", "in"}})),
      packets_out(registry.GetCounter(kPackets, kPacketsHelp, {{"direction", "out"}})),
      vitals_dropped(registry.GetCounter(
          "nilecare_realtime_vitals_dropped_total",
          "vitals:update packets dropped for clients too slow to take them (newer replace them)")),
      rejected_packets_parse(registry.GetCounter(kRejected, kRejectedHelp, {{"reason", "parse"}})),
      rejected_packets_binary(
          registry.GetCounter(kRejected, kRejectedHelp, {{"reason", "binary"}})),
      rejected_transport(
          registry.GetCounter(kRejected, kRejectedHelp, {{"reason", "transport_request"}})),
      rejected_sessions(
          registry.GetCounter(kRejected, kRejectedHelp, {{"reason", "max_sessions"}})),
      connects_ok(registry.GetCounter(kConnects, kConnectsHelp, {{"result", "ok"}})),
      connects_auth_failed(
          registry.GetCounter(kConnects, kConnectsHelp, {{"result", "auth_failed"}})),
      connects_bad_namespace(
          registry.GetCounter(kConnects, kConnectsHelp, {{"result", "invalid_namespace"}})),
      joins_allowed(registry.GetCounter(kJoins, kJoinsHelp, {{"result", "allowed"}})),
      joins_denied(registry.GetCounter(kJoins, kJoinsHelp, {{"result", "denied"}})),
      broadcasts_local(registry.GetCounter(kBroadcasts, kBroadcastsHelp, {{"origin", "local"}})),
      broadcasts_remote(registry.GetCounter(kBroadcasts, kBroadcastsHelp, {{"origin", "redis"}})),
      fanout_publish_failures(registry.GetCounter(
          "nilecare_realtime_fanout_publish_failures_total",
          "Broadcasts that could not be published to Redis (other instances missed them)")),
      recoveries_ok(registry.GetCounter(kRecoveries, kRecoveriesHelp, {{"result", "recovered"}})),
      recoveries_failed(
          registry.GetCounter(kRecoveries, kRecoveriesHelp, {{"result", "not_recovered"}})),
      alerts_sent(registry.GetCounter(kAlerts, kAlertsHelp, {{"event", "sent"}})),
      alerts_acknowledged(registry.GetCounter(kAlerts, kAlertsHelp, {{"event", "acknowledged"}})),
      alerts_escalated(registry.GetCounter(kAlerts, kAlertsHelp, {{"event", "escalated"}})),
      alerts_sms_queued(registry.GetCounter(kAlerts, kAlertsHelp, {{"event", "sms_queued"}})),
      alerts_sms_failed(registry.GetCounter(kAlerts, kAlertsHelp, {{"event", "sms_failed"}})),
      alerts_unacknowledged(
          registry.GetCounter(kAlerts, kAlertsHelp, {{"event", "unacknowledged"}})),
      alert_ack_seconds(registry.GetHistogram(
          "nilecare_realtime_alert_ack_seconds",
          "Time from alert:critical to the first clinician acknowledgement")),
      events_in(registry.GetCounter(kEvents, kEventsHelp, {{"kind", "handled"}})),
      events_unknown(registry.GetCounter(kEvents, kEventsHelp, {{"kind", "unknown"}})),
      internal_rejected(registry.GetCounter(
          "nilecare_realtime_internal_rejected_total",
          "Calls to /internal/* refused by the access policy")) {
  for (std::size_t i = 0; i < closes.size(); ++i) {
    closes[i] = &registry.GetCounter(
        "nilecare_realtime_disconnects_total", "Engine.IO sessions ended, by reason",
        {{"reason", std::string(ToString(static_cast<CloseReason>(i)))}});
  }
}

}  // namespace nilecare::realtime
