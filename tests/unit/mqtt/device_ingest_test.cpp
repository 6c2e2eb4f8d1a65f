#include "mqtt/device_ingest.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <atomic>
#include <mutex>
#include <thread>

#include "nilecare/core/ids.hpp"

namespace nilecare::mqtt {
namespace {

struct Emitted {
  std::vector<std::string> rooms;
  std::string event;
  nlohmann::json data;
  bool critical{false};
};

class FakeSink : public realtime::RoomSink {
 public:
  std::size_t Emit(const std::vector<std::string>& rooms, std::string_view event,
                   const nlohmann::json& data) override {
    std::lock_guard lock(mutex_);
    events.push_back({rooms, std::string(event), data, false});
    return 1;
  }
  std::string EmitCritical(const std::vector<std::string>& rooms, nlohmann::json data,
                           std::string alert_id) override {
    std::lock_guard lock(mutex_);
    data["alert_id"] = alert_id;
    events.push_back({rooms, "alert:critical", data, true});
    return alert_id;
  }
  std::vector<Emitted> events;

 private:
  std::mutex mutex_;
};

class DeviceIngestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("nilecare-ingest-" + core::NewUuid());
    settings_.journal_dir = dir_.string();
    Open();
  }
  void TearDown() override {
    ingest_.reset();
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(std::size_t max_bytes = std::size_t{1} << 20) {
    ingest_.reset();
    journal_.reset();
    journal_ = std::make_unique<Journal>(JournalSettings{dir_.string(), max_bytes, 1 << 20, false});
    ingest_ = std::make_unique<DeviceIngest>(settings_, thresholds_, *journal_, directory_, &sink_,
                                             *metrics_);
  }
  std::vector<DeviceRecord> Journaled() {
    std::vector<DeviceRecord> records;
    for (const JournalEntry& entry : journal_->Read(1000, 1 << 20, std::chrono::milliseconds(0))) {
      auto record = DecodeRecord(entry.data);
      EXPECT_TRUE(record) << "undecodable journal entry";
      if (record) records.push_back(std::move(*record));
    }
    return records;
  }
  // Paho's receive thread, calling OnMessage over and over (each return would be a PUBACK)
  // until `stop`; returns once the callback waits for journal space.
  std::thread FillUntilWaiting(std::atomic<int>& returned, const std::atomic<bool>& stop) {
    std::thread paho([&returned, &stop, ingest = ingest_.get()] {
      const std::string reading = R"({"hr":72,"spo2":98,"temp":36.6,"patient_id":"P-1"})";
      while (!stop) {
        ingest->OnMessage("devices/mon-1/vitals", reading);
        ++returned;
      }
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ingest_->Waiting() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return paho;
  }
  double Metric(std::string_view needle) {
    // The sample line, not the # HELP / # TYPE lines that name the metric too.
    const std::string text = "\n" + registry_.RenderText();
    const auto at = text.find("\n" + std::string(needle) + " ");
    if (at == std::string::npos) return 0;
    const auto space = at + 1 + needle.size();
    return std::stod(text.substr(space + 1, text.find('\n', space) - space - 1));
  }

  std::filesystem::path dir_;
  config::MqttSettings settings_;
  config::ThresholdSettings thresholds_;
  observability::MetricsRegistry registry_;
  std::unique_ptr<IngestMetrics> metrics_ = std::make_unique<IngestMetrics>(registry_);
  DeviceDirectory directory_;
  FakeSink sink_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<DeviceIngest> ingest_;
};

TEST_F(DeviceIngestTest, ReadingIsJournaledThenPushedToThePatientRoom) {
  ingest_->OnMessage("devices/mon-1/vitals",
                                 R"({"hr":72,"spo2":98,"temp":36.6,"patient_id":"P-1","seq":5})");
  const auto records = Journaled();
  ASSERT_EQ(records.size(), 1u);
  const auto& reading = std::get<VitalsReading>(records[0]);
  EXPECT_EQ(reading.device_id, "mon-1");
  EXPECT_EQ(reading.seq, 5);
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].event, "vitals:update");
  EXPECT_EQ(sink_.events[0].rooms, std::vector<std::string>{"patient:P-1"});
  EXPECT_EQ(sink_.events[0].data["hr"], 72);
  EXPECT_EQ(Metric("nilecare_mqtt_messages_accepted_total{kind=\"vitals\"}"), 1);
}

TEST_F(DeviceIngestTest, UnmappedDeviceIsStoredNotPushedAndTheDirectoryMapsIt) {
  ingest_->OnMessage("devices/mon-2/vitals", R"({"hr":72,"spo2":98,"temp":36.6})");
  EXPECT_TRUE(sink_.events.empty());
  EXPECT_EQ(Metric("nilecare_mqtt_unmapped_readings_total"), 1);
  directory_.Set("mon-2", "P-2");
  ingest_->OnMessage("devices/mon-2/vitals", R"({"hr":72,"spo2":98,"temp":36.6})");
  ASSERT_EQ(sink_.events.size(), 1u);
  EXPECT_EQ(sink_.events[0].rooms, std::vector<std::string>{"patient:P-2"});
  const auto records = Journaled();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(std::get<VitalsReading>(records[1]).patient_id, "P-2");
}

TEST_F(DeviceIngestTest, BreachRaisesOneCriticalAlertToPatientAndClinicianRoles) {
  const std::string high = R"({"hr":150,"spo2":98,"temp":36.6,"patient_id":"P-1"})";
  ingest_->OnMessage("devices/mon-1/vitals", high);
  ingest_->OnMessage("devices/mon-1/vitals", high);  // re-arm window: no second
  std::vector<Emitted> alerts;
  for (const auto& event : sink_.events) {
    if (event.critical) alerts.push_back(event);
  }
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rooms, (std::vector<std::string>{"patient:P-1", "role:doctor", "role:nurse"}));
  EXPECT_EQ(alerts[0].data["alert_type"], "HR_ABNORMAL");
  EXPECT_EQ(alerts[0].data["value"], 150);
  EXPECT_EQ(alerts[0].data["threshold"], 120);
  EXPECT_EQ(alerts[0].data["severity"], "critical");
  EXPECT_EQ(alerts[0].data["device_id"], "mon-1");
  EXPECT_EQ(alerts[0].data["patient_id"], "P-1");
  // Both readings and the one alert are journaled (the alert for device_alerts).
  const auto records = Journaled();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(std::get<DeviceAlert>(records[1]).alert_type, "HR_ABNORMAL");
  // One id for the stored alert and the one clinicians acknowledge.
  EXPECT_EQ(std::get<DeviceAlert>(records[1]).id, alerts[0].data["alert_id"]);
}

