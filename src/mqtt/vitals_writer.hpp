#pragma once
// Drains the journal into PostgreSQL (private to src/mqtt): one thread with its own
// connection; batches of up to mqtt.batch_max_rows records, each batch one transaction,
// the journal checkpoint advanced only after COMMIT. While PostgreSQL is down it retries
// with back-off (db_retry_min .. db_retry_max) and the journal absorbs the backlog. On start
// it migrates the schema, loads the device map, and replays whatever the journal still holds.
//
// A batch that PostgreSQL refuses although the connection is fine (a record it cannot take,
// or a third failure in a row) is written record by record; a record refused on its own is stored as a rejection
// (reason "db_refused") so the rest moves on and nothing is dropped unrecorded.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "device_directory.hpp"
#include "ingest_metrics.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/core/component.hpp"
#include "nilecare/mqtt/journal.hpp"
#include "vitals_database.hpp"

namespace nilecare::mqtt {

class VitalsWriter {
 public:
  VitalsWriter(const config::MqttSettings& settings, const config::DatabaseSettings& database,
               Journal& journal, DeviceDirectory& directory, IngestMetrics& metrics);
  ~VitalsWriter();

  void Start();
  // Writes what the journal holds until `deadline` (best effort), then stops the thread.
  // What is left stays in the journal for the next start.
  void Stop(std::chrono::steady_clock::time_point deadline);

  bool DatabaseUp() const { return database_up_.load(); }
  bool Migrated() const { return migrated_.load(); }
  std::string LastError() const;

 private:
  void Run();
  bool EnsureConnected();
  // Reads one batch from the journal and stores it; false when the journal had nothing.
  bool DrainOnce(bool stopping, int& failures);
  void WriteBatch(std::vector<JournalEntry>& entries);
  // Record by record after PostgreSQL refused the batch; true once committed.
  bool SplitBatch(const std::vector<JournalEntry>& entries);
  void WriteOneByOne(const std::vector<DeviceRecord>& records);
  void MarkDown(const std::string& error);
  void Backoff();

  const config::MqttSettings& settings_;
  Journal& journal_;
  DeviceDirectory& directory_;
  IngestMetrics& metrics_;
  VitalsDatabase database_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> database_up_{false};
  std::atomic<bool> migrated_{false};
  std::chrono::steady_clock::time_point stop_deadline_{std::chrono::steady_clock::time_point::max()};
  std::chrono::milliseconds retry_delay_;
  std::chrono::steady_clock::time_point next_refresh_{};
  mutable std::mutex mutex_;  // last_error_, stop wake-up
  std::condition_variable wake_;
  std::string last_error_;
};

}  // namespace nilecare::mqtt
