#pragma once
// The Socket.IO server proper (private to src/realtime): Engine.IO sessions by sid, the
// main namespace's CONNECT (JWT auth), rooms, the spec's client events, broadcasts with
// recovery offsets, critical-alert acknowledgement and escalation, and the Redis fan-out
// messages between instances.
//
// Locking: `sessions_mutex_` guards the sid map; `rooms_mutex_` guards rooms, the recovery
// log and the saved sessions, and is held while a broadcast is posted to its recipients,
// so every client sees room packets in offset order and a recovering client can neither
// miss nor double a packet between its replay and its re-join. `alerts_mutex_` guards
// alerts in flight. Per-client Socket.IO state lives in the connection, on its strand.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "nilecare/core/domain_event.hpp"
#include "nilecare/core/task_sink.hpp"
#include "connection.hpp"
#include "nilecare/auth/jwt_verifier.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/realtime/recovery_log.hpp"
#include "nilecare/realtime/room_sink.hpp"
#include "nilecare/realtime/socketio_codec.hpp"
#include "nilecare/realtime/patient_access.hpp"
#include "realtime_metrics.hpp"

namespace nilecare::realtime {

class Hub final : public RoomSink,
                  public ConnectionListener,
                  public std::enable_shared_from_this<Hub> {
 public:
  // `publish` sends a fan-out message to the other instances (empty: single instance).
  Hub(boost::asio::io_context& io, const config::RealtimeSettings& settings,
      const auth::JwtVerifier& verifier, PatientAccess& access, RealtimeMetrics& metrics,
      std::function<void(std::string)> publish);
  ~Hub() override;

  // Audit events for patient-room decisions (see RealtimeServer::SetEventSink).
  void SetEventSink(core::EventSink* events) { events_ = events; }
  // Escalation of unacknowledged critical alerts to SMS (see RealtimeServer::SetTaskSink).
  void SetTaskSink(core::TaskSink* tasks) { tasks_ = tasks; }

  // --- Engine.IO sessions ---
  std::shared_ptr<Connection> NewConnection(http::Strand strand, std::string remote_address);
  std::shared_ptr<Connection> FindSession(const std::string& sid);
  std::size_t SessionCount() const;
  std::size_t RoomCount() const;
  void CloseAll(CloseReason reason);

  // --- RoomSink ---
  std::size_t Emit(const std::vector<std::string>& rooms, std::string_view event,
                   const nlohmann::json& data) override;
  std::string EmitCritical(const std::vector<std::string>& rooms, nlohmann::json data,
                           std::string alert_id = {}) override;

  // A message from another instance (Redis pub/sub).
  void OnFanout(const std::string& payload);
  // Drops expired recovery state; called periodically.
  void Sweep();
  void Stop();

  // --- ConnectionListener ---
  void OnMessage(const std::shared_ptr<Connection>& connection, std::string_view data) override;
  void OnClose(const std::shared_ptr<Connection>& connection, CloseReason reason) override;
  void OnReleased(const std::shared_ptr<Connection>& connection) override;

  const std::string& InstanceTag() const { return tag_; }

 private:
  struct SavedSession {
    std::string socket_id;
    std::string user_id;
    std::set<std::string> rooms;
    std::chrono::steady_clock::time_point expires;
  };
  struct Alert {
    std::vector<std::string> rooms;
    std::shared_ptr<const std::string> prefix;
    std::shared_ptr<const nlohmann::json> data;  // for the escalation task
    bool sms_in_flight{false};  // the escalation task waits for the broker's confirm
    bool sms_confirmed{false};
    int resends{0};
    std::chrono::steady_clock::time_point first_sent;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  struct Identity {
    std::string user_id;
    std::string role;
    std::vector<std::string> roles;
    std::chrono::system_clock::time_point expires;
  };

  void OnConnect(const std::shared_ptr<Connection>& connection, const sio::Packet& packet);
  void ConnectFresh(const std::shared_ptr<Connection>& connection, Identity identity);
  void TryRecover(const std::shared_ptr<Connection>& connection, Identity identity,
                  const std::string& pid, const std::string& offset);
  void FinishRecovery(const std::shared_ptr<Connection>& connection, Identity identity,
                      std::string pid, SavedSession saved, std::uint64_t seq,
                      std::set<std::string> allowed_patient_rooms);
  void MarkConnected(const std::shared_ptr<Connection>& connection, const Identity& identity,
                     std::string socket_id, std::string pid);
  void OnEvent(const std::shared_ptr<Connection>& connection, sio::Packet& packet);
  void OnSubscribe(const std::shared_ptr<Connection>& connection, const nlohmann::json& args,
                   std::optional<std::uint64_t> ack);
  void OnUnsubscribe(const std::shared_ptr<Connection>& connection, const nlohmann::json& args,
                     std::optional<std::uint64_t> ack);
  void OnChat(const std::shared_ptr<Connection>& connection, const nlohmann::json& args,
              std::optional<std::uint64_t> ack);
  void OnAck(const std::shared_ptr<Connection>& connection, const sio::Packet& packet);
  static void Reply(Connection& connection, std::optional<std::uint64_t> ack,
                    nlohmann::json body);

  static std::set<std::string> IdentityRooms(const Identity& identity);
  void Join(const std::shared_ptr<Connection>& connection, const std::string& room);
  void Leave(const std::shared_ptr<Connection>& connection, const std::string& room);
  // Under rooms_mutex_.
  void RemoveMember(const std::string& room, const std::shared_ptr<Connection>& connection);

  // Delivers an event prefix to the local members of `rooms` (except `except`); records it
  // for recovery unless it carries an ack. Returns the recipients.
  std::size_t DeliverLocal(const std::vector<std::string>& rooms,
                           const std::shared_ptr<const std::string>& prefix, Priority priority,
                           const Connection* except);
  std::size_t DeliverAlertLocal(const std::vector<std::string>& rooms,
                                const std::shared_ptr<const std::string>& prefix,
                                const std::string& alert_id);
  // DeliverLocal / DeliverAlertLocal, then the same to the other instances.
  std::size_t Broadcast(const std::vector<std::string>& rooms,
                        const std::shared_ptr<const std::string>& prefix, Priority priority,
                        const Connection* except);
  std::size_t BroadcastAlert(const std::vector<std::string>& rooms,
                             const std::shared_ptr<const std::string>& prefix,
                             const std::string& alert_id);
  std::pair<std::string, std::size_t> RaiseAlert(const std::vector<std::string>& rooms,
                                                 nlohmann::json data, std::string alert_id = {});
  void Publish(nlohmann::json message);
  void ArmAlertTimer(const std::string& alert_id);
  void OnAlertTimeout(const std::string& alert_id);
  void EnqueueEscalation(const std::string& alert_id, const std::vector<std::string>& rooms,
                         const nlohmann::json& data);
  void AlertAcknowledged(const std::string& alert_id, const std::string& user_id, bool local);
  std::string Offset(std::uint64_t seq) const;
  std::optional<std::uint64_t> ParseOffset(std::string_view offset) const;

  template <typename Visit>
  void ForEachMember(const std::vector<std::string>& rooms, const Connection* except,
                     Visit visit);

  boost::asio::io_context& io_;
  const config::RealtimeSettings& settings_;
  const auth::JwtVerifier& verifier_;
  PatientAccess& access_;
  RealtimeMetrics& metrics_;
  std::function<void(std::string)> publish_;
  core::EventSink* events_{nullptr};
  core::TaskSink* tasks_{nullptr};
  const std::string tag_;  // this process: offsets and fan-out origin
  const bool recovery_;

  mutable std::mutex sessions_mutex_;
  std::unordered_map<std::string, std::shared_ptr<Connection>> sessions_;

  mutable std::mutex rooms_mutex_;
  std::unordered_map<std::string, std::unordered_set<std::shared_ptr<Connection>>> rooms_;
  RecoveryLog log_;
  std::unordered_map<std::string, SavedSession> saved_;

  std::mutex alerts_mutex_;
  std::unordered_map<std::string, Alert> alerts_;
  bool stopped_{false};
};

}  // namespace nilecare::realtime
