// VitalsDatabase against the stack's real PostgreSQL (NILECARE_PG_URL from the env file
// named by NILECARE_STACK_ENV). Every test works in a schema of its own (search_path set
// through the connection URL), dropped at the end.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "mqtt/vitals_database.hpp"
#include "support/gateway_process.hpp"

namespace nilecare::mqtt {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Kind = DatabaseError::Kind;

std::string PgUrl() {
  auto env = testing::ReadStackEnv();
  return env.count("NILECARE_PG_URL") ? env["NILECARE_PG_URL"]
                                      : "postgres://nilecare:nilecare@127.0.0.1:25432/nilecare";
}

std::string WithSchema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") +
         "options=-c%20search_path%3D" + schema;
}

TimePoint T0() { return *ParseTimestamp("2026-12-04T21:00:00.123456Z"); }

VitalsReading Reading(const std::string& device, TimePoint at,
                      std::optional<std::int64_t> seq = std::nullopt,
                      const std::string& patient = "") {
  VitalsReading r;
  r.device_id = device;
  r.patient_id = patient;
  r.hr = 72.5;
  r.spo2 = 97.25;
  r.temp = 36.6;
  r.bp = BloodPressure{120, 80};
  r.measured_at = at;
  r.device_time = true;
  r.seq = seq;
  r.received_at = at + 1500us;
  return r;
}

std::vector<DeviceRecord> VitalsBatch(const std::string& device, std::size_t count,
                                      TimePoint start, const std::string& patient = "") {
  std::vector<DeviceRecord> batch;
  batch.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    batch.emplace_back(Reading(device, start + std::chrono::milliseconds(i),
                               static_cast<std::int64_t>(i), patient));
  }
  return batch;
}

class VitalsDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::isalnum(c) ? std::tolower(c) : '_'; });
    schema_ = "vdbt_" + name + "_" + std::to_string(::getpid());
    url_ = WithSchema(PgUrl(), schema_);
    try {
      admin_ = std::make_unique<pqxx::connection>(url_);
      pqxx::nontransaction tx(*admin_);
      tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(schema_) + " CASCADE");
      tx.exec("CREATE SCHEMA " + tx.quote_name(schema_));
    } catch (const std::exception& error) {
      FAIL() << "PostgreSQL from the stack is not usable (" << error.what()
             << "); start it with scripts/stack.sh --profile test --only pg up";
    }
  }
  void TearDown() override {
    if (!admin_) return;
    try {
      pqxx::connection cleanup(PgUrl());
      pqxx::nontransaction tx(cleanup);
      tx.exec("DROP SCHEMA IF EXISTS " + tx.quote_name(schema_) + " CASCADE");
    } catch (const std::exception& error) {
      ADD_FAILURE() << "dropping schema " << schema_ << ": " << error.what();
    }
  }

  config::DatabaseSettings Settings() const {
    config::DatabaseSettings settings;
    settings.url = url_;
    settings.connect_timeout = 5s;
    settings.statement_timeout = 10s;
    return settings;
  }
  std::unique_ptr<VitalsDatabase> Open() {
    auto db = std::make_unique<VitalsDatabase>(Settings());
    db->Connect();
    db->Migrate();
    return db;
  }
  pqxx::result Query(const std::string& sql) {
    pqxx::nontransaction tx(*admin_);
    return tx.exec(sql);
  }
  template <typename... Args>
  pqxx::result Query(const std::string& sql, Args&&... args) {
    pqxx::nontransaction tx(*admin_);
    return tx.exec_params(sql, std::forward<Args>(args)...);
  }

  std::string schema_;
  std::string url_;
  std::unique_ptr<pqxx::connection> admin_;
};

TEST_F(VitalsDatabaseTest, MigrateIsIdempotent) {
  auto db = Open();
  db->Migrate();
  VitalsDatabase other(Settings());
  other.Connect();
  other.Migrate();
  const auto versions = Query("SELECT version FROM schema_migrations ORDER BY version");
  ASSERT_EQ(versions.size(), static_cast<std::size_t>(VitalsDatabase::SchemaVersion()));
  EXPECT_EQ(versions[versions.size() - 1][0].as<int>(), VitalsDatabase::SchemaVersion());
  for (const char* table :
       {"device_vitals", "devices", "device_status", "device_alerts", "vitals_rejects"}) {
    EXPECT_FALSE(Query("SELECT to_regclass($1)", schema_ + "."s + table)[0][0].is_null())
        << table;
  }
  // The patient index and the dedupe key exist.
  EXPECT_EQ(Query("SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexname IN "
                  "('device_vitals_patient_ts', 'device_vitals_dedupe')",
                  schema_)[0][0]
                .as<int>(),
            2);
}

