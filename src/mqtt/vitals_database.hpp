#pragma once
// PostgreSQL side of the MQTT vitals ingest (libpqxx 6.4): the schema (numbered migrations
// under an advisory lock), batch writes of journaled device records (COPY into a per-
// connection staging table, then INSERT ... ON CONFLICT DO NOTHING, so journal replays and
// MQTT redeliveries are no-ops), and the reads behind the REST device API.
//
// One connection; used by one thread at a time (not thread-safe). No automatic reconnect:
// after an error of kind kConnection, Connected() is false and the caller calls Connect()
// again (with its own back-off). The connection's session state (UTC time zone,
// statement_timeout, the temp staging table) is set up by Connect().
//
// Every query is parameterised; values never become SQL text. Timestamps cross the wire as
// ISO 8601 UTC strings with microseconds. Error messages never contain the password; a
// data error's message may quote the offending value (server text): log kind/sqlstate,
// not what(), where device text must not reach the log.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "nilecare/mqtt/device_records.hpp"

namespace nilecare::mqtt {

class DatabaseError : public std::runtime_error {
 public:
  enum class Kind {
    kConnection,     // not connected, connection lost, commit outcome unknown: reconnect, retry
    kInvalidRecord,  // data the database can never take (bad text, bad uuid, out of range):
                     // retrying the same batch fails again
    kQuery,          // anything else (timeout, lock, disk full, schema missing): retry later
  };
  DatabaseError(Kind kind, const std::string& message, std::string sqlstate = {})
      : std::runtime_error(message), kind_(kind), sqlstate_(std::move(sqlstate)) {}
  Kind kind() const { return kind_; }
  const std::string& sqlstate() const { return sqlstate_; }  // "" when not from the server

 private:
  Kind kind_;
  std::string sqlstate_;
};

class VitalsDatabase {
 public:
  // How vitals are copied into the staging table. Both are COPY ... FROM STDIN; the default
  // is the one measured faster here (see vitals_database_test's Throughput10k).
  enum class CopyMethod { kTableWriter, kStreamTo };

  explicit VitalsDatabase(config::DatabaseSettings settings);  // no I/O
  ~VitalsDatabase();
  VitalsDatabase(const VitalsDatabase&) = delete;
  VitalsDatabase& operator=(const VitalsDatabase&) = delete;

  // Opens the connection (dropping any previous one): libpq connect_timeout from the
  // settings, then TimeZone UTC, statement_timeout and the staging table on the session.
  // Throws DatabaseError (kConnection); the message never contains the password.
  void Connect();
  bool Connected() const;
  void Disconnect();

  // Creates/upgrades the schema in the connection's current schema (search_path). Safe to
  // run by several gateways at once (pg_advisory_xact_lock); idempotent. With
  // settings.timescale, device_vitals becomes a TimescaleDB hypertable when the extension
  // is available (else: logged, plain table).
  void Migrate();
  static int SchemaVersion();  // the newest migration this build knows

  struct WriteResult {
    std::size_t vitals_inserted{0};
    std::size_t vitals_duplicates{0};  // already stored (replay/redelivery) or repeated in batch
    std::size_t statuses{0};           // status rows changed (an older `at` changes nothing)
    std::size_t alerts{0};             // inserted (a known id is skipped)
    std::size_t rejects{0};            // inserted (a known id is skipped)
  };
  // One transaction for the whole batch; on any failure throws DatabaseError and nothing is
  // committed. Vitals are COPYed into a temp staging table, then INSERT ... ON CONFLICT
  // (device_id, ts, seq) DO NOTHING. Records with text the database cannot hold (NUL,
  // invalid UTF-8) or values out of range are refused up front (kInvalidRecord, the message
  // names the record index). A Rejection is always storable: its payload is bytea (exact),
  // and its device_id/topic_kind/reason get U+FFFD for bytes that are not UTF-8; only a
  // malformed id (not a UUID) makes it fail.
  WriteResult Write(const std::vector<DeviceRecord>& batch);

  // device_id -> patient_id for every mapped device.
  std::vector<std::pair<std::string, std::string>> LoadDeviceMap();

  struct Device {
    std::string device_id;
    std::optional<std::string> patient_id;
    std::optional<std::string> label;
    std::optional<std::string> status;     // last status from MQTT, if any
    std::optional<TimePoint> status_at;
    TimePoint updated_at{};                // last PUT
  };
  // nullopt when the device was never PUT (a device that only sent a status is not listed).
  std::optional<Device> GetDevice(const std::string& device_id);
  // Upsert: sets patient_id and label (nullopt = NULL: unmapped / no label).
  Device PutDevice(const std::string& device_id, std::optional<std::string> patient_id,
                   std::optional<std::string> label);
  // Readings of one device with from <= measured_at <= to (either bound optional), newest
  // first (measured_at desc, seq desc), at most `limit`.
  std::vector<VitalsReading> DeviceVitals(const std::string& device_id,
                                          std::optional<TimePoint> from,
                                          std::optional<TimePoint> to, std::size_t limit);
  std::optional<VitalsReading> LatestForPatient(const std::string& patient_id);
  std::size_t CountVitals(const std::string& device_id);

  // For benchmarks/tests.
  void set_copy_method(CopyMethod method) { copy_method_ = method; }
  int BackendPid() const;  // 0 when not connected

 private:
  struct Session;  // the pqxx connection (kept out of this header)
  template <typename F>
  auto Run(const char* operation, F&& body);

  config::DatabaseSettings settings_;
  std::unique_ptr<Session> session_;
  CopyMethod copy_method_{CopyMethod::kTableWriter};
};

}  // namespace nilecare::mqtt
