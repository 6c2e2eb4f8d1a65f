#pragma once
// Where adapters that are not the RabbitMQ adapter enqueue background tasks (event rules,
// alert escalation): an interface, so they do not depend on rabbitmq-c and tests can fake it.

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace nilecare::core {

struct TaskRequest {
  std::string queue;  // a configured work queue, e.g. sms.urgent
  std::string body;   // JSON
  int priority{-1};   // -1 = the queue's default
  std::chrono::milliseconds delay{0};
  // Handlers deduplicate by it: callers that may enqueue the same task again (a redelivered
  // event) derive it from their input. Empty = a new UUID.
  std::string task_id{};
  std::string correlation_id{};
  std::string source{};  // x-task-source header: api, event, alert
};

struct TaskResult {
  // kUnknownQueue and kTooLarge (body over rabbitmq.max_task_bytes) are refusals that
  // trying again cannot change; the others may pass later.
  enum class Outcome { kConfirmed, kUnknownQueue, kTooLarge, kFull, kUnavailable, kStopped };
  Outcome outcome{Outcome::kUnavailable};
  std::string task_id{};
  std::string error{};  // for logs: timeout, nacked, unroutable, disconnected, ...
  bool Confirmed() const { return outcome == Outcome::kConfirmed; }
};

class TaskSink {
 public:
  virtual ~TaskSink() = default;
  // `done` runs exactly once: from the publisher thread once the broker confirmed or the
  // publish failed, or inline when the task is refused at once.
  virtual void Enqueue(TaskRequest task, std::function<void(TaskResult)> done) = 0;
  virtual bool HasQueue(std::string_view queue) const = 0;
};

}  // namespace nilecare::core
