// The events: section (config/loader.cpp ParseEvents), its checks (config/event_rule_check.hpp)
// and the built-in rules (config/default_event_rules.cpp).

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "config/event_rule_check.hpp"
#include "config_test_support.hpp"

namespace {

using nilecare::config::DefaultEventRules;
using nilecare::config::DefaultEventRulesHaveTasks;
using nilecare::config::EventAction;
using nilecare::config::EventRule;
using nilecare::config::EventRuleProblems;
using nilecare::config::GatewaySettings;
using nilecare::config::HttpPathProblem;
using nilecare::config::MissingDefaultTaskQueues;
using nilecare::config::RabbitMqSettings;
using nilecare::config::RoomProblem;
using nilecare::config::Summary;
using nilecare::config::TaskQueueSettings;
using nilecare::config::test_support::Has;
using nilecare::config::test_support::Load;
using nilecare::config::test_support::ProblemOf;
using nilecare::config::test_support::ProblemsOf;

// What events: needs (kafka: with its consumer), and an upstream for http actions. Lines 1-3;
// the tests' events: starts on line 4.
constexpr std::string_view kBase =
    "service: {}\n"
    "upstreams: {notification: {url: 'http://127.0.0.1:7060'}, billing: {url: "
    "'http://127.0.0.1:7050'}}\n"
    "kafka: {}\n";

std::string WithBase(std::string_view rest) { return std::string(kBase) + std::string(rest); }

// One rule with one action, the action's mapping written by the test. Lines 4-8: the action
// is on line 8.
std::string WithAction(std::string_view action) {
  return WithBase("events:\n  rules:\n    - match: 'lab.*'\n      actions:\n        - " +
                  std::string(action) + "\n");
}

TEST(EventsSectionTest, AbsentMeansTheBuiltInRules) {
  const GatewaySettings s = Load(kBase);
  EXPECT_FALSE(s.events.has_value());
  const std::string summary = Summary(s);
  EXPECT_NE(summary.find(R"(
  events:          built-in rules (no events: section):
                   appointment.*        -> emit appointment:updated to user:{data.patient_id},user:{data.doctor_id}
                   lab.result.critical  -> emit alert:critical (critical) to patient:{data.patient_id},role:doctor
                   lab.result.available -> emit notification:new to user:{data.patient_id},user:{data.doctor_id}
                   prescription.*       -> emit notification:new to user:{data.patient_id},role:pharmacist
                   payment.*            -> emit notification:new to user:{data.patient_id}
)"),
            std::string::npos)
      << summary;
  // Without a consumer, nothing acts on events.
  EXPECT_NE(Summary(Load("service: {}\n")).find("\n  events:          off (no kafka consumer)\n"),
            std::string::npos);
  EXPECT_NE(Summary(Load("service: {}\nkafka: {consumer: off}\n"))
                .find("\n  events:          off (no kafka consumer)\n"),
            std::string::npos);
}

TEST(EventsSectionTest, ReadsRules) {
  const GatewaySettings s = Load(WithBase(R"(events:
  rules:
    - match: "appointment.*"
      actions:
        - emit: { event: appointment:updated, rooms: ["user:{data.patient_id}", "role:doctor"], critical: false }
        - http: { upstream: notification, method: PUT, path: "/api/v1/notifications/{data.patient_id}?type={event_type}" }
    - match: lab.result.critical
      actions:
        - emit:
            event: alert:critical
            rooms: ["patient:{data.patient_id}", "role:doctor", "user:{user_id}"]
            critical: true
        - http: { upstream: billing, path: /api/v1/alerts }
)"));
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
  ASSERT_TRUE(s.events.has_value());
  const std::vector<EventRule>& rules = s.events->rules;
  ASSERT_EQ(rules.size(), 2u);

  EXPECT_EQ(rules[0].match, "appointment.*");
  EXPECT_EQ(rules[0].origin, "gw.yaml:6");
  ASSERT_EQ(rules[0].actions.size(), 2u);
  const EventAction& emit = rules[0].actions[0];
  EXPECT_EQ(emit.kind, EventAction::Kind::kEmit);
  EXPECT_EQ(emit.emit.event, "appointment:updated");
  EXPECT_EQ(emit.emit.rooms, (std::vector<std::string>{"user:{data.patient_id}", "role:doctor"}));
  EXPECT_FALSE(emit.emit.critical);
  const EventAction& http = rules[0].actions[1];
  EXPECT_EQ(http.kind, EventAction::Kind::kHttp);
  EXPECT_EQ(http.http.upstream, "notification");
  EXPECT_EQ(http.http.method, "PUT");
  EXPECT_EQ(http.http.path, "/api/v1/notifications/{data.patient_id}?type={event_type}");

  EXPECT_EQ(rules[1].match, "lab.result.critical");
  EXPECT_EQ(rules[1].origin, "gw.yaml:10");
  ASSERT_EQ(rules[1].actions.size(), 2u);
  EXPECT_EQ(rules[1].actions[0].kind, EventAction::Kind::kEmit);
  EXPECT_EQ(rules[1].actions[0].emit.event, "alert:critical");
  EXPECT_TRUE(rules[1].actions[0].emit.critical);
  EXPECT_EQ(
      rules[1].actions[0].emit.rooms,
      (std::vector<std::string>{"patient:{data.patient_id}", "role:doctor", "user:{user_id}"}));
  EXPECT_EQ(rules[1].actions[1].kind, EventAction::Kind::kHttp);
  EXPECT_EQ(rules[1].actions[1].http.upstream, "billing");
  EXPECT_EQ(rules[1].actions[1].http.method, "POST");  // the default
  EXPECT_EQ(rules[1].actions[1].http.path, "/api/v1/alerts");

  // What the loader accepted passes the shared checks as well.
  for (const EventRule& rule : rules) {
    EXPECT_TRUE(EventRuleProblems(rule, {"notification", "billing"}, std::nullopt).empty())
        << rule.match;
  }

  const std::string summary = Summary(s);
  EXPECT_NE(summary.find(R"(
  events:          2 rules:
                   appointment.*       -> emit appointment:updated to user:{data.patient_id},role:doctor; http PUT notification/api/v1/notifications/{data.patient_id}?type={event_type}
                   lab.result.critical -> emit alert:critical (critical) to patient:{data.patient_id},role:doctor,user:{user_id}; http POST billing/api/v1/alerts
)"),
            std::string::npos)
      << summary;
}

TEST(EventsSectionTest, NoRules) {
  for (const char* events : {"events: {rules: []}\n", "events:\n  rules:\n"}) {
    const GatewaySettings s = Load(WithBase(events));
    ASSERT_TRUE(s.events.has_value()) << events;
    EXPECT_TRUE(s.events->rules.empty()) << events;
    EXPECT_NE(Summary(s).find("\n  events:          no rules (consumed events are not acted on)\n"),
              std::string::npos)
        << Summary(s);
  }
  // No rules key (every key commented out): the built-in rules, as without the section.
  for (const char* events : {"events: {}\n", "events:\n"}) {
    EXPECT_FALSE(Load(WithBase(events)).events.has_value()) << events;
  }
}

TEST(EventsSectionTest, NeedsTheKafkaConsumer) {
  EXPECT_EQ(ProblemOf("service: {}\nevents: {rules: []}\n"),
            "gw.yaml:2: events: requires the kafka section with a consumer (rules act on consumed "
            "events)");
  EXPECT_EQ(ProblemOf("service: {}\nkafka: {consumer: off}\n\nevents:\n  rules: []\n"),
            "gw.yaml:4: events: requires kafka.consumer, which is off (rules act on consumed "
            "events)");
  // Whatever the order in the file.
  EXPECT_TRUE(Load("service: {}\nevents: {rules: []}\nkafka: {}\n").events.has_value());
}

TEST(EventsSectionTest, RuleProblems) {
  const std::vector<std::string> problems = ProblemsOf(WithBase(R"(events:
  rules:
    - actions: [{emit: {event: a, rooms: ['role:x']}}]
    - match: 'Lab.*'
      actions: []
    - match: ''
    - match: 'lab.*'
      actions:
    - match: 'lab.*'
      actions: [emit]
    - 'lab.*'
    - match: 'lab.*'
      action: []
  rule: []
)"));
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "gw.yaml:6: events.rules[0].match: required key is missing",
                "gw.yaml:7: events.rules[1].match: expected an event type pattern of a-z, 0-9, "
                "'_', '.' and '*' like appointment.*, got \"Lab.*\"",
                "gw.yaml:8: events.rules[1].actions: is empty: a rule needs at least one action",
                "gw.yaml:9: events.rules[2].match: expected an event type pattern of a-z, 0-9, "
                "'_', '.' and '*' like appointment.*, got \"\"",
                "gw.yaml:9: events.rules[2].actions: required key is missing",
                "gw.yaml:11: events.rules[3].actions: is empty: a rule needs at least one action",
                "gw.yaml:13: events.rules[4].actions[0]: expected a mapping of settings, got "
                "\"emit\"",
                "gw.yaml:14: events.rules[5]: expected a mapping of settings, got \"lab.*\"",
                "gw.yaml:15: events.rules[6].actions: required key is missing",
                "gw.yaml:16: events.rules[6].action: unknown key (did you mean \"actions\"?)",
                "gw.yaml:17: events.rule: unknown key (did you mean \"rules\"?)",
            }));
  EXPECT_EQ(ProblemOf(WithBase("events:\n  rules: {match: a}\n")),
            "gw.yaml:5: events.rules: expected a list of mappings (one \"- { ... }\" per item), "
            "got a mapping");
}

