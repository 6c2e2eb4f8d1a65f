#include "connection.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/websocket/error.hpp>

#include "nilecare/observability/log.hpp"
#include "nilecare/realtime/engineio_codec.hpp"
#include "nilecare/realtime/socketio_codec.hpp"
#include "polling_response.hpp"

namespace nilecare::realtime {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace log = observability::log;

namespace {

// Our alert acks a client has not answered yet; older ones are forgotten (the alert is
// re-sent and escalated anyway when nobody acknowledges).
constexpr std::size_t kMaxPendingAlertAcks = 256;
constexpr auto kWebSocketHandshakeTimeout = std::chrono::seconds(10);
// How long a closing WebSocket may wait for the frames before its close frame to be written:
// a client that stopped reading would otherwise hold the connection for good.
constexpr auto kWebSocketCloseGrace = std::chrono::seconds(5);

std::string PacketText(eio::PacketType type, std::string_view data = {}) {
  std::string text;
  text.reserve(data.size() + 1);
  eio::AppendPacket(text, type, data);
  return text;
}

std::shared_ptr<const std::string> Frame(eio::PacketType type, std::string_view data = {}) {
  return std::make_shared<const std::string>(PacketText(type, data));
}

}  // namespace

std::string OpenPacket(const config::RealtimeSettings& settings, std::string sid,
                       bool websocket_upgrade) {
  eio::OpenSettings open;
  open.sid = std::move(sid);
  open.websocket_upgrade = websocket_upgrade;
  open.ping_interval = settings.ping_interval;
  open.ping_timeout = settings.ping_timeout;
  open.max_payload = settings.max_payload;
  return eio::OpenPacket(open);
}

Connection::Connection(http::Strand strand, std::string sid,
                       const config::RealtimeSettings& settings,
                       std::shared_ptr<ConnectionListener> listener, RealtimeMetrics& metrics,
                       std::string remote_address)
    : strand_(std::move(strand)),
      sid_(std::move(sid)),
      settings_(settings),
      listener_(std::move(listener)),
      metrics_(metrics),
      remote_address_(std::move(remote_address)),
      queue_(settings.send_queue_packets, settings.send_queue_bytes),
      heartbeat_(strand_),
      connect_timer_(strand_),
      upgrade_timer_(strand_),
      token_timer_(strand_),
      close_timer_(strand_) {}

Connection::~Connection() { CountTransport(-1); }

void Connection::CountTransport(int delta) {
  if (delta < 0 && !counted_) return;
  if (delta > 0 && counted_) return;
  counted_ = delta > 0;
  (transport_ == Transport::kPolling ? metrics_.polling_connections
                                     : metrics_.websocket_connections)
      .Add(delta);
}

// ---- start ---------------------------------------------------------------------------

void Connection::StartPolling() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    self->CountTransport(+1);
    self->OpenPacketSent();
  });
}

void Connection::StartWebSocket(std::unique_ptr<WebSocket> socket, http::Request request) {
  asio::dispatch(strand_, [self = shared_from_this(), socket = std::move(socket),
                           request = std::move(request)]() mutable {
    self->transport_ = Transport::kWebSocket;
    self->ws_ = std::move(socket);
    self->Accept(std::move(request), false);
  });
}

void Connection::Probe(std::unique_ptr<WebSocket> socket, http::Request request) {
  asio::dispatch(strand_, [self = shared_from_this(), socket = std::move(socket),
                           request = std::move(request)]() mutable {
    if (self->closed_ || self->transport_ != Transport::kPolling || self->ws_) {
      // A second probe, or a session that is gone or already upgraded: refuse the
      // handshake (the client keeps using polling, or reconnects).
      self->metrics_.upgrade_failures.Inc();
      RefuseUpgrade(std::move(socket), eio::TransportError::kBadRequest);
      return;
    }
    self->ws_ = std::move(socket);
    self->probing_ = true;
    self->Accept(std::move(request), true);
  });
}

