#pragma once
// The rule actions for real (private to src/kafka): `emit` through the realtime adapter's
// rooms, `http` through the REST adapter's resilience layer. `task` waits for the RabbitMQ
// adapter (the config loader refuses task actions until it exists).

#include <atomic>
#include <chrono>

#include "event_handler.hpp"
#include "nilecare/realtime/room_sink.hpp"
#include "nilecare/router/service_caller.hpp"

namespace nilecare::kafka {

class LiveActionRunner final : public ActionRunner {
 public:
  // Either may be null (adapter not configured): its actions then fail permanently.
  LiveActionRunner(realtime::RoomSink* rooms, router::ServiceCaller* services)
      : rooms_(rooms), services_(services) {}

  // The gateway is stopping: a call still waiting for its reply is given up (as a retryable
  // failure, so the event stays uncommitted) instead of holding the consumer thread, which
  // the last io thread may be waiting to join.
  void Abort() { aborted_.store(true); }

  ActionResult Run(const config::EventAction& action, const core::DomainEvent& event) override;

 private:
  ActionResult Emit(const config::EventEmitAction& emit, const core::DomainEvent& event);
  ActionResult Http(const config::EventHttpAction& http, const core::DomainEvent& event);

  realtime::RoomSink* rooms_;
  router::ServiceCaller* services_;
  std::atomic<bool> aborted_{false};
};

}  // namespace nilecare::kafka