TEST(EventsSectionTest, ActionIsOneOfEmitTaskOrHttp) {
  EXPECT_EQ(ProblemOf(WithAction("{}")),
            "gw.yaml:8: events.rules[0].actions[0]: expected one of emit, task or http");
  EXPECT_EQ(ProblemsOf(WithAction("{emitt: {event: a, rooms: ['role:x']}}")),
            (std::vector<std::string>{
                "gw.yaml:8: events.rules[0].actions[0]: expected one of emit, task or http",
                "gw.yaml:8: events.rules[0].actions[0].emitt: unknown key (did you mean "
                "\"emit\"?)",
            }));
  EXPECT_EQ(ProblemOf(WithAction("{emit: {event: a, rooms: ['role:x']}, http: {upstream: "
                                 "notification, path: /a}}")),
            "gw.yaml:8: events.rules[0].actions[0].http: an action is one of emit, task or http, "
            "and this one is emit already: give each its own list item");
  EXPECT_EQ(ProblemOf(WithAction("emit: a")),
            "gw.yaml:8: events.rules[0].actions[0].emit: expected a mapping of settings, got "
            "\"a\"");
}

TEST(EventsSectionTest, TaskActionsNeedRabbitMq) {
  EXPECT_EQ(ProblemOf(WithBase(R"(events:
  rules:
    - match: "appointment.*"
      actions:
        - emit: { event: appointment:updated, rooms: ["user:{data.patient_id}"] }
        - task: { queue: email.normal, priority: 5 }
)")),
            "gw.yaml:9: events.rules[0].actions[1].task: task actions need the rabbitmq: "
            "section (tasks are published to its queues)");
}

TEST(EventsSectionTest, EmitProblems) {
  const std::string event_what =
      "expected an event name of 1 to 64 visible ASCII characters (no spaces) like "
      "appointment:updated, got ";
  EXPECT_EQ(ProblemsOf(WithAction("emit: {}")),
            (std::vector<std::string>{
                "gw.yaml:8: events.rules[0].actions[0].emit.event: required key is missing",
                "gw.yaml:8: events.rules[0].actions[0].emit.rooms: required key is missing",
            }));
  EXPECT_EQ(ProblemOf(WithAction("emit: {event: 'a b', rooms: ['role:x']}")),
            "gw.yaml:8: events.rules[0].actions[0].emit.event: " + event_what + "\"a b\"");
  EXPECT_EQ(ProblemOf(WithAction("emit: {event: '', rooms: ['role:x']}")),
            "gw.yaml:8: events.rules[0].actions[0].emit.event: " + event_what + "\"\"");
  EXPECT_EQ(ProblemOf(WithAction("emit: {event: \"a\\tb\", rooms: ['role:x']}")),
            "gw.yaml:8: events.rules[0].actions[0].emit.event: " + event_what + "\"a\tb\"");
  EXPECT_EQ(Load(WithAction("emit: {event: " + std::string(64, 'e') + ", rooms: ['role:x']}"))
                .events->rules[0]
                .actions[0]
                .emit.event.size(),
            64u);
  EXPECT_TRUE(
      Has(ProblemsOf(WithAction("emit: {event: " + std::string(65, 'e') + ", rooms: ['role:x']}")),
          "emit.event: " + event_what));
  EXPECT_EQ(ProblemOf(WithAction("emit: {event: disconnect, rooms: ['role:x']}")),
            "gw.yaml:8: events.rules[0].actions[0].emit.event: \"disconnect\" is reserved by "
            "socket.io-client (connect, connect_error, disconnect, disconnecting, newListener, "
            "removeListener)");
  EXPECT_EQ(ProblemOf(WithAction("emit: {event: a, rooms: []}")),
            "gw.yaml:8: events.rules[0].actions[0].emit.rooms: is empty: list the rooms to emit "
            "to, like [\"user:{data.patient_id}\", role:doctor]");
  EXPECT_EQ(ProblemOf(WithAction("emit: {event: a, rooms: 'role:x'}")),
            "gw.yaml:8: events.rules[0].actions[0].emit.rooms: expected a list of strings like "
            "[a, b], got \"role:x\"");
  EXPECT_EQ(ProblemOf(WithAction("emit: {event: a, rooms: ['role:x'], critical: yes}")),
            "gw.yaml:8: events.rules[0].actions[0].emit.critical: expected true or false, got "
            "\"yes\"");
}

TEST(EventsSectionTest, RoomProblemsHaveTheirOwnLines) {
  const std::string room_what =
      "expected a room user:<id>, role:<name> or patient:<id> without spaces, like "
      "\"user:{data.patient_id}\" or role:doctor, got ";
  const std::string known =
      " (known: {event_id}, {event_type}, {user_id}, {correlation_id}, {source_service}, "
      "{data.<field>[.<field>...]})";
  EXPECT_EQ(ProblemsOf(WithBase(R"(events:
  rules:
    - match: 'lab.*'
      actions:
        - emit:
            event: notification:new
            rooms:
              - 'user:{data.patient_id}'
              - doctor
              - 'user:'
              - 'role:head nurse'
              - 'user:{data.patient-id}'
              - 'user:{data.patient_id'
              - 'user:data.patient_id}'
              - 'patient:{{data.patient_id}}'
              - 'user:{}'
              - [user]
)")),
            (std::vector<std::string>{
                "gw.yaml:12: events.rules[0].actions[0].emit.rooms[1]: " + room_what + "\"doctor\"",
                "gw.yaml:13: events.rules[0].actions[0].emit.rooms[2]: " + room_what + "\"user:\"",
                "gw.yaml:14: events.rules[0].actions[0].emit.rooms[3]: " + room_what +
                    "\"role:head nurse\"",
                "gw.yaml:15: events.rules[0].actions[0].emit.rooms[4]: unknown placeholder "
                "{data.patient-id} in \"user:{data.patient-id}\"" +
                    known,
                "gw.yaml:16: events.rules[0].actions[0].emit.rooms[5]: unbalanced '{' in "
                "\"user:{data.patient_id\"",
                "gw.yaml:17: events.rules[0].actions[0].emit.rooms[6]: unbalanced '}' in "
                "\"user:data.patient_id}\"",
                "gw.yaml:18: events.rules[0].actions[0].emit.rooms[7]: unbalanced '{' in "
                "\"patient:{{data.patient_id}}\"",
                "gw.yaml:19: events.rules[0].actions[0].emit.rooms[8]: unknown placeholder {} in "
                "\"user:{}\"" +
                    known,
                "gw.yaml:20: events.rules[0].actions[0].emit.rooms[9]: expected a string, got a "
                "list",
            }));
}

TEST(EventsSectionTest, PlaceholderGrammar) {
  for (const char* room :
       {"user:{event_id}", "user:{event_type}", "user:{user_id}", "role:{correlation_id}",
        "role:{source_service}", "patient:{data.a}", "patient:{data.a.b_c.D9}",
        "user:{data.x}-{data.y}", "role:doctor", "patient:42"}) {
    EXPECT_EQ(RoomProblem(room), "") << room;
  }
  for (const char* room : {"user:{data}", "user:{data.}", "user:{data..a}", "user:{data.a.}",
                           "user:{.a}", "user:{userid}", "user:{Event_id}", "user:{data.a:b}"}) {
    EXPECT_NE(RoomProblem(room).find("unknown placeholder"), std::string::npos) << room;
  }
  EXPECT_NE(RoomProblem("user:{data.a b}").find("expected a room"), std::string::npos);
  EXPECT_EQ(HttpPathProblem("/api/v1/notifications/{data.patient_id}"), "");
  EXPECT_EQ(HttpPathProblem("/"), "");
  EXPECT_NE(HttpPathProblem("/a/{data.x-y}").find("unknown placeholder {data.x-y}"),
            std::string::npos);
  EXPECT_NE(HttpPathProblem("/a/{data.x").find("unbalanced '{'"), std::string::npos);
}

TEST(EventsSectionTest, CriticalNeedsAlertCritical) {
  EXPECT_EQ(ProblemOf(WithAction("emit: {event: appointment:updated, rooms: ['role:x'], critical: "
                                 "true}")),
            "gw.yaml:8: events.rules[0].actions[0].emit.critical: true needs event: "
            "alert:critical (only that event is acknowledged, re-sent and escalated), not "
            "\"appointment:updated\"");
  // alert:critical without the flag is a plain emit.
  EXPECT_FALSE(Load(WithAction("emit: {event: alert:critical, rooms: ['role:doctor']}"))
                   .events->rules[0]
                   .actions[0]
                   .emit.critical);
}

TEST(EventsSectionTest, HttpProblems) {
  EXPECT_EQ(ProblemsOf(WithAction("http: {}")),
            (std::vector<std::string>{
                "gw.yaml:8: events.rules[0].actions[0].http.upstream: required key is missing",
                "gw.yaml:8: events.rules[0].actions[0].http.path: required key is missing",
            }));
  EXPECT_EQ(ProblemOf(WithAction("http: {upstream: notifications, path: /a}")),
            "gw.yaml:8: events.rules[0].actions[0].http.upstream: unknown upstream "
            "\"notifications\" (known: notification, billing)");
  EXPECT_EQ(ProblemOf(WithAction("http: {upstream: notification, method: GET, path: /a}")),
            "gw.yaml:8: events.rules[0].actions[0].http.method: expected one of POST|PUT|PATCH, "
            "got \"GET\"");
  EXPECT_EQ(ProblemOf(WithAction("http: {upstream: notification, method: post, path: /a}")),
            "gw.yaml:8: events.rules[0].actions[0].http.method: expected one of POST|PUT|PATCH, "
            "got \"post\"");
  const std::string path_what =
      "expected a path starting with '/', without spaces or '#', like /api/v1/notifications, "
      "got ";
  for (const char* path : {"api/v1/x", "'/a b'", "'/a#b'", "''"}) {
    const std::string value = std::string(path).front() == '\''
                                  ? std::string(path).substr(1, std::string(path).size() - 2)
                                  : std::string(path);
    EXPECT_EQ(
        ProblemOf(WithAction(std::string("http: {upstream: notification, path: ") + path + "}")),
        "gw.yaml:8: events.rules[0].actions[0].http.path: " + path_what + "\"" + value + "\"")
        << path;
  }
  EXPECT_EQ(ProblemOf(WithAction("http: {upstream: notification, path: '/a/{patient_id}'}")),
            "gw.yaml:8: events.rules[0].actions[0].http.path: unknown placeholder {patient_id} "
            "in \"/a/{patient_id}\" (known: {event_id}, {event_type}, {user_id}, "
            "{correlation_id}, {source_service}, {data.<field>[.<field>...]})");
  // Without an upstreams: section.
  EXPECT_EQ(ProblemOf("service: {}\nkafka: {}\nevents:\n  rules:\n    - match: a\n      actions:\n"
                      "        - http: {upstream: notification, path: /a}\n"),
            "gw.yaml:7: events.rules[0].actions[0].http.upstream: unknown upstream "
            "\"notification\" (no upstreams: section)");
}

TEST(EventsSectionTest, ProblemsComeInFileOrderWithTheOthers) {
  const std::vector<std::string> problems = ProblemsOf(R"(service: {}
events:
  rules:
    - match: 'a.*'
      actions:
        - http: {upstream: x, path: /a}
kafka:
  consumer: off
)");
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "gw.yaml:2: events: requires kafka.consumer, which is off (rules act "
                          "on consumed events)",
                          "gw.yaml:6: events.rules[0].actions[0].http.upstream: unknown upstream "
                          "\"x\" (no upstreams: section)",
                      }));
}