void Connection::Accept(http::Request request, bool probe) {
  ws_->set_option(websocket::stream_base::timeout{kWebSocketHandshakeTimeout,
                                                  websocket::stream_base::none(), false});
  ws_->read_message_max(settings_.max_payload);
  ws_->auto_fragment(false);
  ws_->text(true);
  ws_->async_accept(request, [self = shared_from_this(), probe](beast::error_code ec) {
    if (ec) {
      if (probe) return self->AbandonProbe("handshake failed");
      return self->CloseNow(CloseReason::kTransportError, false);
    }
    if (self->closed_) {
      // Closed while the handshake ran (shutdown): say so in WebSocket terms.
      self->ShutdownTransport();
      return;
    }
    if (probe) {
      self->upgrade_timer_.expires_after(self->settings_.upgrade_timeout);
      self->upgrade_timer_.async_wait([weak = self->weak_from_this()](beast::error_code wait_ec) {
        auto me = weak.lock();
        if (wait_ec || !me || !me->probing_) return;
        me->AbandonProbe("upgrade timeout");
      });
    } else {
      self->CountTransport(+1);
      self->SendNow({std::make_shared<const std::string>(
                         OpenPacket(self->settings_, self->sid_, false)),
                     Priority::kCritical});
      self->OpenPacketSent();
    }
    self->DoWsRead();
  });
}

void Connection::OpenPacketSent() {
  metrics_.handshakes.Inc();
  ArmHeartbeat(settings_.ping_interval);
  connect_timer_.expires_after(settings_.connect_timeout);
  connect_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_) return;
    if (!self->socket_.connected && !self->socket_.connecting) {
      self->CloseNow(CloseReason::kConnectTimeout, false);
    }
  });
}

// ---- heartbeat: the server pings, the client answers (Engine.IO v4) ------------------

void Connection::ArmHeartbeat(std::chrono::milliseconds after) {
  heartbeat_.expires_after(after);
  heartbeat_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_) return;
    self->OnHeartbeat();
  });
}

void Connection::OnHeartbeat() {
  if (awaiting_pong_) return CloseNow(CloseReason::kPingTimeout, false);
  awaiting_pong_ = true;
  static const auto ping = Frame(eio::PacketType::kPing);
  SendNow({ping, Priority::kCritical});
  ArmHeartbeat(settings_.ping_timeout);
}

void Connection::OnPong() {
  if (!awaiting_pong_) return;
  awaiting_pong_ = false;
  ArmHeartbeat(settings_.ping_interval);
}

void Connection::ExpireAt(std::chrono::system_clock::time_point expires) {
  const auto left = expires - std::chrono::system_clock::now();
  token_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(left));
  token_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closed_) return;
    self->CloseNow(CloseReason::kTokenExpired, false);
  });
}

// ---- incoming packets ------------------------------------------------------------------

void Connection::HandleText(std::string_view text) {
  const auto packet = eio::ParsePacket(text);
  if (!packet) {
    metrics_.packets_in.Inc();
    metrics_.rejected_packets_parse.Inc();
    log::Warn("realtime packet rejected", {{"sid", sid_}, {"reason", "unknown packet type"}});
    return CloseNow(CloseReason::kParseError, false);
  }
  HandlePacket(*packet);
}

void Connection::HandlePacket(const eio::Packet& packet) {
  metrics_.packets_in.Inc();
  switch (packet.type) {
    case eio::PacketType::kPong:
      return OnPong();
    case eio::PacketType::kMessage:
      if (!closed_) listener_->OnMessage(shared_from_this(), packet.data);
      return;
    case eio::PacketType::kClose:
      return CloseNow(CloseReason::kClientClose, false);
    case eio::PacketType::kPing:
      // v4 clients do not ping; an old-style one gets its pong rather than a close.
      SendNow({Frame(eio::PacketType::kPong, packet.data), Priority::kCritical});
      return;
    case eio::PacketType::kNoop:
      return;
    case eio::PacketType::kUpgrade:  // only valid on a probe, which OnWsRead handles itself
    case eio::PacketType::kOpen:
      break;
  }
  metrics_.rejected_packets_parse.Inc();
  log::Warn("realtime packet rejected", {{"sid", sid_}, {"reason", "unexpected packet type"}});
  CloseNow(CloseReason::kParseError, false);
}

// ---- WebSocket transport ----------------------------------------------------------------

