#include "kafka/event_handler.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace nilecare::kafka {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Kind = HandleOutcome::Kind;
using Outcome = ActionResult::Outcome;

// Returns scripted results in order (then Done), and records every call.
class FakeRunner : public ActionRunner {
 public:
  struct Call {
    config::EventAction::Kind kind;
    std::string name;  // emit event / task queue / http path
    std::string event_id;
  };

  ActionResult Run(const config::EventAction& action, const core::DomainEvent& event) override {
    std::string name;
    switch (action.kind) {
      case config::EventAction::Kind::kEmit: name = action.emit.event; break;
      case config::EventAction::Kind::kTask: name = action.task.queue; break;
      case config::EventAction::Kind::kHttp: name = action.http.path; break;
    }
    calls.push_back({action.kind, name, event.event_id});
    if (auto it = scripts.find(name); it != scripts.end() && !it->second.empty()) {
      ActionResult result = it->second.front();
      it->second.pop_front();
      return result;
    }
    return ActionResult::Done();
  }

  int CallsFor(const std::string& name) const {
    int count = 0;
    for (const auto& call : calls) count += call.name == name ? 1 : 0;
    return count;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& call : calls) names.push_back(call.name);
    return names;
  }

  std::map<std::string, std::deque<ActionResult>> scripts;
  std::vector<Call> calls;
};

class FakeDedupe : public EventDedupe {
 public:
  bool Seen(const std::string& event_id) override {
    ++seen_calls;
    return ids.count(event_id) > 0;
  }
  void Remember(const std::string& event_id) override { ids.insert(event_id); }

  std::set<std::string> ids;
  int seen_calls{0};
};

// Records the delays; returns false from the `stop_at`-th call on (1-based; 0 = never).
struct FakeWait {
  std::vector<milliseconds> delays;
  int stop_at{0};

  EventHandler::Wait Fn() {
    return [this](milliseconds delay) {
      delays.push_back(delay);
      return stop_at == 0 || static_cast<int>(delays.size()) < stop_at;
    };
  }
};

config::EventAction Emit(std::string event) {
  config::EventAction action;
  action.kind = config::EventAction::Kind::kEmit;
  action.emit.event = std::move(event);
  action.emit.rooms = {"user:{data.patient_id}"};
  return action;
}

config::EventAction Task(std::string queue) {
  config::EventAction action;
  action.kind = config::EventAction::Kind::kTask;
  action.task.queue = std::move(queue);
  return action;
}

config::EventAction Http(std::string path) {
  config::EventAction action;
  action.kind = config::EventAction::Kind::kHttp;
  action.http.upstream = "notifications";
  action.http.path = std::move(path);
  return action;
}

config::EventRule Rule(std::string match, std::string origin,
                       std::vector<config::EventAction> actions) {
  config::EventRule rule;
  rule.match = std::move(match);
  rule.origin = std::move(origin);
  rule.actions = std::move(actions);
  return rule;
}

config::KafkaConsumerSettings Settings() {
  config::KafkaConsumerSettings settings;
  settings.retries = 3;
  settings.retry_min = milliseconds(200);
  settings.retry_max = milliseconds(5000);
  return settings;
}

json EventJson(std::string id = "evt-1", std::string type = "appointment.scheduled") {
  return {{"event_id", std::move(id)},
          {"event_type", std::move(type)},
          {"event_version", "1.0"},
          {"timestamp", "2026-12-04T21:00:00.000Z"},
          {"source_service", "appointment-service"},
          {"correlation_id", "corr-1"},
          {"data", {{"patient_id", "P-1"}}}};
}

struct Fixture {
  explicit Fixture(std::vector<config::EventRule> rules,
                   config::KafkaConsumerSettings settings = Settings())
      : handler(settings, RuleSet(std::move(rules)), runner, dedupe, wait.Fn()) {}

  HandleOutcome Handle(const json& event) { return handler.Handle(event.dump()); }

  FakeRunner runner;
  FakeDedupe dedupe;
  FakeWait wait;
  EventHandler handler;
};

std::vector<config::EventRule> OneEmitRule() {
  return {Rule("appointment.*", "events.yaml:3", {Emit("appointment:updated")})};
}

