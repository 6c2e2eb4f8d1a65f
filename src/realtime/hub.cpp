#include "hub.hpp"

#include <algorithm>
#include <charconv>

#include <openssl/rand.h>

#include "nilecare/auth/jwt_signer.hpp"
#include "nilecare/core/clock.hpp"
#include "nilecare/core/ids.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::realtime {
namespace asio = boost::asio;
namespace log = observability::log;
using nlohmann::json;

namespace {

constexpr std::size_t kMaxChatMessage = 4096;
constexpr std::size_t kMaxSavedSessions = 100000;
constexpr std::string_view kEventVitals = "vitals:update";
constexpr std::string_view kEventAlert = "alert:critical";
constexpr std::string_view kEventChat = "chat:message";
constexpr std::string_view kPatientRoom = "patient:";
// Spec §3: urgent SMS go to sms.urgent at the highest priority.
constexpr std::string_view kEscalationQueue = "sms.urgent";
constexpr int kEscalationPriority = 10;

// A session id is a credential: whoever knows it can long-poll the session's packets. 144
// random bits from OpenSSL's CSPRNG, base64url.
std::string RandomId() {
  unsigned char bytes[18];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  return auth::Base64UrlEncode(
      std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

Priority PriorityOf(std::string_view event) {
  if (event == kEventVitals) return Priority::kDroppable;
  if (event == kEventAlert) return Priority::kCritical;
  return Priority::kNormal;
}

// The patient id of subscribe:patient: a string, or { patientId } (also patient_id).
std::optional<std::string> PatientIdOf(const json& args) {
  if (args.size() < 2) return std::nullopt;
  const json& value = args[1];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return value.dump();
  if (value.is_object()) {
    for (const char* key : {"patientId", "patient_id"}) {
      const auto it = value.find(key);
      if (it == value.end()) continue;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_number_integer()) return it->dump();
    }
  }
  return std::nullopt;
}

std::string PatientRoom(std::string_view patient_id) {
  return std::string(kPatientRoom) + std::string(patient_id);
}

std::string Timestamp() { return core::FormatIso8601(std::chrono::system_clock::now()); }

}  // namespace

Hub::Hub(asio::io_context& io, const config::RealtimeSettings& settings,
         const auth::JwtVerifier& verifier, PatientAccess& access, RealtimeMetrics& metrics,
         std::function<void(std::string)> publish)
    : io_(io),
      settings_(settings),
      verifier_(verifier),
      access_(access),
      metrics_(metrics),
      publish_(std::move(publish)),
      tag_(RandomId().substr(0, 8)),
      recovery_(settings.recovery_window.count() > 0),
      log_(settings.recovery_max_packets, settings.recovery_window) {}

Hub::~Hub() = default;

// ---- sessions --------------------------------------------------------------------------

std::shared_ptr<Connection> Hub::NewConnection(http::Strand strand, std::string remote_address) {
  auto connection = std::make_shared<Connection>(std::move(strand), RandomId(), settings_,
                                                 shared_from_this(), metrics_,
                                                 std::move(remote_address));
  std::lock_guard lock(sessions_mutex_);
  sessions_.emplace(connection->Sid(), connection);
  return connection;
}

std::shared_ptr<Connection> Hub::FindSession(const std::string& sid) {
  std::lock_guard lock(sessions_mutex_);
  const auto it = sessions_.find(sid);
  return it == sessions_.end() ? nullptr : it->second;
}

std::size_t Hub::SessionCount() const {
  std::lock_guard lock(sessions_mutex_);
  return sessions_.size();
}

std::size_t Hub::RoomCount() const {
  std::lock_guard lock(rooms_mutex_);
  return rooms_.size();
}

void Hub::CloseAll(CloseReason reason) {
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard lock(sessions_mutex_);
    for (auto& [sid, connection] : sessions_) all.push_back(connection);
  }
  for (auto& connection : all) connection->Close(reason, true);
}

// ---- Engine.IO messages -> Socket.IO packets ---------------------------------------------