// ---- The built-in rules ---------------------------------------------------------------------

// "match: kind target, ..." for each rule, to compare whole rule sets at a glance.
std::vector<std::string> Describe(const std::vector<EventRule>& rules) {
  std::vector<std::string> lines;
  for (const EventRule& rule : rules) {
    std::string line = rule.match + ":";
    for (const EventAction& action : rule.actions) {
      switch (action.kind) {
        case EventAction::Kind::kEmit:
          line += " emit " + action.emit.event + (action.emit.critical ? "!" : "");
          for (const std::string& room : action.emit.rooms) line += " " + room;
          break;
        case EventAction::Kind::kTask:
          line += " task " + action.task.queue + "/" + std::to_string(action.task.priority);
          break;
        case EventAction::Kind::kHttp:
          line += " http " + action.http.method + " " + action.http.upstream + action.http.path;
          break;
      }
      line += ";";
    }
    lines.push_back(line);
  }
  return lines;
}

TEST(DefaultEventRulesTest, TheSpecsSubscribers) {
  EXPECT_EQ(Describe(DefaultEventRules(false)),
            (std::vector<std::string>{
                "appointment.*: emit appointment:updated user:{data.patient_id} "
                "user:{data.doctor_id};",
                "lab.result.critical: emit alert:critical! patient:{data.patient_id} role:doctor;",
                "lab.result.available: emit notification:new user:{data.patient_id} "
                "user:{data.doctor_id};",
                "prescription.*: emit notification:new user:{data.patient_id} role:pharmacist;",
                "payment.*: emit notification:new user:{data.patient_id};",
            }));
  EXPECT_EQ(Describe(DefaultEventRules(true)),
            (std::vector<std::string>{
                "appointment.*: emit appointment:updated user:{data.patient_id} "
                "user:{data.doctor_id}; task email.normal/-1;",
                "lab.result.critical: emit alert:critical! patient:{data.patient_id} role:doctor; "
                "task sms.urgent/10;",
                "lab.result.available: emit notification:new user:{data.patient_id} "
                "user:{data.doctor_id};",
                "prescription.*: emit notification:new user:{data.patient_id} role:pharmacist;",
                "payment.*: emit notification:new user:{data.patient_id};",
            }));
  for (const bool with_tasks : {false, true}) {
    for (const EventRule& rule : DefaultEventRules(with_tasks)) {
      EXPECT_EQ(rule.origin, "default") << rule.match;
    }
  }
}

