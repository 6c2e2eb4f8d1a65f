#include "vitals_writer.hpp"

#include "device_ingest.hpp"
#include "nilecare/core/ids.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::mqtt {
namespace log = observability::log;

namespace {
constexpr std::size_t kMaxBatchBytes = 32 * 1024 * 1024;
constexpr auto kIdleWait = std::chrono::milliseconds(200);
// A batch failing this often while the database answers is split record by record.
constexpr int kFailuresBeforeSplit = 3;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TimePoint ReceivedAt(const DeviceRecord& record) {
  return std::visit(
      [](const auto& value) -> TimePoint {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, VitalsReading>) return value.received_at;
        if constexpr (std::is_same_v<T, DeviceStatus>) return value.at;
        if constexpr (std::is_same_v<T, DeviceAlert>) return value.at;
        if constexpr (std::is_same_v<T, Rejection>) return value.received_at;
      },
      record);
}
}  // namespace

VitalsWriter::VitalsWriter(const config::MqttSettings& settings,
                           const config::DatabaseSettings& database, Journal& journal,
                           DeviceDirectory& directory, IngestMetrics& metrics)
    : settings_(settings),
      journal_(journal),
      directory_(directory),
      metrics_(metrics),
      database_(database),
      retry_delay_(settings.db_retry_min) {}

VitalsWriter::~VitalsWriter() { Stop(std::chrono::steady_clock::now()); }

void VitalsWriter::Start() { thread_ = std::thread([this] { Run(); }); }

void VitalsWriter::Stop(std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mutex_);
    stop_deadline_ = deadline;
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  database_.Disconnect();
}

std::string VitalsWriter::LastError() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

void VitalsWriter::MarkDown(const std::string& error) {
  if (database_up_.exchange(false)) {
    log::Error("vitals database unavailable; readings are kept in the journal",
               {{"error", error}});
  }
  metrics_.database_up.Set(0);
  std::lock_guard lock(mutex_);
  last_error_ = error;
}

void VitalsWriter::Backoff() {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, retry_delay_, [this] { return stopping_.load(); });
  retry_delay_ = std::min(settings_.db_retry_max, retry_delay_ * 2);
}

bool VitalsWriter::EnsureConnected() {
  if (database_.Connected()) return true;
  try {
    database_.Connect();
    if (!migrated_) {
      database_.Migrate();
      migrated_ = true;
    }
    directory_.Replace(database_.LoadDeviceMap());
    next_refresh_ = std::chrono::steady_clock::now() + settings_.device_refresh;
  } catch (const std::exception& error) {
    database_.Disconnect();
    MarkDown(error.what());
    return false;
  }
  retry_delay_ = settings_.db_retry_min;
  if (!database_up_.exchange(true)) {
    log::Info("vitals database connected", {{"pending_entries", journal_.Stats().pending_entries}});
  }
  metrics_.database_up.Set(1);
  {
    std::lock_guard lock(mutex_);
    last_error_.clear();
  }
  return true;
}

void VitalsWriter::Run() {
  int failures = 0;
  while (true) {
    const bool stopping = stopping_.load();
    if (stopping && std::chrono::steady_clock::now() >= stop_deadline_) return;
    if (!EnsureConnected()) {
      if (stopping) return;
      Backoff();
      continue;
    }
    if (std::chrono::steady_clock::now() >= next_refresh_) {
      try {
        directory_.Replace(database_.LoadDeviceMap());
      } catch (const std::exception& error) {
        database_.Disconnect();
        MarkDown(error.what());
        continue;
      }
      next_refresh_ = std::chrono::steady_clock::now() + settings_.device_refresh;
    }
    try {
      if (!DrainOnce(stopping, failures) && stopping) return;  // drained
    } catch (const std::exception& error) {
      // The journal itself failed (a segment unreadable, the checkpoint not writable):
      // nothing is lost, the same entries are read again after a pause.
      log::Error("vitals writer: journal error; retrying", {{"error", error.what()}});
      journal_.Rewind();
      Backoff();
    }
  }
}