TEST(EventHandlerTest, KindNames) {
  EXPECT_EQ(ToString(Kind::kHandled), "handled");
  EXPECT_EQ(ToString(Kind::kDuplicate), "duplicate");
  EXPECT_EQ(ToString(Kind::kUnmatched), "unmatched");
  EXPECT_EQ(ToString(Kind::kDeadLetter), "dead_lettered");
  EXPECT_EQ(ToString(Kind::kAborted), "aborted");
}

TEST(EventHandlerTest, Handled) {
  Fixture f(OneEmitRule());
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kHandled);
  EXPECT_EQ(outcome.event_id, "evt-1");
  EXPECT_EQ(outcome.event_type, "appointment.scheduled");
  EXPECT_EQ(outcome.correlation_id, "corr-1");
  EXPECT_TRUE(outcome.reason.empty());
  EXPECT_TRUE(outcome.failed_action.empty());
  ASSERT_EQ(f.runner.calls.size(), 1u);
  EXPECT_EQ(f.runner.calls[0].name, "appointment:updated");
  EXPECT_EQ(f.runner.calls[0].event_id, "evt-1");
  EXPECT_TRUE(f.wait.delays.empty());
  EXPECT_EQ(f.dedupe.ids, (std::set<std::string>{"evt-1"}));
}

TEST(EventHandlerTest, DuplicateIsSkipped) {
  Fixture f(OneEmitRule());
  f.dedupe.ids.insert("evt-1");
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kDuplicate);
  EXPECT_EQ(outcome.event_id, "evt-1");
  EXPECT_EQ(outcome.correlation_id, "corr-1");
  EXPECT_TRUE(f.runner.calls.empty());

  // A redelivery of a handled event is a duplicate too.
  EXPECT_EQ(f.Handle(EventJson("evt-2")).kind, Kind::kHandled);
  EXPECT_EQ(f.Handle(EventJson("evt-2")).kind, Kind::kDuplicate);
  EXPECT_EQ(f.runner.calls.size(), 1u);
}

TEST(EventHandlerTest, UnmatchedIsRemembered) {
  Fixture f(OneEmitRule());
  const auto outcome = f.Handle(EventJson("evt-9", "payment.completed"));
  EXPECT_EQ(outcome.kind, Kind::kUnmatched);
  EXPECT_EQ(outcome.event_type, "payment.completed");
  EXPECT_TRUE(f.runner.calls.empty());
  EXPECT_EQ(f.dedupe.ids, (std::set<std::string>{"evt-9"}));
}

TEST(EventHandlerTest, RetriesWithDoublingBackOffUntilSuccess) {
  Fixture f(OneEmitRule());
  f.runner.scripts["appointment:updated"] = {ActionResult::Retry("socket busy"),
                                             ActionResult::Retry("socket busy")};
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kHandled);
  EXPECT_EQ(f.runner.CallsFor("appointment:updated"), 3);
  EXPECT_EQ(f.wait.delays, (std::vector<milliseconds>{milliseconds(200), milliseconds(400)}));
  EXPECT_EQ(f.dedupe.ids.count("evt-1"), 1u);
}

TEST(EventHandlerTest, BackOffIsCappedAtRetryMax) {
  auto settings = Settings();
  settings.retries = 6;
  settings.retry_min = milliseconds(100);
  settings.retry_max = milliseconds(500);
  Fixture f(OneEmitRule(), settings);
  f.runner.scripts["appointment:updated"] = std::deque<ActionResult>(10, ActionResult::Retry("x"));
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kDeadLetter);
  EXPECT_EQ(outcome.attempts, 7);
  EXPECT_EQ(f.wait.delays,
            (std::vector<milliseconds>{milliseconds(100), milliseconds(200), milliseconds(400),
                                       milliseconds(500), milliseconds(500), milliseconds(500)}));
}

TEST(EventHandlerTest, RetryMinEqualToRetryMaxStaysFlat) {
  auto settings = Settings();
  settings.retries = 2;
  settings.retry_min = milliseconds(300);
  settings.retry_max = milliseconds(300);
  Fixture f(OneEmitRule(), settings);
  f.runner.scripts["appointment:updated"] = std::deque<ActionResult>(5, ActionResult::Retry("x"));
  f.Handle(EventJson());
  EXPECT_EQ(f.wait.delays, (std::vector<milliseconds>{milliseconds(300), milliseconds(300)}));
}

