#pragma once
// The workers: one thread and one connection (separate from publishing: platform notes), a
// channel per worker queue with its prefetch. Each delivery is POSTed to the queue's handler
// through router::ServiceCaller (the REST adapter's pool, timeouts and breaker) without
// blocking this thread; results come back through an inbox. Nothing is acked before it
// succeeded or its retry/dead-letter copy was confirmed by the broker.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "amqp_connection.hpp"
#include "link_state.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/router/service_caller.hpp"
#include "task_decision.hpp"
#include "task_publisher.hpp"
#include "topology.hpp"

namespace nilecare::amqp {

class TaskWorkers {
 public:
  TaskWorkers(const config::RabbitMqSettings& settings, TopologyPlan topology,
              TaskPublisher& publisher, router::ServiceCaller& services,
              observability::MetricsRegistry& metrics);
  ~TaskWorkers();

  void Start();
  void BeginStop();  // no new handler calls; deliveries not started go back at close
  bool Idle() const { return outstanding_.load() == 0; }
  void Stop();  // closes the connection: unacknowledged deliveries return to their queues

  const LinkState& Link() const { return link_; }

  struct Delivery {
    std::uint64_t tag{0};
    std::string body;
    std::string message_id;
    std::string correlation_id;
    int priority{0};
    TaskAttempt attempt{};
    std::shared_ptr<Table> headers;
    std::chrono::steady_clock::time_point received{};
    // Failed, but its retry/dead-letter copy could not be handed to the publisher yet.
    struct Failure {
      std::string error;
      bool permanent{false};
    };
    std::optional<Failure> failure{};
  };
  struct Completion;
  struct Inbox;

 private:
  struct QueueMetrics {
    observability::Counter* delivered;
    observability::Counter* acked;
    observability::Counter* retried;
    observability::Counter* parked;
    observability::Counter* requeued;
    observability::Histogram* handler_seconds;
    observability::Gauge* running;
    observability::Gauge* paused;
  };
  struct QueueState {
    const config::TaskWorkerSettings* worker;
    const config::TaskQueueSettings* queue;
    amqp_channel_t channel;
    std::deque<Delivery> pending;  // delivered, not started: at most prefetch
    std::size_t running{0};
    std::chrono::steady_clock::time_point paused_until{};
    QueueMetrics metrics;
  };

  void Run();
  bool Connect();
  void Disconnect(const std::string& why);
  bool ConsumeAvailable();
  void OnDelivery(const amqp_envelope_t& envelope);
  bool ProcessCompletions();
  void OnHandled(QueueState& queue, Delivery delivery, const router::ServiceCallResult& result);
  void Fail(QueueState& queue, Delivery delivery, const std::string& error, bool permanent);
  void SendOn(QueueState& queue, Delivery delivery, FailureDecision decision,
              const std::string& error, const std::string& reason, bool permanent);
  void Dispatch(QueueState& queue);
  void Ack(QueueState& queue, std::uint64_t tag);
  void Requeue(QueueState& queue, std::uint64_t tag);
  void CountDeadLettered(QueueState& queue, std::string_view reason);
  std::chrono::milliseconds NextWait() const;

  const config::RabbitMqSettings& settings_;
  const TopologyPlan topology_;
  TaskPublisher& publisher_;
  router::ServiceCaller& services_;
  observability::MetricsRegistry& metrics_;
  std::shared_ptr<Inbox> inbox_;

  std::vector<QueueState> queues_;
  std::unique_ptr<Connection> connection_;
  std::uint64_t generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> draining_{false};
  std::atomic<std::int64_t> outstanding_{0};  // handler calls + copies waiting for a confirm
  std::thread thread_;

  LinkState link_;
};

}  // namespace nilecare::amqp
