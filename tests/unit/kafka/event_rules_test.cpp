#include "kafka/event_rules.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace nilecare::kafka {
namespace {

using nlohmann::json;

core::DomainEvent Event(json data = json::object()) {
  core::DomainEvent event;
  event.event_id = "5f0c7f7e-1c1b-4c64-9a53-0d1f2f5a6b7c";
  event.event_type = "lab.result.critical";
  event.timestamp = "2026-12-04T21:00:00.000Z";
  event.source_service = "lab-service";
  event.correlation_id = "corr-1";
  event.user_id = "USR-1";
  event.data = std::move(data);
  return event;
}

std::optional<std::string> Room(std::string_view text, const core::DomainEvent& event) {
  return ExpandTemplate(text, event, TemplateUse::kRoom);
}
std::optional<std::string> Path(std::string_view text, const core::DomainEvent& event) {
  return ExpandTemplate(text, event, TemplateUse::kPath);
}

// ---- GlobMatch ------------------------------------------------------------------------------

TEST(GlobMatchTest, ExactText) {
  EXPECT_TRUE(GlobMatch("appointment.scheduled", "appointment.scheduled"));
  EXPECT_FALSE(GlobMatch("appointment.scheduled", "appointment.cancelled"));
  EXPECT_FALSE(GlobMatch("appointment.scheduled", "appointment.scheduled.late"));
  EXPECT_FALSE(GlobMatch("appointment.scheduled", "appointment.schedule"));
  EXPECT_FALSE(GlobMatch("lab.result", "Lab.result"));
}

TEST(GlobMatchTest, StarMatchesAnyRunAcrossDots) {
  EXPECT_TRUE(GlobMatch("*", "lab.result.critical"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("lab.*", "lab.result.critical"));
  EXPECT_TRUE(GlobMatch("lab.*", "lab.ordered"));
  EXPECT_TRUE(GlobMatch("lab.*", "lab."));  // a star may match nothing
  EXPECT_FALSE(GlobMatch("lab.*", "lab"));
  EXPECT_FALSE(GlobMatch("lab.*", "laboratory.result"));
  EXPECT_FALSE(GlobMatch("lab.*", "patient.lab.result"));
  EXPECT_TRUE(GlobMatch("*.critical", "lab.result.critical"));
  EXPECT_TRUE(GlobMatch("*.critical", "vitals.critical"));
  EXPECT_FALSE(GlobMatch("*.critical", "vitals.critical.ack"));
  EXPECT_FALSE(GlobMatch("*.critical", "critical"));
  EXPECT_TRUE(GlobMatch("*critical*", "lab.result.critical"));
}

TEST(GlobMatchTest, SeveralStars) {
  EXPECT_TRUE(GlobMatch("*.result.*", "lab.result.critical"));
  EXPECT_TRUE(GlobMatch("lab.*.critical", "lab.result.critical"));
  EXPECT_TRUE(GlobMatch("lab.*.critical", "lab.a.b.c.critical"));
  EXPECT_FALSE(GlobMatch("lab.*.critical", "lab.critical"));
  EXPECT_TRUE(GlobMatch("a*b*c", "axxbyyc"));
  EXPECT_TRUE(GlobMatch("a*b*c", "abc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "acb"));
  EXPECT_TRUE(GlobMatch("**", "x"));
  EXPECT_TRUE(GlobMatch("a**b", "ab"));
  EXPECT_TRUE(GlobMatch("*a*", "banana"));
  EXPECT_TRUE(GlobMatch("*ana", "banana"));  // needs the backtrack past the first "ana"
  EXPECT_FALSE(GlobMatch("*anx", "banana"));
}

TEST(GlobMatchTest, EmptyPatternAndText) {
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "lab.result"));
  EXPECT_FALSE(GlobMatch("lab.result", ""));
  EXPECT_TRUE(GlobMatch("***", ""));
  EXPECT_FALSE(GlobMatch("*a", ""));
}

TEST(GlobMatchTest, PathologicalPatternsStayFast) {
  const std::string text(100'000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(GlobMatch("a*a*a*a*b", text));
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(GlobMatch("a*a*a*a*a", text));
  EXPECT_FALSE(GlobMatch("*" + std::string(50, 'a') + "b", std::string(20'000, 'a')));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // Exponential backtracking would not finish; the single-backtrack loop takes milliseconds
  // (the quadratic last case a few; generous for sanitizer builds).
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

// ---- ExpandTemplate -------------------------------------------------------------------------

TEST(ExpandTemplateTest, NoPlaceholders) {
  const auto event = Event();
  EXPECT_EQ(Room("role:doctor", event), "role:doctor");
  EXPECT_EQ(Room("", event), "");
  EXPECT_EQ(Path("/api/v1/notifications", event), "/api/v1/notifications");
  // The template's own text is not encoded (the configuration checks it).
  EXPECT_EQ(Path("/a b/", event), "/a b/");
}

TEST(ExpandTemplateTest, EnvelopePlaceholders) {
  const auto event = Event();
  EXPECT_EQ(Room("event:{event_id}", event), "event:5f0c7f7e-1c1b-4c64-9a53-0d1f2f5a6b7c");
  EXPECT_EQ(Room("type:{event_type}", event), "type:lab.result.critical");
  EXPECT_EQ(Room("user:{user_id}", event), "user:USR-1");
  EXPECT_EQ(Room("corr:{correlation_id}", event), "corr:corr-1");
  EXPECT_EQ(Room("svc:{source_service}", event), "svc:lab-service");
  EXPECT_EQ(Path("/{source_service}/{event_type}/{user_id}", event),
            "/lab-service/lab.result.critical/USR-1");
}

TEST(ExpandTemplateTest, DataPlaceholders) {
  const auto event = Event({{"patient_id", "P-1"},
                            {"count", 42},
                            {"negative", -7},
                            {"big", 18446744073709551615ULL},
                            {"a", {{"b", "deep"}, {"c", {{"d", 5}}}}}});
  EXPECT_EQ(Room("user:{data.patient_id}", event), "user:P-1");
  EXPECT_EQ(Room("n:{data.count}", event), "n:42");
  EXPECT_EQ(Room("n:{data.negative}", event), "n:-7");
  EXPECT_EQ(Room("n:{data.big}", event), "n:18446744073709551615");
  EXPECT_EQ(Room("x:{data.a.b}", event), "x:deep");
  EXPECT_EQ(Room("x:{data.a.c.d}", event), "x:5");
  EXPECT_EQ(Room("{data.patient_id}:{data.count}:{event_type}", event),
            "P-1:42:lab.result.critical");
  EXPECT_EQ(Path("/api/v1/patients/{data.patient_id}/alerts/{data.a.b}", event),
            "/api/v1/patients/P-1/alerts/deep");
}

TEST(ExpandTemplateTest, MissingValuesFail) {
  auto event = Event({{"patient_id", "P-1"}, {"a", {{"b", "x"}}}, {"empty", ""}});
  EXPECT_EQ(Room("user:{data.nope}", event), std::nullopt);
  EXPECT_EQ(Room("user:{data.a.nope}", event), std::nullopt);
  EXPECT_EQ(Room("user:{data.patient_id.more}", event), std::nullopt);  // through a string
  EXPECT_EQ(Room("user:{data.empty}", event), std::nullopt);
  EXPECT_EQ(Room("user:{unknown}", event), std::nullopt);
  EXPECT_EQ(Room("user:{}", event), std::nullopt);
  EXPECT_EQ(Room("user:{data}", event), std::nullopt);
  EXPECT_EQ(Room("user:{data.}", event), std::nullopt);
  EXPECT_EQ(Room("user:{patient_id}", event), std::nullopt);  // not data.patient_id
  EXPECT_EQ(Path("/x/{data.nope}", event), std::nullopt);
  event.user_id.reset();
  EXPECT_EQ(Room("user:{user_id}", event), std::nullopt);
  event.user_id = "";
  EXPECT_EQ(Room("user:{user_id}", event), std::nullopt);
}

TEST(ExpandTemplateTest, NonScalarValuesFail) {
  const auto event = Event({{"obj", {{"a", 1}}},
                            {"arr", {1, 2}},
                            {"float", 1.5},
                            {"flag", true},
                            {"null", nullptr}});
  for (const char* name : {"obj", "arr", "float", "flag", "null"}) {
    const std::string text = std::string("x:{data.") + name + "}";
    EXPECT_EQ(Room(text, event), std::nullopt) << name;
    EXPECT_EQ(Path(text, event), std::nullopt) << name;
  }
}

TEST(ExpandTemplateTest, RoomUnsafeValuesFail) {
  for (const char* value : {"P 1", "P/1", "Pé", "P#1", "P,1", "P\n1", "user:P-1}", "P{1}",
                            "P*", "P%201"}) {
    const auto event = Event({{"patient_id", value}});
    EXPECT_EQ(Room("user:{data.patient_id}", event), std::nullopt) << value;
  }
  // Everything room-safe passes as is.
  const auto event = Event({{"patient_id", "Az09._:@-"}});
  EXPECT_EQ(Room("user:{data.patient_id}", event), "user:Az09._:@-");
}

TEST(ExpandTemplateTest, PathValuesArePercentEncoded) {
  const auto encode = [](const char* value) {
    return Path("/api/v1/patients/{data.patient_id}", Event({{"patient_id", value}}));
  };
  EXPECT_EQ(encode("P-1_a.b~c"), "/api/v1/patients/P-1_a.b~c");
  EXPECT_EQ(encode("P 1"), "/api/v1/patients/P%201");
  EXPECT_EQ(encode("../admin"), "/api/v1/patients/..%2Fadmin");
  EXPECT_EQ(encode("a?b=c&d#e"), "/api/v1/patients/a%3Fb%3Dc%26d%23e");
  EXPECT_EQ(encode("100%"), "/api/v1/patients/100%25");
  EXPECT_EQ(encode("é"), "/api/v1/patients/%C3%A9");
  EXPECT_EQ(encode("a:b@c"), "/api/v1/patients/a%3Ab%40c");
  EXPECT_EQ(encode("{x}"), "/api/v1/patients/%7Bx%7D");
  EXPECT_EQ(encode("\r\n"), "/api/v1/patients/%0D%0A");
}

TEST(ExpandTemplateTest, UnbalancedBracesFail) {
  const auto event = Event({{"patient_id", "P-1"}});
  EXPECT_EQ(Room("user:{data.patient_id", event), std::nullopt);
  EXPECT_EQ(Room("{", event), std::nullopt);
  EXPECT_EQ(Room("user:{data.patient_id}:{", event), std::nullopt);
  EXPECT_EQ(Path("/x/{event_id", event), std::nullopt);
  // A brace that opens inside a placeholder is part of its (unknown) name.
  EXPECT_EQ(Room("user:{a{data.patient_id}", event), std::nullopt);
}

// ---- EmitPayload ----------------------------------------------------------------------------

TEST(EmitPayloadTest, DataPlusIdAndType) {
  const auto event = Event({{"patient_id", "P-1"}, {"value", 7.2}});
  const json payload = EmitPayload(event, /*critical=*/false);
  EXPECT_EQ(payload, (json{{"patient_id", "P-1"},
                           {"value", 7.2},
                           {"event_id", event.event_id},
                           {"event_type", "lab.result.critical"}}));
}

TEST(EmitPayloadTest, NonObjectDataGivesJustTheIds) {
  auto event = Event();
  event.data = json::array({1, 2});
  EXPECT_EQ(EmitPayload(event, false),
            (json{{"event_id", event.event_id}, {"event_type", event.event_type}}));
}

TEST(EmitPayloadTest, CriticalAddsAlertFields) {
  const auto event = Event({{"patient_id", "P-1"}});
  const json payload = EmitPayload(event, /*critical=*/true);
  EXPECT_EQ(payload, (json{{"patient_id", "P-1"},
                           {"event_id", event.event_id},
                           {"event_type", "lab.result.critical"},
                           {"alert_type", "lab.result.critical"},
                           {"severity", "critical"},
                           {"source", "lab-service"},
                           {"timestamp", "2026-12-04T21:00:00.000Z"}}));
}

TEST(EmitPayloadTest, CriticalKeepsTheDataFields) {
  const auto event = Event({{"patient_id", "P-1"},
                            {"alert_type", "POTASSIUM_HIGH"},
                            {"severity", "high"},
                            {"source", "analyzer-3"},
                            {"timestamp", "2026-12-04T20:59:00Z"}});
  const json payload = EmitPayload(event, /*critical=*/true);
  EXPECT_EQ(payload["alert_type"], "POTASSIUM_HIGH");
  EXPECT_EQ(payload["severity"], "high");
  EXPECT_EQ(payload["source"], "analyzer-3");
  EXPECT_EQ(payload["timestamp"], "2026-12-04T20:59:00Z");
  EXPECT_EQ(payload["event_id"], event.event_id);
  EXPECT_EQ(payload["event_type"], event.event_type);
}

TEST(HttpBodyTest, IsTheWholeEnvelope) {
  const auto event = Event({{"patient_id", "P-1"}});
  EXPECT_EQ(json::parse(HttpBody(event)), core::ToJson(event));
}

// ---- RuleSet --------------------------------------------------------------------------------

config::EventRule Rule(std::string match, std::string origin) {
  config::EventRule rule;
  rule.match = std::move(match);
  rule.origin = std::move(origin);
  config::EventAction action;
  action.kind = config::EventAction::Kind::kEmit;
  action.emit.event = "x";
  rule.actions.push_back(action);
  return rule;
}

std::vector<std::string> Origins(const std::vector<const config::EventRule*>& rules) {
  std::vector<std::string> origins;
  for (const auto* rule : rules) origins.push_back(rule->origin);
  return origins;
}

TEST(RuleSetTest, MatchesInConfigurationOrder) {
  const RuleSet rules({Rule("*.critical", "r1"), Rule("lab.*", "r2"),
                       Rule("appointment.scheduled", "r3"), Rule("*", "r4"),
                       Rule("lab.result.critical", "r5")});
  EXPECT_EQ(Origins(rules.Match("lab.result.critical")),
            (std::vector<std::string>{"r1", "r2", "r4", "r5"}));
  EXPECT_EQ(Origins(rules.Match("appointment.scheduled")),
            (std::vector<std::string>{"r3", "r4"}));
  EXPECT_EQ(Origins(rules.Match("vitals.critical")), (std::vector<std::string>{"r1", "r4"}));
  EXPECT_EQ(rules.Rules().size(), 5u);
  // The pointers are into the set's own rules.
  const auto matched = rules.Match("lab.ordered");
  ASSERT_EQ(matched.size(), 2u);
  EXPECT_EQ(matched[0], &rules.Rules()[1]);
  EXPECT_EQ(matched[1], &rules.Rules()[3]);
}

TEST(RuleSetTest, NoMatch) {
  const RuleSet rules({Rule("lab.*", "r1"), Rule("appointment.scheduled", "r2")});
  EXPECT_TRUE(rules.Match("payment.completed").empty());
  EXPECT_TRUE(RuleSet({}).Match("lab.result").empty());
}

}  // namespace
}  // namespace nilecare::kafka