void Hub::OnMessage(const std::shared_ptr<Connection>& connection, std::string_view data) {
  auto parsed = sio::Parse(data);
  if (auto* error = std::get_if<sio::ParseError>(&parsed)) {
    if (*error == sio::ParseError::kBinaryUnsupported) {
      // Refused clearly rather than misread: a DISCONNECT the client reports as
      // "io server disconnect", then the transport closes.
      metrics_.rejected_packets_binary.Inc();
      log::Warn("realtime packet rejected",
                {{"sid", connection->Sid()}, {"reason", "binary packets are not supported"}});
      connection->SendMessage("1", Priority::kCritical);
      connection->Close(CloseReason::kServerDisconnect, true);
      return;
    }
    metrics_.rejected_packets_parse.Inc();
    log::Warn("realtime packet rejected",
              {{"sid", connection->Sid()}, {"reason", sio::ToString(*error)}});
    connection->Close(CloseReason::kParseError, false);
    return;
  }
  auto& packet = std::get<sio::Packet>(parsed);
  auto& socket = connection->Socket();
  switch (packet.type) {
    case sio::PacketType::kConnect:
      return OnConnect(connection, packet);
    case sio::PacketType::kDisconnect:
      if (packet.nsp == "/") connection->Close(CloseReason::kClientDisconnect, false);
      return;
    case sio::PacketType::kEvent:
      if (!socket.connected || packet.nsp != "/") {
        // Socket.IO ignores packets for a namespace the client has not joined.
        metrics_.events_unknown.Inc();
        return;
      }
      return OnEvent(connection, packet);
    case sio::PacketType::kAck:
      if (socket.connected) OnAck(connection, packet);
      return;
    default:
      metrics_.rejected_packets_parse.Inc();
      log::Warn("realtime packet rejected",
                {{"sid", connection->Sid()}, {"reason", "unexpected packet type"}});
      connection->Close(CloseReason::kParseError, false);
  }
}

// ---- CONNECT -------------------------------------------------------------------------------

void Hub::OnConnect(const std::shared_ptr<Connection>& connection, const sio::Packet& packet) {
  auto& socket = connection->Socket();
  if (packet.nsp != "/") {
    metrics_.connects_bad_namespace.Inc();
    connection->SendMessage(sio::EncodeConnectError("Invalid namespace", nullptr, packet.nsp));
    return;
  }
  if (socket.connected || socket.connecting) return;  // a repeated CONNECT changes nothing

  std::string token;
  if (packet.data.is_object()) {
    const auto it = packet.data.find("token");
    if (it != packet.data.end() && it->is_string()) token = it->get<std::string>();
  }
  std::string_view reason = "missing_token";
  if (!token.empty()) {
    auto verified = verifier_.Verify(token);
    if (auto* claims = std::get_if<auth::Claims>(&verified)) {
      Identity identity{std::move(claims->subject), std::move(claims->role),
                        std::move(claims->roles), claims->expires_at};
      const auto pid = packet.data.find("pid");
      const auto offset = packet.data.find("offset");
      if (recovery_ && pid != packet.data.end() && pid->is_string() &&
          offset != packet.data.end() && offset->is_string()) {
        return TryRecover(connection, std::move(identity), pid->get<std::string>(),
                          offset->get<std::string>());
      }
      return ConnectFresh(connection, std::move(identity));
    }
    reason = auth::ToString(std::get<auth::JwtError>(verified));
  }
  metrics_.connects_auth_failed.Inc();
  log::Info("realtime connect refused", {{"sid", connection->Sid()},
                                         {"reason", reason},
                                         {"remote", connection->RemoteAddress()}});
  // The spec's message; the reason code lets a client tell "expired" (refresh the token)
  // from the rest. Then the transport closes: the client's Manager gives up on this socket.
  connection->SendMessage(
      sio::EncodeConnectError("Authentication failed", {{"reason", reason}}),
      Priority::kCritical);
  connection->Close(CloseReason::kAuthFailed, true);
}

void Hub::MarkConnected(const std::shared_ptr<Connection>& connection, const Identity& identity,
                        std::string socket_id, std::string pid) {
  auto& socket = connection->Socket();
  socket.connected = true;
  socket.connecting = false;
  socket.id = std::move(socket_id);
  socket.pid = std::move(pid);
  socket.user_id = identity.user_id;
  socket.role = identity.role;
  socket.roles = identity.roles;
  metrics_.sockets.Add(1);
  connection->ExpireAt(identity.expires);
}

