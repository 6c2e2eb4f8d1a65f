#include "event_handler.hpp"

#include <algorithm>
#include <variant>

namespace nilecare::kafka {

std::string_view ToString(HandleOutcome::Kind kind) {
  switch (kind) {
    case HandleOutcome::Kind::kHandled: return "handled";
    case HandleOutcome::Kind::kDuplicate: return "duplicate";
    case HandleOutcome::Kind::kUnmatched: return "unmatched";
    case HandleOutcome::Kind::kDeadLetter: return "dead_lettered";
    case HandleOutcome::Kind::kAborted: return "aborted";
  }
  return "unknown";
}

namespace {
std::string_view KindName(config::EventAction::Kind kind) {
  switch (kind) {
    case config::EventAction::Kind::kEmit: return "emit";
    case config::EventAction::Kind::kTask: return "task";
    case config::EventAction::Kind::kHttp: return "http";
  }
  return "unknown";
}
}  // namespace

EventHandler::EventHandler(const config::KafkaConsumerSettings& settings, RuleSet rules,
                           ActionRunner& runner, EventDedupe& dedupe, Wait wait)
    : settings_(settings),
      rules_(std::move(rules)),
      runner_(runner),
      dedupe_(dedupe),
      wait_(std::move(wait)) {}

std::pair<ActionResult, int> EventHandler::RunWithRetries(const config::EventAction& action,
                                                          const core::DomainEvent& event,
                                                          bool& aborted) {
  auto delay = settings_.retry_min;
  for (int attempt = 1;; ++attempt) {
    ActionResult result = runner_.Run(action, event);
    if (result.outcome != ActionResult::Outcome::kRetry || attempt > settings_.retries) {
      return {std::move(result), attempt};
    }
    if (!wait_(delay)) {
      aborted = true;
      return {std::move(result), attempt};
    }
    delay = std::min(delay * 2, settings_.retry_max);
  }
}

HandleOutcome EventHandler::Handle(std::string_view payload) {
  HandleOutcome outcome;
  if (payload.size() > settings_.max_event_bytes) {
    outcome.kind = HandleOutcome::Kind::kDeadLetter;
    outcome.reason = "too_large";
    return outcome;
  }
  auto parsed = core::ParseDomainEvent(payload);
  if (auto* reason = std::get_if<std::string>(&parsed)) {
    outcome.kind = HandleOutcome::Kind::kDeadLetter;
    outcome.reason = std::move(*reason);
    return outcome;
  }
  const auto& event = std::get<core::DomainEvent>(parsed);
  outcome.event_type = event.event_type;
  outcome.event_id = event.event_id;
  outcome.correlation_id = event.correlation_id;
  if (dedupe_.Seen(event.event_id)) {
    outcome.kind = HandleOutcome::Kind::kDuplicate;
    return outcome;
  }
  const auto rules = rules_.Match(event.event_type);
  if (rules.empty()) {
    outcome.kind = HandleOutcome::Kind::kUnmatched;
    dedupe_.Remember(event.event_id);
    return outcome;
  }
  // Every action runs even when an earlier one failed: one broken action must not cost
  // clinicians the others. The event is dead-lettered for the first failure.
  for (const auto* rule : rules) {
    for (const auto& action : rule->actions) {
      bool aborted = false;
      auto [result, attempts] = RunWithRetries(action, event, aborted);
      if (aborted) {
        outcome.kind = HandleOutcome::Kind::kAborted;
        return outcome;
      }
      if (result.outcome != ActionResult::Outcome::kDone &&
          outcome.kind != HandleOutcome::Kind::kDeadLetter) {
        outcome.kind = HandleOutcome::Kind::kDeadLetter;
        outcome.reason = std::move(result.error);
        outcome.failed_action = rule->origin + " " + std::string(KindName(action.kind));
        outcome.attempts = attempts;
      }
    }
  }
  // Dead-lettered events are remembered too: a redelivery must not run the actions that
  // did succeed a second time; the dead-letter topic holds what is left to do.
  dedupe_.Remember(event.event_id);
  return outcome;
}

}  // namespace nilecare::kafka