TEST(DefaultEventRulesTest, PassTheLoadersChecks) {
  // The same checks as a configured rule; the built-in rules name no upstream. Their tasks go
  // to queues of the built-in rabbitmq.queues.
  for (const EventRule& rule : DefaultEventRules(false)) {
    EXPECT_EQ(EventRuleProblems(rule, {}, std::nullopt), std::vector<std::string>{})
        << rule.match;
  }
  for (const EventRule& rule : DefaultEventRules(true)) {
    EXPECT_EQ(EventRuleProblems(rule, {}, RabbitMqSettings{}), std::vector<std::string>{})
        << rule.match;
  }
  EXPECT_TRUE(DefaultEventRulesHaveTasks(RabbitMqSettings{}));
  EXPECT_FALSE(DefaultEventRulesHaveTasks(std::nullopt));
  // Without rabbitmq: their task actions are refused, as a configured one is.
  std::vector<std::string> task_problems;
  for (const EventRule& rule : DefaultEventRules(true)) {
    for (const std::string& problem : EventRuleProblems(rule, {}, std::nullopt)) {
      task_problems.push_back(rule.match + ": " + problem);
    }
  }
  EXPECT_EQ(task_problems,
            (std::vector<std::string>{
                "appointment.*: actions[1].task: task actions need the rabbitmq: section (tasks "
                "are published to its queues)",
                "lab.result.critical: actions[1].task: task actions need the rabbitmq: section "
                "(tasks are published to its queues)",
            }));
  // Nor without their queues. Only the names count, as for the event consumer: the broker caps
  // sms.urgent's priority 10 at a lower max_priority.
  RabbitMqSettings other_queues;
  other_queues.queues = {{"email.normal", "nilecare.email", 5}, {"sms.normal", "nilecare.sms", 5}};
  EXPECT_FALSE(DefaultEventRulesHaveTasks(other_queues));
  EXPECT_EQ(MissingDefaultTaskQueues(other_queues), std::vector<std::string>{"sms.urgent"});
  other_queues.queues.clear();
  EXPECT_EQ(MissingDefaultTaskQueues(other_queues),
            (std::vector<std::string>{"email.normal", "sms.urgent"}));
  RabbitMqSettings low_priority;
  low_priority.max_priority = 5;
  for (TaskQueueSettings& queue : low_priority.queues) queue.priority = 1;
  EXPECT_TRUE(DefaultEventRulesHaveTasks(low_priority));
}

