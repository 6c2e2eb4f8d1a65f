#pragma once
// The rule actions for real (private to src/kafka): `emit` through the realtime adapter's
// rooms, `http` through the REST adapter's resilience layer, `task` through the RabbitMQ
// adapter (done once the broker confirmed it).

#include <atomic>
#include <chrono>
#include <future>
#include <optional>

#include "event_handler.hpp"
#include "nilecare/core/task_sink.hpp"
#include "nilecare/realtime/room_sink.hpp"
#include "nilecare/router/service_caller.hpp"

namespace nilecare::kafka {

class LiveActionRunner final : public ActionRunner {
 public:
  // Any may be null (adapter not configured): its actions then fail permanently.
  LiveActionRunner(realtime::RoomSink* rooms, router::ServiceCaller* services,
                   core::TaskSink* tasks = nullptr)
      : rooms_(rooms), services_(services), tasks_(tasks) {}

  // The gateway is stopping: a call still waiting for its reply is given up (as a retryable
  // failure, so the event stays uncommitted) instead of holding the consumer thread, which
  // the last io thread may be waiting to join.
  void Abort() { aborted_.store(true); }

  ActionResult Run(const config::EventAction& action, const core::DomainEvent& event) override;

 private:
  ActionResult Emit(const config::EventEmitAction& emit, const core::DomainEvent& event);
  ActionResult Http(const config::EventHttpAction& http, const core::DomainEvent& event);
  ActionResult Task(const config::EventTaskAction& task, const core::DomainEvent& event);
  // Starts an asynchronous operation with `start(done)` and waits for the `T` it passes to
  // `done`, giving up (nullopt) when aborted or after kFallbackTimeout.
  template <typename T, typename Start>
  std::optional<T> Await(Start start) const;
  // What giving up means for the action: retryable, since the event stays uncommitted.
  ActionResult NoAnswer() const;

  realtime::RoomSink* rooms_;
  router::ServiceCaller* services_;
  core::TaskSink* tasks_;
  std::atomic<bool> aborted_{false};
};

}  // namespace nilecare::kafka