TEST_F(VitalsDatabaseTest, MigrateConcurrently) {
  constexpr int kGateways = 4;
  std::vector<std::unique_ptr<VitalsDatabase>> dbs;
  for (int i = 0; i < kGateways; ++i) {
    dbs.push_back(std::make_unique<VitalsDatabase>(Settings()));
    dbs.back()->Connect();
  }
  std::latch start(kGateways);
  std::vector<std::string> errors(kGateways);
  std::vector<std::thread> threads;
  for (int i = 0; i < kGateways; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      try {
        dbs[i]->Migrate();
      } catch (const std::exception& error) {
        errors[i] = error.what();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int i = 0; i < kGateways; ++i) EXPECT_EQ(errors[i], "") << "gateway " << i;
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations")[0][0].as<int>(),
            VitalsDatabase::SchemaVersion());
  const auto result = dbs[0]->Write(VitalsBatch("dev-1", 10, T0()));
  EXPECT_EQ(result.vitals_inserted, 10u);
}

TEST_F(VitalsDatabaseTest, WriteVitalsThenReplayIsNoOp) {
  auto db = Open();
  const auto batch = VitalsBatch("dev-1", 500, T0(), "P-1");
  auto result = db->Write(batch);
  EXPECT_EQ(result.vitals_inserted, 500u);
  EXPECT_EQ(result.vitals_duplicates, 0u);
  EXPECT_EQ(db->CountVitals("dev-1"), 500u);

  result = db->Write(batch);
  EXPECT_EQ(result.vitals_inserted, 0u);
  EXPECT_EQ(result.vitals_duplicates, 500u);
  EXPECT_EQ(db->CountVitals("dev-1"), 500u);

  // Duplicates inside one batch, and readings without seq (stored as -1).
  std::vector<DeviceRecord> repeated{Reading("dev-2", T0()), Reading("dev-2", T0()),
                                     Reading("dev-2", T0(), 7), Reading("dev-2", T0() + 1us)};
  result = db->Write(repeated);
  EXPECT_EQ(result.vitals_inserted, 3u);
  EXPECT_EQ(result.vitals_duplicates, 1u);
  EXPECT_EQ(db->CountVitals("dev-2"), 3u);
  EXPECT_EQ(Query("SELECT count(*) FROM device_vitals WHERE device_id = 'dev-2' AND seq = -1")[0][0]
                .as<int>(),
            2);
  // Stored columns.
  const auto row = Query(
      "SELECT patient_id, hr, spo2, temp, bp_systolic, bp_diastolic, device_time, "
      "ts = '2026-12-04T21:00:00.123456Z'::timestamptz, received_at - ts, stored_at IS NOT NULL "
      "FROM device_vitals WHERE device_id = 'dev-1' AND seq = 0")[0];
  EXPECT_EQ(row[0].as<std::string>(), "P-1");
  EXPECT_FLOAT_EQ(row[1].as<float>(), 72.5f);
  EXPECT_FLOAT_EQ(row[2].as<float>(), 97.25f);
  EXPECT_FLOAT_EQ(row[3].as<float>(), 36.6f);
  EXPECT_EQ(row[4].as<int>(), 120);
  EXPECT_EQ(row[5].as<int>(), 80);
  EXPECT_TRUE(row[6].as<bool>());
  EXPECT_TRUE(row[7].as<bool>());
  EXPECT_EQ(row[8].as<std::string>(), "00:00:00.0015");
  EXPECT_TRUE(row[9].as<bool>());
  // An unmapped reading has a NULL patient_id.
  EXPECT_TRUE(Query("SELECT patient_id FROM device_vitals WHERE device_id = 'dev-2' LIMIT 1")[0][0]
                  .is_null());
}

