#include "nilecare/mqtt/device_message.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "nilecare/core/json_limits.hpp"
#include "nilecare/realtime/patient_access.hpp"

namespace nilecare::mqtt {
namespace {

using json = nlohmann::json;

// Device messages are flat; anything nested deeper is not from a monitor.
constexpr std::size_t kMaxDepth = 8;
constexpr std::size_t kMaxIdLength = 64;
constexpr std::size_t kMaxAlertText = 256;
constexpr std::size_t kMaxStatusLength = 32;

// Physiologically possible values (not alarm limits: those are `thresholds:`). A value
// outside is a sensor or encoding fault and must not reach a chart or trigger an alert.
struct Range {
  double low;
  double high;
};
constexpr Range kHr{0, 350};
constexpr Range kSpo2{0, 100};
constexpr Range kTemp{20, 46};
constexpr Range kSystolic{20, 300};
constexpr Range kDiastolic{10, 250};

bool IdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == ':' || c == '-';
}

// The value of `key` as a number in `range`; on failure `reason` names the field.
std::optional<double> Number(const json& object, std::string_view key, Range range,
                             RejectReason& reason) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    reason = std::string(key) + "_missing";
    return std::nullopt;
  }
  if (!it->is_number()) {
    reason = std::string(key) + "_not_number";
    return std::nullopt;
  }
  const double value = it->get<double>();
  if (!std::isfinite(value) || value < range.low || value > range.high) {
    reason = std::string(key) + "_out_of_range";
    return std::nullopt;
  }
  return value;
}

std::optional<int> WholeNumber(std::string_view text) {
  int value = 0;
  const auto [ptr, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

bool InRange(double value, Range range) { return value >= range.low && value <= range.high; }

// bp as "120/80" or { systolic, diastolic }.
std::optional<BloodPressure> ParseBloodPressure(const json& value, RejectReason& reason) {
  std::optional<int> systolic;
  std::optional<int> diastolic;
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    const std::size_t slash = text.find('/');
    if (slash != std::string::npos) {
      systolic = WholeNumber(std::string_view(text).substr(0, slash));
      diastolic = WholeNumber(std::string_view(text).substr(slash + 1));
    }
  } else if (value.is_object()) {
    const auto s = value.find("systolic");
    const auto d = value.find("diastolic");
    if (s != value.end() && d != value.end() && s->is_number_integer() &&
        d->is_number_integer() && s->get<long long>() >= -1'000'000 &&
        s->get<long long>() <= 1'000'000 && d->get<long long>() >= -1'000'000 &&
        d->get<long long>() <= 1'000'000) {
      systolic = s->get<int>();
      diastolic = d->get<int>();
    }
  }
  if (!systolic || !diastolic) {
    reason = "bp_invalid";
    return std::nullopt;
  }
  if (!InRange(*systolic, kSystolic) || !InRange(*diastolic, kDiastolic) ||
      *diastolic >= *systolic) {
    reason = "bp_out_of_range";
    return std::nullopt;
  }
  return BloodPressure{*systolic, *diastolic};
}

// The device's measurement time, checked against the receive time.
std::optional<TimePoint> ParseMeasuredAt(const json& value, TimePoint received_at,
                                         const MessageLimits& limits, RejectReason& reason) {
  std::optional<TimePoint> time;
  if (value.is_string()) {
    time = ParseTimestamp(value.get_ref<const std::string&>());
  } else if (value.is_number_integer() || value.is_number_unsigned()) {
    // Epoch milliseconds, as JavaScript's Date.now() and many firmwares send.
    const auto millis = value.get<long long>();
    if (millis > 0 && millis < 32'503'680'000'000LL) {  // before year 3000
      time = TimePoint(std::chrono::milliseconds(millis));
    }
  }
  if (!time) {
    reason = "timestamp_invalid";
    return std::nullopt;
  }
  if (*time > received_at + limits.max_clock_ahead) {
    reason = "timestamp_in_future";
    return std::nullopt;
  }
  if (*time < received_at - limits.max_age) {
    reason = "timestamp_too_old";
    return std::nullopt;
  }
  return time;
}

// Common start: size, JSON, object.
std::optional<json> ParseObject(std::string_view payload, const MessageLimits& limits,
                                RejectReason& reason) {
  if (payload.size() > limits.max_payload) {
    reason = "too_large";
    return std::nullopt;
  }
  auto parsed = core::ParseBoundedJson(payload, kMaxDepth);
  if (!parsed) {
    reason = "not_json";
    return std::nullopt;
  }
  if (!parsed->is_object()) {
    reason = "not_object";
    return std::nullopt;
  }
  return parsed;
}

// patient_id from the payload when present: "" when absent; nullopt when invalid.
std::optional<std::string> PatientId(const json& object, RejectReason& reason) {
  const auto it = object.find("patient_id");
  if (it == object.end() || it->is_null()) return std::string();
  if (it->is_string() && realtime::IsValidPatientId(it->get_ref<const std::string&>())) {
    return it->get<std::string>();
  }
  if (it->is_number_integer() && it->get<long long>() >= 0) {
    return std::to_string(it->get<long long>());
  }
  reason = "patient_id_invalid";
  return std::nullopt;
}

// A bounded printable copy of device text (it is stored and shown to clinicians).
std::string BoundedText(const json& value) {
  if (!value.is_string()) return {};
  std::string text = value.get<std::string>();
  if (text.size() > kMaxAlertText) text.resize(kMaxAlertText);
  // Cutting may split a UTF-8 sequence; drop a trailing partial one.
  while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80) {
    text.pop_back();
  }
  if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();
  return text;
}

}  // namespace