TEST_F(DeviceIngestTest, MalformedMessagesAreJournaledAsRejectionsAndCounted) {
  for (int i = 0; i < 50; ++i) {
    ingest_->OnMessage("devices/mon-1/vitals", "{\"hr\":");
  }
  ingest_->OnMessage("devices/mon-1/vitals", std::string(10000, 'x'));
  ingest_->OnMessage("devices/bad id/vitals", "{}");
  const auto records = Journaled();
  ASSERT_EQ(records.size(), 52u);
  const auto& first = std::get<Rejection>(records[0]);
  EXPECT_EQ(first.reason, "not_json");
  EXPECT_EQ(first.payload, "{\"hr\":");
  const auto& big = std::get<Rejection>(records[50]);
  EXPECT_EQ(big.reason, "too_large");
  EXPECT_EQ(big.payload.size(), settings_.max_payload);  // kept truncated
  EXPECT_EQ(big.payload_size, 10000u);
  EXPECT_EQ(std::get<Rejection>(records[51]).reason, "bad_device_id");
  EXPECT_EQ(std::get<Rejection>(records[51]).device_id, "");
  EXPECT_EQ(Metric("nilecare_mqtt_messages_rejected_total{kind=\"vitals\",reason=\"not_json\"}"), 50);
  EXPECT_TRUE(sink_.events.empty());
}

TEST_F(DeviceIngestTest, StatusGoesToNursesAndDeviceAlertsAreCriticalOrInformational) {
  directory_.Set("mon-1", "P-1");
  ingest_->OnMessage("devices/mon-1/status", "offline");
  ingest_->OnMessage("devices/mon-1/alerts", R"({"alert_type":"ASYSTOLE"})");
  ingest_->OnMessage("devices/mon-1/alerts",
                                 R"({"alert_type":"LEAD_OFF","severity":"warning"})");
  ASSERT_EQ(sink_.events.size(), 3u);
  EXPECT_EQ(sink_.events[0].event, "device:status");
  EXPECT_EQ(sink_.events[0].rooms, std::vector<std::string>{"role:nurse"});
  EXPECT_EQ(sink_.events[0].data["status"], "offline");
  EXPECT_EQ(sink_.events[0].data["patient_id"], "P-1");
  EXPECT_TRUE(sink_.events[1].critical);
  EXPECT_EQ(sink_.events[1].data["alert_type"], "ASYSTOLE");
  EXPECT_EQ(sink_.events[1].rooms, (std::vector<std::string>{"patient:P-1", "role:doctor", "role:nurse"}));
  EXPECT_EQ(sink_.events[2].event, "device:alert");
  EXPECT_EQ(Journaled().size(), 3u);
}

TEST_F(DeviceIngestTest, FullJournalMakesTheCallbackWaitUntilThereIsSpace) {
  Open(4096);
  std::atomic<int> returned{0};
  std::atomic<bool> stop{false};
  std::thread paho = FillUntilWaiting(returned, stop);
  ASSERT_TRUE(ingest_->Waiting());
  const int before = returned.load();
  EXPECT_GT(before, 10);
  EXPECT_EQ(journal_->Stats().pending_entries, static_cast<std::uint64_t>(before));
  EXPECT_EQ(Metric("nilecare_mqtt_journal_waits_total"), 1);
  // The waiting message was not pushed: nothing that is not durable reaches clinicians.
  EXPECT_EQ(sink_.events.size(), static_cast<std::size_t>(before));
  // The writer stores a batch: the callback goes on.
  stop = true;
  const auto entries = journal_->Read(5, 1 << 20, std::chrono::milliseconds(0));
  journal_->Commit(entries.back().end);
  paho.join();
  EXPECT_EQ(returned.load(), before + 1);
  EXPECT_FALSE(ingest_->Waiting());
}

TEST_F(DeviceIngestTest, StoppingWithAFullJournalParksTheCallbackForGood) {
  Open(4096);
  // Static: the parked thread outlives the test (as in the gateway, where it outlives the
  // component), and so must what it was given.
  static std::atomic<int> returned{0};
  static const std::atomic<bool> stop{false};
  std::thread paho = FillUntilWaiting(returned, stop);
  ASSERT_TRUE(ingest_->Waiting());
  const int before = returned.load();
  ingest_->Abort();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ingest_->Holding() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_TRUE(ingest_->Holding());
  // Space appears, but a parked callback never returns (that would acknowledge).
  const auto entries = journal_->Read(100, 1 << 20, std::chrono::milliseconds(0));
  journal_->Commit(entries.back().end);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(returned.load(), before);
  // The parked thread touches nothing any more; it is left to the process's exit, and the
  // ingest it was called on stays alive until then.
  paho.detach();
  static std::unique_ptr<DeviceIngest> parked;
  parked = std::move(ingest_);
}

}  // namespace
}  // namespace nilecare::mqtt
