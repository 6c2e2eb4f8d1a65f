#include "nilecare/amqp/task_queues.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

#include "nilecare/core/ids.hpp"
#include "nilecare/observability/log.hpp"
#include "task_publisher.hpp"
#include "task_workers.hpp"
#include "tasks_api.hpp"
#include "topology.hpp"

namespace nilecare::amqp {
namespace log = observability::log;

namespace {
// How long Stop() lets publishes in flight (retry copies of the workers included) be confirmed.
constexpr auto kStopGrace = std::chrono::seconds(3);
constexpr double kBusyFraction = 0.8;
}  // namespace

struct TaskQueues::Impl {
  struct QueueMetrics {
    observability::Counter* published;
    observability::Counter* confirmed;
  };

  Impl(const config::GatewaySettings& gateway, router::ServiceCaller* services,
       observability::MetricsRegistry& metrics_registry)
      : settings(*gateway.rabbitmq), metrics(metrics_registry) {
    auto topology = BuildTopology(settings);
    publisher = std::make_unique<TaskPublisher>(settings, topology, metrics);
    if (!settings.workers.empty()) {
      if (services == nullptr) {
        throw std::runtime_error(
            "rabbitmq.workers need the REST adapter (upstreams: and routes:) to call handlers");
      }
      workers = std::make_unique<TaskWorkers>(settings, topology, *publisher, *services, metrics);
    }
    for (const auto& queue : settings.queues) {
      const observability::Labels labels{{"queue", queue.name}};
      queue_metrics[queue.name] = {
          &metrics.GetCounter("nilecare_tasks_published_total",
                              "Tasks handed to the publisher (API, event rules, escalation).",
                              labels),
          &metrics.GetCounter("nilecare_tasks_confirmed_total",
                              "Tasks confirmed by the broker (persistent, durable queue).",
                              labels)};
    }
    metrics.AddCallbackGauge("nilecare_amqp_publisher_in_flight",
                             "Publishes waiting to be sent or confirmed (bound: max_in_flight).",
                             {}, [this] { return static_cast<double>(publisher->InFlight()); });
  }

  // One read-only table per source (api, event, alert), shared by every task from it: a
  // table per task was a fifth of the publish path's CPU.
  std::shared_ptr<Table> SourceHeaders(const std::string& source) {
    std::lock_guard lock(source_mutex);
    auto& table = source_headers[source];
    if (!table) {
      table = std::make_shared<Table>();
      table->Set("x-task-source", source);
    }
    return table;
  }

  void CountFailure(const std::string& queue, std::string_view reason) {
    metrics
        .GetCounter("nilecare_tasks_publish_failed_total", "Tasks not confirmed, by reason.",
                    {{"queue", queue}, {"reason", std::string(reason)}})
        .Inc();
  }