std::string_view ToString(TopicKind kind) {
  switch (kind) {
    case TopicKind::kVitals: return "vitals";
    case TopicKind::kAlerts: return "alerts";
    case TopicKind::kStatus: return "status";
  }
  return "unknown";
}

bool IsValidDeviceId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxIdLength && std::all_of(id.begin(), id.end(), IdChar);
}

std::optional<DeviceTopic> ParseDeviceTopic(std::string_view topic, std::string_view root) {
  if (topic.size() <= root.size() + 1 || topic.substr(0, root.size()) != root ||
      topic[root.size()] != '/') {
    return std::nullopt;
  }
  topic.remove_prefix(root.size() + 1);
  const std::size_t slash = topic.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const std::string_view id = topic.substr(0, slash);
  const std::string_view leaf = topic.substr(slash + 1);
  if (!IsValidDeviceId(id)) return std::nullopt;
  DeviceTopic result{std::string(id)};
  if (leaf == "vitals") {
    result.kind = TopicKind::kVitals;
  } else if (leaf == "alerts") {
    result.kind = TopicKind::kAlerts;
  } else if (leaf == "status") {
    result.kind = TopicKind::kStatus;
  } else {
    return std::nullopt;
  }
  return result;
}

ParseResult<VitalsReading> ParseVitals(std::string_view device_id, std::string_view payload,
                                       TimePoint received_at, const MessageLimits& limits) {
  RejectReason reason;
  const auto object = ParseObject(payload, limits, reason);
  if (!object) return reason;
  VitalsReading reading;
  reading.device_id = std::string(device_id);
  reading.received_at = received_at;
  const auto hr = Number(*object, "hr", kHr, reason);
  if (!hr) return reason;
  const auto spo2 = Number(*object, "spo2", kSpo2, reason);
  if (!spo2) return reason;
  const auto temp = Number(*object, "temp", kTemp, reason);
  if (!temp) return reason;
  reading.hr = *hr;
  reading.spo2 = *spo2;
  reading.temp = *temp;
  if (const auto it = object->find("bp"); it != object->end() && !it->is_null()) {
    reading.bp = ParseBloodPressure(*it, reason);
    if (!reading.bp) return reason;
  }
  const auto patient = PatientId(*object, reason);
  if (!patient) return reason;
  reading.patient_id = *patient;
  reading.measured_at = received_at;
  if (const auto it = object->find("timestamp"); it != object->end() && !it->is_null()) {
    const auto measured = ParseMeasuredAt(*it, received_at, limits, reason);
    if (!measured) return reason;
    reading.measured_at = *measured;
    reading.device_time = true;
  }
  if (const auto it = object->find("seq"); it != object->end() && !it->is_null()) {
    if (!(it->is_number_unsigned() || (it->is_number_integer() && it->get<long long>() >= 0)) ||
        it->get<unsigned long long>() > static_cast<unsigned long long>(INT64_MAX)) {
      return RejectReason("seq_invalid");
    }
    reading.seq = it->get<std::int64_t>();
  }
  return reading;
}