// Both COPY paths escape text the same way and store NULLs as NULL.
TEST_F(VitalsDatabaseTest, CopyMethodsStoreTheSame) {
  auto db = Open();
  const std::pair<VitalsDatabase::CopyMethod, std::string> methods[] = {
      {VitalsDatabase::CopyMethod::kTableWriter, "tw"},
      {VitalsDatabase::CopyMethod::kStreamTo, "st"}};
  for (const auto& [method, tag] : methods) {
    const std::string device = "dev\t\\N\t" + tag + "\tab\x01\n\r\\\xc3\xa9\xe2\x82\xac";
    const std::string patient = "P\\N\t" + tag + "\n";
    auto with_bp = Reading(device, T0(), 1, patient);
    auto without = Reading(device, T0() + 1s, std::nullopt, "");
    without.bp.reset();
    without.hr = -0.5;
    without.spo2 = 1e-7;
    without.temp = 3.4e38;
    db->set_copy_method(method);
    const auto result = db->Write({with_bp, without});
    EXPECT_EQ(result.vitals_inserted, 2u) << tag;
    const auto stored = db->DeviceVitals(device, std::nullopt, std::nullopt, 10);
    ASSERT_EQ(stored.size(), 2u) << tag;
    EXPECT_EQ(stored[1].device_id, device);
    EXPECT_EQ(stored[1].patient_id, patient);
    EXPECT_EQ(stored[1].seq, 1);
    ASSERT_TRUE(stored[1].bp.has_value());
    EXPECT_EQ(stored[1].bp->systolic, 120);
    EXPECT_EQ(stored[0].patient_id, "");
    EXPECT_FALSE(stored[0].seq.has_value());
    EXPECT_FALSE(stored[0].bp.has_value());
    EXPECT_DOUBLE_EQ(stored[0].hr, -0.5);
    EXPECT_FLOAT_EQ(static_cast<float>(stored[0].spo2), 1e-7f);
    EXPECT_FLOAT_EQ(static_cast<float>(stored[0].temp), 3.4e38f);
    EXPECT_EQ(db->LatestForPatient(patient)->device_id, device);
  }
  EXPECT_EQ(Query("SELECT count(*) FROM device_vitals WHERE patient_id IS NULL")[0][0].as<int>(),
            2);
  EXPECT_EQ(Query("SELECT count(*) FROM device_vitals WHERE bp_systolic IS NULL")[0][0].as<int>(),
            2);
}

