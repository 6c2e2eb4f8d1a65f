#include "vitals_database.hpp"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <set>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <variant>

#include <pqxx/pqxx>
#include <pqxx/tablewriter>

#include "nilecare/observability/log.hpp"

namespace {

// One field of a COPY row for pqxx::stream_to: text, or NULL when `text` is null.
struct CopyField {
  const std::string* text{nullptr};
};

}  // namespace

namespace pqxx {
template <>
struct string_traits<CopyField> {
  static constexpr const char* name() noexcept { return "CopyField"; }
  static constexpr bool has_null() noexcept { return true; }
  static bool is_null(const CopyField& field) { return field.text == nullptr; }
  static CopyField null() { return {}; }
  static std::string to_string(const CopyField& field) { return *field.text; }
  static void from_string(const char[], CopyField&) {
    throw conversion_error("CopyField is write-only");
  }
};
}  // namespace pqxx

namespace nilecare::mqtt {
namespace {

using Kind = DatabaseError::Kind;
namespace logging = nilecare::observability::log;

// ---------------------------------------------------------------------------------------
// Schema

// pg_advisory_xact_lock key for Migrate(): "nilecare" in ASCII.
constexpr std::int64_t kMigrationLockKey = 0x6e696c6563617265;

struct Migration {
  int version;
  const char* description;
  std::vector<const char*> statements;
};

// Append-only: a later version adds a Migration with the next number; never edit one that
// has shipped. Each runs in the Migrate() transaction, under the advisory lock.
const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> migrations{
      {1,
       "device vitals, devices, status, alerts, rejects",
       {
           R"sql(CREATE TABLE IF NOT EXISTS device_vitals (
                   device_id     text        NOT NULL,
                   patient_id    text,
                   ts            timestamptz NOT NULL,
                   seq           bigint      NOT NULL DEFAULT -1,
                   hr            real,
                   spo2          real,
                   temp          real,
                   bp_systolic   smallint,
                   bp_diastolic  smallint,
                   device_time   boolean     NOT NULL DEFAULT false,
                   received_at   timestamptz NOT NULL,
                   stored_at     timestamptz NOT NULL DEFAULT now(),
                   CONSTRAINT device_vitals_dedupe UNIQUE (device_id, ts, seq)))sql",
           R"sql(CREATE INDEX IF NOT EXISTS device_vitals_patient_ts
                   ON device_vitals (patient_id, ts DESC) WHERE patient_id IS NOT NULL)sql",
           R"sql(CREATE TABLE IF NOT EXISTS devices (
                   device_id   text        PRIMARY KEY,
                   patient_id  text,
                   label       text,
                   updated_at  timestamptz NOT NULL DEFAULT now()))sql",
           R"sql(CREATE TABLE IF NOT EXISTS device_status (
                   device_id   text        PRIMARY KEY,
                   status      text        NOT NULL,
                   updated_at  timestamptz NOT NULL))sql",
           R"sql(CREATE TABLE IF NOT EXISTS device_alerts (
                   id          uuid        PRIMARY KEY,
                   device_id   text        NOT NULL,
                   patient_id  text,
                   alert_type  text        NOT NULL,
                   severity    text        NOT NULL,
                   value       double precision,
                   message     text        NOT NULL DEFAULT '',
                   ts          timestamptz NOT NULL))sql",
           R"sql(CREATE INDEX IF NOT EXISTS device_alerts_device_ts
                   ON device_alerts (device_id, ts DESC))sql",
           R"sql(CREATE TABLE IF NOT EXISTS vitals_rejects (
                   id            uuid        PRIMARY KEY,
                   device_id     text,
                   topic_kind    text        NOT NULL,
                   reason        text        NOT NULL,
                   payload       bytea       NOT NULL,
                   payload_size  integer     NOT NULL,
                   received_at   timestamptz NOT NULL))sql",
           R"sql(CREATE INDEX IF NOT EXISTS vitals_rejects_received_at
                   ON vitals_rejects (received_at))sql",
       }},
  };
  return migrations;
}

// Per connection; ON COMMIT DELETE ROWS empties it at the end of every batch transaction
// (and a rolled-back batch leaves nothing either).
constexpr const char* kCreateStaging = R"sql(
  CREATE TEMP TABLE IF NOT EXISTS nilecare_vitals_staging (
    device_id text, patient_id text, ts timestamptz, seq bigint, hr real, spo2 real,
    temp real, bp_systolic smallint, bp_diastolic smallint, device_time boolean,
    received_at timestamptz) ON COMMIT DELETE ROWS)sql";