  config::RabbitMqSettings settings;
  observability::MetricsRegistry& metrics;
  std::unique_ptr<TaskPublisher> publisher;
  std::unique_ptr<TaskWorkers> workers;
  std::unique_ptr<TasksApi> api;
  std::map<std::string, QueueMetrics, std::less<>> queue_metrics;
  std::mutex source_mutex;
  std::map<std::string, std::shared_ptr<Table>> source_headers;  // bounded: a few sources
  std::chrono::steady_clock::time_point started_at{};
  std::atomic<bool> stopped{false};  // read by Health() on io threads
};

TaskQueues::TaskQueues(const config::GatewaySettings& settings, router::ServiceCaller* services,
                       observability::MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(settings, services, metrics)) {
  if (settings.auth && settings.auth->jwt) {
    impl_->api = std::make_unique<TasksApi>(impl_->settings, *settings.auth->jwt, *this, metrics);
  } else {
    log::Warn("rabbitmq: POST /api/v1/tasks is off: it needs auth.jwt");
  }
}

TaskQueues::~TaskQueues() { Stop(); }

void TaskQueues::RegisterRoutes(http::Dispatcher& dispatcher) {
  if (impl_->api) impl_->api->RegisterRoutes(dispatcher);
}

bool TaskQueues::HasQueue(std::string_view queue) const {
  return FindQueue(impl_->settings, queue) != nullptr;
}

void TaskQueues::Enqueue(core::TaskRequest task, std::function<void(core::TaskResult)> done) {
  using Outcome = core::TaskResult::Outcome;
  const auto* queue = FindQueue(impl_->settings, task.queue);
  if (task.task_id.empty()) task.task_id = core::NewUuid();
  if (queue == nullptr) return done({Outcome::kUnknownQueue, task.task_id, "unknown_queue"});
  const auto& metrics = impl_->queue_metrics.find(queue->name)->second;
  if (task.body.size() > impl_->settings.max_task_bytes) {
    impl_->CountFailure(queue->name, "too_large");
    return done({Outcome::kTooLarge, task.task_id, "too_large"});
  }
  OutgoingMessage message;
  message.body = std::move(task.body);
  message.message_id = task.task_id;
  message.correlation_id = std::move(task.correlation_id);
  message.priority = std::clamp(task.priority < 0 ? queue->priority : task.priority, 0,
                                impl_->settings.max_priority);
  if (!task.source.empty()) message.headers = impl_->SourceHeaders(task.source);
  if (task.delay.count() > 0) {
    auto delay_queue = DelayQueue(*queue, task.delay);
    message.routing_key = delay_queue.name;  // through the default exchange
    message.declare_first = std::move(delay_queue);
  } else {
    message.exchange = queue->exchange;
    message.routing_key = queue->name;
  }
  metrics.published->Inc();
  auto on_outcome = [impl = impl_.get(), confirmed = metrics.confirmed, queue_name = queue->name,
                     task_id = task.task_id, done](PublishOutcome outcome) {
    if (outcome.Confirmed()) {
      confirmed->Inc();
      return done({Outcome::kConfirmed, task_id, {}});
    }
    impl->CountFailure(queue_name, ToString(outcome.kind));
    done(
        {outcome.kind == PublishOutcome::Kind::kStopped ? Outcome::kStopped : Outcome::kUnavailable,
         task_id, std::string(ToString(outcome.kind))});
  };
  const auto queued = impl_->publisher->Publish(std::move(message), std::move(on_outcome));
  if (queued == TaskPublisher::EnqueueResult::kQueued) return;
  const bool full = queued == TaskPublisher::EnqueueResult::kFull;
  impl_->CountFailure(queue->name, full ? "full" : "stopped");
  done({full ? Outcome::kFull : Outcome::kStopped, task.task_id, full ? "full" : "stopped"});
}

void TaskQueues::Start() {
  impl_->started_at = std::chrono::steady_clock::now();
  impl_->publisher->Start();
  if (impl_->workers) impl_->workers->Start();
  log::Info("rabbitmq adapter started",
            {{"broker", impl_->settings.host + ":" + std::to_string(impl_->settings.port)},
             {"vhost", impl_->settings.vhost},
             {"queues", static_cast<std::int64_t>(impl_->settings.queues.size())},
             {"workers", static_cast<std::int64_t>(impl_->settings.workers.size())}});
}

void TaskQueues::BeginStop() {
  if (impl_->workers) impl_->workers->BeginStop();
}

bool TaskQueues::Idle() const {
  return (!impl_->api || impl_->api->InFlight() == 0) &&
         (!impl_->workers || impl_->workers->Idle());
}

void TaskQueues::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  // Workers first: their retry copies go through the publisher.
  if (impl_->workers) impl_->workers->Stop();
  impl_->publisher->Stop(kStopGrace);
}

core::ComponentHealth TaskQueues::Health() const {
  if (impl_->stopped) return {core::HealthState::kStopping, "stopped"};
  const auto& publisher = impl_->publisher->Link();
  const bool workers_up = !impl_->workers || impl_->workers->Link().Connected();
  if (publisher.Connected() && workers_up) {
    const auto in_flight = static_cast<double>(impl_->publisher->InFlight());
    if (in_flight > kBusyFraction * static_cast<double>(impl_->settings.max_in_flight)) {
      return {core::HealthState::kDegraded, "publisher in flight above 80%"};
    }
    return {core::HealthState::kUp, ""};
  }
  std::string error =
      publisher.Connected() ? impl_->workers->Link().LastError() : publisher.LastError();
  if (error.empty()) error = "connecting";
  // Tasks are background work: without the broker the rest of the gateway keeps serving.
  const auto grace = impl_->settings.connect_timeout + std::chrono::seconds(5);
  if (!publisher.EverConnected() && std::chrono::steady_clock::now() - impl_->started_at < grace) {
    return {core::HealthState::kStarting, "connecting to rabbitmq"};
  }
  return {core::HealthState::kDegraded, "rabbitmq unreachable: " + error};
}

}  // namespace nilecare::amqp