TEST_F(VitalsDatabaseTest, MixedBatchStatusesAlertsRejects) {
  auto db = Open();
  const std::string payload = "{\"hr\":\0\xff\xfe\x80 \t\n\\ bad"s;
  ASSERT_EQ(payload.size(), 18u);
  std::vector<DeviceRecord> batch;
  batch.emplace_back(Reading("dev-1", T0(), 1, "P-1"));
  batch.emplace_back(DeviceStatus{"dev-1", "online", T0() + 2s});
  batch.emplace_back(DeviceStatus{"dev-1", "offline", T0() + 1s});  // older: ignored
  batch.emplace_back(DeviceStatus{"dev-2", "offline", T0()});
  batch.emplace_back(DeviceAlert{"6f1c2b0e-8a8e-4a59-9d0c-1f3b9c1d2e01", "dev-1", "P-1",
                                 "HR_ABNORMAL", "critical", 131.5, "HR high", T0()});
  batch.emplace_back(DeviceAlert{"6f1c2b0e-8a8e-4a59-9d0c-1f3b9c1d2e02", "dev-1", "",
                                 "LEAD_OFF", "warning", std::nullopt, "", T0() + 1ms});
  batch.emplace_back(Rejection{"1b4e28ba-2fa1-11d2-883f-0016d3cca427", "dev-1", "vitals",
                               "not_json", payload, 9000, T0()});
  batch.emplace_back(Rejection{"1b4e28ba-2fa1-11d2-883f-0016d3cca428", "", "unknown",
                               "bad_topic", "", 0, T0()});
  // Text a rejection carries that PostgreSQL text cannot hold is stored with U+FFFD.
  batch.emplace_back(Rejection{"1b4e28ba-2fa1-11d2-883f-0016d3cca429", "dev-\xff\xc3",
                               "vit\0als"s, "bad_\xe2\x82", "x", 1, T0()});

  auto result = db->Write(batch);
  EXPECT_EQ(result.vitals_inserted, 1u);
  EXPECT_EQ(result.statuses, 2u);  // dev-1 online (insert), dev-2 offline; the older one: no
  EXPECT_EQ(result.alerts, 2u);
  EXPECT_EQ(result.rejects, 3u);

  auto status = Query("SELECT status, updated_at = $1::timestamptz FROM device_status "
                      "WHERE device_id = 'dev-1'",
                      FormatTimestamp(T0() + 2s));
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0][0].as<std::string>(), "online");
  EXPECT_TRUE(status[0][1].as<bool>());

  // A later batch with an older status changes nothing; a newer one wins.
  result = db->Write({DeviceStatus{"dev-1", "offline", T0() + 1500ms}});
  EXPECT_EQ(result.statuses, 0u);
  EXPECT_EQ(Query("SELECT status FROM device_status WHERE device_id = 'dev-1'")[0][0]
                .as<std::string>(),
            "online");
  result = db->Write({DeviceStatus{"dev-1", "offline", T0() + 3s}});
  EXPECT_EQ(result.statuses, 1u);
  EXPECT_EQ(Query("SELECT status FROM device_status WHERE device_id = 'dev-1'")[0][0]
                .as<std::string>(),
            "offline");

  const auto alerts = Query(
      "SELECT alert_type, severity, value, message, patient_id FROM device_alerts ORDER BY ts");
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0][0].as<std::string>(), "HR_ABNORMAL");
  EXPECT_EQ(alerts[0][1].as<std::string>(), "critical");
  EXPECT_DOUBLE_EQ(alerts[0][2].as<double>(), 131.5);
  EXPECT_EQ(alerts[0][3].as<std::string>(), "HR high");
  EXPECT_EQ(alerts[0][4].as<std::string>(), "P-1");
  EXPECT_TRUE(alerts[1][2].is_null());
  EXPECT_TRUE(alerts[1][4].is_null());

  const auto rejects = Query(
      "SELECT payload, payload_size, device_id, topic_kind, reason FROM vitals_rejects "
      "ORDER BY id");
  ASSERT_EQ(rejects.size(), 3u);
  EXPECT_EQ(pqxx::binarystring(rejects[0][0]).str(), payload);  // NUL, invalid UTF-8 intact
  EXPECT_EQ(rejects[0][1].as<int>(), 9000);
  EXPECT_EQ(rejects[0][2].as<std::string>(), "dev-1");
  EXPECT_EQ(rejects[0][3].as<std::string>(), "vitals");
  EXPECT_EQ(rejects[0][4].as<std::string>(), "not_json");
  EXPECT_EQ(pqxx::binarystring(rejects[1][0]).str(), "");
  EXPECT_TRUE(rejects[1][2].is_null());
  EXPECT_EQ(rejects[2][2].as<std::string>(), "dev-\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(rejects[2][3].as<std::string>(), "vit\xef\xbf\xbd" "als");
  EXPECT_EQ(rejects[2][4].as<std::string>(), "bad_\xef\xbf\xbd\xef\xbf\xbd");

  // Replaying the first batch (a journal replay after a crash) changes nothing.
  result = db->Write(batch);
  EXPECT_EQ(result.vitals_inserted, 0u);
  EXPECT_EQ(result.vitals_duplicates, 1u);
  EXPECT_EQ(result.statuses, 0u);  // dev-2: same time and status; dev-1: both older
  EXPECT_EQ(result.alerts, 0u);
  EXPECT_EQ(result.rejects, 0u);
  EXPECT_EQ(Query("SELECT count(*) FROM device_alerts")[0][0].as<int>(), 2);
  EXPECT_EQ(Query("SELECT count(*) FROM vitals_rejects")[0][0].as<int>(), 3);
  EXPECT_EQ(Query("SELECT status FROM device_status WHERE device_id = 'dev-1'")[0][0]
                .as<std::string>(),
            "offline");
}

TEST_F(VitalsDatabaseTest, ServerRejectedRecordCommitsNothing) {
  auto db = Open();
  auto batch = VitalsBatch("dev-1", 100, T0());
  batch.emplace_back(DeviceStatus{"dev-1", "online", T0()});
  batch.emplace_back(DeviceAlert{"not-a-uuid", "dev-1", "", "LEAD_OFF", "warning",
                                 std::nullopt, "", T0()});
  try {
    db->Write(batch);
    FAIL() << "Write accepted an alert with a malformed id";
  } catch (const DatabaseError& error) {
    EXPECT_EQ(error.kind(), Kind::kInvalidRecord) << error.what();
    EXPECT_EQ(error.sqlstate(), "22P02");
  }
  EXPECT_TRUE(db->Connected());
  EXPECT_EQ(db->CountVitals("dev-1"), 0u);
  EXPECT_EQ(Query("SELECT count(*) FROM device_status")[0][0].as<int>(), 0);
  // The rolled-back staging rows are gone: the next batch stores exactly its own rows.
  batch.pop_back();
  const auto result = db->Write(batch);
  EXPECT_EQ(result.vitals_inserted, 100u);
  EXPECT_EQ(result.statuses, 1u);
  EXPECT_EQ(db->CountVitals("dev-1"), 100u);
}

