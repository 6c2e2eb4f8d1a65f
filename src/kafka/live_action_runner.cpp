#include "live_action_runner.hpp"

#include <future>
#include <memory>

namespace nilecare::kafka {
namespace {
// The call's own timeout ends it; this only guards against a callback that never comes.
constexpr auto kCallbackGrace = std::chrono::seconds(5);
constexpr auto kFallbackTimeout = std::chrono::seconds(130);
constexpr auto kAbortCheck = std::chrono::milliseconds(50);
}  // namespace

ActionResult LiveActionRunner::Run(const config::EventAction& action,
                                   const core::DomainEvent& event) {
  switch (action.kind) {
    case config::EventAction::Kind::kEmit: return Emit(action.emit, event);
    case config::EventAction::Kind::kHttp: return Http(action.http, event);
    case config::EventAction::Kind::kTask: return Task(action.task, event);
  }
  return ActionResult::Permanent("unknown_action");
}

template <typename T, typename Start>
std::optional<T> LiveActionRunner::Await(Start start) const {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  start([promise](T result) { promise->set_value(std::move(result)); });
  const auto give_up = std::chrono::steady_clock::now() + kFallbackTimeout + kCallbackGrace;
  while (future.wait_for(kAbortCheck) != std::future_status::ready) {
    if (aborted_.load() || std::chrono::steady_clock::now() >= give_up) return std::nullopt;
  }
  return future.get();
}

ActionResult LiveActionRunner::NoAnswer() const {
  return ActionResult::Retry(aborted_.load() ? "stopping" : "no_reply");
}

ActionResult LiveActionRunner::Emit(const config::EventEmitAction& emit,
                                    const core::DomainEvent& event) {
  if (rooms_ == nullptr) return ActionResult::Permanent("realtime adapter not configured");
  std::vector<std::string> rooms;
  rooms.reserve(emit.rooms.size());
  for (const auto& room : emit.rooms) {
    // A room whose field the event lacks (an appointment without a doctor yet) is skipped;
    // the action fails only when no room at all can be named.
    if (auto expanded = ExpandTemplate(room, event, TemplateUse::kRoom)) {
      rooms.push_back(std::move(*expanded));
    }
  }
  if (rooms.empty()) return ActionResult::Permanent("no_room_resolved");
  if (emit.critical) {
    // The event id doubles as the alert id: a redelivered event re-sends the same alert.
    rooms_->EmitCritical(rooms, EmitPayload(event, true), event.event_id);
  } else {
    rooms_->Emit(rooms, emit.event, EmitPayload(event, false));
  }
  return ActionResult::Done();
}

ActionResult LiveActionRunner::Http(const config::EventHttpAction& http,
                                    const core::DomainEvent& event) {
  if (services_ == nullptr) return ActionResult::Permanent("rest adapter not configured");
  auto target = ExpandTemplate(http.path, event, TemplateUse::kPath);
  if (!target) return ActionResult::Permanent("path_field_missing");
  router::ServiceCall call{http.upstream, http.method, std::move(*target), HttpBody(event),
                           event.correlation_id, std::chrono::milliseconds(0)};
  const auto answer = Await<router::ServiceCallResult>(
      [&](auto done) { services_->Call(std::move(call), std::move(done)); });
  if (!answer) return NoAnswer();
  const auto& result = *answer;
  if (result.Succeeded()) return ActionResult::Done();
  const std::string error =
      result.status != 0 ? "http_" + std::to_string(result.status) : result.error;
  return result.Permanent() ? ActionResult::Permanent(error) : ActionResult::Retry(error);
}

ActionResult LiveActionRunner::Task(const config::EventTaskAction& task,
                                    const core::DomainEvent& event) {
  if (tasks_ == nullptr) return ActionResult::Permanent("rabbitmq adapter not configured");
  core::TaskRequest request;
  request.queue = task.queue;
  request.priority = task.priority;
  // The same event redelivered makes the same task id: handlers deduplicate by it.
  request.task_id = event.event_id + ":" + task.queue;
  request.correlation_id = event.correlation_id;
  request.source = "event";
  request.body = core::ToJson(event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const auto answer = Await<core::TaskResult>(
      [&](auto done) { tasks_->Enqueue(std::move(request), std::move(done)); });
  if (!answer) return NoAnswer();
  if (answer->Confirmed()) return ActionResult::Done();
  using Outcome = core::TaskResult::Outcome;
  if (answer->outcome == Outcome::kUnknownQueue || answer->outcome == Outcome::kTooLarge) {
    return ActionResult::Permanent(answer->error);
  }
  return ActionResult::Retry("task_" + answer->error);
}

}  // namespace nilecare::kafka