std::set<std::string> Hub::IdentityRooms(const Identity& identity) {
  std::set<std::string> rooms{"user:" + identity.user_id};
  for (const std::string& role : identity.roles) rooms.insert("role:" + role);
  return rooms;
}

void Hub::ConnectFresh(const std::shared_ptr<Connection>& connection, Identity identity) {
  MarkConnected(connection, identity, RandomId(), recovery_ ? RandomId() : std::string());
  auto& socket = connection->Socket();
  for (const std::string& room : IdentityRooms(identity)) Join(connection, room);
  metrics_.connects_ok.Inc();
  connection->SendMessage(sio::EncodeConnect(socket.id, socket.pid), Priority::kCritical);
  log::Info("realtime connected", {{"sid", connection->Sid()},
                                   {"user_id", identity.user_id},
                                   {"role", identity.role},
                                   {"recovered", false},
                                   {"remote", connection->RemoteAddress()}});
}

void Hub::TryRecover(const std::shared_ptr<Connection>& connection, Identity identity,
                     const std::string& pid, const std::string& offset) {
  std::optional<SavedSession> saved;
  const auto seq = ParseOffset(offset);
  {
    std::lock_guard lock(rooms_mutex_);
    // Taken only by its own user: someone else's valid pid must not spoil the owner's
    // recovery.
    if (auto it = saved_.find(pid); it != saved_.end() && seq &&
                                    it->second.user_id == identity.user_id) {
      saved = std::move(it->second);
      saved_.erase(it);
    }
  }
  if (!saved || saved->expires <= std::chrono::steady_clock::now()) {
    // Unknown, expired, another process's offset, or another user's session: a fresh one.
    metrics_.recoveries_failed.Inc();
    return ConnectFresh(connection, std::move(identity));
  }
  // Patient rooms are authorised again: roles and care teams may have changed.
  std::vector<std::string> patients;
  for (const std::string& room : saved->rooms) {
    if (room.starts_with(kPatientRoom)) patients.push_back(room.substr(kPatientRoom.size()));
  }
  connection->Socket().connecting = true;
  struct Pending {
    std::mutex mutex;
    std::size_t left;
    std::set<std::string> allowed;
  };
  auto pending = std::make_shared<Pending>();
  pending->left = patients.size();
  auto finish = [self = shared_from_this(), connection, identity, pid, seq = *seq,
                 saved = std::move(*saved), pending]() mutable {
    asio::post(connection->Executor(), [self, connection, identity = std::move(identity),
                                        pid = std::move(pid), saved = std::move(saved), seq,
                                        pending]() mutable {
      if (connection->Closed()) return;
      self->FinishRecovery(connection, std::move(identity), std::move(pid), std::move(saved),
                           seq, std::move(pending->allowed));
    });
  };
  if (patients.empty()) return finish();
  for (const std::string& patient : patients) {
    access_.Check(identity.user_id, identity.roles, patient,
                  [pending, patient, finish](AccessDecision decision) mutable {
                    std::size_t left;
                    {
                      std::lock_guard lock(pending->mutex);
                      if (decision.allowed) pending->allowed.insert(PatientRoom(patient));
                      left = --pending->left;
                    }
                    if (left == 0) finish();
                  });
  }
}

void Hub::FinishRecovery(const std::shared_ptr<Connection>& connection, Identity identity,
                         std::string pid, SavedSession saved, std::uint64_t seq,
                         std::set<std::string> allowed_patient_rooms) {
  // The token's user and role rooms, and the patient rooms still allowed: nothing else.
  std::set<std::string> rooms = std::move(allowed_patient_rooms);
  rooms.merge(IdentityRooms(identity));
  std::unique_lock lock(rooms_mutex_);
  auto missed = log_.Since(seq, rooms);
  if (!missed) {
    // Too late: the packets after its offset are gone. Start afresh.
    lock.unlock();
    metrics_.recoveries_failed.Inc();
    return ConnectFresh(connection, std::move(identity));
  }
  MarkConnected(connection, identity, saved.socket_id, std::move(pid));
  auto& socket = connection->Socket();
  for (const std::string& room : rooms) {
    rooms_[room].insert(connection);
    socket.rooms.insert(room);
  }
  metrics_.recoveries_ok.Inc();
  connection->SendMessage(sio::EncodeConnect(socket.id, socket.pid), Priority::kCritical);
  for (OutboundItem& item : *missed) connection->SendNow(std::move(item));
  log::Info("realtime connected", {{"sid", connection->Sid()},
                                   {"user_id", identity.user_id},
                                   {"role", identity.role},
                                   {"recovered", true},
                                   {"replayed", missed->size()},
                                   {"remote", connection->RemoteAddress()}});
}

