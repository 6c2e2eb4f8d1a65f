#include "nilecare/mqtt/device_message.hpp"

#include <gtest/gtest.h>

namespace nilecare::mqtt {
namespace {

const TimePoint kNow = *ParseTimestamp("2026-12-04T21:00:00Z");
const MessageLimits kLimits{};

VitalsReading Accept(std::string_view payload) {
  auto result = ParseVitals("mon-1", payload, kNow, kLimits);
  if (auto* reason = std::get_if<RejectReason>(&result)) {
    ADD_FAILURE() << "rejected: " << *reason << " for " << payload;
    return {};
  }
  return std::get<VitalsReading>(result);
}

std::string Reason(std::string_view payload) {
  auto result = ParseVitals("mon-1", payload, kNow, kLimits);
  if (auto* reason = std::get_if<RejectReason>(&result)) return *reason;
  return "accepted";
}

TEST(DeviceTopicTest, ParsesTheSpecTopics) {
  auto topic = ParseDeviceTopic("devices/mon-1/vitals", "devices");
  ASSERT_TRUE(topic);
  EXPECT_EQ(topic->device_id, "mon-1");
  EXPECT_EQ(topic->kind, TopicKind::kVitals);
  EXPECT_EQ(ParseDeviceTopic("devices/x/alerts", "devices")->kind, TopicKind::kAlerts);
  EXPECT_EQ(ParseDeviceTopic("devices/x/status", "devices")->kind, TopicKind::kStatus);
  EXPECT_EQ(ParseDeviceTopic("ward7/devices/x/status", "ward7/devices")->device_id, "x");
}

TEST(DeviceTopicTest, RefusesOtherTopicsAndBadIds) {
  EXPECT_FALSE(ParseDeviceTopic("devices/x/commands", "devices"));
  EXPECT_FALSE(ParseDeviceTopic("devices/x/vitals/extra", "devices"));
  EXPECT_FALSE(ParseDeviceTopic("devices//vitals", "devices"));
  EXPECT_FALSE(ParseDeviceTopic("devicesX/x/vitals", "devices"));
  EXPECT_FALSE(ParseDeviceTopic("devices/a b/vitals", "devices"));
  EXPECT_FALSE(ParseDeviceTopic("devices/" + std::string(65, 'a') + "/vitals", "devices"));
  EXPECT_FALSE(ParseDeviceTopic("devices/\xc3\xa9/vitals", "devices"));
  EXPECT_TRUE(ParseDeviceTopic("devices/" + std::string(64, 'a') + "/vitals", "devices"));
}

TEST(VitalsParseTest, AcceptsTheSpecPayloadAndIgnoresExtraFields) {
  const VitalsReading reading = Accept(R"({"hr":72,"spo2":98,"temp":36.6,"firmware":"2.1"})");
  EXPECT_EQ(reading.device_id, "mon-1");
  EXPECT_EQ(reading.hr, 72);
  EXPECT_EQ(reading.spo2, 98);
  EXPECT_DOUBLE_EQ(reading.temp, 36.6);
  EXPECT_FALSE(reading.bp);
  EXPECT_EQ(reading.patient_id, "");
  EXPECT_EQ(reading.measured_at, kNow);  // no device time: the receive time
  EXPECT_FALSE(reading.device_time);
  EXPECT_FALSE(reading.seq);
}

TEST(VitalsParseTest, ReadsOptionalFields) {
  const VitalsReading reading = Accept(
      R"({"hr":72,"spo2":98,"temp":36.6,"bp":"120/80","patient_id":"P-7",)"
      R"("timestamp":"2026-12-04T20:59:59.123456Z","seq":41})");
  ASSERT_TRUE(reading.bp);
  EXPECT_EQ(reading.bp->systolic, 120);
  EXPECT_EQ(reading.bp->diastolic, 80);
  EXPECT_EQ(reading.patient_id, "P-7");
  EXPECT_TRUE(reading.device_time);
  EXPECT_EQ(FormatTimestamp(reading.measured_at), "2026-12-04T20:59:59.123456Z");
  EXPECT_EQ(reading.seq, 41);
  EXPECT_EQ(Accept(R"({"hr":72,"spo2":98,"temp":36.6,"bp":{"systolic":130,"diastolic":85}})")
                .bp->systolic,
            130);
  // Epoch milliseconds, as many firmwares send.
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(kNow.time_since_epoch()).count();
  EXPECT_EQ(Accept(R"({"hr":72,"spo2":98,"temp":36.6,"timestamp":)" + std::to_string(millis - 5) + "}")
                .measured_at,
            kNow - std::chrono::milliseconds(5));
  EXPECT_EQ(Accept(R"({"hr":72,"spo2":98,"temp":36.6,"patient_id":1234})").patient_id, "1234");
}

TEST(VitalsParseTest, RejectsWithAReasonPerField) {
  EXPECT_EQ(Reason("not json"), "not_json");
  EXPECT_EQ(Reason(""), "not_json");
  EXPECT_EQ(Reason("[1,2]"), "not_object");
  EXPECT_EQ(Reason(R"({"spo2":98,"temp":36.6})"), "hr_missing");
  EXPECT_EQ(Reason(R"({"hr":"72","spo2":98,"temp":36.6})"), "hr_not_number");
  EXPECT_EQ(Reason(R"({"hr":-1,"spo2":98,"temp":36.6})"), "hr_out_of_range");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":101,"temp":36.6})"), "spo2_out_of_range");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":98.6})"), "temp_out_of_range");  // Fahrenheit
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":null})"), "temp_missing");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"bp":"120-80"})"), "bp_invalid");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"bp":"80/120"})"), "bp_out_of_range");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"bp":{"systolic":1e300,"diastolic":1}})"),
            "bp_invalid");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"patient_id":"P 7"})"), "patient_id_invalid");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"patient_id":{}})"), "patient_id_invalid");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"timestamp":"yesterday"})"),
            "timestamp_invalid");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"timestamp":"2026-12-04T21:00:00"})"),
            "timestamp_invalid");  // no zone: no guessing
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"timestamp":"2026-12-04T22:00:00Z"})"),
            "timestamp_in_future");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"timestamp":"2025-01-01T00:00:00Z"})"),
            "timestamp_too_old");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"seq":-1})"), "seq_invalid");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"seq":1.5})"), "seq_invalid");
  EXPECT_EQ(Reason(R"({"hr":72,"spo2":98,"temp":36.6,"seq":18446744073709551615})"), "seq_invalid");
  EXPECT_EQ(Reason(std::string(5000, ' ')), "too_large");
  EXPECT_EQ(Reason(std::string(100, '[') + std::string(100, ']')), "not_json");
}

