#include "nilecare/mqtt/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <boost/crc.hpp>

// Locking: three mutexes, always taken in the order read_mutex_ -> append_mutex_ -> mutex_.
//  * mutex_ guards the shared bookkeeping (segment table, checkpoint, counters) and is only
//    ever held for a few instructions, never across I/O, so Stats() and appenders do not wait
//    for a reader's disk reads or a commit's fsyncs.
//  * append_mutex_ serializes the writers' I/O (one write(2), plus fdatasync in fsync mode).
//    Space is reserved under mutex_ *before* it, so an appender waiting for space never holds
//    it and AppendUntil's deadline is honoured.
//  * read_mutex_ serializes the consumer (Read / Rewind / Commit).
// A record becomes visible to the reader only once fully written ("published" in the segment
// table under mutex_), so the reader, with its own fd and pread, never sees a half-written
// record and bytes below a segment's published end never change.

namespace nilecare::mqtt {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kHeaderBytes = Journal::kRecordHeaderBytes;
constexpr std::size_t kMaxEntryBytes = Journal::kMaxEntryBytes;
// Reads are buffered this much at a time; bigger records are read straight into the entry.
constexpr std::size_t kReadBufferBytes = std::size_t{256} << 10;
// A larger write buffer (left by a big entry) is released rather than kept.
constexpr std::size_t kKeepWriteBufferBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxReports = 32;
constexpr std::string_view kSegmentPrefix = "journal-";
constexpr std::string_view kSegmentSuffix = ".log";
constexpr std::string_view kCheckpointName = "checkpoint";
constexpr std::string_view kCheckpointTempName = "checkpoint.tmp";
constexpr std::string_view kCheckpointMagic = "nilecare-journal-checkpoint v1";
constexpr std::size_t kMaxCheckpointBytes = 256;
constexpr mode_t kFileMode = 0600;  // device readings are patient data

using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

void PutU32(char* out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

std::uint32_t GetU32(const char* in) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    value |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  }
  return value;
}

// The length is covered too: a length field damaged into another plausible value must not
// pair up with a payload CRC by chance, and all-zero bytes must not read as empty records.
std::uint32_t RecordCrc(std::uint32_t length, std::string_view payload) {
  char length_bytes[4];
  PutU32(length_bytes, length);
  Crc32c crc;
  crc.process_bytes(length_bytes, sizeof length_bytes);
  crc.process_bytes(payload.data(), payload.size());
  return crc.checksum();
}

[[noreturn]] void ThrowErrno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), "journal: " + what);
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Reset(); }

  int Get() const { return fd_; }
  bool Valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_{-1};
};

Fd OpenOrThrow(const fs::path& path, int flags, const char* action) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, kFileMode);
  if (fd < 0) ThrowErrno(errno, std::string(action) + " " + path.string());
  return Fd(fd);
}

// Returns 0 or the errno of the failure; loops over short writes (a signal, a nearly full disk).
int WriteAll(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    const ssize_t written = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (written == 0) return ENOSPC;
    const auto count = static_cast<std::size_t>(written);
    data += count;
    size -= count;
    offset += count;
  }
  return 0;
}

