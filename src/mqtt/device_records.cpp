#include "nilecare/mqtt/device_records.hpp"

#include <type_traits>

#include "nilecare/core/clock.hpp"

namespace nilecare::mqtt {
namespace {

using std::chrono::microseconds;

// Journal encoding: short keys, because every reading is written once to the journal.
constexpr std::string_view kKind = "k";

template <typename T>
std::optional<T> Get(const nlohmann::json& json, std::string_view key) {
  const auto it = json.find(key);
  if (it == json.end() || it->is_null()) return std::nullopt;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

nlohmann::json Micros(TimePoint time) { return time.time_since_epoch().count(); }

std::optional<TimePoint> FromMicros(const nlohmann::json& json, std::string_view key) {
  const auto value = Get<std::int64_t>(json, key);
  if (!value) return std::nullopt;
  return TimePoint(microseconds(*value));
}

bool ParseDigits(std::string_view text, std::size_t pos, std::size_t count, int& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm), so
// parsing never depends on the process time zone.
std::int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

TimePoint Now() {
  return std::chrono::time_point_cast<microseconds>(std::chrono::system_clock::now());
}

std::string FormatTimestamp(TimePoint time) { return core::FormatIso8601Precise(time); }

std::optional<TimePoint> ParseTimestamp(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20 || !ParseDigits(text, 0, 4, year) || text[4] != '-' ||
      !ParseDigits(text, 5, 2, month) || text[7] != '-' || !ParseDigits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') ||
      !ParseDigits(text, 11, 2, hour) || text[13] != ':' || !ParseDigits(text, 14, 2, minute) ||
      text[16] != ':' || !ParseDigits(text, 17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 6) micros = micros * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (int i = digits; i < 6; ++i) micros *= 10;
  }
  if (pos >= text.size()) return std::nullopt;  // a zone is required: no guessing
  std::int64_t offset_seconds = 0;
  if (text[pos] == 'Z' || text[pos] == 'z') {
    ++pos;
  } else if (text[pos] == '+' || text[pos] == '-') {
    int offset_hours = 0, offset_minutes = 0;
    if (!ParseDigits(text, pos + 1, 2, offset_hours) || pos + 3 >= text.size() ||
        text[pos + 3] != ':' || !ParseDigits(text, pos + 4, 2, offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  // Leap second 60 folds into the next second, as PostgreSQL does.
  const std::int64_t days = DaysFromCivil(year, static_cast<unsigned>(month),
                                          static_cast<unsigned>(day));
  const std::int64_t seconds =
      days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  return TimePoint(microseconds(seconds * 1'000'000 + micros));
}

nlohmann::json ToJson(const DeviceRecord& record) {
  return std::visit(
      [](const auto& value) -> nlohmann::json {
        using T = std::decay_t<decltype(value)>;
        nlohmann::json json;
        if constexpr (std::is_same_v<T, VitalsReading>) {
          json = {{kKind, "v"},          {"d", value.device_id}, {"p", value.patient_id},
                  {"hr", value.hr},      {"o", value.spo2},      {"t", value.temp},
                  {"m", Micros(value.measured_at)}, {"dt", value.device_time},
                  {"r", Micros(value.received_at)}};
          if (value.bp) json["bp"] = {value.bp->systolic, value.bp->diastolic};
          if (value.seq) json["s"] = *value.seq;
        } else if constexpr (std::is_same_v<T, DeviceStatus>) {
          json = {{kKind, "s"}, {"d", value.device_id}, {"st", value.status},
                  {"a", Micros(value.at)}};
        } else if constexpr (std::is_same_v<T, DeviceAlert>) {
          json = {{kKind, "a"},          {"id", value.id},          {"d", value.device_id},
                  {"p", value.patient_id}, {"ty", value.alert_type}, {"se", value.severity},
                  {"me", value.message},  {"a", Micros(value.at)}};
          if (value.value) json["va"] = *value.value;
        } else {
          json = {{kKind, "x"},          {"id", value.id},         {"d", value.device_id},
                  {"tk", value.topic_kind}, {"re", value.reason}, {"n", value.payload_size},
                  {"r", Micros(value.received_at)}};
          // The payload may be any bytes; JSON strings must be UTF-8, so it goes as a
          // byte array.
          json["pl"] = nlohmann::json::binary_t(
              std::vector<std::uint8_t>(value.payload.begin(), value.payload.end()));
        }
        return json;
      },
      record);
}

std::optional<DeviceRecord> FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return std::nullopt;
  const auto kind = Get<std::string>(json, kKind);
  const auto device = Get<std::string>(json, "d");
  if (!kind || !device) return std::nullopt;
  if (*kind == "v") {
    VitalsReading reading;
    reading.device_id = *device;
    reading.patient_id = Get<std::string>(json, "p").value_or("");
    const auto hr = Get<double>(json, "hr");
    const auto spo2 = Get<double>(json, "o");
    const auto temp = Get<double>(json, "t");
    const auto measured = FromMicros(json, "m");
    const auto received = FromMicros(json, "r");
    if (!hr || !spo2 || !temp || !measured || !received) return std::nullopt;
    reading.hr = *hr;
    reading.spo2 = *spo2;
    reading.temp = *temp;
    reading.measured_at = *measured;
    reading.received_at = *received;
    reading.device_time = Get<bool>(json, "dt").value_or(false);
    reading.seq = Get<std::int64_t>(json, "s");
    if (const auto bp = Get<std::vector<int>>(json, "bp")) {
      if (bp->size() != 2) return std::nullopt;
      reading.bp = BloodPressure{(*bp)[0], (*bp)[1]};
    }
    return reading;
  }
  if (*kind == "s") {
    const auto status = Get<std::string>(json, "st");
    const auto at = FromMicros(json, "a");
    if (!status || !at) return std::nullopt;
    return DeviceStatus{*device, *status, *at};
  }
  if (*kind == "a") {
    const auto id = Get<std::string>(json, "id");
    const auto at = FromMicros(json, "a");
    if (!id || !at) return std::nullopt;
    DeviceAlert alert;
    alert.id = *id;
    alert.device_id = *device;
    alert.patient_id = Get<std::string>(json, "p").value_or("");
    alert.alert_type = Get<std::string>(json, "ty").value_or("");
    alert.severity = Get<std::string>(json, "se").value_or("");
    alert.message = Get<std::string>(json, "me").value_or("");
    alert.value = Get<double>(json, "va");
    alert.at = *at;
    return alert;
  }
  if (*kind == "x") {
    const auto id = Get<std::string>(json, "id");
    const auto received = FromMicros(json, "r");
    const auto it = json.find("pl");
    if (!id || !received || it == json.end() || !it->is_binary()) return std::nullopt;
    Rejection rejection;
    rejection.id = *id;
    rejection.device_id = *device;
    rejection.topic_kind = Get<std::string>(json, "tk").value_or("");
    rejection.reason = Get<std::string>(json, "re").value_or("");
    rejection.payload_size = Get<std::size_t>(json, "n").value_or(0);
    rejection.received_at = *received;
    const auto& bytes = it->get_binary();
    rejection.payload.assign(bytes.begin(), bytes.end());
    return rejection;
  }
  return std::nullopt;
}

}  // namespace nilecare::mqtt
