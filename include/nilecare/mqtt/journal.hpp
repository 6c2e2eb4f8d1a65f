#pragma once
// The local write-ahead journal of the MQTT ingest: a device message is appended here, and so
// survives a crash of the gateway, before the broker gets its PUBACK. The database writer
// reads the journal back, stores the rows and commits; whatever was appended but not
// committed is read again after a restart (at-least-once: the PostgreSQL dedupe keys make
// the replay harmless).
//
// Built from the `mqtt:` section of the YAML (MqttSettings in nilecare/config/settings.hpp):
//   mqtt.journal_dir            -> JournalSettings::dir: segment files + checkpoint; created if
//                                  missing; one process per directory (flock on it)
//   mqtt.journal_max_bytes      -> max_bytes: un-committed bytes allowed; when reached, Append
//                                  waits, so ingest pauses and the broker keeps the messages
//   mqtt.journal_segment_bytes  -> segment_bytes: a new segment file is started past this size
//   mqtt.journal_fsync          -> fsync: each append is fsynced before it returns (survives
//                                  power loss); off, a kill -9 loses nothing but a power cut can
//
// On disk: `journal-000000000001.log`, `journal-000000000002.log`, ... each a run of records
// [u32 length][u32 crc][payload] (little-endian; crc = CRC-32C over the length field and the
// payload, so a zero-filled tail never passes as empty records), and `checkpoint` (one text
// line with its own CRC-32C, replaced atomically) holding the position up to which everything
// is stored downstream.
//
// Damage found when the journal is opened:
//  * a torn tail (the last record of the last segment is cut short, or is complete but fails
//    its CRC: a crash mid-write) is truncated away;
//  * a bad record anywhere else (bit rot, a lost page after a power cut) ends that segment:
//    the rest of the segment is skipped (left on disk, never read) and reading goes on with
//    the next segment; if it was the last segment, appends go to a new one;
//  * an unreadable checkpoint makes the whole journal pending again (replayed from the oldest
//    segment) rather than dropping anything.
// Each case counts in JournalStats::corrupt_total and leaves a line in
// TakeCorruptionReports() for the caller to log.

#include <chrono>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace nilecare::mqtt {

struct JournalSettings {
  std::string dir;
  std::size_t max_bytes{std::size_t{1} << 30};  // un-committed bytes allowed; beyond: Append waits
  std::size_t segment_bytes{std::size_t{64} << 20};  // roll to a new segment file past this
  bool fsync{false};  // fsync after each append (power-loss safe, slower)
};

// A place in the journal: byte `offset` of segment file number `segment`.
struct JournalPosition {
  std::uint64_t segment{0};
  std::uint64_t offset{0};
  auto operator<=>(const JournalPosition&) const = default;
};

struct JournalEntry {
  std::string data;
  JournalPosition end;  // just after this entry: Commit(end) releases it and everything before
};

struct JournalStats {
  std::uint64_t pending_bytes{0};    // after the checkpoint, record headers included
  std::uint64_t pending_entries{0};
  std::uint64_t segments{0};         // segment files in use
  std::uint64_t appended_total{0};   // by this process
  std::uint64_t corrupt_total{0};    // damaged records/checkpoints found (see above)
  bool full{false};  // an append is waiting for space, or the last one timed out waiting
};

class Journal {
 public:
  // Largest entry Append takes; a bigger length field on disk is corruption.
  static constexpr std::size_t kMaxEntryBytes = std::size_t{16} << 20;
  // Bytes a record takes besides its payload (counted against max_bytes).
  static constexpr std::size_t kRecordHeaderBytes = 8;

  // Creates the directory if needed, locks it, loads the checkpoint and scans the segments
  // after it (to find the write end and count what is pending; the scan streams, memory does
  // not grow with the journal), repairing damage as described above. Entries after the
  // checkpoint are read again by Read: that is the replay on start-up. Throws
  // std::runtime_error (a std::system_error where errno applies) naming the path when the
  // directory is unusable or locked by another process, std::invalid_argument on bad settings.
  explicit Journal(JournalSettings settings);
  ~Journal();  // Close()
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Thread-safe. When it returns true the entry survives a kill -9 of the process (written
  // with write(2)), and a power cut too when settings.fsync. Waits while pending bytes plus
  // this record would exceed max_bytes, until Commit frees space or Close. Returns false when
  // closed, or at once for an entry above kMaxEntryBytes or whose record can never fit in
  // max_bytes. A write/fsync error (disk full, EIO) throws std::system_error: the entry is not
  // stored and the caller must not ack it.
  bool Append(std::string_view data);
  // As Append but gives up waiting for space at `deadline` (returns false).
  bool AppendUntil(std::string_view data, std::chrono::steady_clock::time_point deadline);

  // The consumer's calls (Read, Rewind, Commit): meant for one thread; serialized if not.
  //
  // Entries after the read cursor (which starts at the checkpoint): at most `max_entries`,
  // and no more once `max_bytes` of data is collected (at least one entry is returned).
  // Waits up to `wait` for the first one; empty on timeout or when closed. Advances the
  // cursor. Throws std::system_error when a segment cannot be read (EIO).
  std::vector<JournalEntry> Read(std::size_t max_entries, std::size_t max_bytes,
                                 std::chrono::milliseconds wait);
  // Everything up to `position` (an entry's `end`) is stored downstream: persists it as the
  // checkpoint (temp file + fsync + rename + fsync of the directory, so a crash leaves the
  // old or the new checkpoint, never a bad one), deletes segment files wholly before it,
  // frees the space and wakes blocked appenders. A position at or before the checkpoint is
  // ignored; one past the written end or inside an entry throws std::invalid_argument.
  // Throws std::system_error when the checkpoint cannot be written (nothing changes; commit
  // again later). Allowed after Close, so a shutdown can commit its last batch.
  void Commit(JournalPosition position);
  // Read cursor back to the checkpoint: the downstream write failed, read the same again.
  void Rewind();

  JournalStats Stats() const;  // cheap, thread-safe (metrics, health)
  // What damage was found and what was done about it, oldest first, since the last call
  // (bounded: the newest few are kept). For the log; the count is in Stats().corrupt_total.
  std::vector<std::string> TakeCorruptionReports();

  // Wakes every waiter; Append returns false and Read empty afterwards. Idempotent. The
  // directory stays locked until destruction (Commit still works until then).
  void Close();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nilecare::mqtt