// Reads up to `size` bytes (fewer only at end of file); throws on an I/O error.
std::size_t ReadAt(int fd, char* data, std::size_t size, std::uint64_t offset,
                   const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      ThrowErrno(errno, "read " + path);
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

std::string SegmentName(std::uint64_t number) {
  char name[64];
  std::snprintf(name, sizeof name, "journal-%012llu.log", static_cast<unsigned long long>(number));
  return name;
}

std::optional<std::uint64_t> ParseSegmentName(std::string_view name) {
  if (!name.starts_with(kSegmentPrefix) || !name.ends_with(kSegmentSuffix)) return std::nullopt;
  name.remove_prefix(kSegmentPrefix.size());
  name.remove_suffix(kSegmentSuffix.size());
  if (name.size() < 12 || !std::all_of(name.begin(), name.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return std::nullopt;
  }
  std::uint64_t number = 0;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (error != std::errc() || end != name.data() + name.size() || number == 0) return std::nullopt;
  return number;
}

std::string ToString(JournalPosition position) {
  return std::to_string(position.segment) + ":" + std::to_string(position.offset);
}

std::string EncodeCheckpoint(JournalPosition position) {
  std::string body = std::string(kCheckpointMagic) + " " + std::to_string(position.segment) +
                     " " + std::to_string(position.offset);
  Crc32c crc;
  crc.process_bytes(body.data(), body.size());
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(crc.checksum()));
  return body + " " + hex + "\n";
}

bool ParseU64(std::string_view text, std::uint64_t& out, int base = 10) {
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return error == std::errc() && end == text.data() + text.size();
}

std::optional<JournalPosition> DecodeCheckpoint(std::string_view text) {
  if (!text.ends_with('\n')) return std::nullopt;
  text.remove_suffix(1);
  const auto crc_at = text.rfind(' ');
  if (crc_at == std::string_view::npos || text.size() - crc_at - 1 != 8) return std::nullopt;
  const std::string_view body = text.substr(0, crc_at);
  std::uint64_t stored_crc = 0;
  if (!ParseU64(text.substr(crc_at + 1), stored_crc, 16)) return std::nullopt;
  Crc32c crc;
  crc.process_bytes(body.data(), body.size());
  if (crc.checksum() != stored_crc) return std::nullopt;
  if (!body.starts_with(kCheckpointMagic) || body.size() <= kCheckpointMagic.size() ||
      body[kCheckpointMagic.size()] != ' ') {
    return std::nullopt;
  }
  const std::string_view numbers = body.substr(kCheckpointMagic.size() + 1);
  const auto space = numbers.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  JournalPosition position;
  if (!ParseU64(numbers.substr(0, space), position.segment) ||
      !ParseU64(numbers.substr(space + 1), position.offset) || position.segment == 0) {
    return std::nullopt;
  }
  return position;
}

enum class RecordStatus {
  kRecord,     // a good record; the reader moved past it
  kEnd,        // at the limit
  kTruncated,  // the record (by its length field) runs past the limit
  kCorrupt,    // length above the maximum or CRC mismatch, wholly below the limit
};

// Streams the records of one segment file through a fixed buffer (memory stays bounded
// whatever the segment size). Reads never go past `limit`: for the live segment that is the
// published write end, beyond which a writer may be busy.
class RecordReader {
 public:
  RecordReader() : buffer_(kReadBufferBytes) {}

  void Reset(int fd, std::string path, std::uint64_t offset) {
    fd_ = fd;
    path_ = std::move(path);
    offset_ = offset;
    buffer_start_ = 0;
    buffer_size_ = 0;
  }
  void Seek(std::uint64_t offset) {
    if (offset != offset_) Reset(fd_, std::move(path_), offset);
  }
  std::uint64_t Offset() const { return offset_; }
  // Where the failing record would end (0 when its length is unusable).
  std::uint64_t FailedRecordEnd() const { return failed_end_; }
  const std::string& Problem() const { return problem_; }

  // The payload goes to *payload when given.
  RecordStatus Next(std::uint64_t limit, std::string* payload) {
    failed_end_ = 0;
    problem_.clear();
    if (offset_ >= limit) return RecordStatus::kEnd;
    if (limit - offset_ < kHeaderBytes || !Fill(kHeaderBytes, limit)) {
      problem_ = "record header cut short (" + std::to_string(limit - offset_) + " bytes left)";
      return RecordStatus::kTruncated;
    }
    const char* header = buffer_.data() + (offset_ - buffer_start_);
    const std::uint32_t length = GetU32(header);
    const std::uint32_t stored_crc = GetU32(header + 4);
    const std::uint64_t end = offset_ + kHeaderBytes + length;
    if (end > limit) {
      problem_ = "record of " + std::to_string(length) + " bytes runs past the end (" +
                 std::to_string(limit - offset_ - kHeaderBytes) + " bytes left)";
      return RecordStatus::kTruncated;
    }
    if (length > kMaxEntryBytes) {
      problem_ = "length field " + std::to_string(length) + " above the 16 MiB maximum";
      return RecordStatus::kCorrupt;
    }
    failed_end_ = end;
    std::string_view body;
    if (kHeaderBytes + length <= buffer_.size()) {
      if (!Fill(kHeaderBytes + length, limit)) {
        problem_ = "segment file shorter than expected";
        return RecordStatus::kTruncated;
      }
      body = std::string_view(buffer_.data() + (offset_ - buffer_start_) + kHeaderBytes, length);
    } else {
      std::string& target = payload != nullptr ? *payload : scratch_;
      target.resize(length);
      if (ReadAt(fd_, target.data(), length, offset_ + kHeaderBytes, path_) != length) {
        problem_ = "segment file shorter than expected";
        return RecordStatus::kTruncated;
      }
      body = target;
    }
    const bool good = RecordCrc(length, body) == stored_crc;
    if (good && payload != nullptr && body.data() != payload->data()) payload->assign(body);
    if (!scratch_.empty()) std::string().swap(scratch_);  // up to 16 MiB: do not keep it
    if (!good) {
      problem_ = "CRC mismatch in a record of " + std::to_string(length) + " bytes";
      return RecordStatus::kCorrupt;
    }
    offset_ = end;
    failed_end_ = 0;
    return RecordStatus::kRecord;
  }

  // Moves past the record at Offset() by its length field alone: for counting records that
  // were verified when first read. False at the limit or on a length that does not fit.
  bool Skip(std::uint64_t limit) {
    if (offset_ >= limit || limit - offset_ < kHeaderBytes || !Fill(kHeaderBytes, limit)) {
      return false;
    }
    const std::uint32_t length = GetU32(buffer_.data() + (offset_ - buffer_start_));
    const std::uint64_t end = offset_ + kHeaderBytes + length;
    if (length > kMaxEntryBytes || end > limit) return false;
    offset_ = end;
    return true;
  }

 private:
  // Makes [offset_, offset_ + want) available in the buffer; false when the file ends first.
  bool Fill(std::size_t want, std::uint64_t limit) {
    if (offset_ >= buffer_start_ && offset_ + want <= buffer_start_ + buffer_size_) return true;
    std::size_t keep = 0;
    if (offset_ >= buffer_start_ && offset_ < buffer_start_ + buffer_size_) {
      keep = static_cast<std::size_t>(buffer_start_ + buffer_size_ - offset_);
      std::memmove(buffer_.data(), buffer_.data() + (offset_ - buffer_start_), keep);
    }
    buffer_start_ = offset_;
    buffer_size_ = keep;
    while (buffer_size_ < want) {
      const std::uint64_t from = buffer_start_ + buffer_size_;
      if (from >= limit) return false;
      const auto room = static_cast<std::size_t>(
          std::min<std::uint64_t>(buffer_.size() - buffer_size_, limit - from));
      const std::size_t got = ReadAt(fd_, buffer_.data() + buffer_size_, room, from, path_);
      buffer_size_ += got;
      if (got < room) return buffer_size_ >= want;  // end of file
    }
    return true;
  }

  int fd_{-1};
  std::string path_;
  std::uint64_t offset_{0};
  std::vector<char> buffer_;
  std::uint64_t buffer_start_{0};  // file offset of buffer_[0]
  std::size_t buffer_size_{0};
  std::string scratch_;  // payloads too big for the buffer when the caller wants none
  std::uint64_t failed_end_{0};
  std::string problem_;
};

struct SegmentInfo {
  std::uint64_t bytes{0};    // readable end: the published write end, or where damage starts
  std::uint64_t entries{0};  // entries in it after the checkpoint
};

}  // namespace