TEST(EventHandlerTest, AlwaysRetryEndsInTheDeadLetterTopic) {
  Fixture f(OneEmitRule());
  f.runner.scripts["appointment:updated"] =
      std::deque<ActionResult>(10, ActionResult::Retry("realtime unavailable"));
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kDeadLetter);
  EXPECT_EQ(outcome.reason, "realtime unavailable");
  EXPECT_EQ(outcome.failed_action, "events.yaml:3 emit");
  EXPECT_EQ(outcome.attempts, 4);  // 1 + retries
  EXPECT_EQ(outcome.event_id, "evt-1");
  EXPECT_EQ(f.runner.CallsFor("appointment:updated"), 4);
  EXPECT_EQ(f.wait.delays, (std::vector<milliseconds>{milliseconds(200), milliseconds(400),
                                                      milliseconds(800)}));
  // Remembered: a redelivery must not run the actions again.
  EXPECT_EQ(f.dedupe.ids.count("evt-1"), 1u);
}

TEST(EventHandlerTest, ZeroRetriesMeansOneAttempt) {
  auto settings = Settings();
  settings.retries = 0;
  Fixture f(OneEmitRule(), settings);
  f.runner.scripts["appointment:updated"] = {ActionResult::Retry("busy")};
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kDeadLetter);
  EXPECT_EQ(outcome.attempts, 1);
  EXPECT_TRUE(f.wait.delays.empty());
}

TEST(EventHandlerTest, PermanentFailureIsNotRetried) {
  Fixture f({Rule("appointment.*", "events.yaml:7", {Http("/api/v1/x/{data.patient_id}")})});
  f.runner.scripts["/api/v1/x/{data.patient_id}"] = {ActionResult::Permanent("http 400")};
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kDeadLetter);
  EXPECT_EQ(outcome.reason, "http 400");
  EXPECT_EQ(outcome.failed_action, "events.yaml:7 http");
  EXPECT_EQ(outcome.attempts, 1);
  EXPECT_EQ(f.runner.calls.size(), 1u);
  EXPECT_TRUE(f.wait.delays.empty());
}

TEST(EventHandlerTest, OneFailingActionDoesNotStopTheOthers) {
  Fixture f({Rule("appointment.*", "events.yaml:3",
                  {Task("reminders"), Emit("appointment:updated")}),
             Rule("*", "events.yaml:9", {Http("/audit")})});
  f.runner.scripts["reminders"] = {ActionResult::Permanent("no such queue")};
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kDeadLetter);
  EXPECT_EQ(outcome.reason, "no such queue");
  EXPECT_EQ(outcome.failed_action, "events.yaml:3 task");
  EXPECT_EQ(outcome.attempts, 1);
  EXPECT_EQ(f.runner.Names(),
            (std::vector<std::string>{"reminders", "appointment:updated", "/audit"}));
  EXPECT_EQ(f.dedupe.ids.count("evt-1"), 1u);
}

TEST(EventHandlerTest, TheFirstFailureIsTheOneReported) {
  Fixture f({Rule("appointment.*", "events.yaml:3", {Emit("first"), Emit("second")}),
             Rule("*", "events.yaml:9", {Http("/third")})});
  f.runner.scripts["first"] = {ActionResult::Permanent("first failed")};
  f.runner.scripts["second"] = {ActionResult::Permanent("second failed")};
  f.runner.scripts["/third"] = std::deque<ActionResult>(10, ActionResult::Retry("third failed"));
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kDeadLetter);
  EXPECT_EQ(outcome.reason, "first failed");
  EXPECT_EQ(outcome.failed_action, "events.yaml:3 emit");
  EXPECT_EQ(outcome.attempts, 1);
  EXPECT_EQ(f.runner.CallsFor("first"), 1);
  EXPECT_EQ(f.runner.CallsFor("second"), 1);
  EXPECT_EQ(f.runner.CallsFor("/third"), 4);
}