void Connection::DoWsRead() {
  ws_->async_read(read_buffer_, [self = shared_from_this(), socket = ws_.get()](
                                    beast::error_code ec, std::size_t bytes) {
    // A read of an abandoned probe completes after a newer socket may have taken its place.
    if (socket != self->ws_.get()) return;
    self->OnWsRead(ec, bytes);
  });
}

void Connection::OnWsRead(beast::error_code ec, std::size_t) {
  if (!ws_ || transport_shut_) return;
  if (ec) {
    if (probing_) return AbandonProbe("probe transport closed");
    if (closed_) return;
    if (ec == websocket::error::message_too_big) {
      metrics_.rejected_packets_parse.Inc();
      log::Warn("realtime packet rejected", {{"sid", sid_}, {"reason", "larger than max_payload"}});
      return CloseNow(CloseReason::kParseError, false);
    }
    const bool clean = ec == websocket::error::closed;
    return CloseNow(clean ? CloseReason::kClientClose : CloseReason::kTransportError, false);
  }
  if (closed_) return;
  if (!ws_->got_text()) {
    // Binary Engine.IO packets carry Socket.IO binary attachments, which we do not serve.
    metrics_.rejected_packets_binary.Inc();
    log::Warn("realtime packet rejected", {{"sid", sid_}, {"reason", "binary frame"}});
    read_buffer_.consume(read_buffer_.size());
    if (probing_) return AbandonProbe("binary frame");
    return CloseNow(CloseReason::kParseError, false);
  }
  const auto data = read_buffer_.cdata();
  const std::string_view text(static_cast<const char*>(data.data()), data.size());
  if (probing_) {
    if (text == "2probe" && !upgrading_) {
      upgrading_ = true;
      // The probe's pong goes straight onto the WebSocket; polling keeps the queue.
      writing_ = true;
      in_write_ = {Frame(eio::PacketType::kPong, "probe"), Priority::kCritical};
      ws_->async_write(asio::buffer(*in_write_.frame),
                       beast::bind_front_handler(&Connection::OnWsWrite, shared_from_this()));
      // The client pauses polling: its pending GET must return now, with a noop.
      if (poll_) AnswerPoll(PacketText(eio::PacketType::kNoop));
    } else if (text.size() == 1 && text[0] == static_cast<char>(eio::PacketType::kUpgrade) &&
               upgrading_) {
      FinishUpgrade();
    } else {
      read_buffer_.consume(read_buffer_.size());
      return AbandonProbe("unexpected packet on the probe");
    }
    read_buffer_.consume(read_buffer_.size());
    if (ws_) DoWsRead();
    return;
  }
  HandleText(text);
  read_buffer_.consume(read_buffer_.size());
  if (!closed_ && ws_) DoWsRead();
}

void Connection::FinishUpgrade() {
  upgrade_timer_.cancel();
  CountTransport(-1);
  probing_ = false;
  upgrading_ = false;
  transport_ = Transport::kWebSocket;
  CountTransport(+1);
  metrics_.upgrades.Inc();
  if (poll_) AnswerPoll(PacketText(eio::PacketType::kNoop));
  DoWsWrite();
}

void Connection::AbandonProbe(std::string_view why) {
  if (!probing_) return;
  metrics_.upgrade_failures.Inc();
  log::Info("realtime upgrade abandoned", {{"sid", sid_}, {"reason", why}});
  upgrade_timer_.cancel();
  probing_ = false;
  upgrading_ = false;
  if (ws_) {
    CloseSocket(*ws_);
    // Kept until this connection goes: operations still outstanding on it refer to it,
    // and complete (with errors) into handlers that see it is no longer ws_.
    abandoned_.push_back(std::move(ws_));
  }
  writing_ = false;
  FlushPoll();
}

void Connection::DoWsWrite() {
  if (writing_ || !ws_ || transport_ != Transport::kWebSocket) return;
  if (queue_.Empty()) {
    if (flush_then_close_) ShutdownTransport();
    return;
  }
  writing_ = true;
  in_write_ = queue_.PopFront();
  metrics_.packets_out.Inc();
  ws_->async_write(asio::buffer(*in_write_.frame),
                   beast::bind_front_handler(&Connection::OnWsWrite, shared_from_this()));
}

