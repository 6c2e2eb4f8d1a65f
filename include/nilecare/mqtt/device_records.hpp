#pragma once
// What the MQTT ingest makes of device messages once they are validated: the records that
// are journaled, written to PostgreSQL and pushed to clinicians. One compact JSON encoding
// (ToJson/FromJson) is used for the journal, so a replay reproduces exactly what was
// accepted.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

namespace nilecare::mqtt {

using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

struct BloodPressure {
  int systolic{0};
  int diastolic{0};
};

// devices/{id}/vitals, validated. `measured_at` is the device's timestamp, or the receive
// time when the device sent none (then `device_time` is false). The dedupe key in
// PostgreSQL is (device_id, measured_at, seq or -1).
struct VitalsReading {
  std::string device_id;
  std::string patient_id;  // from the payload or the devices table; "" = not mapped
  double hr{0};
  double spo2{0};
  double temp{0};
  std::optional<BloodPressure> bp{};
  TimePoint measured_at{};
  bool device_time{false};
  std::optional<std::int64_t> seq{};
  TimePoint received_at{};
};

// devices/{id}/status (retained; the broker publishes the last will "offline").
struct DeviceStatus {
  std::string device_id;
  std::string status;  // online | offline | <other short word the device uses>
  TimePoint at{};      // receive time; an older status never overwrites a newer one
};

// devices/{id}/alerts: an alarm raised by the device itself.
struct DeviceAlert {
  std::string id;  // UUID given at ingest: replays of the journal insert it once
  std::string device_id;
  std::string patient_id;
  std::string alert_type;         // e.g. LEAD_OFF, HR_ABNORMAL
  std::string severity;           // critical | warning | info
  std::optional<double> value{};
  std::string message;            // device text, bounded
  TimePoint at{};
};

// A message that failed validation: kept (bounded) for inspection, never logged.
struct Rejection {
  std::string id;         // UUID given at ingest: replays of the journal insert it once
  std::string device_id;  // "" when the topic itself was unusable
  std::string topic_kind;  // vitals | alerts | status | unknown
  std::string reason;      // short machine-readable reason: not_json, hr_out_of_range, ...
  std::string payload;     // first mqtt.max_payload bytes
  std::size_t payload_size{0};
  TimePoint received_at{};
};

using DeviceRecord = std::variant<VitalsReading, DeviceStatus, DeviceAlert, Rejection>;

nlohmann::json ToJson(const DeviceRecord& record);
// nullopt when `json` is not a record written by ToJson (a corrupt journal entry).
std::optional<DeviceRecord> FromJson(const nlohmann::json& json);

// ISO 8601 UTC with microseconds when there are any ("2026-12-04T21:00:00.123456Z"), else
// milliseconds ("...:00.123Z").
std::string FormatTimestamp(TimePoint time);
// RFC 3339 / ISO 8601 with a zone (Z or +hh:mm), up to 9 fraction digits (kept to µs).
std::optional<TimePoint> ParseTimestamp(std::string_view text);

TimePoint Now();

}  // namespace nilecare::mqtt
