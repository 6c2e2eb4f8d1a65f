#include "topology.hpp"

#include <algorithm>

namespace nilecare::amqp {

TopologyPlan BuildTopology(const config::RabbitMqSettings& settings) {
  TopologyPlan plan;
  const auto& dead = settings.dead_letter;
  plan.exchanges.push_back({dead.exchange, "fanout"});
  for (const auto& queue : settings.queues) {
    const bool known = std::any_of(plan.exchanges.begin(), plan.exchanges.end(),
                                   [&](const auto& e) { return e.name == queue.exchange; });
    if (!known) plan.exchanges.push_back({queue.exchange, "direct"});
    QueueDeclaration declaration{queue.name};
    declaration.max_priority = settings.max_priority;
    declaration.dead_letter_exchange = dead.exchange;
    plan.queues.push_back(std::move(declaration));
    plan.bindings.push_back({queue.name, queue.exchange, queue.name});
  }
  QueueDeclaration failed{dead.queue};
  if (dead.retry_after.count() > 0) {
    failed.message_ttl_ms = dead.retry_after.count();
    failed.dead_letter_exchange = "";  // the default exchange: routing key = work queue
  }
  plan.queues.push_back(std::move(failed));
  plan.bindings.push_back({dead.queue, dead.exchange, ""});
  plan.queues.push_back(QueueDeclaration{dead.parking_queue});
  return plan;
}

void DeclareTopology(Connection& connection, amqp_channel_t channel, const TopologyPlan& plan) {
  for (const auto& exchange : plan.exchanges) connection.DeclareExchange(channel, exchange);
  for (const auto& queue : plan.queues) connection.DeclareQueue(channel, queue);
  for (const auto& binding : plan.bindings) connection.Bind(channel, binding);
}

QueueDeclaration DelayQueue(const config::TaskQueueSettings& queue,
                            std::chrono::milliseconds delay) {
  QueueDeclaration declaration{"nilecare.delay." + queue.name + "." +
                               std::to_string(delay.count())};
  declaration.message_ttl_ms = delay.count();
  declaration.dead_letter_exchange = queue.exchange;
  declaration.dead_letter_routing_key = queue.name;
  declaration.expires_ms =
      (delay + std::chrono::duration_cast<std::chrono::milliseconds>(kDelayQueueMargin)).count();
  return declaration;
}

std::chrono::milliseconds RetryDelay(const config::TaskWorkerSettings& worker, int retry) {
  auto delay = worker.retry_min;
  for (int i = 1; i < retry && delay < worker.retry_max; ++i) {
    if (delay > worker.retry_max / 2) return worker.retry_max;  // doubling would pass it
    delay *= 2;
  }
  return std::min(delay, worker.retry_max);
}

const config::TaskQueueSettings* FindQueue(const config::RabbitMqSettings& settings,
                                           std::string_view name) {
  for (const auto& queue : settings.queues) {
    if (queue.name == name) return &queue;
  }
  return nullptr;
}

}  // namespace nilecare::amqp