TEST_F(VitalsDatabaseTest, UnstorableRecordRefusedUpFront) {
  auto db = Open();
  auto batch = VitalsBatch("dev-1", 3, T0());
  batch.emplace_back(Reading("dev-\xff", T0()));
  try {
    db->Write(batch);
    FAIL() << "Write accepted a device id that is not UTF-8";
  } catch (const DatabaseError& error) {
    EXPECT_EQ(error.kind(), Kind::kInvalidRecord);
    EXPECT_NE(std::string(error.what()).find("record 3"), std::string::npos) << error.what();
  }
  batch.back() = DeviceStatus{"dev-1", "on\0line"s, T0()};
  EXPECT_THROW(db->Write(batch), DatabaseError);
  auto reading = Reading("dev-1", T0() + 1h);
  reading.bp = BloodPressure{40000, 80};
  batch.back() = reading;
  EXPECT_THROW(db->Write(batch), DatabaseError);
  reading = Reading("dev-1", T0() + 1h);
  reading.hr = 1e300;
  batch.back() = reading;
  EXPECT_THROW(db->Write(batch), DatabaseError);
  EXPECT_TRUE(db->Connected());
  EXPECT_EQ(db->CountVitals("dev-1"), 0u);
}

TEST_F(VitalsDatabaseTest, ConnectionLostMidBatchCommitsNothing) {
  auto db = Open();
  // The alert insert kills its own backend: the vitals and statuses before it in the same
  // transaction were already sent.
  Query(R"sql(CREATE FUNCTION kill_me() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN
                IF NEW.device_id = 'dev-kill' THEN
                  PERFORM pg_terminate_backend(pg_backend_pid());
                END IF;
                RETURN NEW;
              END $$)sql");
  Query("CREATE TRIGGER kill_me BEFORE INSERT ON device_alerts FOR EACH ROW "
        "EXECUTE FUNCTION kill_me()");
  auto batch = VitalsBatch("dev-1", 1000, T0());
  batch.emplace_back(DeviceStatus{"dev-1", "online", T0()});
  batch.emplace_back(DeviceAlert{"6f1c2b0e-8a8e-4a59-9d0c-1f3b9c1d2e09", "dev-kill", "",
                                 "LEAD_OFF", "warning", std::nullopt, "", T0()});
  try {
    db->Write(batch);
    FAIL() << "Write survived its connection";
  } catch (const DatabaseError& error) {
    EXPECT_EQ(error.kind(), Kind::kConnection) << error.what();
  }
  EXPECT_FALSE(db->Connected());
  EXPECT_EQ(Query("SELECT count(*) FROM device_vitals")[0][0].as<int>(), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM device_status")[0][0].as<int>(), 0);
  try {
    db->CountVitals("dev-1");
    FAIL() << "a query on a lost connection succeeded";
  } catch (const DatabaseError& error) {
    EXPECT_EQ(error.kind(), Kind::kConnection);
  }

  // Reconnect and retry the batch without the poison alert.
  db->Connect();
  batch.pop_back();
  const auto result = db->Write(batch);
  EXPECT_EQ(result.vitals_inserted, 1000u);
  EXPECT_EQ(db->CountVitals("dev-1"), 1000u);
}

TEST_F(VitalsDatabaseTest, StatementTimeoutIsAQueryError) {
  auto settings = Settings();
  settings.statement_timeout = 200ms;
  VitalsDatabase db(settings);
  db.Connect();
  db.Migrate();
  pqxx::work lock(*admin_);
  lock.exec("LOCK TABLE device_status IN ACCESS EXCLUSIVE MODE");
  const auto started = std::chrono::steady_clock::now();
  try {
    db.Write({DeviceStatus{"dev-1", "online", T0()}});
    FAIL() << "Write did not time out";
  } catch (const DatabaseError& error) {
    EXPECT_EQ(error.kind(), Kind::kQuery) << error.what();
    EXPECT_EQ(error.sqlstate(), "57014");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  lock.abort();
  EXPECT_TRUE(db.Connected());
  EXPECT_EQ(db.Write({DeviceStatus{"dev-1", "online", T0()}}).statuses, 1u);
}

TEST_F(VitalsDatabaseTest, Throughput10kRowBatches) {
  auto db = Open();
  constexpr std::size_t kRows = 10'000;
  constexpr int kRounds = 5;
  const std::pair<VitalsDatabase::CopyMethod, const char*> methods[] = {
      {VitalsDatabase::CopyMethod::kTableWriter, "tablewriter"},
      {VitalsDatabase::CopyMethod::kStreamTo, "stream_to"}};
  auto start = T0();
  std::vector<std::vector<DeviceRecord>> batches;
  for (int round = 0; round < 2 * kRounds; ++round) {
    batches.push_back(VitalsBatch("dev-bench", kRows, start, "P-1"));
    start += std::chrono::seconds(kRows);
  }
  // Warm-up (prepared statements, caches), not counted.
  db->Write(VitalsBatch("dev-warm", kRows, T0()));
  std::size_t next = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (const auto& [method, name] : methods) {
      db->set_copy_method(method);
      const auto& batch = batches[next++];
      const auto begin = std::chrono::steady_clock::now();
      const auto result = db->Write(batch);
      const std::chrono::duration<double> fresh = std::chrono::steady_clock::now() - begin;
      ASSERT_EQ(result.vitals_inserted, kRows);
      const auto replay_begin = std::chrono::steady_clock::now();
      const auto replay = db->Write(batch);
      const std::chrono::duration<double> again = std::chrono::steady_clock::now() - replay_begin;
      ASSERT_EQ(replay.vitals_duplicates, kRows);
      std::printf("[ rows/s   ] %-11s round %d: new %8.0f rows/s (%6.1f ms), replay %8.0f rows/s\n",
                  name, round, kRows / fresh.count(), fresh.count() * 1000, kRows / again.count());
    }
  }
  EXPECT_EQ(db->CountVitals("dev-bench"), kRows * 2 * kRounds);
}

TEST_F(VitalsDatabaseTest, DevicePutGetAndMap) {
  auto db = Open();
  EXPECT_FALSE(db->GetDevice("dev-1").has_value());
  const auto before = Now() - 5s;
  auto device = db->PutDevice("dev-1", "P-1", "Bed 3, ward 'A'");
  EXPECT_EQ(device.device_id, "dev-1");
  EXPECT_EQ(device.patient_id, "P-1");
  EXPECT_EQ(device.label, "Bed 3, ward 'A'");
  EXPECT_FALSE(device.status.has_value());
  EXPECT_FALSE(device.status_at.has_value());
  EXPECT_GT(device.updated_at, before);
  EXPECT_LT(device.updated_at, Now() + 5s);

  db->Write({DeviceStatus{"dev-1", "online", T0()}, DeviceStatus{"dev-3", "online", T0()}});
  auto got = db->GetDevice("dev-1");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->patient_id, "P-1");
  EXPECT_EQ(got->status, "online");
  EXPECT_EQ(got->status_at, T0());
  EXPECT_EQ(got->updated_at, device.updated_at);
  EXPECT_FALSE(db->GetDevice("dev-3").has_value());  // status only, never PUT

  db->PutDevice("dev-2", "P-2", std::nullopt);
  db->PutDevice("dev-4", std::nullopt, "spare");
  auto map = db->LoadDeviceMap();
  EXPECT_EQ(map, (std::vector<std::pair<std::string, std::string>>{{"dev-1", "P-1"},
                                                                   {"dev-2", "P-2"}}));
  // Upsert: unmapping dev-1 drops it from the map; the status stays.
  device = db->PutDevice("dev-1", std::nullopt, std::nullopt);
  EXPECT_FALSE(device.patient_id.has_value());
  EXPECT_FALSE(device.label.has_value());
  EXPECT_EQ(device.status, "online");
  map = db->LoadDeviceMap();
  EXPECT_EQ(map, (std::vector<std::pair<std::string, std::string>>{{"dev-2", "P-2"}}));
  EXPECT_EQ(Query("SELECT count(*) FROM devices")[0][0].as<int>(), 3);
  EXPECT_THROW(db->PutDevice("dev-\xc0\x80", "P", std::nullopt), DatabaseError);
}

