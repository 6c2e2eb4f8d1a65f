#include "nilecare/core/domain_event.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <set>
#include <string>
#include <variant>

#include "nilecare/core/clock.hpp"

namespace nilecare::core {
namespace {

using nlohmann::json;

const std::regex kUuid(R"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");

// A complete, valid event as another service would publish it.
json ValidEvent() {
  return {{"event_id", "5f0c7f7e-1c1b-4c64-9a53-0d1f2f5a6b7c"},
          {"event_type", "appointment.scheduled"},
          {"event_version", "1.0"},
          {"timestamp", "2026-12-04T21:00:00.000Z"},
          {"source_service", "appointment-service"},
          {"correlation_id", "corr-1"},
          {"user_id", "USR-1"},
          {"data", {{"patient_id", "P-1"}, {"appointment_id", "A-9"}}},
          {"metadata", {{"ip", "10.0.0.1"}}}};
}

json Without(json event, const char* field) {
  event.erase(field);
  return event;
}

json With(json event, const char* field, json value) {
  event[field] = std::move(value);
  return event;
}

// "accepted", or the reason ParseDomainEvent gave.
std::string RawReason(std::string_view bytes) {
  const auto result = ParseDomainEvent(bytes);
  if (const auto* reason = std::get_if<std::string>(&result)) return *reason;
  return "accepted";
}

std::string Reason(const json& event) { return RawReason(event.dump()); }

DomainEvent Accept(std::string_view bytes) {
  auto result = ParseDomainEvent(bytes);
  if (const auto* reason = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << "rejected: " << *reason << " for " << bytes;
    return {};
  }
  return std::get<DomainEvent>(std::move(result));
}

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

// ---- IsValidEventType / EventEntity ---------------------------------------------------------

TEST(EventTypeTest, AcceptsDottedLowercaseSegments) {
  EXPECT_TRUE(IsValidEventType("appointment.scheduled"));
  EXPECT_TRUE(IsValidEventType("lab.result.critical"));
  EXPECT_TRUE(IsValidEventType("a_1.b"));
  EXPECT_TRUE(IsValidEventType("patient.record_updated.v2"));
  EXPECT_TRUE(IsValidEventType("a.b"));
}

TEST(EventTypeTest, RefusesEverythingElse) {
  for (const char* type : {"", "appointment", "Appointment.scheduled", "appointment.Scheduled",
                           "1lab.result", "lab.1result", "_lab.result", "lab._result",
                           "appointment.", ".appointment.scheduled", "lab..result",
                           "lab.result.", "appointment scheduled", "appointment.scheduled ",
                           " appointment.scheduled", "lab.result-critical", "lab.*",
                           "lab/result", "lab.résult", "."}) {
    EXPECT_FALSE(IsValidEventType(type)) << '"' << type << '"';
  }
}

TEST(EventTypeTest, LengthLimit) {
  const std::string at_limit = "a." + std::string(kMaxEventTypeLength - 2, 'b');
  ASSERT_EQ(at_limit.size(), kMaxEventTypeLength);
  EXPECT_TRUE(IsValidEventType(at_limit));
  EXPECT_FALSE(IsValidEventType(at_limit + "b"));
  EXPECT_FALSE(IsValidEventType("a." + std::string(10'000, 'b')));
}

TEST(EventTypeTest, EntityIsTheFirstSegment) {
  EXPECT_EQ(EventEntity("lab.result.critical"), "lab");
  EXPECT_EQ(EventEntity("appointment.scheduled"), "appointment");
  EXPECT_EQ(EventEntity("a_1.b"), "a_1");
}

// ---- NewDomainEvent -------------------------------------------------------------------------

TEST(NewDomainEventTest, FillsTheEnvelope) {
  const auto before = FormatIso8601(std::chrono::system_clock::now());
  const auto event = NewDomainEvent("vitals.critical", "nilecare-gateway", "corr-7",
                                    {{"patient_id", "P-1"}, {"hr", 190}});
  const auto after = FormatIso8601(std::chrono::system_clock::now());

  EXPECT_TRUE(std::regex_match(event.event_id, kUuid)) << event.event_id;
  EXPECT_EQ(event.event_type, "vitals.critical");
  EXPECT_EQ(event.event_version, "1.0");
  EXPECT_EQ(event.event_version, kEventVersion);
  EXPECT_EQ(event.source_service, "nilecare-gateway");
  EXPECT_EQ(event.correlation_id, "corr-7");
  EXPECT_FALSE(event.user_id.has_value());
  EXPECT_FALSE(event.metadata.has_value());
  EXPECT_EQ(event.data, (json{{"patient_id", "P-1"}, {"hr", 190}}));

  const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.(\d{3}|\d{6})Z)");
  EXPECT_TRUE(std::regex_match(event.timestamp, iso)) << event.timestamp;
  // Now, to the second.
  EXPECT_LE(before.substr(0, 19), event.timestamp.substr(0, 19));
  EXPECT_GE(after.substr(0, 19), event.timestamp.substr(0, 19));
}

TEST(NewDomainEventTest, MakesACorrelationIdWhenNoneIsGiven) {
  const auto first = NewDomainEvent("lab.result.ready", "svc", "", json::object());
  const auto second = NewDomainEvent("lab.result.ready", "svc", "", json::object());
  EXPECT_TRUE(std::regex_match(first.correlation_id, kUuid)) << first.correlation_id;
  EXPECT_TRUE(std::regex_match(second.correlation_id, kUuid)) << second.correlation_id;
  EXPECT_NE(first.correlation_id, second.correlation_id);
  EXPECT_NE(first.event_id, second.event_id);
  EXPECT_NE(first.correlation_id, first.event_id);
}

// ---- ToJson ---------------------------------------------------------------------------------

TEST(DomainEventToJsonTest, UsesTheSpecFieldNames) {
  auto event = NewDomainEvent("appointment.scheduled", "svc", "corr-1", {{"patient_id", "P-1"}});
  const json out = ToJson(event);
  EXPECT_EQ(Keys(out), (std::set<std::string>{"event_id", "event_type", "event_version",
                                              "timestamp", "source_service", "correlation_id",
                                              "data"}));
  EXPECT_EQ(out["event_id"], event.event_id);
  EXPECT_EQ(out["event_type"], "appointment.scheduled");
  EXPECT_EQ(out["event_version"], "1.0");
  EXPECT_EQ(out["timestamp"], event.timestamp);
  EXPECT_EQ(out["source_service"], "svc");
  EXPECT_EQ(out["correlation_id"], "corr-1");
  EXPECT_EQ(out["data"], (json{{"patient_id", "P-1"}}));
}

TEST(DomainEventToJsonTest, UserIdAndMetadataOnlyWhenSet) {
  auto event = NewDomainEvent("appointment.scheduled", "svc", "corr-1", json::object());
  event.user_id = "USR-1";
  json out = ToJson(event);
  EXPECT_EQ(out["user_id"], "USR-1");
  EXPECT_FALSE(out.contains("metadata"));

  event.user_id.reset();
  event.metadata = json{{"ip", "10.0.0.1"}};
  out = ToJson(event);
  EXPECT_FALSE(out.contains("user_id"));
  EXPECT_EQ(out["metadata"], (json{{"ip", "10.0.0.1"}}));

  event.user_id = "USR-2";
  EXPECT_EQ(Keys(ToJson(event)),
            (std::set<std::string>{"event_id", "event_type", "event_version", "timestamp",
                                   "source_service", "correlation_id", "user_id", "data",
                                   "metadata"}));
}

// ---- PartitionKey ---------------------------------------------------------------------------

TEST(PartitionKeyTest, PatientIdWhenAString) {
  auto event = NewDomainEvent("patient.updated", "svc", "", {{"patient_id", "P-42"}});
  EXPECT_EQ(PartitionKey(event), "P-42");
}

TEST(PartitionKeyTest, EventIdOtherwise) {
  auto event = NewDomainEvent("patient.updated", "svc", "", json::object());
  EXPECT_EQ(PartitionKey(event), event.event_id);
  for (const json& patient : {json(""), json(42), json(nullptr), json::array({"P-1"}),
                              json{{"id", "P-1"}}, json(true)}) {
    event.data = {{"patient_id", patient}};
    EXPECT_EQ(PartitionKey(event), event.event_id) << patient.dump();
  }
  event.data = json::array({json{{"patient_id", "P-1"}}});  // not an object
  EXPECT_EQ(PartitionKey(event), event.event_id);
  event.data = {{"patient", {{"patient_id", "P-1"}}}};  // only the top level counts
  EXPECT_EQ(PartitionKey(event), event.event_id);
}

// ---- ParseDomainEvent -----------------------------------------------------------------------

TEST(ParseDomainEventTest, AcceptsACompleteEvent) {
  const auto event = Accept(ValidEvent().dump());
  EXPECT_EQ(event.event_id, "5f0c7f7e-1c1b-4c64-9a53-0d1f2f5a6b7c");
  EXPECT_EQ(event.event_type, "appointment.scheduled");
  EXPECT_EQ(event.event_version, "1.0");
  EXPECT_EQ(event.timestamp, "2026-12-04T21:00:00.000Z");
  EXPECT_EQ(event.source_service, "appointment-service");
  EXPECT_EQ(event.correlation_id, "corr-1");
  ASSERT_TRUE(event.user_id);
  EXPECT_EQ(*event.user_id, "USR-1");
  EXPECT_EQ(event.data, (json{{"patient_id", "P-1"}, {"appointment_id", "A-9"}}));
  ASSERT_TRUE(event.metadata);
  EXPECT_EQ(*event.metadata, (json{{"ip", "10.0.0.1"}}));
}

TEST(ParseDomainEventTest, OptionalFieldsMayBeAbsentOrNull) {
  auto event = Accept(Without(Without(ValidEvent(), "user_id"), "metadata").dump());
  EXPECT_FALSE(event.user_id);
  EXPECT_FALSE(event.metadata);
  event = Accept(With(With(ValidEvent(), "user_id", nullptr), "metadata", nullptr).dump());
  EXPECT_FALSE(event.user_id);
  EXPECT_FALSE(event.metadata);
  // Unknown fields are ignored; an empty data object is fine.
  event = Accept(With(With(ValidEvent(), "extra", 1), "data", json::object()).dump());
  EXPECT_EQ(event.data, json::object());
  // Any event version string is taken (the consumer does not refuse newer versions).
  EXPECT_EQ(Accept(With(ValidEvent(), "event_version", "2.1").dump()).event_version, "2.1");
}

TEST(ParseDomainEventTest, NotJson) {
  EXPECT_EQ(RawReason(""), "not_json");
  EXPECT_EQ(RawReason("not json"), "not_json");
  EXPECT_EQ(RawReason(R"({"event_id":"x")"), "not_json");
  EXPECT_EQ(RawReason(R"({"event_id":"x"} trailing)"), "not_json");
  EXPECT_EQ(RawReason("{\"a\":\"\xff\xfe\"}"), "not_json");  // bad UTF-8
}

TEST(ParseDomainEventTest, TooDeep) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += '[';
  for (int i = 0; i < 100; ++i) deep += ']';
  EXPECT_EQ(RawReason(deep), "too_deep");

  // Deep nesting inside data counts too, even in an otherwise valid event.
  json nested = json::object();
  for (std::size_t i = 0; i < kMaxEventNesting + 5; ++i) nested = json{{"n", nested}};
  EXPECT_EQ(Reason(With(ValidEvent(), "data", nested)), "too_deep");
  // Brackets inside strings do not count.
  EXPECT_EQ(Reason(With(ValidEvent(), "data", {{"text", std::string(200, '[')}})), "accepted");
}

TEST(ParseDomainEventTest, NotObject) {
  for (const char* bytes : {"[]", "[1,2]", "\"event\"", "42", "null", "true"}) {
    EXPECT_EQ(RawReason(bytes), "not_object") << bytes;
  }
}

TEST(ParseDomainEventTest, MissingOrUnsafeEventId) {
  EXPECT_EQ(Reason(Without(ValidEvent(), "event_id")), "missing_event_id");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_id", "")), "missing_event_id");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_id", 42)), "missing_event_id");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_id", nullptr)), "missing_event_id");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_id", std::string(129, 'a'))), "bad_event_id");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_id", std::string(128, 'a'))), "accepted");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_id", "evt\n\"x")), "bad_event_id");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_id", "evt abc")), "bad_event_id");
}