constexpr const char* kStagingTable = "pg_temp.nilecare_vitals_staging";
const std::vector<std::string> kStagingColumns{
    "device_id",    "patient_id",   "ts",          "seq",        "hr",         "spo2",
    "temp",         "bp_systolic",  "bp_diastolic", "device_time", "received_at"};

// A timestamptz column as ISO 8601 UTC with microseconds, for ParseTimestamp.
#define NILECARE_ISO(column) \
  "to_char(" column " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define NILECARE_VITALS_COLUMNS                                                             \
  "device_id, patient_id, " NILECARE_ISO("ts") ", seq, hr, spo2, temp, bp_systolic, "       \
  "bp_diastolic, device_time, " NILECARE_ISO("received_at")

struct Statement {
  const char* name;
  const char* sql;
};

const Statement kStatements[] = {
    {"nc_vitals_merge",
     R"sql(INSERT INTO device_vitals (device_id, patient_id, ts, seq, hr, spo2, temp,
                                      bp_systolic, bp_diastolic, device_time, received_at)
           SELECT device_id, patient_id, ts, seq, hr, spo2, temp, bp_systolic, bp_diastolic,
                  device_time, received_at
           FROM pg_temp.nilecare_vitals_staging
           ON CONFLICT (device_id, ts, seq) DO NOTHING)sql"},
    // An older status never overwrites a newer one; replaying the same one changes nothing.
    {"nc_status_upsert",
     R"sql(INSERT INTO device_status AS s (device_id, status, updated_at)
           VALUES ($1, $2, $3::timestamptz)
           ON CONFLICT (device_id) DO UPDATE
             SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
             WHERE s.updated_at < EXCLUDED.updated_at
                OR (s.updated_at = EXCLUDED.updated_at AND s.status <> EXCLUDED.status))sql"},
    {"nc_alert_insert",
     R"sql(INSERT INTO device_alerts (id, device_id, patient_id, alert_type, severity, value,
                                      message, ts)
           VALUES ($1::uuid, $2, $3, $4, $5, $6::double precision, $7, $8::timestamptz)
           ON CONFLICT (id) DO NOTHING)sql"},
    {"nc_reject_insert",
     R"sql(INSERT INTO vitals_rejects (id, device_id, topic_kind, reason, payload,
                                       payload_size, received_at)
           VALUES ($1::uuid, $2, $3, $4, $5::bytea, $6::integer, $7::timestamptz)
           ON CONFLICT (id) DO NOTHING)sql"},
    {"nc_device_map",
     "SELECT device_id, patient_id FROM devices WHERE patient_id IS NOT NULL ORDER BY device_id"},
    {"nc_device_get",
     "SELECT d.device_id, d.patient_id, d.label, " NILECARE_ISO("d.updated_at") ", s.status, "
     NILECARE_ISO("s.updated_at") " FROM devices d LEFT JOIN device_status s"
     " ON s.device_id = d.device_id WHERE d.device_id = $1"},
    {"nc_device_put",
     "WITH up AS (INSERT INTO devices AS d (device_id, patient_id, label, updated_at)"
     "  VALUES ($1, $2, $3, now()) ON CONFLICT (device_id) DO UPDATE"
     "  SET patient_id = EXCLUDED.patient_id, label = EXCLUDED.label,"
     "      updated_at = EXCLUDED.updated_at"
     "  RETURNING d.device_id, d.patient_id, d.label, d.updated_at)"
     " SELECT up.device_id, up.patient_id, up.label, " NILECARE_ISO("up.updated_at") ", s.status, "
     NILECARE_ISO("s.updated_at") " FROM up LEFT JOIN device_status s"
     " ON s.device_id = up.device_id"},
    // COALESCE keeps the bounds usable as index conditions in a generic plan.
    {"nc_device_vitals",
     "SELECT " NILECARE_VITALS_COLUMNS " FROM device_vitals WHERE device_id = $1"
     " AND ts >= COALESCE($2::timestamptz, '-infinity'::timestamptz)"
     " AND ts <= COALESCE($3::timestamptz, 'infinity'::timestamptz)"
     " ORDER BY ts DESC, seq DESC LIMIT $4::bigint"},
    {"nc_patient_latest",
     "SELECT " NILECARE_VITALS_COLUMNS " FROM device_vitals WHERE patient_id = $1"
     " ORDER BY ts DESC, seq DESC LIMIT 1"},
    {"nc_count_vitals", "SELECT count(*) FROM device_vitals WHERE device_id = $1"},
};

