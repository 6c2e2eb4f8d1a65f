#pragma once
// What the gateway declares on RabbitMQ (docs/tasks.md "Topology"), as data: built from
// settings by a pure function (unit-tested), declared at every (re)connect by both
// connections, since either may be first after a broker restart.

#include <chrono>
#include <string>
#include <vector>

#include "amqp_connection.hpp"
#include "nilecare/config/settings.hpp"

namespace nilecare::amqp {

struct TopologyPlan {
  std::vector<ExchangeDeclaration> exchanges;
  std::vector<QueueDeclaration> queues;
  std::vector<BindingDeclaration> bindings;
};

// Work exchanges (direct) with their queues bound by name (durable, x-max-priority,
// x-dead-letter-exchange); the dead-letter exchange (fanout) with failed.jobs, whose TTL
// sends a task back to its work queue through the default exchange (its routing key is the
// queue's name); the parking queue.
TopologyPlan BuildTopology(const config::RabbitMqSettings& settings);

void DeclareTopology(Connection& connection, amqp_channel_t channel, const TopologyPlan& plan);

// A real delay (the spec's `expiration` on the work queue would expire the task, not delay
// it): a queue per (work queue, delay) whose TTL dead-letters into the work exchange. All its
// messages share one TTL, so the head always expires first. It deletes itself once unused
// (x-expires, kept past its TTL plus kDelayQueueMargin); publishers re-declare it at least
// every kDelayQueueRedeclare so it never goes away holding a task.
inline constexpr auto kDelayQueueMargin = std::chrono::minutes(2);
inline constexpr auto kDelayQueueRedeclare = std::chrono::minutes(1);
QueueDeclaration DelayQueue(const config::TaskQueueSettings& queue,
                            std::chrono::milliseconds delay);

// Back-off before retry `retry` (1-based): retry_min * 2^(retry-1), at most retry_max.
std::chrono::milliseconds RetryDelay(const config::TaskWorkerSettings& worker, int retry);

const config::TaskQueueSettings* FindQueue(const config::RabbitMqSettings& settings,
                                           std::string_view name);

}  // namespace nilecare::amqp