TEST(ParseDomainEventTest, BadEventType) {
  EXPECT_EQ(Reason(Without(ValidEvent(), "event_type")), "bad_event_type");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_type", "")), "bad_event_type");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_type", "Appointment.Scheduled")), "bad_event_type");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_type", "appointment")), "bad_event_type");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_type", 7)), "bad_event_type");
}

TEST(ParseDomainEventTest, MissingRequiredStrings) {
  EXPECT_EQ(Reason(Without(ValidEvent(), "event_version")), "missing_event_version");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_version", 1.0)), "missing_event_version");
  EXPECT_EQ(Reason(With(ValidEvent(), "event_version", "")), "missing_event_version");
  EXPECT_EQ(Reason(Without(ValidEvent(), "timestamp")), "missing_timestamp");
  EXPECT_EQ(Reason(With(ValidEvent(), "timestamp", 1796418000000)), "missing_timestamp");
  EXPECT_EQ(Reason(Without(ValidEvent(), "source_service")), "missing_source_service");
  EXPECT_EQ(Reason(With(ValidEvent(), "source_service", "")), "missing_source_service");
}

TEST(ParseDomainEventTest, BadUserId) {
  EXPECT_EQ(Reason(With(ValidEvent(), "user_id", 42)), "bad_user_id");
  EXPECT_EQ(Reason(With(ValidEvent(), "user_id", json::object())), "bad_user_id");
  EXPECT_EQ(Reason(With(ValidEvent(), "user_id", json::array({"USR-1"}))), "bad_user_id");
}

