#pragma once
// Publishes with confirms on its own thread and connection (rabbitmq-c is blocking; a confirm
// arriving on a consuming connection breaks amqp_consume_message). Confirms come out of order
// and with `multiple`, so every unconfirmed publish is kept by delivery tag; a basic.return
// (mandatory, nothing bound) marks its publish, whose ack then means `kUnroutable`. A
// connection.blocked (broker resource alarm) stops sending until connection.unblocked. After a
// connection loss the unconfirmed ones are sent again on the new connection (at-least-once:
// handlers deduplicate by message_id) unless their deadline passed.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "amqp_connection.hpp"
#include "link_state.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/observability/metrics.hpp"
#include "topology.hpp"

namespace nilecare::amqp {

struct OutgoingMessage {
  std::string exchange;
  std::string routing_key;
  std::string body;
  std::string message_id;
  std::string correlation_id{};
  int priority{0};
  std::shared_ptr<Table> headers{};  // built by the caller, read by the publisher thread
  std::optional<QueueDeclaration> declare_first{};  // a delay queue
};

struct PublishOutcome {
  enum class Kind { kConfirmed, kNacked, kUnroutable, kTimeout, kStopped };
  Kind kind{Kind::kTimeout};
  bool Confirmed() const { return kind == Kind::kConfirmed; }
};
std::string_view ToString(PublishOutcome::Kind kind);

class TaskPublisher {
 public:
  using Done = std::function<void(PublishOutcome)>;
  enum class EnqueueResult { kQueued, kFull, kStopped };

  TaskPublisher(const config::RabbitMqSettings& settings, TopologyPlan topology,
                observability::MetricsRegistry& metrics);
  ~TaskPublisher();

  void Start();
  // Fails what is still waiting with kStopped after `grace` (unconfirmed ones get until then).
  void Stop(std::chrono::milliseconds grace);

  // `done` runs exactly once, on the publisher thread (never inline when kQueued).
  EnqueueResult Publish(OutgoingMessage message, Done done);

  const LinkState& Link() const { return link_; }
  std::size_t InFlight() const { return in_flight_.load(); }

 private:
  struct Pending {
    OutgoingMessage message;
    Done done;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point started;
    bool returned{false};  // a basic.return came for it: its ack means "unroutable"
  };

  void Run();
  bool Connect();
  void Disconnect(const std::string& why);
  void SendWaiting();
  void ReadFrames();
  void HandleAck(std::uint64_t tag, bool multiple, PublishOutcome::Kind kind);
  void HandleReturn(amqp_channel_t channel);
  void ExpireDeadlines();
  void Finish(Pending& pending, PublishOutcome::Kind kind);
  void Wake();
  void WaitForWork(std::chrono::milliseconds timeout);

  const config::RabbitMqSettings& settings_;
  const TopologyPlan topology_;

  mutable std::mutex mutex_;
  std::deque<Pending> waiting_;  // guarded by mutex_
  bool stopping_{false};         // guarded by mutex_
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::atomic<std::size_t> in_flight_{0};  // waiting + unconfirmed: the bound
  std::atomic<bool> exited_{false};
  std::atomic<int> socket_fd_{-1};
  int wake_fd_{-1};

  // Publisher thread only.
  std::unique_ptr<Connection> connection_;
  std::deque<Pending> retry_;  // unconfirmed when a connection died: sent first
  std::map<std::uint64_t, Pending> unconfirmed_;
  std::uint64_t next_tag_{1};
  bool blocked_{false};  // connection.blocked: nothing is sent until connection.unblocked
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> delay_declared_;
  std::thread thread_;

  LinkState link_;
  observability::Histogram& confirm_seconds_;
  std::map<PublishOutcome::Kind, observability::Counter*> outcomes_;
};

}  // namespace nilecare::amqp