// ---------------------------------------------------------------------------------------
// Secrets in the connection string

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int value = 0;
      const auto* begin = text.data() + i + 1;
      if (std::from_chars(begin, begin + 2, value, 16).ptr == begin + 2) {
        out.push_back(static_cast<char>(value));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

bool IsUri(std::string_view url) {
  return url.starts_with("postgresql://") || url.starts_with("postgres://");
}

// Every spelling of a password the connection string carries (raw and percent-decoded).
std::vector<std::string> SecretsIn(std::string_view url) {
  std::vector<std::string> secrets;
  auto add = [&](std::string_view raw) {
    if (raw.empty()) return;
    secrets.emplace_back(raw);
    std::string decoded = PercentDecode(raw);
    if (decoded != raw) secrets.push_back(std::move(decoded));
  };
  if (IsUri(url)) {
    const auto authority_begin = url.find("://") + 3;
    const auto authority_end = url.find_first_of("/?", authority_begin);
    const auto authority = url.substr(authority_begin, authority_end == std::string_view::npos
                                                           ? std::string_view::npos
                                                           : authority_end - authority_begin);
    // An unencoded '@' in the password: libpq splits at the first one, a reader at the
    // last; redact both readings.
    for (const auto at : {authority.find('@'), authority.rfind('@')}) {
      if (at == std::string_view::npos) continue;
      const auto userinfo = authority.substr(0, at);
      const auto colon = userinfo.find(':');
      if (colon != std::string_view::npos) add(userinfo.substr(colon + 1));
    }
  }
  // password=... as a URI query parameter or a keyword/value pair (possibly quoted).
  for (std::size_t pos = url.find("password"); pos != std::string_view::npos;
       pos = url.find("password", pos + 1)) {
    std::size_t i = pos + 8;
    while (i < url.size() && url[i] == ' ') ++i;
    if (i >= url.size() || url[i] != '=') continue;
    ++i;
    while (i < url.size() && url[i] == ' ') ++i;
    std::size_t end = i;
    if (i < url.size() && url[i] == '\'') {
      end = url.find('\'', i + 1);
      if (end == std::string_view::npos) end = url.size();
      add(url.substr(i + 1, end - i - 1));
    } else {
      while (end < url.size() && url[end] != ' ' && url[end] != '&') ++end;
      add(url.substr(i, end - i));
    }
  }
  // Longest first, so a secret containing another is replaced whole.
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return secrets;
}

std::string Redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    for (auto pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + 3)) {
      text.replace(pos, secret.size(), "***");
    }
  }
  return text;
}