// ---- events --------------------------------------------------------------------------------

void Hub::Reply(Connection& connection, std::optional<std::uint64_t> ack, json body) {
  if (!ack) return;
  connection.SendMessage(sio::EncodeAck(*ack, json::array({std::move(body)})));
}

void Hub::OnEvent(const std::shared_ptr<Connection>& connection, sio::Packet& packet) {
  const json& args = packet.data;
  const std::string& name = args[0].get_ref<const std::string&>();
  if (name == "subscribe:patient") {
    metrics_.events_in.Inc();
    return OnSubscribe(connection, args, packet.id);
  }
  if (name == "unsubscribe:patient") {
    metrics_.events_in.Inc();
    return OnUnsubscribe(connection, args, packet.id);
  }
  if (name == kEventChat) {
    metrics_.events_in.Inc();
    return OnChat(connection, args, packet.id);
  }
  metrics_.events_unknown.Inc();
  Reply(*connection, packet.id, {{"success", false}, {"error", "Unknown event"}});
}

void Hub::OnSubscribe(const std::shared_ptr<Connection>& connection, const json& args,
                      std::optional<std::uint64_t> ack) {
  auto& socket = connection->Socket();
  const auto patient = PatientIdOf(args);
  if (!patient || !IsValidPatientId(*patient)) {
    metrics_.joins_denied.Inc();
    return Reply(*connection, ack, {{"success", false}, {"error", "Invalid patient id"}});
  }
  std::string room = PatientRoom(*patient);
  if (socket.rooms.count(room) != 0) {
    return Reply(*connection, ack, {{"success", true}, {"room", room}});
  }
  if (socket.rooms.size() >= settings_.max_rooms_per_client) {
    metrics_.joins_denied.Inc();
    return Reply(*connection, ack, {{"success", false}, {"error", "Too many subscriptions"}});
  }
  access_.Check(socket.user_id, socket.roles, *patient,
                [self = shared_from_this(), connection, room = std::move(room), ack,
                 patient = *patient](AccessDecision decision) mutable {
                  asio::post(connection->Executor(), [self, connection, room = std::move(room),
                                                      ack, patient = std::move(patient),
                                                      decision = std::move(decision)] {
                    auto& state = connection->Socket();
                    if (connection->Closed() || !state.connected) return;
                    // Every patient-room decision is an audit record (who, which patient,
                    // allowed or not); the record names ids, never clinical data.
                    log::Info("audit phi_accessed",
                              {{"audit", "phi_accessed"},
                               {"user_id", state.user_id},
                               {"role", state.role},
                               {"patient_id", patient},
                               {"channel", "realtime"},
                               {"allowed", decision.allowed},
                               {"sid", connection->Sid()}});
                    if (self->events_ != nullptr) {
                      auto event = core::NewDomainEvent(
                          "audit.phi_accessed", {}, connection->Sid(),
                          {{"user_id", state.user_id},
                           {"role", state.role},
                           {"patient_id", patient},
                           {"channel", "realtime"},
                           {"action", "subscribe"},
                           {"allowed", decision.allowed}});
                      event.user_id = state.user_id;
                      self->events_->Publish(std::move(event));
                    }
                    if (!decision.allowed) {
                      self->metrics_.joins_denied.Inc();
                      return Reply(*connection, ack,
                                   {{"success", false}, {"error", decision.reason}});
                    }
                    self->metrics_.joins_allowed.Inc();
                    self->Join(connection, room);
                    Reply(*connection, ack, {{"success", true}, {"room", room}});
                  });
                });
}

