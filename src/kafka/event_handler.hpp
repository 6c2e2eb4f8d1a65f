#pragma once
// What the consumer does with one record, apart from Kafka itself (private to src/kafka;
// unit-tested with fakes): parse, skip duplicates, run the matching rules' actions with
// retries and back-off, and decide between "handled" and "dead-letter".

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "event_rules.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/core/domain_event.hpp"

namespace nilecare::kafka {

struct ActionResult {
  enum class Outcome { kDone, kRetry, kPermanent };
  Outcome outcome{Outcome::kDone};
  std::string error{};  // short, no event content

  static ActionResult Done() { return {}; }
  static ActionResult Retry(std::string error) { return {Outcome::kRetry, std::move(error)}; }
  static ActionResult Permanent(std::string error) {
    return {Outcome::kPermanent, std::move(error)};
  }
};

// Runs one action for one event, blocking until it has an outcome (the consumer thread).
class ActionRunner {
 public:
  virtual ~ActionRunner() = default;
  virtual ActionResult Run(const config::EventAction& action, const core::DomainEvent& event) = 0;
};

// Which event ids were handled already (memory, plus Redis when configured).
class EventDedupe {
 public:
  virtual ~EventDedupe() = default;
  virtual bool Seen(const std::string& event_id) = 0;
  virtual void Remember(const std::string& event_id) = 0;
};

struct HandleOutcome {
  enum class Kind { kHandled, kDuplicate, kUnmatched, kDeadLetter, kAborted };
  Kind kind{Kind::kHandled};
  std::string reason{};          // kDeadLetter: parse reason or the failed action's error
  std::string failed_action{};   // kDeadLetter after an action: "<origin> emit|http|task"
  int attempts{0};               // of the failed action (0 for unparseable events)
  std::string event_type{};      // when parsed
  std::string event_id{};
  std::string correlation_id{};
};

std::string_view ToString(HandleOutcome::Kind kind);

class EventHandler {
 public:
  // `wait(delay)` sleeps between attempts and returns false when the consumer is stopping
  // (the event is then left unhandled: its offset is not committed).
  using Wait = std::function<bool(std::chrono::milliseconds)>;

  EventHandler(const config::KafkaConsumerSettings& settings, RuleSet rules, ActionRunner& runner,
               EventDedupe& dedupe, Wait wait);

  HandleOutcome Handle(std::string_view payload);

  const RuleSet& Rules() const { return rules_; }

 private:
  // Runs one action with its retries; returns the last result and the attempts made.
  std::pair<ActionResult, int> RunWithRetries(const config::EventAction& action,
                                              const core::DomainEvent& event, bool& aborted);

  config::KafkaConsumerSettings settings_;
  RuleSet rules_;
  ActionRunner& runner_;
  EventDedupe& dedupe_;
  Wait wait_;
};

}  // namespace nilecare::kafka