class Journal::Impl {
 public:
  explicit Impl(JournalSettings settings) : settings_(std::move(settings)), dir_(settings_.dir) {
    if (settings_.dir.empty()) throw std::invalid_argument("journal: no directory configured");
    if (settings_.max_bytes == 0 || settings_.segment_bytes == 0) {
      throw std::invalid_argument("journal: max_bytes and segment_bytes must be positive");
    }
    std::error_code ec;
    const bool created = fs::create_directories(dir_, ec);
    if (ec) {
      throw std::runtime_error("journal: cannot create directory " + dir_.string() + ": " +
                               ec.message());
    }
    if (created && settings_.fsync) {
      // A new directory's own entry must survive a power cut too. Best effort: the parent may
      // not be readable by the gateway's user, and this happens once per installation.
      fs::path absolute = fs::absolute(dir_, ec).lexically_normal();
      if (!absolute.has_filename()) absolute = absolute.parent_path();  // "dir/" -> "dir"
      const fs::path parent = absolute.parent_path();
      const Fd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (parent_fd.Valid()) ::fsync(parent_fd.Get());
    }
    dir_fd_ = OpenOrThrow(dir_, O_RDONLY | O_DIRECTORY, "open directory");
    // Two gateways appending to one journal would interleave and delete each other's data.
    if (::flock(dir_fd_.Get(), LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      if (error == EWOULDBLOCK) {
        throw std::runtime_error("journal: directory " + dir_.string() +
                                 " is in use by another journal (flock)");
      }
      ThrowErrno(error, "lock directory " + dir_.string());
    }
    Recover();
  }

  ~Impl() { Close(); }

  bool Append(std::string_view data,
              std::optional<std::chrono::steady_clock::time_point> deadline) {
    const std::uint64_t record = kHeaderBytes + data.size();
    if (data.size() > kMaxEntryBytes || record > settings_.max_bytes) return false;
    {
      std::unique_lock lock(mutex_);
      const auto ready = [&] { return closed_ || Fits(record); };
      if (!ready()) {
        ++waiting_appenders_;
        full_ = true;
        bool got_space = true;
        if (deadline) {
          got_space = space_cv_.wait_until(lock, *deadline, ready);
        } else {
          space_cv_.wait(lock, ready);
        }
        --waiting_appenders_;
        if (!got_space) return false;  // full_ stays set: ingest is being refused
      }
      if (closed_) return false;
      reserved_bytes_ += record;
      if (waiting_appenders_ == 0) full_ = false;
    }
    // Gives the reservation back unless the record gets published.
    bool published = false;
    struct Unreserve {
      Impl& self;
      std::uint64_t bytes;
      const bool& published;
      ~Unreserve() {
        if (published) return;
        {
          std::lock_guard lock(self.mutex_);
          self.reserved_bytes_ -= bytes;
        }
        self.space_cv_.notify_all();
      }
    } unreserve{*this, record, published};

    std::lock_guard append_lock(append_mutex_);
    if (!write_fd_.Valid()) return false;  // closed meanwhile
    if (roll_needed_ || (write_offset_ > 0 && write_offset_ + record > settings_.segment_bytes)) {
      Roll();
    }
    const auto length = static_cast<std::uint32_t>(data.size());
    write_buffer_.resize(record);
    PutU32(write_buffer_.data(), length);
    PutU32(write_buffer_.data() + 4, RecordCrc(length, data));
    if (!data.empty()) std::memcpy(write_buffer_.data() + kHeaderBytes, data.data(), data.size());
    const int fd = write_fd_.Get();
    if (const int error = WriteAll(fd, write_buffer_.data(), write_buffer_.size(), write_offset_)) {
      // A partial record must not sit in front of later ones (it would end the segment on the
      // next start); if it cannot be cut, continue in a fresh segment.
      if (::ftruncate(fd, static_cast<off_t>(write_offset_)) != 0) roll_needed_ = true;
      ThrowErrno(error, "write " + SegmentPath(active_segment_).string());
    }
    if (settings_.fsync && ::fdatasync(fd) != 0) {
      // After a failed fsync the kernel may have dropped the dirty pages: nothing in this
      // file since the last good fsync can be trusted, so later records go to a new file.
      // (Records acked before were fsynced individually and are safe.)
      const int error = errno;
      roll_needed_ = true;
      if (::ftruncate(fd, static_cast<off_t>(write_offset_)) != 0) {
        // The record the caller is told failed stays past the published end: this process
        // never reads it; a restart may replay it (a duplicate, deduplicated downstream).
      }
      ThrowErrno(error, "fsync " + SegmentPath(active_segment_).string());
    }
    write_offset_ += record;
    if (write_buffer_.capacity() > kKeepWriteBufferBytes) std::string().swap(write_buffer_);
    {
      std::lock_guard lock(mutex_);
      auto& info = segments_[active_segment_];
      info.bytes = write_offset_;
      ++info.entries;
      pending_bytes_ += record;
      ++pending_entries_;
      reserved_bytes_ -= record;
      ++appended_total_;
      published = true;
    }
    data_cv_.notify_all();
    return true;
  }

  std::vector<JournalEntry> Read(std::size_t max_entries, std::size_t max_bytes,
                                 std::chrono::milliseconds wait) {
    std::vector<JournalEntry> out;
    if (max_entries == 0) return out;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::lock_guard read_lock(read_mutex_);
    std::size_t bytes = 0;
    for (;;) {
      std::uint64_t limit = 0;
      {
        std::unique_lock lock(mutex_);
        for (;;) {
          if (closed_) return out;
          const auto it = segments_.lower_bound(cursor_.segment);
          if (it != segments_.end()) {
            if (it->first != cursor_.segment) cursor_ = {it->first, 0};
            limit = it->second.bytes;
            if (cursor_.offset < limit) break;
            if (it->first != active_segment_) {  // finished with a sealed segment
              cursor_ = {it->first + 1, 0};
              continue;
            }
          }
          if (!out.empty()) return out;
          if (std::chrono::steady_clock::now() >= deadline) return out;
          data_cv_.wait_until(lock, deadline);
        }
      }
      // The bytes below `limit` are published and never change: read them without mutex_.
      PositionReader();
      while (out.size() < max_entries && (out.empty() || bytes < max_bytes)) {
        std::string data;
        const RecordStatus status = reader_.Next(limit, &data);
        if (status == RecordStatus::kEnd) break;
        if (status != RecordStatus::kRecord) {
          SkipDamagedSegment(cursor_.segment, reader_.Offset(), reader_.Problem());
          break;
        }
        cursor_.offset = reader_.Offset();
        bytes += data.size();
        out.push_back(JournalEntry{std::move(data), cursor_});
      }
      if (out.size() >= max_entries || (!out.empty() && bytes >= max_bytes)) return out;
    }
  }

  void Commit(JournalPosition position) {
    std::lock_guard read_lock(read_mutex_);
    JournalPosition previous;
    {
      std::lock_guard lock(mutex_);
      if (position <= checkpoint_) return;
      const auto it = segments_.find(position.segment);
      if (it == segments_.end() || position.offset > it->second.bytes) {
        throw std::invalid_argument("journal: commit position " + ToString(position) +
                                    " is past the written end");
      }
      previous = checkpoint_;
    }
    // How many entries of the checkpoint's new segment are now committed: hop over the record
    // headers again (just read, so in the page cache) rather than keep a per-entry index. The
    // hops also prove `position` is an entry boundary: a checkpoint inside a record would make
    // the next start read garbage and cut acknowledged entries as a torn tail.
    const std::uint64_t from = position.segment == previous.segment ? previous.offset : 0;
    const auto committed = CountRecords(position.segment, from, position.offset);
    if (!committed) {
      throw std::invalid_argument("journal: commit position " + ToString(position) +
                                  " is not the end of an entry");
    }
    WriteCheckpoint(position);
    std::vector<std::uint64_t> obsolete;
    {
      std::lock_guard lock(mutex_);
      checkpoint_ = position;
      for (auto it = segments_.begin(); it != segments_.end() && it->first < position.segment;) {
        obsolete.push_back(it->first);
        it = segments_.erase(it);
      }
      auto& info = segments_.at(position.segment);
      info.entries -= std::min(info.entries, *committed);
      RecomputePending();
      if (waiting_appenders_ == 0) full_ = false;
    }
    space_cv_.notify_all();
    if (cursor_ < position) cursor_ = position;  // those entries must not be read again
    // A file left behind (unlink failed) is before the checkpoint: the next start deletes it.
    for (const auto number : obsolete) ::unlink(SegmentPath(number).c_str());
  }

  void Rewind() {
    std::lock_guard read_lock(read_mutex_);
    std::lock_guard lock(mutex_);
    cursor_ = checkpoint_;
  }

  JournalStats Stats() const {
    std::lock_guard lock(mutex_);
    JournalStats stats;
    stats.pending_bytes = pending_bytes_;
    stats.pending_entries = pending_entries_;
    stats.segments = segments_.size();
    stats.appended_total = appended_total_;
    stats.corrupt_total = corrupt_total_;
    stats.full = full_ || waiting_appenders_ > 0;
    return stats;
  }

  std::vector<std::string> TakeCorruptionReports() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out(std::make_move_iterator(reports_.begin()),
                                 std::make_move_iterator(reports_.end()));
    reports_.clear();
    return out;
  }