void Hub::OnUnsubscribe(const std::shared_ptr<Connection>& connection, const json& args,
                        std::optional<std::uint64_t> ack) {
  const auto patient = PatientIdOf(args);
  if (!patient || !IsValidPatientId(*patient)) {
    return Reply(*connection, ack, {{"success", false}, {"error", "Invalid patient id"}});
  }
  std::string room = PatientRoom(*patient);
  Leave(connection, room);
  Reply(*connection, ack, {{"success", true}, {"room", room}});
}

void Hub::OnChat(const std::shared_ptr<Connection>& connection, const json& args,
                 std::optional<std::uint64_t> ack) {
  auto& socket = connection->Socket();
  const json* body = args.size() >= 2 && args[1].is_object() ? &args[1] : nullptr;
  const auto field = [body](const char* key) -> const json* {
    if (body == nullptr) return nullptr;
    const auto it = body->find(key);
    return it != body->end() && it->is_string() ? &*it : nullptr;
  };
  const json* room = field("room");
  const json* message = field("message");
  if (room == nullptr || message == nullptr || message->get_ref<const std::string&>().empty() ||
      message->get_ref<const std::string&>().size() > kMaxChatMessage) {
    return Reply(*connection, ack,
                 {{"success", false},
                  {"error", "Expected { room, message } with a message of 1-4096 characters"}});
  }
  const std::string& room_name = room->get_ref<const std::string&>();
  if (socket.rooms.count(room_name) == 0) {
    return Reply(*connection, ack, {{"success", false}, {"error", "Not a member of this room"}});
  }
  // The server, not the client, says who sent it and when.
  const std::string id = core::NewUuid();
  const std::string timestamp = Timestamp();
  json data = {{"id", id},
               {"room", room_name},
               {"message", *message},
               {"sender", {{"id", socket.user_id}, {"role", socket.role}}},
               {"timestamp", timestamp}};
  auto prefix =
      std::make_shared<const std::string>(sio::EventArgsPrefix(kEventChat, data));
  Broadcast({room_name}, prefix, Priority::kNormal, connection.get());
  Reply(*connection, ack, {{"success", true}, {"id", id}, {"timestamp", timestamp}});
}

void Hub::OnAck(const std::shared_ptr<Connection>& connection, const sio::Packet& packet) {
  auto& socket = connection->Socket();
  if (!packet.id) return;
  const auto it = socket.alert_acks.find(*packet.id);
  if (it == socket.alert_acks.end()) return;
  const std::string alert_id = std::move(it->second);
  socket.alert_acks.erase(it);
  AlertAcknowledged(alert_id, socket.user_id, true);
}

// ---- rooms ---------------------------------------------------------------------------------

void Hub::Join(const std::shared_ptr<Connection>& connection, const std::string& room) {
  auto& socket = connection->Socket();
  if (!socket.rooms.insert(room).second) return;
  std::lock_guard lock(rooms_mutex_);
  rooms_[room].insert(connection);
}

void Hub::Leave(const std::shared_ptr<Connection>& connection, const std::string& room) {
  auto& socket = connection->Socket();
  if (socket.rooms.erase(room) == 0) return;
  std::lock_guard lock(rooms_mutex_);
  RemoveMember(room, connection);
}

void Hub::RemoveMember(const std::string& room, const std::shared_ptr<Connection>& connection) {
  if (auto it = rooms_.find(room); it != rooms_.end()) {
    it->second.erase(connection);
    if (it->second.empty()) rooms_.erase(it);
  }
}

void Hub::OnReleased(const std::shared_ptr<Connection>& connection) {
  std::lock_guard lock(sessions_mutex_);
  sessions_.erase(connection->Sid());
}

void Hub::OnClose(const std::shared_ptr<Connection>& connection, CloseReason reason) {
  auto& socket = connection->Socket();
  if (!socket.connected) return;
  socket.connected = false;
  metrics_.sockets.Add(-1);
  std::lock_guard lock(rooms_mutex_);
  for (const std::string& room : socket.rooms) RemoveMember(room, connection);
  if (recovery_ && Recoverable(reason) && !socket.pid.empty() &&
      saved_.size() < kMaxSavedSessions) {
    saved_[socket.pid] = SavedSession{socket.id, socket.user_id, socket.rooms,
                                      std::chrono::steady_clock::now() + settings_.recovery_window};
  }
  log::Info("realtime disconnected", {{"sid", connection->Sid()},
                                      {"user_id", socket.user_id},
                                      {"reason", ToString(reason)}});
}