void Connection::OnWsWrite(beast::error_code ec, std::size_t) {
  if (!writing_) return;  // the probe this write belonged to was abandoned
  writing_ = false;
  in_write_.frame.reset();
  if (ec) {
    if (probing_) return AbandonProbe("probe write failed");
    if (!closed_) CloseNow(CloseReason::kTransportError, false);
    return;
  }
  DoWsWrite();
}

// ---- polling transport -------------------------------------------------------------------

void Connection::Poll(http::Responder respond) {
  asio::dispatch(strand_, [self = shared_from_this(), respond = std::move(respond)]() mutable {
    if (self->closed_ && !self->flush_then_close_) {
      self->metrics_.rejected_transport.Inc();
      return respond(PollingError(eio::TransportError::kUnknownSid));
    }
    if (self->transport_ != Connection::Transport::kPolling) {
      self->metrics_.rejected_transport.Inc();
      return respond(PollingError(eio::TransportError::kBadRequest));
    }
    if (self->poll_) {
      // Two GETs at once is a broken client (Engine.IO closes the session too).
      self->metrics_.rejected_transport.Inc();
      respond(PollingError(eio::TransportError::kBadRequest));
      return self->CloseNow(CloseReason::kParseError, false);
    }
    self->poll_ = std::move(respond);
    if (self->upgrading_) {
      return self->AnswerPoll(PacketText(eio::PacketType::kNoop));
    }
    self->FlushPoll();
  });
}

void Connection::FlushPoll() {
  if (!poll_ || upgrading_) return;
  if (queue_.Empty()) {
    if (flush_then_close_) {
      AnswerPoll(PacketText(eio::PacketType::kClose));
      Release();
    }
    return;
  }
  std::string body;
  std::size_t packets = 0;
  while (!queue_.Empty() && packets < settings_.max_packets_per_poll) {
    if (packets > 0) body.push_back(eio::kRecordSeparator);
    body += *queue_.PopFront().frame;
    ++packets;
  }
  metrics_.packets_out.Inc(packets);
  const bool last = flush_then_close_ && queue_.Empty();
  if (last) {
    body.push_back(eio::kRecordSeparator);
    body.push_back(static_cast<char>(eio::PacketType::kClose));
  }
  AnswerPoll(std::move(body));
  if (last) Release();
}

void Connection::AnswerPoll(std::string body) {
  auto respond = std::move(*poll_);
  poll_.reset();
  respond(PollingPayload(std::move(body)));
}

void Connection::PostData(std::string body, http::Responder respond) {
  asio::dispatch(strand_, [self = shared_from_this(), body = std::move(body),
                           respond = std::move(respond)]() mutable {
    if (self->closed_) {
      self->metrics_.rejected_transport.Inc();
      return respond(PollingError(eio::TransportError::kUnknownSid));
    }
    if (self->transport_ != Connection::Transport::kPolling) {
      self->metrics_.rejected_transport.Inc();
      return respond(PollingError(eio::TransportError::kBadRequest));
    }
    std::vector<eio::Packet> packets;
    const auto error = eio::SplitPayload(body, self->settings_.max_packets_per_poll, packets);
    if (error != eio::PayloadError::kNone) {
      auto& counter = error == eio::PayloadError::kBinary ? self->metrics_.rejected_packets_binary
                                                          : self->metrics_.rejected_packets_parse;
      counter.Inc();
      log::Warn("realtime packet rejected", {{"sid", self->sid_}, {"reason", ToString(error)}});
      respond(PollingError(eio::TransportError::kBadRequest));
      return self->CloseNow(CloseReason::kParseError, false);
    }
    for (const eio::Packet& packet : packets) {
      if (self->closed_) break;
      self->HandlePacket(packet);
    }
    respond(PollingOk());
  });
}

// ---- sending ------------------------------------------------------------------------------

void Connection::Send(OutboundItem item) {
  // post, not dispatch: a broadcast must not overtake packets posted before it.
  asio::post(strand_, [self = shared_from_this(), item = std::move(item)]() mutable {
    self->SendNow(std::move(item));
  });
}

void Connection::SendMessage(std::string_view socketio_packet, Priority priority) {
  SendNow({Frame(eio::PacketType::kMessage, socketio_packet), priority});
}