  void Close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    space_cv_.notify_all();
    data_cv_.notify_all();
    {
      std::lock_guard append_lock(append_mutex_);
      write_fd_.Reset();
    }
    std::lock_guard read_lock(read_mutex_);
    read_fd_.Reset();
    read_segment_ = 0;
  }

 private:
  fs::path SegmentPath(std::uint64_t number) const { return dir_ / SegmentName(number); }

  bool Fits(std::uint64_t record) const {
    return pending_bytes_ + reserved_bytes_ + record <= settings_.max_bytes;
  }

  // Under mutex_.
  void Report(std::string text) {
    if (reports_.size() >= kMaxReports) reports_.pop_front();
    reports_.push_back(std::move(text));
  }

  // Under mutex_.
  void RecomputePending() {
    pending_bytes_ = 0;
    pending_entries_ = 0;
    for (const auto& [number, info] : segments_) {
      if (number < checkpoint_.segment) continue;
      const std::uint64_t start =
          number == checkpoint_.segment ? std::min(checkpoint_.offset, info.bytes) : 0;
      pending_bytes_ += info.bytes - start;
      pending_entries_ += info.entries;
    }
  }

  // Start-up: find the segments, drop the committed ones, scan the rest (repairing damage)
  // and open the write end.
  void Recover() {
    std::vector<std::uint64_t> numbers;
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
      if (const auto number = ParseSegmentName(it->path().filename().string())) {
        numbers.push_back(*number);
      }
    }
    if (ec) {
      throw std::runtime_error("journal: cannot list directory " + dir_.string() + ": " +
                               ec.message());
    }
    std::sort(numbers.begin(), numbers.end());
    ::unlink((dir_ / kCheckpointTempName).c_str());  // a commit that crashed before rename

    if (const auto loaded = LoadCheckpoint()) {
      checkpoint_ = *loaded;
    } else {
      checkpoint_ = {numbers.empty() ? 1 : numbers.front(), 0};
    }
    std::vector<std::uint64_t> live;
    for (const auto number : numbers) {
      if (number < checkpoint_.segment) {
        ::unlink(SegmentPath(number).c_str());  // committed; a crash came before its deletion
      } else {
        live.push_back(number);
      }
    }
    bool last_usable = true;
    for (std::size_t i = 0; i < live.size(); ++i) {
      last_usable = ScanSegment(live[i], i + 1 == live.size());
    }

    std::uint64_t active = 0;
    if (!live.empty() && last_usable) {
      active = live.back();
      write_fd_ = OpenOrThrow(SegmentPath(active), O_WRONLY, "open");
      write_offset_ = segments_[active].bytes;
    } else {
      if (!live.empty()) {
        active = live.back() + 1;
      } else {
        // Nothing on disk after the checkpoint. Its own segment may be reused only from the
        // start; otherwise new positions would fall before the checkpoint.
        active = checkpoint_.offset == 0 ? checkpoint_.segment : checkpoint_.segment + 1;
      }
      write_fd_ = CreateSegment(active);
      write_offset_ = 0;
      segments_[active] = SegmentInfo{};
    }
    active_segment_ = active;
    cursor_ = checkpoint_;
    RecomputePending();
  }

  std::optional<JournalPosition> LoadCheckpoint() {
    const fs::path path = dir_ / kCheckpointName;
    const int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) {
      if (errno == ENOENT) return std::nullopt;  // nothing committed yet
      ThrowErrno(errno, "open " + path.string());
    }
    Fd fd(raw);
    std::string text(kMaxCheckpointBytes + 1, '\0');
    text.resize(ReadAt(fd.Get(), text.data(), text.size(), 0, path.string()));
    const auto position =
        text.size() <= kMaxCheckpointBytes ? DecodeCheckpoint(text) : std::nullopt;
    if (!position) {
      // Replaying everything duplicates rows downstream (deduplicated there); guessing a
      // position could drop readings.
      ++corrupt_total_;
      Report("checkpoint " + path.string() +
             " is damaged: every segment is replayed from its start");
    }
    return position;
  }

  // Scans one segment from the checkpoint (or its start) to fill in its SegmentInfo and
  // repair damage. Returns whether appends may continue at its end (only asked of the last).
  bool ScanSegment(std::uint64_t number, bool last) {
    const fs::path path = SegmentPath(number);
    const Fd fd = OpenOrThrow(path, O_RDONLY, "open");
    struct stat status {};
    if (::fstat(fd.Get(), &status) != 0) ThrowErrno(errno, "stat " + path.string());
    const auto size = static_cast<std::uint64_t>(status.st_size);
    const std::uint64_t start = number == checkpoint_.segment ? checkpoint_.offset : 0;
    SegmentInfo& info = segments_[number];
    if (size < start) {
      // Committed bytes are gone (a power cut before the kernel wrote them back, fsync off).
      // They are stored downstream; just never write below the checkpoint.
      info.bytes = start;
      Report("segment " + path.string() + " is shorter (" + std::to_string(size) +
             " bytes) than the checkpoint offset " + std::to_string(start) +
             "; committed data was lost from disk, appends continue in a new segment");
      return false;
    }
    RecordReader reader;
    reader.Reset(fd.Get(), path.string(), start);
    for (;;) {
      const RecordStatus status_code = reader.Next(size, nullptr);
      if (status_code == RecordStatus::kRecord) {
        ++info.entries;
        continue;
      }
      if (status_code == RecordStatus::kEnd) {
        info.bytes = size;
        return true;
      }
      const std::uint64_t bad = reader.Offset();
      info.bytes = bad;
      ++corrupt_total_;
      const bool torn = last && (status_code == RecordStatus::kTruncated ||
                                 reader.FailedRecordEnd() == size);
      if (torn) {
        // The write that was under way when the process died: it was never acknowledged.
        const Fd writable = OpenOrThrow(path, O_WRONLY, "open");
        if (::ftruncate(writable.Get(), static_cast<off_t>(bad)) != 0 ||
            ::fsync(writable.Get()) != 0) {
          ThrowErrno(errno, "truncate torn tail of " + path.string());
        }
        Report("torn tail in " + path.string() + " at offset " + std::to_string(bad) + ": " +
               reader.Problem() + "; cut " + std::to_string(size - bad) + " bytes");
        return true;
      }
      // Damage with data after it: keep the file as it is (evidence) and stop reading it here.
      Report("corrupt record in " + path.string() + " at offset " + std::to_string(bad) + ": " +
             reader.Problem() + "; the remaining " + std::to_string(size - bad) +
             " bytes of the segment are skipped" +
             (last ? ", appends continue in a new segment" : ""));
      return false;
    }
  }

  Fd CreateSegment(std::uint64_t number) {
    Fd fd = OpenOrThrow(SegmentPath(number), O_WRONLY | O_CREAT | O_EXCL, "create");
    // fsync mode promises power-loss safety: the new file's directory entry must be durable
    // before records in it are acknowledged.
    if (settings_.fsync && ::fsync(dir_fd_.Get()) != 0) {
      ThrowErrno(errno, "fsync directory " + dir_.string());
    }
    return fd;
  }

  // Under append_mutex_.
  void Roll() {
    const std::uint64_t next = active_segment_ + 1;
    Fd fd = CreateSegment(next);
    write_fd_ = std::move(fd);
    write_offset_ = 0;
    roll_needed_ = false;
    {
      std::lock_guard lock(mutex_);
      segments_.emplace(next, SegmentInfo{});
      active_segment_ = next;
    }
    data_cv_.notify_all();  // a reader at the end of the old segment moves on
  }

  // Under read_mutex_: point reader_ at cursor_.
  void PositionReader() {
    if (!read_fd_.Valid() || read_segment_ != cursor_.segment) {
      const fs::path path = SegmentPath(cursor_.segment);
      read_fd_ = OpenOrThrow(path, O_RDONLY, "open");
      read_segment_ = cursor_.segment;
      reader_.Reset(read_fd_.Get(), path.string(), cursor_.offset);
    } else {
      reader_.Seek(cursor_.offset);
    }
  }

  // Under read_mutex_. Damage below the published end while running (the file was changed
  // under us, or the disk returns bad data): handled like damage found at start-up.
  void SkipDamagedSegment(std::uint64_t number, std::uint64_t offset, const std::string& problem) {
    {
      std::lock_guard lock(mutex_);
      ++corrupt_total_;
      Report("corrupt record in " + SegmentPath(number).string() + " at offset " +
             std::to_string(offset) + " found while reading: " + problem +
             "; the rest of the segment is skipped");
    }
    {
      // Records still being appended to this segment would be unreachable: start a new one.
      std::lock_guard append_lock(append_mutex_);
      if (active_segment_ == number) roll_needed_ = true;
    }
    cursor_ = {number + 1, 0};
  }

  // Records in [from, to) of a segment, from a record boundary; nullopt unless `to` is one too.
  std::optional<std::uint64_t> CountRecords(std::uint64_t number, std::uint64_t from,
                                            std::uint64_t to) {
    if (from >= to) return 0;
    const fs::path path = SegmentPath(number);
    const Fd fd = OpenOrThrow(path, O_RDONLY, "open");
    counter_.Reset(fd.Get(), path.string(), from);
    std::uint64_t count = 0;
    while (counter_.Skip(to)) ++count;
    if (counter_.Offset() != to) return std::nullopt;
    return count;
  }

  void WriteCheckpoint(JournalPosition position) {
    const std::string text = EncodeCheckpoint(position);
    const fs::path temp = dir_ / kCheckpointTempName;
    const fs::path path = dir_ / kCheckpointName;
    {
      const Fd fd = OpenOrThrow(temp, O_WRONLY | O_CREAT | O_TRUNC, "create");
      if (const int error = WriteAll(fd.Get(), text.data(), text.size(), 0)) {
        ThrowErrno(error, "write " + temp.string());
      }
      if (::fsync(fd.Get()) != 0) ThrowErrno(errno, "fsync " + temp.string());
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) ThrowErrno(errno, "rename " + temp.string());
    if (::fsync(dir_fd_.Get()) != 0) ThrowErrno(errno, "fsync directory " + dir_.string());
  }

  const JournalSettings settings_;
  const fs::path dir_;
  Fd dir_fd_;  // holds the flock; fsynced after renames and segment creation

  mutable std::mutex mutex_;
  std::condition_variable space_cv_;  // Commit freed space, or closed
  std::condition_variable data_cv_;   // a record was published, a segment rolled, or closed
  bool closed_{false};
  std::map<std::uint64_t, SegmentInfo> segments_;
  std::uint64_t active_segment_{0};  // written under append_mutex_ and mutex_
  JournalPosition checkpoint_;
  std::uint64_t pending_bytes_{0};
  std::uint64_t pending_entries_{0};
  std::uint64_t reserved_bytes_{0};  // appends past the space check, not yet published
  std::uint64_t appended_total_{0};
  std::uint64_t corrupt_total_{0};
  std::size_t waiting_appenders_{0};
  bool full_{false};
  std::deque<std::string> reports_;

  std::mutex append_mutex_;
  Fd write_fd_;
  std::uint64_t write_offset_{0};
  bool roll_needed_{false};
  std::string write_buffer_;

  std::mutex read_mutex_;
  JournalPosition cursor_;
  Fd read_fd_;
  std::uint64_t read_segment_{0};
  RecordReader reader_;
  RecordReader counter_;
};

Journal::Journal(JournalSettings settings) : impl_(std::make_unique<Impl>(std::move(settings))) {}

Journal::~Journal() = default;

bool Journal::Append(std::string_view data) { return impl_->Append(data, std::nullopt); }

bool Journal::AppendUntil(std::string_view data, std::chrono::steady_clock::time_point deadline) {
  return impl_->Append(data, deadline);
}

std::vector<JournalEntry> Journal::Read(std::size_t max_entries, std::size_t max_bytes,
                                        std::chrono::milliseconds wait) {
  return impl_->Read(max_entries, max_bytes, wait);
}

void Journal::Commit(JournalPosition position) { impl_->Commit(position); }

void Journal::Rewind() { impl_->Rewind(); }

JournalStats Journal::Stats() const { return impl_->Stats(); }

std::vector<std::string> Journal::TakeCorruptionReports() {
  return impl_->TakeCorruptionReports();
}

void Journal::Close() { impl_->Close(); }

}  // namespace nilecare::mqtt
