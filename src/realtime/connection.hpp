#pragma once
// One Engine.IO session (private to src/realtime): its transport (HTTP long-polling, a
// WebSocket, or polling being upgraded to a WebSocket through the probe), the heartbeat,
// and the bounded send queue. Socket.IO state for the one namespace we serve rides along
// in `socket` and is touched by the hub on this connection's strand only.
//
// Everything runs on the connection's strand. A connection that moved from polling to a
// WebSocket keeps its strand: the socket's native handle is re-wrapped on it (see
// RealtimeServer), so no handler of this object ever runs elsewhere.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "nilecare/config/settings.hpp"
#include "nilecare/http/asio_types.hpp"
#include "nilecare/http/types.hpp"
#include "nilecare/realtime/engineio_codec.hpp"
#include "nilecare/realtime/outbound_queue.hpp"
#include "realtime_metrics.hpp"

namespace nilecare::realtime {

using WebSocket = boost::beast::websocket::stream<http::StrandStream>;

class Connection;

// The Engine.IO open packet for a session of these settings.
std::string OpenPacket(const config::RealtimeSettings& settings, std::string sid,
                       bool websocket_upgrade);

// The Socket.IO layer above a connection (the hub).
class ConnectionListener {
 public:
  virtual ~ConnectionListener() = default;
  // An Engine.IO message packet's data; a view valid during the call only.
  virtual void OnMessage(const std::shared_ptr<Connection>& connection, std::string_view data) = 0;
  // Exactly once per connection, on its strand, when it ends for whatever reason.
  virtual void OnClose(const std::shared_ptr<Connection>& connection, CloseReason reason) = 0;
  // Once, after OnClose, when no request may name this session any more (a polling session
  // that is closing keeps its sid until the client has collected the close packet).
  virtual void OnReleased(const std::shared_ptr<Connection>& connection) = 0;
};

// Socket.IO state of the main namespace; strand-only.
struct SocketState {
  bool connected{false};
  bool connecting{false};  // CONNECT received, authorisation under way
  std::string id;          // Socket.IO socket id (sent in the CONNECT reply)
  std::string pid;         // private id for connection state recovery ("" = off)
  std::string user_id;
  std::string role;
  std::vector<std::string> roles;
  std::set<std::string> rooms;
  std::uint64_t next_ack_id{0};
  // Our alert:critical packets awaiting this client's ack: ack id -> alert id. Bounded.
  std::map<std::uint64_t, std::string> alert_acks;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Transport { kPolling, kWebSocket };

  Connection(http::Strand strand, std::string sid, const config::RealtimeSettings& settings,
             std::shared_ptr<ConnectionListener> listener, RealtimeMetrics& metrics,
             std::string remote_address);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  const std::string& Sid() const { return sid_; }
  const std::string& RemoteAddress() const { return remote_address_; }
  const http::Strand& Executor() const { return strand_; }

  // --- transports (any thread; each hops onto the strand) ---
  // A polling session whose open packet has been answered: start the timers.
  void StartPolling();
  // A WebSocket-only session (no sid in the handshake): accept, send the open packet.
  void StartWebSocket(std::unique_ptr<WebSocket> socket, http::Request request);
  // transport=websocket with this sid: the probe of a polling -> websocket upgrade.
  void Probe(std::unique_ptr<WebSocket> socket, http::Request request);
  // Long-polling GET / POST. `respond` answers the HTTP request exactly once.
  void Poll(http::Responder respond);
  void PostData(std::string body, http::Responder respond);

  // --- sending (any thread) ---
  // A complete Engine.IO packet, queued in order behind earlier Send calls.
  void Send(OutboundItem item);
  // alert:critical with an ack id of this connection; `prefix` from sio::EventArgsPrefix.
  void SendAlert(std::shared_ptr<const std::string> prefix, std::string alert_id);
  // Ends the session. `flush`: send what is queued first (a DISCONNECT, a CONNECT_ERROR).
  void Close(CloseReason reason, bool flush);
  // Ends the session when the access token expires.
  void ExpireAt(std::chrono::system_clock::time_point expires);

  // --- strand only ---
  void SendNow(OutboundItem item);
  void SendMessage(std::string_view socketio_packet, Priority priority = Priority::kNormal);
  SocketState& Socket() { return socket_; }
  bool Closed() const { return closed_; }

 private:
  void OpenPacketSent();
  void ArmHeartbeat(std::chrono::milliseconds after);
  void OnHeartbeat();
  void OnPong();
  void HandleText(std::string_view text);  // one WebSocket text frame
  void HandlePacket(const eio::Packet& packet);
  void Accept(http::Request request, bool probe);
  void DoWsRead();
  void OnWsRead(boost::beast::error_code ec, std::size_t bytes);
  void DoWsWrite();
  void OnWsWrite(boost::beast::error_code ec, std::size_t bytes);
  void FinishUpgrade();
  void AbandonProbe(std::string_view why);
  void FlushPoll();
  void AnswerPoll(std::string body);
  void CloseNow(CloseReason reason, bool flush);
  void Release();
  void ArmCloseDeadline();
  void ShutdownTransport();
  void CountTransport(int delta);

  http::Strand strand_;
  std::string sid_;
  const config::RealtimeSettings& settings_;
  std::shared_ptr<ConnectionListener> listener_;
  RealtimeMetrics& metrics_;
  std::string remote_address_;

  Transport transport_{Transport::kPolling};
  bool counted_{false};
  std::unique_ptr<WebSocket> ws_;  // the active WebSocket, or the probe while polling
  bool probing_{false};            // ws_ is a probe (transport_ still polling)
  bool upgrading_{false};          // probe answered: polling GETs get noop until "5"
  boost::beast::flat_buffer read_buffer_;
  bool writing_{false};
  OutboundItem in_write_{};
  OutboundQueue queue_;
  std::optional<http::Responder> poll_;

  http::StrandTimer heartbeat_;
  bool awaiting_pong_{false};
  http::StrandTimer connect_timer_;
  http::StrandTimer upgrade_timer_;
  http::StrandTimer token_timer_;
  http::StrandTimer close_timer_;  // bounds a WebSocket close waiting behind a write

  std::vector<std::unique_ptr<WebSocket>> abandoned_;  // failed probes, see AbandonProbe
  bool transport_shut_{false};

  bool closed_{false};
  bool flush_then_close_{false};
  bool released_{false};
  SocketState socket_;
};

}  // namespace nilecare::realtime
