#pragma once
// Turns an MQTT message from a device into a validated record, or a short rejection reason.
// Pure functions (no I/O): unit-tested and fuzzed (tests/fuzz/device_message_fuzz.cpp).
//
// Topics (spec §5, under mqtt.topic_root): <root>/{device_id}/vitals | alerts | status.
// Device ids, like patient ids, are 1-64 characters of [A-Za-z0-9._:-].
//
// vitals payload: { hr, spo2, temp, bp?, patient_id?, timestamp?, seq? } — hr, spo2, temp
// required numbers in plausible ranges; bp "120/80" or { systolic, diastolic }; timestamp
// ISO 8601 with a zone, or epoch milliseconds; seq a non-negative integer. Fields devices add
// beyond these are ignored.
// alerts payload: { alert_type|type, severity?, value?, message?, patient_id? }.
// status payload: online | offline (plain text, a JSON string, or { "status": ... }).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "nilecare/mqtt/device_records.hpp"

namespace nilecare::mqtt {

enum class TopicKind { kVitals, kAlerts, kStatus };

struct DeviceTopic {
  std::string device_id;
  TopicKind kind{TopicKind::kVitals};
};

std::string_view ToString(TopicKind kind);

bool IsValidDeviceId(std::string_view id);

// nullopt for anything but <root>/{valid id}/(vitals|alerts|status).
std::optional<DeviceTopic> ParseDeviceTopic(std::string_view topic, std::string_view root);

// Why a message was refused: a short machine-readable word, used as a metric label and
// stored with the rejected payload ("not_json", "hr_out_of_range", ...).
using RejectReason = std::string;

struct MessageLimits {
  std::size_t max_payload{4096};
  // A device clock this far ahead of ours is wrong, not early.
  std::chrono::seconds max_clock_ahead{std::chrono::minutes(5)};
  // Readings buffered by a device that was offline are accepted this long after the fact.
  std::chrono::seconds max_age{std::chrono::hours(24 * 30)};
};

template <typename Record>
using ParseResult = std::variant<Record, RejectReason>;

// `received_at` stands in for the measurement time when the device sent none.
ParseResult<VitalsReading> ParseVitals(std::string_view device_id, std::string_view payload,
                                       TimePoint received_at, const MessageLimits& limits);
ParseResult<DeviceAlert> ParseAlert(std::string_view device_id, std::string_view payload,
                                    TimePoint received_at, const MessageLimits& limits);
ParseResult<DeviceStatus> ParseStatus(std::string_view device_id, std::string_view payload,
                                      TimePoint received_at, const MessageLimits& limits);

// The flat vitals:update event of the spec's event table:
// { patient_id, device_id, hr, spo2, temp, bp, timestamp, seq }.
nlohmann::json VitalsEvent(const VitalsReading& reading);

}  // namespace nilecare::mqtt