TEST_F(VitalsDatabaseTest, DeviceVitalsRangeLimitOrder) {
  auto db = Open();
  std::vector<DeviceRecord> batch;
  for (int i = 0; i < 10; ++i) {
    batch.emplace_back(Reading("dev-1", T0() + std::chrono::seconds(i), i, "P-1"));
  }
  batch.emplace_back(Reading("dev-1", T0() + 9s, 10, "P-1"));  // same ts, higher seq
  batch.emplace_back(Reading("dev-2", T0() + 5s, 1, "P-2"));
  auto no_seq = Reading("dev-3", T0() - 1s);
  no_seq.bp.reset();
  no_seq.device_time = false;
  no_seq.hr = 61.0;
  batch.emplace_back(no_seq);
  db->Write(batch);

  auto all = db->DeviceVitals("dev-1", std::nullopt, std::nullopt, 100);
  ASSERT_EQ(all.size(), 11u);
  EXPECT_EQ(all[0].measured_at, T0() + 9s);
  EXPECT_EQ(all[0].seq, 10);
  EXPECT_EQ(all[1].measured_at, T0() + 9s);
  EXPECT_EQ(all[1].seq, 9);
  EXPECT_EQ(all[10].measured_at, T0());
  for (std::size_t i = 1; i < all.size(); ++i) {
    EXPECT_GE(all[i - 1].measured_at, all[i].measured_at);
  }
  // Round trip of every field.
  const auto& r = all[10];
  EXPECT_EQ(r.device_id, "dev-1");
  EXPECT_EQ(r.patient_id, "P-1");
  EXPECT_DOUBLE_EQ(r.hr, 72.5);
  EXPECT_DOUBLE_EQ(r.spo2, 97.25);
  EXPECT_DOUBLE_EQ(r.temp, 36.6);
  ASSERT_TRUE(r.bp.has_value());
  EXPECT_EQ(r.bp->systolic, 120);
  EXPECT_EQ(r.bp->diastolic, 80);
  EXPECT_TRUE(r.device_time);
  EXPECT_EQ(r.seq, 0);
  EXPECT_EQ(r.received_at, T0() + 1500us);

  auto range = db->DeviceVitals("dev-1", T0() + 3s, T0() + 6s, 100);  // both inclusive
  ASSERT_EQ(range.size(), 4u);
  EXPECT_EQ(range.front().measured_at, T0() + 6s);
  EXPECT_EQ(range.back().measured_at, T0() + 3s);
  auto limited = db->DeviceVitals("dev-1", std::nullopt, std::nullopt, 3);
  ASSERT_EQ(limited.size(), 3u);
  EXPECT_EQ(limited[2].measured_at, T0() + 8s);
  EXPECT_EQ(db->DeviceVitals("dev-1", T0() + 8s, std::nullopt, 100).size(), 3u);
  EXPECT_EQ(db->DeviceVitals("dev-1", std::nullopt, T0() + 1s, 100).size(), 2u);
  EXPECT_EQ(db->DeviceVitals("dev-1", T0() + 7s, T0() + 2s, 100).size(), 0u);
  EXPECT_EQ(db->DeviceVitals("dev-1", std::nullopt, std::nullopt, 0).size(), 0u);
  EXPECT_EQ(db->DeviceVitals("dev-9", std::nullopt, std::nullopt, 100).size(), 0u);

  auto third = db->DeviceVitals("dev-3", std::nullopt, std::nullopt, 10);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_FALSE(third[0].seq.has_value());
  EXPECT_FALSE(third[0].bp.has_value());
  EXPECT_FALSE(third[0].device_time);
  EXPECT_EQ(third[0].patient_id, "");
  EXPECT_DOUBLE_EQ(third[0].hr, 61.0);
}