void Connection::SendAlert(std::shared_ptr<const std::string> prefix, std::string alert_id) {
  asio::post(strand_, [self = shared_from_this(), prefix = std::move(prefix),
                       alert_id = std::move(alert_id)]() mutable {
    if (self->closed_ || !self->socket_.connected) return;
    auto& acks = self->socket_.alert_acks;
    const std::uint64_t id = self->socket_.next_ack_id++;
    acks.emplace(id, std::move(alert_id));
    while (acks.size() > kMaxPendingAlertAcks) acks.erase(acks.begin());
    self->SendMessage(sio::FinishEvent(*prefix, id, ""), Priority::kCritical);
  });
}

void Connection::SendNow(OutboundItem item) {
  if (closed_) return;
  const auto result = queue_.Push(std::move(item));
  if (result.dropped_oldest > 0) metrics_.vitals_dropped.Inc(result.dropped_oldest);
  switch (result.kind) {
    case OutboundQueue::PushResult::Kind::kQueued:
      break;
    case OutboundQueue::PushResult::Kind::kDroppedIncoming:
      metrics_.vitals_dropped.Inc();
      return;
    case OutboundQueue::PushResult::Kind::kOverflow:
      // Even after shedding vitals it cannot take this: disconnect rather than grow, or
      // silently lose an alert. With recovery on, the client catches up on reconnect.
      log::Warn("realtime client too slow, disconnecting",
                {{"sid", sid_}, {"queued_packets", queue_.Size()}, {"queued_bytes", queue_.Bytes()}});
      return CloseNow(CloseReason::kSendOverflow, false);
  }
  if (transport_ == Transport::kWebSocket) {
    DoWsWrite();
  } else {
    FlushPoll();
  }
}

// ---- closing ------------------------------------------------------------------------------

void Connection::Close(CloseReason reason, bool flush) {
  asio::post(strand_,
             [self = shared_from_this(), reason, flush] { self->CloseNow(reason, flush); });
}

void Connection::CloseNow(CloseReason reason, bool flush) {
  if (closed_) return;
  closed_ = true;
  metrics_.Closed(reason).Inc();
  heartbeat_.cancel();
  connect_timer_.cancel();
  upgrade_timer_.cancel();
  token_timer_.cancel();
  if (probing_) AbandonProbe("session closed");
  listener_->OnClose(shared_from_this(), reason);
  if (!flush) queue_.Clear();
  flush_then_close_ = true;
  if (transport_ == Transport::kWebSocket) {
    if (reason == CloseReason::kSendOverflow || reason == CloseReason::kTransportError) {
      // The write in flight is the one the client does not take (or the transport failed):
      // waiting for it only delays the cut.
      ShutdownTransport();
    } else {
      // Flushes what is queued, then the close frame: a frame already being written is
      // let finish, so the client still sees a clean close rather than a reset.
      DoWsWrite();
      if (!transport_shut_) ArmCloseDeadline();
    }
    Release();
  } else {
    FlushPoll();
    if (!flush || reason == CloseReason::kShutdown) {
      Release();
    } else if (!released_) {
      // The last packets (a CONNECT_ERROR, a DISCONNECT) and the close packet wait for the
      // client's next GET, which must still find this session; a client that never comes
      // back lets it go after ping_timeout.
      connect_timer_.expires_after(settings_.ping_timeout);
      connect_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
        if (auto self = weak.lock(); self && !ec) self->Release();
      });
    }
  }
  CountTransport(-1);
}

void Connection::Release() {
  if (released_) return;
  released_ = true;
  connect_timer_.cancel();
  listener_->OnReleased(shared_from_this());
}

void Connection::ArmCloseDeadline() {
  close_timer_.expires_after(kWebSocketCloseGrace);
  close_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || !self->ws_ || self->transport_shut_) return;
    self->transport_shut_ = true;
    CloseSocket(*self->ws_);
  });
}

void Connection::ShutdownTransport() {
  if (!ws_ || transport_shut_) return;
  transport_shut_ = true;
  close_timer_.cancel();
  if (ws_->is_open() && !writing_) {
    // A close frame, so the client sees a clean close (and reconnects if it wants to).
    ws_->async_close(websocket::close_code::going_away,
                     [self = shared_from_this()](beast::error_code) { CloseSocket(*self->ws_); });
    return;
  }
  CloseSocket(*ws_);
}

}  // namespace nilecare::realtime