TEST(EventRuleProblemsTest, SameTextsAsTheLoader) {
  EventRule rule;
  rule.match = "Lab.*";
  EventAction emit;
  emit.kind = EventAction::Kind::kEmit;
  emit.emit = {"appointment:updated", {"doctor", "user:{x}"}, true};
  EventAction http;
  http.kind = EventAction::Kind::kHttp;
  http.http = {"nowhere", "GET", "api"};
  EventAction task;
  task.kind = EventAction::Kind::kTask;
  task.task = {"amq.x", 256};
  rule.actions = {emit, http, task};

  const std::vector<std::string> loader = ProblemsOf(WithBase(R"(events:
  rules:
    - match: 'Lab.*'
      actions:
        - emit: {event: 'appointment:updated', rooms: [doctor, 'user:{x}'], critical: true}
        - http: {upstream: nowhere, method: GET, path: api}
        - task: {queue: amq.x, priority: 256}
)"));
  std::vector<std::string> shared;
  for (const std::string& problem :
       EventRuleProblems(rule, {"notification", "billing"}, std::nullopt)) {
    shared.push_back("events.rules[0]." + problem);
  }
  // The loader's problems, less "<file>:<line>: ".
  std::vector<std::string> stripped;
  for (const std::string& problem : loader) {
    stripped.push_back(problem.substr(problem.find(": ") + 2));
  }
  std::sort(shared.begin(), shared.end());
  std::sort(stripped.begin(), stripped.end());
  EXPECT_EQ(stripped, shared);

  // With a rabbitmq: section, the task's own fields are checked against its queues.
  EXPECT_EQ(EventRuleProblems(EventRule{"a", {task}, ""}, {}, RabbitMqSettings{}),
            (std::vector<std::string>{
                "actions[0].task.queue: unknown queue \"amq.x\" (known: email.high, "
                "email.normal, email.low, sms.urgent, sms.normal, reports.pdf, reports.excel)",
                "actions[0].task.priority: is 256, more than rabbitmq.max_priority (10)",
            }));
  EXPECT_EQ(EventRuleProblems(EventRule{"a", {}, ""}, {}, std::nullopt),
            (std::vector<std::string>{"actions: is empty: a rule needs at least one action"}));
}

}  // namespace