TEST_F(VitalsDatabaseTest, LatestForPatient) {
  auto db = Open();
  EXPECT_FALSE(db->LatestForPatient("P-1").has_value());
  std::vector<DeviceRecord> batch{Reading("dev-1", T0(), 1, "P-1"),
                                  Reading("dev-2", T0() + 2s, 1, "P-1"),
                                  Reading("dev-1", T0() + 1s, 2, "P-1"),
                                  Reading("dev-3", T0() + 10s, 1, "P-2"),
                                  Reading("dev-4", T0() + 20s, 1)};
  db->Write(batch);
  auto latest = db->LatestForPatient("P-1");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->device_id, "dev-2");
  EXPECT_EQ(latest->measured_at, T0() + 2s);
  EXPECT_EQ(db->LatestForPatient("P-2")->device_id, "dev-3");
  EXPECT_FALSE(db->LatestForPatient("P-3").has_value());
  EXPECT_FALSE(db->LatestForPatient("").has_value());  // unmapped readings belong to no one
}

TEST_F(VitalsDatabaseTest, ConnectErrorsNeverShowThePassword) {
  const std::string url = PgUrl();
  const auto at = url.find('@');
  const auto colon = url.rfind(':', at);
  ASSERT_NE(at, std::string::npos);
  const std::string host_part = url.substr(at);  // "@127.0.0.1:25432/nilecare"
  const std::string user_part = url.substr(0, colon);  // "postgres://nilecare"

  struct Case {
    std::string url;
    std::vector<std::string> secrets;
  };
  const std::vector<Case> cases{
      {user_part + ":Wr0ngSecret-4711" + host_part, {"Wr0ngSecret-4711"}},
      {user_part + ":p%40ss%2Fw0rd-xyz" + host_part, {"p%40ss%2Fw0rd-xyz", "p@ss/w0rd-xyz"}},
      {user_part + ":Sekr1t-in-bad-url@127.0.0.1:notaport/nilecare", {"Sekr1t-in-bad-url"}},
      {"host=127.0.0.1 port=25432 dbname=nilecare user=nilecare password='Kw Sekr1t' bogus",
       {"Kw Sekr1t"}},
  };
  for (const auto& c : cases) {
    auto settings = Settings();
    settings.url = c.url;
    VitalsDatabase db(settings);
    try {
      db.Connect();
      ADD_FAILURE() << "connected with a wrong password";
    } catch (const DatabaseError& error) {
      EXPECT_EQ(error.kind(), Kind::kConnection);
      const std::string message = error.what();
      for (const auto& secret : c.secrets) {
        EXPECT_EQ(message.find(secret), std::string::npos) << message;
      }
      std::printf("[ message  ] %s\n", message.c_str());
    }
    EXPECT_FALSE(db.Connected());
    EXPECT_THROW(db.Write({DeviceStatus{"d", "online", T0()}}), DatabaseError);
  }
  // The wrong-password case names the cause.
  auto settings = Settings();
  settings.url = cases[0].url;
  VitalsDatabase db(settings);
  try {
    db.Connect();
  } catch (const DatabaseError& error) {
    EXPECT_NE(std::string(error.what()).find("password authentication failed"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(VitalsDatabaseTest, ConnectTimeoutWhenServerNeverAnswers) {
  // A listener that accepts (in the kernel backlog) but never speaks.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  auto settings = Settings();
  settings.url = "postgres://nilecare:Silent-Secret@127.0.0.1:" +
                 std::to_string(ntohs(address.sin_port)) + "/nilecare?sslmode=disable";
  settings.connect_timeout = 1s;  // libpq's minimum is 2 s
  VitalsDatabase db(settings);
  const auto started = std::chrono::steady_clock::now();
  try {
    db.Connect();
    ADD_FAILURE() << "connected to a silent listener";
  } catch (const DatabaseError& error) {
    EXPECT_EQ(error.kind(), Kind::kConnection);
    EXPECT_EQ(std::string(error.what()).find("Silent-Secret"), std::string::npos)
        << error.what();
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_GE(elapsed, 1s);
  EXPECT_LT(elapsed, 6s);
  ::close(fd);
}

TEST_F(VitalsDatabaseTest, NotConnected) {
  VitalsDatabase db(Settings());
  EXPECT_FALSE(db.Connected());
  try {
    db.Migrate();
    FAIL();
  } catch (const DatabaseError& error) {
    EXPECT_EQ(error.kind(), Kind::kConnection);
  }
  db.Connect();
  EXPECT_TRUE(db.Connected());
  EXPECT_NE(db.BackendPid(), 0);
  EXPECT_EQ(Query("SELECT application_name FROM pg_stat_activity WHERE pid = $1", db.BackendPid())
                [0][0].as<std::string>(),
            "nilecare-gateway");
  db.Disconnect();
  EXPECT_FALSE(db.Connected());
  EXPECT_THROW(db.CountVitals("x"), DatabaseError);
}

}  // namespace
}  // namespace nilecare::mqtt