bool VitalsWriter::DrainOnce(bool stopping, int& failures) {
  std::vector<JournalEntry> entries =
      journal_.Read(settings_.batch_max_rows, kMaxBatchBytes, stopping ? std::chrono::milliseconds(0) : kIdleWait);
  if (entries.empty()) return false;
  // Fill the batch for up to batch_max_delay: fewer, larger transactions under load.
  const auto fill_until = std::chrono::steady_clock::now() + settings_.batch_max_delay;
  while (entries.size() < settings_.batch_max_rows && !stopping_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        fill_until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto more = journal_.Read(settings_.batch_max_rows - entries.size(), kMaxBatchBytes, left);
    if (more.empty()) break;
    std::move(more.begin(), more.end(), std::back_inserter(entries));
  }
  try {
    WriteBatch(entries);
    failures = 0;
  } catch (const DatabaseError& error) {
    metrics_.write_failures.Inc();
    journal_.Rewind();
    ++failures;
    // A refused record's message may quote device text: log the SQLSTATE, not the text.
    const bool invalid = error.kind() == DatabaseError::Kind::kInvalidRecord;
    log::Warn("vitals batch write failed; will retry",
              {{"error", invalid ? "record refused, sqlstate " + error.sqlstate()
                                 : std::string(error.what())},
               {"records", entries.size()}, {"attempt", failures}});
    if (error.kind() == DatabaseError::Kind::kConnection) {
      MarkDown(error.what());
      Backoff();
    } else if (invalid || failures >= kFailuresBeforeSplit) {
      // The database answers but refuses this batch: find the record it refuses.
      if (SplitBatch(entries)) failures = 0;
    } else {
      Backoff();  // a timeout, a lock: the same batch again shortly
    }
  }
  return true;
}

bool VitalsWriter::SplitBatch(const std::vector<JournalEntry>& entries) {
  std::vector<DeviceRecord> records;
  for (const JournalEntry& entry : entries) {
    if (auto record = DecodeRecord(entry.data)) records.push_back(std::move(*record));
  }
  try {
    WriteOneByOne(records);
    journal_.Commit(entries.back().end);
    return true;
  } catch (const DatabaseError& error) {
    journal_.Rewind();
    if (error.kind() == DatabaseError::Kind::kConnection) MarkDown(error.what());
    Backoff();
    return false;
  }
}

void VitalsWriter::WriteBatch(std::vector<JournalEntry>& entries) {
  std::vector<DeviceRecord> records;
  records.reserve(entries.size());
  TimePoint oldest = TimePoint::max();
  for (const JournalEntry& entry : entries) {
    auto record = DecodeRecord(entry.data);
    if (!record) {
      // The journal's CRC passed, so this is an entry we cannot understand (written by a
      // newer version?). Counted and logged; kept nowhere else, so say it loudly.
      metrics_.corrupt_entries.Inc();
      log::Error("journal entry could not be decoded; skipped",
                 {{"segment", entry.end.segment}, {"offset", entry.end.offset}});
      continue;
    }
    oldest = std::min(oldest, ReceivedAt(*record));
    records.push_back(std::move(*record));
  }
  const auto started = std::chrono::steady_clock::now();
  if (!records.empty()) {
    const VitalsDatabase::WriteResult result = database_.Write(records);
    metrics_.rows_written.Inc(records.size() - result.vitals_duplicates);
    metrics_.duplicates.Inc(result.vitals_duplicates);
  }
  journal_.Commit(entries.back().end);
  metrics_.batches.Inc();
  metrics_.batch_write_seconds.Observe(SecondsSince(started));
  if (oldest != TimePoint::max()) {
    metrics_.ingest_to_commit_seconds.Observe(
        std::chrono::duration<double>(Now() - oldest).count());
  }
}

void VitalsWriter::WriteOneByOne(const std::vector<DeviceRecord>& records) {
  for (const DeviceRecord& record : records) {
    try {
      database_.Write({record});
      continue;
    } catch (const DatabaseError& error) {
      if (error.kind() != DatabaseError::Kind::kInvalidRecord) throw;
      Rejection refused;
      refused.id = core::NewUuid();
      refused.topic_kind = "stored";
      refused.reason = "db_refused";
      refused.payload = EncodeRecord(record);
      refused.payload_size = refused.payload.size();
      refused.received_at = ReceivedAt(record);
      std::visit([&](const auto& value) { refused.device_id = value.device_id; }, record);
      metrics_.CountRejection("stored", "db_refused");
      log::Error("PostgreSQL refused a journal record; kept in vitals_rejects",
                 {{"device_id", refused.device_id}, {"sqlstate", error.sqlstate()}});
      database_.Write({refused});  // throws again only if even that fails: retried later
    }
  }
}

}  // namespace nilecare::mqtt