TEST(DeviceAlertParseTest, AcceptsAndValidates) {
  auto result = ParseAlert("mon-1", R"({"alert_type":"LEAD_OFF","severity":"warning","value":0})",
                           kNow, kLimits);
  ASSERT_TRUE(std::holds_alternative<DeviceAlert>(result));
  const auto& alert = std::get<DeviceAlert>(result);
  EXPECT_EQ(alert.alert_type, "LEAD_OFF");
  EXPECT_EQ(alert.severity, "warning");
  EXPECT_EQ(alert.value, 0);
  EXPECT_EQ(std::get<DeviceAlert>(ParseAlert("m", R"({"type":"ASYSTOLE"})", kNow, kLimits)).severity,
            "critical");
  EXPECT_EQ(std::get<RejectReason>(ParseAlert("m", R"({"severity":"critical"})", kNow, kLimits)),
            "alert_type_missing");
  EXPECT_EQ(std::get<RejectReason>(ParseAlert("m", R"({"type":"X","severity":"urgent"})", kNow, kLimits)),
            "severity_invalid");
  // Device text is bounded.
  const auto long_message = ParseAlert(
      "m", R"({"type":"X","message":")" + std::string(1000, 'a') + R"("})", kNow, kLimits);
  EXPECT_EQ(std::get<DeviceAlert>(long_message).message.size(), 256u);
}

TEST(DeviceStatusParseTest, AcceptsPlainJsonStringAndObject) {
  EXPECT_EQ(std::get<DeviceStatus>(ParseStatus("m", "online", kNow, kLimits)).status, "online");
  EXPECT_EQ(std::get<DeviceStatus>(ParseStatus("m", R"("offline")", kNow, kLimits)).status, "offline");
  EXPECT_EQ(std::get<DeviceStatus>(ParseStatus("m", R"({"status":"online","battery":80})", kNow, kLimits))
                .status,
            "online");
  EXPECT_EQ(std::get<RejectReason>(ParseStatus("m", "", kNow, kLimits)), "status_invalid");
  EXPECT_EQ(std::get<RejectReason>(ParseStatus("m", "On Line!", kNow, kLimits)), "status_invalid");
  EXPECT_EQ(std::get<RejectReason>(ParseStatus("m", R"({"state":"x"})", kNow, kLimits)),
            "status_missing");
}

TEST(VitalsEventTest, IsFlatLikeTheSpecEventTable) {
  VitalsReading reading = Accept(
      R"({"hr":72,"spo2":98,"temp":36.6,"bp":"120/80","patient_id":"P-7",)"
      R"("timestamp":"2026-12-04T20:59:59.5Z","seq":3})");
  const auto event = VitalsEvent(reading);
  EXPECT_EQ(event["patient_id"], "P-7");
  EXPECT_EQ(event["device_id"], "mon-1");
  EXPECT_EQ(event["hr"], 72);
  EXPECT_EQ(event["bp"], "120/80");
  EXPECT_EQ(event["timestamp"], "2026-12-04T20:59:59.500Z");
  EXPECT_EQ(event["seq"], 3);
  reading.bp.reset();
  reading.seq.reset();
  EXPECT_TRUE(VitalsEvent(reading)["bp"].is_null());
  EXPECT_FALSE(VitalsEvent(reading).contains("seq"));
}

}  // namespace
}  // namespace nilecare::mqtt