ParseResult<DeviceAlert> ParseAlert(std::string_view device_id, std::string_view payload,
                                    TimePoint received_at, const MessageLimits& limits) {
  RejectReason reason;
  const auto object = ParseObject(payload, limits, reason);
  if (!object) return reason;
  DeviceAlert alert;
  alert.device_id = std::string(device_id);
  alert.at = received_at;
  auto type = object->find("alert_type");
  if (type == object->end()) type = object->find("type");
  if (type == object->end() || !type->is_string() || type->get_ref<const std::string&>().empty()) {
    return RejectReason("alert_type_missing");
  }
  alert.alert_type = BoundedText(*type);
  alert.severity = "critical";
  if (const auto it = object->find("severity"); it != object->end() && !it->is_null()) {
    const std::string severity = it->is_string() ? it->get<std::string>() : std::string();
    if (severity != "critical" && severity != "warning" && severity != "info") {
      return RejectReason("severity_invalid");
    }
    alert.severity = severity;
  }
  if (const auto it = object->find("value"); it != object->end() && !it->is_null()) {
    if (!it->is_number() || !std::isfinite(it->get<double>())) return RejectReason("value_invalid");
    alert.value = it->get<double>();
  }
  if (const auto it = object->find("message"); it != object->end()) alert.message = BoundedText(*it);
  const auto patient = PatientId(*object, reason);
  if (!patient) return reason;
  alert.patient_id = *patient;
  return alert;
}

ParseResult<DeviceStatus> ParseStatus(std::string_view device_id, std::string_view payload,
                                      TimePoint received_at, const MessageLimits& limits) {
  if (payload.size() > limits.max_payload) return RejectReason("too_large");
  std::string status;
  if (!payload.empty() && (payload.front() == '{' || payload.front() == '"')) {
    const auto parsed = core::ParseBoundedJson(payload, kMaxDepth);
    if (!parsed) return RejectReason("not_json");
    const json* value = &*parsed;
    if (parsed->is_object()) {
      const auto it = parsed->find("status");
      if (it == parsed->end()) return RejectReason("status_missing");
      value = &*it;
    }
    if (!value->is_string()) return RejectReason("status_invalid");
    status = value->get<std::string>();
  } else {
    status = std::string(payload);
  }
  // A short lower-case word: it is shown on dashboards and used as a metric label.
  if (status.empty() || status.size() > kMaxStatusLength ||
      !std::all_of(status.begin(), status.end(),
                   [](char c) { return (c >= 'a' && c <= 'z') || c == '_' || c == '-'; })) {
    return RejectReason("status_invalid");
  }
  return DeviceStatus{std::string(device_id), std::move(status), received_at};
}

nlohmann::json VitalsEvent(const VitalsReading& reading) {
  json event = {{"patient_id", reading.patient_id},
                {"device_id", reading.device_id},
                {"hr", reading.hr},
                {"spo2", reading.spo2},
                {"temp", reading.temp},
                {"bp", nullptr},
                {"timestamp", FormatTimestamp(reading.measured_at)}};
  if (reading.bp) {
    event["bp"] = std::to_string(reading.bp->systolic) + "/" + std::to_string(reading.bp->diastolic);
  }
  if (reading.seq) event["seq"] = *reading.seq;
  return event;
}

}  // namespace nilecare::mqtt