// ---- broadcasting --------------------------------------------------------------------------

template <typename Visit>
void Hub::ForEachMember(const std::vector<std::string>& rooms, const Connection* except,
                        Visit visit) {
  if (rooms.size() == 1) {
    const auto it = rooms_.find(rooms.front());
    if (it == rooms_.end()) return;
    for (const auto& member : it->second) {
      if (member.get() != except) visit(member);
    }
    return;
  }
  std::unordered_set<const Connection*> seen;
  for (const std::string& room : rooms) {
    const auto it = rooms_.find(room);
    if (it == rooms_.end()) continue;
    for (const auto& member : it->second) {
      if (member.get() != except && seen.insert(member.get()).second) visit(member);
    }
  }
}

std::size_t Hub::DeliverLocal(const std::vector<std::string>& rooms,
                              const std::shared_ptr<const std::string>& prefix,
                              Priority priority, const Connection* except) {
  std::lock_guard lock(rooms_mutex_);
  // Recorded for recovery with its offset, which the client reads as the last argument.
  const std::uint64_t seq = log_.NextSeq();
  const OutboundItem item{
      std::make_shared<const std::string>(
          "4" + sio::FinishEvent(*prefix, std::nullopt, recovery_ ? Offset(seq) : "")),
      priority};
  if (recovery_) log_.Append(LoggedPacket{seq, rooms, item, std::chrono::steady_clock::now()});
  std::size_t count = 0;
  ForEachMember(rooms, except, [&](const std::shared_ptr<Connection>& member) {
    member->Send(item);
    ++count;
  });
  return count;
}

std::size_t Hub::DeliverAlertLocal(const std::vector<std::string>& rooms,
                                   const std::shared_ptr<const std::string>& prefix,
                                   const std::string& alert_id) {
  std::lock_guard lock(rooms_mutex_);
  std::size_t count = 0;
  ForEachMember(rooms, nullptr, [&](const std::shared_ptr<Connection>& member) {
    member->SendAlert(prefix, alert_id);
    ++count;
  });
  return count;
}

std::size_t Hub::Emit(const std::vector<std::string>& rooms, std::string_view event,
                      const json& data) {
  if (event == kEventAlert) return RaiseAlert(rooms, data).second;
  return Broadcast(rooms,
                   std::make_shared<const std::string>(sio::EventArgsPrefix(event, data)),
                   PriorityOf(event), nullptr);
}

std::size_t Hub::Broadcast(const std::vector<std::string>& rooms,
                           const std::shared_ptr<const std::string>& prefix, Priority priority,
                           const Connection* except) {
  metrics_.broadcasts_local.Inc();
  const std::size_t count = DeliverLocal(rooms, prefix, priority, except);
  Publish({{"t", "e"}, {"r", rooms}, {"p", *prefix}, {"q", static_cast<int>(priority)}});
  return count;
}

std::size_t Hub::BroadcastAlert(const std::vector<std::string>& rooms,
                                const std::shared_ptr<const std::string>& prefix,
                                const std::string& alert_id) {
  const std::size_t count = DeliverAlertLocal(rooms, prefix, alert_id);
  Publish({{"t", "a"}, {"r", rooms}, {"p", *prefix}, {"a", alert_id}});
  return count;
}

std::string Hub::EmitCritical(const std::vector<std::string>& rooms, json data,
                              std::string alert_id) {
  return RaiseAlert(rooms, std::move(data), std::move(alert_id)).first;
}

std::pair<std::string, std::size_t> Hub::RaiseAlert(const std::vector<std::string>& rooms,
                                                    json data, std::string alert_id) {
  if (!data.is_object()) data = json{{"data", std::move(data)}};
  {
    std::lock_guard lock(alerts_mutex_);
    // A caller's id that is already pending would merge two alerts' acknowledgements.
    if (alert_id.empty() || alerts_.contains(alert_id)) alert_id = core::NewUuid();
  }
  data["alert_id"] = alert_id;
  auto prefix = std::make_shared<const std::string>(sio::EventArgsPrefix(kEventAlert, data));
  {
    std::lock_guard lock(alerts_mutex_);
    if (stopped_) return {alert_id, 0};
    Alert& alert = alerts_[alert_id];
    alert.rooms = rooms;
    alert.prefix = prefix;
    alert.data = std::make_shared<const json>(data);
    alert.first_sent = std::chrono::steady_clock::now();
    alert.timer = std::make_unique<asio::steady_timer>(io_);
  }
  metrics_.alerts_sent.Inc();
  metrics_.broadcasts_local.Inc();
  const std::size_t count = BroadcastAlert(rooms, prefix, alert_id);
  log::Warn("critical alert sent", {{"alert_id", alert_id}, {"local_recipients", count}});
  ArmAlertTimer(alert_id);
  return {alert_id, count};
}