// The connection string with the settings' connect_timeout, plus defaults for what the
// URL does not set: keepalives and tcp_user_timeout (a server host that vanishes without a
// RST must fail a waiting query in seconds, not after TCP's ~15 minutes; statement_timeout
// is enforced by the server and cannot help then) and an application_name for
// pg_stat_activity. libpq ignores the TCP ones on Unix sockets.
std::string ConnectionString(const std::string& url, const config::DatabaseSettings& settings) {
  const bool uri = IsUri(url);
  std::string out = url;
  auto append = [&](const std::string& key, const std::string& value) {
    if (uri) {
      out += (out.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
    } else {
      out += (out.empty() ? "" : " ") + key + "=" + value;
    }
  };
  auto present = [&](const std::string& key) {
    for (auto pos = url.find(key + "="); pos != std::string::npos;
         pos = url.find(key + "=", pos + 1)) {
      if (pos == 0 || url[pos - 1] == '?' || url[pos - 1] == '&' || url[pos - 1] == ' ') {
        return true;
      }
    }
    return false;
  };
  // libpq takes whole seconds (and treats 1 as 2).
  const auto connect_seconds =
      std::max<std::int64_t>(1, (settings.connect_timeout.count() + 999) / 1000);
  append("connect_timeout", std::to_string(connect_seconds));
  if (!present("keepalives")) append("keepalives", "1");
  if (!present("keepalives_idle")) append("keepalives_idle", "10");
  if (!present("keepalives_interval")) append("keepalives_interval", "5");
  if (!present("keepalives_count")) append("keepalives_count", "3");
  if (!present("tcp_user_timeout")) {
    const auto ms = std::max<std::int64_t>(30'000, settings.statement_timeout.count() + 10'000);
    append("tcp_user_timeout", std::to_string(ms));
  }
  if (!present("application_name")) append("application_name", "nilecare-gateway");
  return out;
}

std::string FirstLine(std::string_view text) {
  // pqxx messages start with "ERROR:  " and may go on with DETAIL/CONTEXT lines (which
  // can quote whole rows): keep the primary message only.
  auto line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
  return std::string(line);
}

// ---------------------------------------------------------------------------------------
// Values

bool ValidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    if (c == 0) return false;  // PostgreSQL text cannot hold NUL
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    std::uint32_t code = 0;
    if ((c & 0xE0) == 0xC0) {
      length = 2;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + length > n) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      code = (code << 6) | (s[i + k] & 0x3F);
    }
    if ((length == 2 && code < 0x80) || (length == 3 && code < 0x800) ||
        (length == 4 && code < 0x10000) || code > 0x10FFFF ||
        (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

// Years 1..9999: what FormatTimestamp writes and PostgreSQL reads back unchanged.
bool StorableTime(TimePoint time) {
  using namespace std::chrono;
  static const TimePoint kMin{sys_days{year{1} / January / 1}};
  static const TimePoint kMax{sys_days{year{10000} / January / 1}};
  return time >= kMin && time < kMax;
}

bool StorableReal(double value) { return std::isfinite(value) && std::fabs(value) <= FLT_MAX; }

std::string FormatDouble(double value) {
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

const char* EmptyAsNull(const std::string& text) { return text.empty() ? nullptr : text.c_str(); }
const char* OrNull(const std::optional<std::string>& text) {
  return text ? text->c_str() : nullptr;
}

[[noreturn]] void Invalid(std::size_t index, const char* kind, const std::string& what) {
  throw DatabaseError(Kind::kInvalidRecord, "database: write: record " + std::to_string(index) +
                                                " (" + kind + "): " + what);
}

void CheckText(std::size_t index, const char* kind, const char* field, const std::string& text) {
  if (!ValidUtf8(text)) Invalid(index, kind, std::string(field) + " is not UTF-8 text without NUL");
}

void CheckTime(std::size_t index, const char* kind, const char* field, TimePoint time) {
  if (!StorableTime(time)) Invalid(index, kind, std::string(field) + " is outside years 1..9999");
}

void Validate(std::size_t index, const VitalsReading& r) {
  constexpr const char* kKind = "vitals";
  CheckText(index, kKind, "device_id", r.device_id);
  CheckText(index, kKind, "patient_id", r.patient_id);
  if (!StorableReal(r.hr)) Invalid(index, kKind, "hr is not a finite real");
  if (!StorableReal(r.spo2)) Invalid(index, kKind, "spo2 is not a finite real");
  if (!StorableReal(r.temp)) Invalid(index, kKind, "temp is not a finite real");
  if (r.bp && (r.bp->systolic < SHRT_MIN || r.bp->systolic > SHRT_MAX ||
               r.bp->diastolic < SHRT_MIN || r.bp->diastolic > SHRT_MAX)) {
    Invalid(index, kKind, "bp is out of smallint range");
  }
  CheckTime(index, kKind, "measured_at", r.measured_at);
  CheckTime(index, kKind, "received_at", r.received_at);
}

void Validate(std::size_t index, const DeviceStatus& s) {
  CheckText(index, "status", "device_id", s.device_id);
  CheckText(index, "status", "status", s.status);
  CheckTime(index, "status", "at", s.at);
}

void Validate(std::size_t index, const DeviceAlert& a) {
  constexpr const char* kKind = "alert";
  CheckText(index, kKind, "id", a.id);
  CheckText(index, kKind, "device_id", a.device_id);
  CheckText(index, kKind, "patient_id", a.patient_id);
  CheckText(index, kKind, "alert_type", a.alert_type);
  CheckText(index, kKind, "severity", a.severity);
  CheckText(index, kKind, "message", a.message);
  if (a.value && !std::isfinite(*a.value)) Invalid(index, kKind, "value is not finite");
  CheckTime(index, kKind, "at", a.at);
}

// A rejection is stored whatever its text: see Sanitized(). Only its id and time must fit.
void Validate(std::size_t index, const Rejection& r) {
  constexpr const char* kKind = "rejection";
  CheckText(index, kKind, "id", r.id);
  CheckTime(index, kKind, "received_at", r.received_at);
}

// `text` with NUL and bytes that are not UTF-8 replaced by U+FFFD.
std::string Sanitized(std::string_view text) {
  if (ValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t i = 0;
  while (i < text.size()) {
    // The longest valid prefix of 1..4 bytes starting here, if any.
    std::size_t length = 0;
    for (std::size_t n = 1; n <= 4 && i + n <= text.size(); ++n) {
      if (ValidUtf8(text.substr(i, n))) {
        length = n;
        break;
      }
    }
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

// COPY text format: backslash escapes for the characters that delimit fields and rows.
void AppendCopyEscaped(std::string& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out.push_back(c);
    }
  }
}

// The 11 staging columns of one reading, as COPY text; nullopt = NULL.
struct StagingRow {
  std::string device_id;
  std::optional<std::string> patient_id;
  std::string ts;
  std::string seq;
  std::string hr, spo2, temp;
  std::optional<std::string> bp_systolic, bp_diastolic;
  std::string device_time;
  std::string received_at;

  explicit StagingRow(const VitalsReading& r)
      : device_id(r.device_id),
        patient_id(r.patient_id.empty() ? std::nullopt : std::optional(r.patient_id)),
        ts(FormatTimestamp(r.measured_at)),
        seq(std::to_string(r.seq.value_or(-1))),
        hr(FormatDouble(r.hr)),
        spo2(FormatDouble(r.spo2)),
        temp(FormatDouble(r.temp)),
        bp_systolic(r.bp ? std::optional(std::to_string(r.bp->systolic)) : std::nullopt),
        bp_diastolic(r.bp ? std::optional(std::to_string(r.bp->diastolic)) : std::nullopt),
        device_time(r.device_time ? "t" : "f"),
        received_at(FormatTimestamp(r.received_at)) {}
};

void AppendField(std::string& line, const std::optional<std::string>& value) {
  if (value) {
    AppendCopyEscaped(line, *value);
  } else {
    line += "\\N";
  }
}

CopyField Field(const std::string& text) { return CopyField{&text}; }
CopyField Field(const std::optional<std::string>& text) {
  return CopyField{text ? &*text : nullptr};
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

void CopyWithTableWriter(pqxx::work& tx, const std::vector<const VitalsReading*>& readings) {
  pqxx::tablewriter writer(tx, kStagingTable, kStagingColumns.begin(), kStagingColumns.end());
  std::string line;
  for (const auto* reading : readings) {
    const StagingRow row(*reading);
    line.clear();
    AppendCopyEscaped(line, row.device_id);
    line.push_back('\t');
    AppendField(line, row.patient_id);
    for (const auto* text : {&row.ts, &row.seq, &row.hr, &row.spo2, &row.temp}) {
      line.push_back('\t');
      line += *text;  // digits, signs, '.', ':', 'T', 'Z', '-', 'e': nothing to escape
    }
    line.push_back('\t');
    AppendField(line, row.bp_systolic);
    line.push_back('\t');
    AppendField(line, row.bp_diastolic);
    line.push_back('\t');
    line += row.device_time;
    line.push_back('\t');
    line += row.received_at;
    writer.write_raw_line(line);
  }
  writer.complete();
}

#pragma GCC diagnostic pop

void CopyWithStreamTo(pqxx::work& tx, const std::vector<const VitalsReading*>& readings) {
  pqxx::stream_to stream(tx, kStagingTable, kStagingColumns);
  for (const auto* reading : readings) {
    const StagingRow row(*reading);
    stream << std::make_tuple(Field(row.device_id), Field(row.patient_id), Field(row.ts),
                              Field(row.seq), Field(row.hr), Field(row.spo2), Field(row.temp),
                              Field(row.bp_systolic), Field(row.bp_diastolic),
                              Field(row.device_time), Field(row.received_at));
  }
  stream.complete();
}

// ---------------------------------------------------------------------------------------
// Reading rows

TimePoint TimeField(const pqxx::field& field) {
  const auto parsed = ParseTimestamp(field.c_str());
  if (!parsed) throw pqxx::conversion_error("unexpected timestamp text from the database");
  return *parsed;
}

std::optional<std::string> TextField(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return std::string(field.c_str(), field.size());
}

// Columns in NILECARE_VITALS_COLUMNS order.
VitalsReading ReadingFromRow(const pqxx::row& row) {
  VitalsReading r;
  r.device_id = row[0].as<std::string>();
  r.patient_id = TextField(row[1]).value_or("");
  r.measured_at = TimeField(row[2]);
  const auto seq = row[3].as<std::int64_t>();
  if (seq != -1) r.seq = seq;
  r.hr = row[4].is_null() ? 0.0 : row[4].as<double>();
  r.spo2 = row[5].is_null() ? 0.0 : row[5].as<double>();
  r.temp = row[6].is_null() ? 0.0 : row[6].as<double>();
  if (!row[7].is_null() && !row[8].is_null()) {
    r.bp = BloodPressure{row[7].as<int>(), row[8].as<int>()};
  }
  r.device_time = row[9].as<bool>();
  r.received_at = TimeField(row[10]);
  return r;
}

VitalsDatabase::Device DeviceFromRow(const pqxx::row& row) {
  VitalsDatabase::Device device;
  device.device_id = row[0].as<std::string>();
  device.patient_id = TextField(row[1]);
  device.label = TextField(row[2]);
  device.updated_at = TimeField(row[3]);
  device.status = TextField(row[4]);
  if (!row[5].is_null()) device.status_at = TimeField(row[5]);
  return device;
}

Kind KindOf(const std::string& sqlstate) {
  if (sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03") {
    return Kind::kConnection;
  }
  if (sqlstate.starts_with("22") || sqlstate.starts_with("23")) return Kind::kInvalidRecord;
  return Kind::kQuery;
}

}  // namespace

// ---------------------------------------------------------------------------------------

struct VitalsDatabase::Session {
  explicit Session(const std::string& options) : connection(options) {}
  pqxx::connection connection;
};

VitalsDatabase::VitalsDatabase(config::DatabaseSettings settings)
    : settings_(std::move(settings)) {}

VitalsDatabase::~VitalsDatabase() = default;

int VitalsDatabase::SchemaVersion() { return Migrations().back().version; }

bool VitalsDatabase::Connected() const {
  return session_ != nullptr && session_->connection.is_open();
}

int VitalsDatabase::BackendPid() const {
  return Connected() ? session_->connection.backendpid() : 0;
}

void VitalsDatabase::Disconnect() { session_.reset(); }

void VitalsDatabase::Connect() {
  session_.reset();
  try {
    auto session =
        std::make_unique<Session>(ConnectionString(settings_.url, settings_));
    auto& connection = session->connection;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // A silent reconnect would lose the session settings and the staging table.
    connection.inhibit_reactivation(true);
#pragma GCC diagnostic pop
    connection.set_client_encoding("UTF8");
    {
      pqxx::nontransaction tx(connection, "session");
      tx.exec_params(
          "SELECT set_config('TimeZone', 'UTC', false), "
          "set_config('statement_timeout', $1, false)",
          std::to_string(std::max<std::int64_t>(0, settings_.statement_timeout.count())));
      tx.exec(kCreateStaging);
    }
    for (const auto& statement : kStatements) connection.prepare(statement.name, statement.sql);
    session_ = std::move(session);
  } catch (const std::exception& error) {
    const auto secrets = SecretsIn(settings_.url);
    throw DatabaseError(Kind::kConnection,
                        Redact("database: connecting to " + settings_.url +
                                   " failed: " + FirstLine(error.what()),
                               secrets));
  }
}

template <typename F>
auto VitalsDatabase::Run(const char* operation, F&& body) {
  if (!Connected()) {
    session_.reset();
    throw DatabaseError(Kind::kConnection,
                        std::string("database: ") + operation + ": not connected");
  }
  auto fail = [&](Kind kind, const std::string& what, const std::string& sqlstate) {
    if (kind == Kind::kConnection || !session_->connection.is_open()) {
      kind = Kind::kConnection;
      session_.reset();
    }
    return DatabaseError(kind, std::string("database: ") + operation + ": " + FirstLine(what),
                         sqlstate);
  };
  // The transaction inside `body` is gone (rolled back) before a handler runs.
  try {
    return body(session_->connection);
  } catch (const DatabaseError&) {
    throw;
  } catch (const pqxx::broken_connection& error) {
    throw fail(Kind::kConnection, error.what(), {});
  } catch (const pqxx::in_doubt_error& error) {
    throw fail(Kind::kConnection, error.what(), {});
  } catch (const pqxx::sql_error& error) {
    throw fail(KindOf(error.sqlstate()), error.what(), error.sqlstate());
  } catch (const std::exception& error) {
    throw fail(Kind::kQuery, error.what(), {});
  }
}

void VitalsDatabase::Migrate() {
  Run("migrate", [&](pqxx::connection_base& connection) {
    pqxx::work tx(connection, "migrate");
    // Waiting for another gateway's migration, or a long index build, may take a while.
    tx.exec("SET LOCAL statement_timeout = '5min'");
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY,"
        " description text NOT NULL DEFAULT '',"
        " applied_at timestamptz NOT NULL DEFAULT now())");
    std::set<int> applied;
    for (const auto& row : tx.exec("SELECT version FROM schema_migrations")) {
      applied.insert(row[0].as<int>());
    }
    for (const auto& migration : Migrations()) {
      if (applied.count(migration.version) != 0) continue;
      for (const char* statement : migration.statements) tx.exec(statement);
      tx.exec_params("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
                     migration.version, migration.description);
      logging::Info("database: schema migration applied",
                {{"version", migration.version}, {"description", migration.description}});
    }
    if (!applied.empty() && *applied.rbegin() > SchemaVersion()) {
      logging::Warn("database: schema is newer than this gateway",
                {{"schema_version", *applied.rbegin()}, {"known_version", SchemaVersion()}});
    }

    if (settings_.timescale) {
      const bool available =
          !tx.exec("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'").empty();
      if (!available) {
        logging::Info("database: timescaledb is not available; device_vitals is a plain table");
      } else {
        try {
          pqxx::subtransaction sub(tx, "timescale");
          sub.exec("CREATE EXTENSION IF NOT EXISTS timescaledb");
          const bool hypertable = !sub.exec(
              "SELECT 1 FROM _timescaledb_catalog.hypertable"
              " WHERE schema_name = current_schema() AND table_name = 'device_vitals'").empty();
          if (hypertable) {
            logging::Debug("database: device_vitals is a timescaledb hypertable");
          } else if (!sub.exec("SELECT 1 FROM device_vitals LIMIT 1").empty()) {
            logging::Warn(
                "database: device_vitals has rows and is not a hypertable; not converting it "
                "at start-up (convert by hand: create_hypertable(..., migrate_data => true))");
          } else {
            const auto schema =
                sub.exec1("SELECT extnamespace::regnamespace::text FROM pg_extension"
                          " WHERE extname = 'timescaledb'")[0]
                    .as<std::string>();
            sub.exec("SELECT " + schema +
                     ".create_hypertable('device_vitals'::regclass, 'ts'::name)");
            logging::Info("database: device_vitals is now a timescaledb hypertable");
          }
          sub.commit();
        } catch (const pqxx::broken_connection&) {
          throw;
        } catch (const pqxx::sql_error& error) {
          logging::Warn("database: timescaledb could not be used; device_vitals is a plain table",
                    {{"sqlstate", error.sqlstate()}});
        }
      }
    }
    tx.commit();
  });
}

VitalsDatabase::WriteResult VitalsDatabase::Write(const std::vector<DeviceRecord>& batch) {
  std::vector<const VitalsReading*> vitals;
  std::vector<const DeviceStatus*> statuses;
  std::vector<const DeviceAlert*> alerts;
  std::vector<const Rejection*> rejects;
  vitals.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    std::visit(
        [&](const auto& record) {
          Validate(i, record);
          using T = std::decay_t<decltype(record)>;
          if constexpr (std::is_same_v<T, VitalsReading>) vitals.push_back(&record);
          if constexpr (std::is_same_v<T, DeviceStatus>) statuses.push_back(&record);
          if constexpr (std::is_same_v<T, DeviceAlert>) alerts.push_back(&record);
          if constexpr (std::is_same_v<T, Rejection>) rejects.push_back(&record);
        },
        batch[i]);
  }
  WriteResult result;
  if (batch.empty()) return result;
  return Run("write", [&](pqxx::connection_base& connection) {
    pqxx::work tx(connection, "write");
    if (!vitals.empty()) {
      if (copy_method_ == CopyMethod::kStreamTo) {
        CopyWithStreamTo(tx, vitals);
      } else {
        CopyWithTableWriter(tx, vitals);
      }
      result.vitals_inserted = tx.exec_prepared("nc_vitals_merge").affected_rows();
      result.vitals_duplicates = vitals.size() - result.vitals_inserted;
    }
    for (const auto* status : statuses) {
      result.statuses += tx.exec_prepared("nc_status_upsert", status->device_id, status->status,
                                          FormatTimestamp(status->at))
                             .affected_rows();
    }
    for (const auto* alert : alerts) {
      const std::string value = alert->value ? FormatDouble(*alert->value) : std::string();
      result.alerts +=
          tx.exec_prepared("nc_alert_insert", alert->id, alert->device_id,
                           EmptyAsNull(alert->patient_id), alert->alert_type, alert->severity,
                           alert->value ? value.c_str() : nullptr, alert->message,
                           FormatTimestamp(alert->at))
              .affected_rows();
    }
    for (const auto* reject : rejects) {
      const int size = static_cast<int>(
          std::min<std::size_t>(reject->payload_size, static_cast<std::size_t>(INT_MAX)));
      const std::string device_id = Sanitized(reject->device_id);
      result.rejects +=
          tx.exec_prepared("nc_reject_insert", reject->id, EmptyAsNull(device_id),
                           Sanitized(reject->topic_kind), Sanitized(reject->reason),
                           pqxx::binarystring(reject->payload.data(), reject->payload.size()),
                           size, FormatTimestamp(reject->received_at))
              .affected_rows();
    }
    tx.commit();
    return result;
  });
}

std::vector<std::pair<std::string, std::string>> VitalsDatabase::LoadDeviceMap() {
  return Run("load device map", [&](pqxx::connection_base& connection) {
    pqxx::read_transaction tx(connection, "device_map");
    std::vector<std::pair<std::string, std::string>> map;
    const auto rows = tx.exec_prepared("nc_device_map");
    map.reserve(rows.size());
    for (const auto& row : rows) {
      map.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    }
    return map;
  });
}

std::optional<VitalsDatabase::Device> VitalsDatabase::GetDevice(const std::string& device_id) {
  if (!ValidUtf8(device_id)) return std::nullopt;  // cannot be stored, so it is not there
  return Run("get device", [&](pqxx::connection_base& connection) -> std::optional<Device> {
    pqxx::read_transaction tx(connection, "device_get");
    const auto rows = tx.exec_prepared("nc_device_get", device_id);
    if (rows.empty()) return std::nullopt;
    return DeviceFromRow(rows[0]);
  });
}

VitalsDatabase::Device VitalsDatabase::PutDevice(const std::string& device_id,
                                                 std::optional<std::string> patient_id,
                                                 std::optional<std::string> label) {
  auto check = [](const char* field, const std::string& text) {
    if (!ValidUtf8(text)) {
      throw DatabaseError(Kind::kInvalidRecord, std::string("database: put device: ") + field +
                                                    " is not UTF-8 text without NUL");
    }
  };
  check("device_id", device_id);
  if (patient_id) check("patient_id", *patient_id);
  if (label) check("label", *label);
  return Run("put device", [&](pqxx::connection_base& connection) {
    pqxx::work tx(connection, "device_put");
    const auto row = tx.exec_prepared1("nc_device_put", device_id, OrNull(patient_id),
                                       OrNull(label));
    auto device = DeviceFromRow(row);
    tx.commit();
    return device;
  });
}

std::vector<VitalsReading> VitalsDatabase::DeviceVitals(const std::string& device_id,
                                                        std::optional<TimePoint> from,
                                                        std::optional<TimePoint> to,
                                                        std::size_t limit) {
  if (limit == 0 || !ValidUtf8(device_id)) return {};
  // Bounds beyond what PostgreSQL stores are the same as no bound.
  const std::string from_text = from && StorableTime(*from) ? FormatTimestamp(*from) : "";
  const std::string to_text = to && StorableTime(*to) ? FormatTimestamp(*to) : "";
  if (from && to && *from > *to) return {};
  const auto max_rows = static_cast<std::int64_t>(
      std::min<std::size_t>(limit, static_cast<std::size_t>(INT64_MAX)));
  return Run("device vitals", [&](pqxx::connection_base& connection) {
    pqxx::read_transaction tx(connection, "device_vitals");
    const auto rows = tx.exec_prepared("nc_device_vitals", device_id, EmptyAsNull(from_text),
                                       EmptyAsNull(to_text), max_rows);
    std::vector<VitalsReading> readings;
    readings.reserve(rows.size());
    for (const auto& row : rows) readings.push_back(ReadingFromRow(row));
    return readings;
  });
}

std::optional<VitalsReading> VitalsDatabase::LatestForPatient(const std::string& patient_id) {
  if (patient_id.empty() || !ValidUtf8(patient_id)) return std::nullopt;
  return Run("latest for patient",
             [&](pqxx::connection_base& connection) -> std::optional<VitalsReading> {
               pqxx::read_transaction tx(connection, "patient_latest");
               const auto rows = tx.exec_prepared("nc_patient_latest", patient_id);
               if (rows.empty()) return std::nullopt;
               return ReadingFromRow(rows[0]);
             });
}

std::size_t VitalsDatabase::CountVitals(const std::string& device_id) {
  if (!ValidUtf8(device_id)) return 0;
  return Run("count vitals", [&](pqxx::connection_base& connection) {
    pqxx::read_transaction tx(connection, "count_vitals");
    return tx.exec_prepared1("nc_count_vitals", device_id)[0].as<std::size_t>();
  });
}

}  // namespace nilecare::mqtt