TEST(ParseDomainEventTest, DataMustBeAnObject) {
  EXPECT_EQ(Reason(Without(ValidEvent(), "data")), "data_not_object");
  for (const json& data : {json(nullptr), json::array(), json("x"), json(1)}) {
    EXPECT_EQ(Reason(With(ValidEvent(), "data", data)), "data_not_object") << data.dump();
  }
}

TEST(ParseDomainEventTest, MetadataMustBeAnObject) {
  for (const json& metadata : {json::array(), json("x"), json(1), json(false)}) {
    EXPECT_EQ(Reason(With(ValidEvent(), "metadata", metadata)), "metadata_not_object")
        << metadata.dump();
  }
}

TEST(ParseDomainEventTest, ReasonsNeverQuoteTheContent) {
  const std::string secret = "SECRET-PHI-VALUE";
  for (const json& event :
       {With(ValidEvent(), "event_type", secret), With(ValidEvent(), "event_id", 1),
        With(ValidEvent(), "data", secret), With(ValidEvent(), "user_id", json{{"s", secret}})}) {
    const auto reason = Reason(event);
    EXPECT_EQ(reason.find(secret), std::string::npos) << reason;
    EXPECT_LT(reason.size(), 32u);
  }
}

TEST(ParseDomainEventTest, MakesACorrelationIdWhenMissing) {
  auto event = Accept(Without(ValidEvent(), "correlation_id").dump());
  EXPECT_TRUE(std::regex_match(event.correlation_id, kUuid)) << event.correlation_id;
  event = Accept(With(ValidEvent(), "correlation_id", "").dump());
  EXPECT_TRUE(std::regex_match(event.correlation_id, kUuid)) << event.correlation_id;
  event = Accept(With(ValidEvent(), "correlation_id", 5).dump());
  EXPECT_TRUE(std::regex_match(event.correlation_id, kUuid)) << event.correlation_id;
}

TEST(ParseDomainEventTest, RoundTripsThroughToJson) {
  auto event = NewDomainEvent("lab.result.critical", "lab-service", "corr-9",
                              {{"patient_id", "P-1"},
                               {"value", 7.25},
                               {"flags", {"H", "CRIT"}},
                               {"nested", {{"a", {{"b", nullptr}}}}},
                               {"text", "ünïcødé \"quoted\""}});
  const auto bare = Accept(ToJson(event).dump());
  EXPECT_EQ(ToJson(bare), ToJson(event));

  event.user_id = "USR-3";
  event.metadata = json{{"ip", "10.0.0.1"}, {"trace", {1, 2}}};
  const auto full = Accept(ToJson(event).dump());
  EXPECT_EQ(ToJson(full), ToJson(event));
  EXPECT_EQ(full.user_id, event.user_id);
  EXPECT_EQ(full.metadata, event.metadata);
  EXPECT_EQ(full.data, event.data);

  // And back from a parsed event.
  const auto parsed = Accept(ValidEvent().dump());
  EXPECT_EQ(ToJson(parsed), ValidEvent());
}

}  // namespace
}  // namespace nilecare::core