void Hub::ArmAlertTimer(const std::string& alert_id) {
  std::lock_guard lock(alerts_mutex_);
  const auto it = alerts_.find(alert_id);
  if (it == alerts_.end()) return;
  it->second.timer->expires_after(settings_.alert_ack_timeout);
  it->second.timer->async_wait(
      [weak = weak_from_this(), alert_id](boost::system::error_code ec) {
        auto self = weak.lock();
        if (ec || !self) return;
        self->OnAlertTimeout(alert_id);
      });
}

void Hub::OnAlertTimeout(const std::string& alert_id) {
  std::vector<std::string> rooms;
  std::shared_ptr<const std::string> prefix;
  std::shared_ptr<const json> data;
  int resends = 0;
  bool given_up = false;
  bool send_sms = false;
  {
    std::lock_guard lock(alerts_mutex_);
    const auto it = alerts_.find(alert_id);
    if (it == alerts_.end() || stopped_) return;
    auto& alert = it->second;
    // Nobody at a screen reacted: an SMS task too, at every timeout until one is confirmed
    // (the broker may be restarting the first time), also on the last one.
    send_sms = !alert.sms_confirmed && !alert.sms_in_flight;
    alert.sms_in_flight = alert.sms_in_flight || send_sms;
    rooms = alert.rooms;
    data = alert.data;
    if (alert.resends >= settings_.alert_max_resends) {
      metrics_.alerts_unacknowledged.Inc();
      log::Error("critical alert never acknowledged",
                 {{"alert_id", alert_id}, {"resends", alert.resends}});
      alerts_.erase(it);
      given_up = true;
    } else {
      resends = ++alert.resends;
      prefix = alert.prefix;
    }
  }
  if (send_sms) EnqueueEscalation(alert_id, rooms, *data);
  if (given_up) return;
  // Escalation: sent again (to whoever is connected now) and made loud.
  metrics_.alerts_escalated.Inc();
  const std::size_t count = BroadcastAlert(rooms, prefix, alert_id);
  log::Warn("critical alert unacknowledged, escalating",
            {{"alert_id", alert_id}, {"resend", resends}, {"local_recipients", count}});
  ArmAlertTimer(alert_id);
}

void Hub::EnqueueEscalation(const std::string& alert_id, const std::vector<std::string>& rooms,
                            const json& data) {
  if (tasks_ == nullptr || !tasks_->HasQueue(kEscalationQueue)) return;
  core::TaskRequest task;
  task.queue = std::string(kEscalationQueue);
  task.priority = kEscalationPriority;
  task.task_id = "alert-" + alert_id + "-sms";  // the same on every try: handlers deduplicate
  task.correlation_id = alert_id;
  task.source = "alert";
  task.body = json{{"type", "critical_alert_unacknowledged"},
                   {"alert_id", alert_id},
                   {"rooms", rooms},
                   {"alert", data}}
                  .dump(-1, ' ', false, json::error_handler_t::replace);
  // The publisher outlives this hub (built before realtime): the answer may come after it.
  tasks_->Enqueue(std::move(task), [weak = weak_from_this(), alert_id](core::TaskResult result) {
    auto self = weak.lock();
    if (!self) return;
    {
      std::lock_guard lock(self->alerts_mutex_);
      if (const auto it = self->alerts_.find(alert_id); it != self->alerts_.end()) {
        it->second.sms_in_flight = false;
        it->second.sms_confirmed = result.Confirmed();
      }
    }
    auto& metrics_ = self->metrics_;
    if (result.Confirmed()) {
      metrics_.alerts_sms_queued.Inc();
      return log::Info("critical alert escalated to sms", {{"alert_id", alert_id},
                                                           {"task_id", result.task_id}});
    }
    metrics_.alerts_sms_failed.Inc();
    log::Error("critical alert sms task not queued",
               {{"alert_id", alert_id}, {"error", result.error}});
  });
}