TEST(EventHandlerTest, ActionsOfAllMatchingRulesRunInOrder) {
  Fixture f({Rule("lab.*", "r1", {Emit("lab:result")}),
             Rule("payment.*", "r2", {Emit("payment:updated")}),
             Rule("*.critical", "r3", {Emit("alert:critical"), Task("escalations")})});
  EXPECT_EQ(f.Handle(EventJson("evt-1", "lab.result.critical")).kind, Kind::kHandled);
  EXPECT_EQ(f.runner.Names(),
            (std::vector<std::string>{"lab:result", "alert:critical", "escalations"}));
}

TEST(EventHandlerTest, StoppingWhileWaitingAbortsWithoutRemembering) {
  Fixture f({Rule("appointment.*", "events.yaml:3", {Emit("first"), Emit("second")})});
  f.runner.scripts["first"] = std::deque<ActionResult>(10, ActionResult::Retry("busy"));
  f.wait.stop_at = 2;
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kAborted);
  EXPECT_EQ(outcome.event_id, "evt-1");
  EXPECT_EQ(f.wait.delays.size(), 2u);
  EXPECT_EQ(f.runner.CallsFor("first"), 2);
  EXPECT_EQ(f.runner.CallsFor("second"), 0);  // nothing more once stopping
  EXPECT_TRUE(f.dedupe.ids.empty());           // redelivered after the restart
}

TEST(EventHandlerTest, StoppingAfterAnEarlierFailureStillAborts) {
  Fixture f({Rule("appointment.*", "events.yaml:3", {Emit("first"), Emit("second")})});
  f.runner.scripts["first"] = {ActionResult::Permanent("bad")};
  f.runner.scripts["second"] = {ActionResult::Retry("busy")};
  f.wait.stop_at = 1;
  const auto outcome = f.Handle(EventJson());
  EXPECT_EQ(outcome.kind, Kind::kAborted);
  EXPECT_TRUE(f.dedupe.ids.empty());
}

TEST(EventHandlerTest, TooLargeIsDeadLetteredUnread) {
  const std::string payload = EventJson().dump();
  auto settings = Settings();
  settings.max_event_bytes = payload.size();
  Fixture f(OneEmitRule(), settings);
  EXPECT_EQ(f.handler.Handle(payload).kind, Kind::kHandled);  // at the limit: fine

  settings.max_event_bytes = payload.size() - 1;
  Fixture g(OneEmitRule(), settings);
  const auto outcome = g.handler.Handle(payload);
  EXPECT_EQ(outcome.kind, Kind::kDeadLetter);
  EXPECT_EQ(outcome.reason, "too_large");
  EXPECT_EQ(outcome.attempts, 0);
  EXPECT_TRUE(outcome.event_id.empty());
  EXPECT_TRUE(outcome.failed_action.empty());
  EXPECT_TRUE(g.runner.calls.empty());
  EXPECT_EQ(g.dedupe.seen_calls, 0);
  EXPECT_TRUE(g.dedupe.ids.empty());
}

TEST(EventHandlerTest, UnparseableIsDeadLetteredWithTheReason) {
  Fixture f(OneEmitRule());
  struct Case {
    std::string payload;
    std::string reason;
  };
  json no_type = EventJson();
  no_type.erase("event_type");
  json bad_data = EventJson();
  bad_data["data"] = "text";
  for (const Case& c : {Case{"not json", "not_json"}, Case{"[1]", "not_object"},
                        Case{no_type.dump(), "bad_event_type"},
                        Case{bad_data.dump(), "data_not_object"}}) {
    const auto outcome = f.handler.Handle(c.payload);
    EXPECT_EQ(outcome.kind, Kind::kDeadLetter) << c.payload;
    EXPECT_EQ(outcome.reason, c.reason) << c.payload;
    EXPECT_EQ(outcome.attempts, 0);
    EXPECT_TRUE(outcome.failed_action.empty());
  }
  EXPECT_TRUE(f.runner.calls.empty());
  EXPECT_EQ(f.dedupe.seen_calls, 0);
  EXPECT_TRUE(f.dedupe.ids.empty());
}

TEST(EventHandlerTest, MissingCorrelationIdIsMadeUp) {
  Fixture f(OneEmitRule());
  json event = EventJson();
  event.erase("correlation_id");
  const auto outcome = f.Handle(event);
  EXPECT_EQ(outcome.kind, Kind::kHandled);
  EXPECT_EQ(outcome.correlation_id.size(), 36u);
}

}  // namespace
}  // namespace nilecare::kafka
