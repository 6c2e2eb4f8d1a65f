#pragma once
// The RabbitMQ adapter (spec §3, docs/tasks.md): topology, confirmed publishing for
// POST /api/v1/tasks/{queue}, event rules and alert escalation (core::TaskSink), and the
// workers that hand tasks to services. Built before the adapters that enqueue tasks (realtime,
// events) and after rest (the workers call handlers through it); stopped in reverse.
//
// YAML (`rabbitmq:`; defaults in config::RabbitMqSettings):
//   url: amqp://guest:guest@127.0.0.1:5672/      vhost percent-encoded; password via ${ENV}
//   heartbeat: 30s   connect_timeout: 5s   reconnect_min: 500ms   reconnect_max: 30s
//   max_priority: 10                             x-max-priority of every work queue
//   queues: [{name, exchange, priority}]         default: the spec's seven queues
//   dead_letter: { exchange: nilecare.dlq, queue: failed.jobs, retry_after: 5m,
//                  max_rounds: 3, parking_queue: failed.jobs.parked }
//   confirm_timeout: 5s   max_in_flight: 10000   max_task_bytes: 256KiB   max_delay: 24h
//   publish_roles: []                            POST /api/v1/tasks: empty = any valid token
//   workers: [{queue, handler_url, prefetch: 5, concurrency: 5, max_retries: 3,
//              retry_min: 1s, retry_max: 1m, timeout: 0, pause_on_open: 5s}]
// `auth.jwt` for the endpoint; `upstreams:` serve the workers' handler_url.

#include <memory>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/component.hpp"
#include "nilecare/core/task_sink.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/router/service_caller.hpp"

namespace nilecare::amqp {

class TaskQueues final : public core::Component, public core::TaskSink {
 public:
  // `services` may be null (no routes:): workers are then refused at start.
  TaskQueues(const config::GatewaySettings& settings, router::ServiceCaller* services,
             observability::MetricsRegistry& metrics);
  ~TaskQueues() override;

  void RegisterRoutes(http::Dispatcher& dispatcher);

  // core::TaskSink
  void Enqueue(core::TaskRequest task, std::function<void(core::TaskResult)> done) override;
  bool HasQueue(std::string_view queue) const override;

  std::string_view Name() const override { return "rabbitmq"; }
  void Start() override;
  void BeginStop() override;
  bool Idle() const override;
  void Stop() override;
  core::ComponentHealth Health() const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nilecare::amqp