void Hub::AlertAcknowledged(const std::string& alert_id, const std::string& user_id,
                            bool local) {
  {
    std::lock_guard lock(alerts_mutex_);
    const auto it = alerts_.find(alert_id);
    if (it != alerts_.end()) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                           it->second.first_sent)
                                 .count();
      it->second.timer->cancel();
      alerts_.erase(it);
      metrics_.alerts_acknowledged.Inc();
      metrics_.alert_ack_seconds.Observe(seconds);
      log::Info("critical alert acknowledged",
                {{"alert_id", alert_id}, {"user_id", user_id}, {"seconds", seconds}});
      return;
    }
  }
  // Not ours: the instance that raised it learns through the fan-out channel.
  if (local) Publish({{"t", "k"}, {"a", alert_id}, {"u", user_id}});
}

// ---- fan-out between instances ---------------------------------------------------------------

void Hub::Publish(json message) {
  if (!publish_) return;
  message["o"] = tag_;
  publish_(message.dump(-1, ' ', false, json::error_handler_t::replace));
}

void Hub::OnFanout(const std::string& payload) {
  json message = json::parse(payload, nullptr, false);
  if (!message.is_object()) return;
  const auto origin = message.find("o");
  const auto type = message.find("t");
  if (origin == message.end() || type == message.end() || !origin->is_string() ||
      !type->is_string() || *origin == tag_) {
    return;  // our own message coming back, or not one of ours
  }
  const std::string& kind = type->get_ref<const std::string&>();
  if (kind == "k") {
    const auto alert = message.find("a");
    const auto user = message.find("u");
    if (alert != message.end() && alert->is_string()) {
      AlertAcknowledged(alert->get<std::string>(),
                        user != message.end() && user->is_string() ? user->get<std::string>() : "",
                        false);
    }
    return;
  }
  const auto rooms_it = message.find("r");
  const auto prefix_it = message.find("p");
  if (rooms_it == message.end() || !rooms_it->is_array() || prefix_it == message.end() ||
      !prefix_it->is_string()) {
    return;
  }
  std::vector<std::string> rooms;
  for (const json& room : *rooms_it) {
    if (room.is_string()) rooms.push_back(room.get<std::string>());
  }
  auto prefix = std::make_shared<const std::string>(prefix_it->get<std::string>());
  metrics_.broadcasts_remote.Inc();
  if (kind == "a") {
    const auto alert = message.find("a");
    if (alert != message.end() && alert->is_string()) {
      DeliverAlertLocal(rooms, prefix, alert->get<std::string>());
    }
    return;
  }
  int priority = static_cast<int>(Priority::kNormal);
  if (const auto q = message.find("q"); q != message.end() && q->is_number_integer()) {
    priority = std::clamp(q->get<int>(), 0, 2);
  }
  DeliverLocal(rooms, prefix, static_cast<Priority>(priority), nullptr);
}

// ---- housekeeping ---------------------------------------------------------------------------

std::string Hub::Offset(std::uint64_t seq) const { return tag_ + "-" + std::to_string(seq); }

std::optional<std::uint64_t> Hub::ParseOffset(std::string_view offset) const {
  if (offset.size() <= tag_.size() + 1 || offset.substr(0, tag_.size()) != tag_ ||
      offset[tag_.size()] != '-') {
    return std::nullopt;
  }
  const std::string_view digits = offset.substr(tag_.size() + 1);
  std::uint64_t seq = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return seq;
}

void Hub::Sweep() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(rooms_mutex_);
  log_.Expire(now);
  for (auto it = saved_.begin(); it != saved_.end();) {
    it = it->second.expires <= now ? saved_.erase(it) : std::next(it);
  }
}

void Hub::Stop() {
  std::lock_guard lock(alerts_mutex_);
  stopped_ = true;
  for (auto& [id, alert] : alerts_) alert.timer->cancel();
  alerts_.clear();
}

}  // namespace nilecare::realtime
