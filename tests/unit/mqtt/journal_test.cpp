#include "nilecare/mqtt/journal.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;
using nilecare::mqtt::Journal;
using nilecare::mqtt::JournalEntry;
using nilecare::mqtt::JournalPosition;
using nilecare::mqtt::JournalSettings;
using namespace std::chrono_literals;

// "entry-00" .. : 8-byte payloads make 16-byte records, so sizes below are easy to reason about.
constexpr std::size_t kRecord = 16;
constexpr auto kPatience = 10s;  // upper bound for things that should happen at once

std::string Entry(int i) {
  char text[16];
  std::snprintf(text, sizeof text, "entry-%02d", i);
  return text;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "nilecare-journal-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& Path() const { return path_; }
  fs::path Journal() const { return path_ / "journal"; }

 private:
  fs::path path_;
};

JournalSettings Settings(const TempDir& temp, std::size_t segment_bytes = 64u << 20,
                         std::size_t max_bytes = 1u << 30) {
  JournalSettings settings;
  settings.dir = temp.Journal().string();
  settings.segment_bytes = segment_bytes;
  settings.max_bytes = max_bytes;
  return settings;
}

fs::path SegmentFile(const TempDir& temp, int number) {
  char name[64];
  std::snprintf(name, sizeof name, "journal-%012d.log", number);
  return temp.Journal() / name;
}

std::vector<std::string> Data(const std::vector<JournalEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& entry : entries) out.push_back(entry.data);
  return out;
}

std::vector<std::string> Entries(int from, int to) {  // [from, to)
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(Entry(i));
  return out;
}

// Everything readable now (the journal is idle).
std::vector<JournalEntry> ReadAll(Journal& journal) {
  std::vector<JournalEntry> out;
  for (;;) {
    auto batch = journal.Read(1000, 1u << 30, 0ms);
    if (batch.empty()) return out;
    for (auto& entry : batch) out.push_back(std::move(entry));
  }
}

void AppendRange(Journal& journal, int from, int to) {
  for (int i = from; i < to; ++i) ASSERT_TRUE(journal.Append(Entry(i)));
}

void FlipByte(const fs::path& path, std::uintmax_t offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(offset));
  char byte = 0;
  file.read(&byte, 1);
  byte = static_cast<char>(byte ^ 0x5A);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(&byte, 1);
}

void AppendBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::app | std::ios::binary);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Polls a condition that another thread will make true; fails the test instead of hanging.
template <typename Predicate>
bool Eventually(Predicate predicate) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(JournalTest, AppendReadCommitRoundTrip) {
  TempDir temp;
  Journal journal(Settings(temp));
  ASSERT_TRUE(journal.Append("first"));
  ASSERT_TRUE(journal.Append(""));
  ASSERT_TRUE(journal.Append(std::string("bin\0ary\xff", 8)));
  auto stats = journal.Stats();
  EXPECT_EQ(stats.pending_entries, 3u);
  EXPECT_EQ(stats.pending_bytes, 3 * Journal::kRecordHeaderBytes + 5 + 0 + 8);
  EXPECT_EQ(stats.appended_total, 3u);
  EXPECT_EQ(stats.segments, 1u);
  EXPECT_FALSE(stats.full);

  const auto entries = journal.Read(10, 1u << 20, 0ms);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].data, "first");
  EXPECT_EQ(entries[1].data, "");
  EXPECT_EQ(entries[2].data, std::string("bin\0ary\xff", 8));
  EXPECT_EQ(entries[0].end, (JournalPosition{1, 13}));
  EXPECT_LT(entries[0].end, entries[1].end);
  EXPECT_LT(entries[1].end, entries[2].end);
  EXPECT_TRUE(journal.Read(10, 1u << 20, 0ms).empty());

  journal.Commit(entries[2].end);
  stats = journal.Stats();
  EXPECT_EQ(stats.pending_entries, 0u);
  EXPECT_EQ(stats.pending_bytes, 0u);
  EXPECT_EQ(stats.corrupt_total, 0u);
  EXPECT_TRUE(fs::exists(temp.Journal() / "checkpoint"));
  EXPECT_FALSE(fs::exists(temp.Journal() / "checkpoint.tmp"));
}

TEST(JournalTest, ReadHonoursEntryAndByteLimits) {
  TempDir temp;
  Journal journal(Settings(temp));
  AppendRange(journal, 0, 10);
  EXPECT_EQ(Data(journal.Read(3, 1u << 20, 0ms)), Entries(0, 3));
  EXPECT_EQ(Data(journal.Read(10, 1, 0ms)), Entries(3, 4));    // at least one entry
  EXPECT_EQ(Data(journal.Read(10, 20, 0ms)), Entries(4, 7));   // stops once 20 bytes are in
  EXPECT_EQ(Data(journal.Read(0, 1u << 20, 0ms)), std::vector<std::string>{});
  EXPECT_EQ(Data(journal.Read(10, 1u << 20, 0ms)), Entries(7, 10));
}

TEST(JournalTest, ReadTimesOutEmptyAndWakesOnAppend) {
  TempDir temp;
  Journal journal(Settings(temp));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(journal.Read(10, 1u << 20, 50ms).empty());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);

  auto reader = std::async(std::launch::async, [&] { return journal.Read(10, 1u << 20, 60s); });
  ASSERT_TRUE(journal.Append("wake"));
  ASSERT_EQ(reader.wait_for(kPatience), std::future_status::ready);
  EXPECT_EQ(Data(reader.get()), std::vector<std::string>{"wake"});
}

TEST(JournalTest, ReplaysEntriesAfterTheCheckpointOnReopen) {
  TempDir temp;
  {
    Journal journal(Settings(temp));
    AppendRange(journal, 0, 5);
    const auto entries = journal.Read(10, 1u << 20, 0ms);
    ASSERT_EQ(entries.size(), 5u);
    journal.Commit(entries[1].end);
  }
  {
    Journal journal(Settings(temp));
    EXPECT_EQ(journal.Stats().pending_entries, 3u);
    EXPECT_EQ(journal.Stats().pending_bytes, 3 * kRecord);
    const auto entries = ReadAll(journal);
    EXPECT_EQ(Data(entries), Entries(2, 5));
    journal.Commit(entries.back().end);
    ASSERT_TRUE(journal.Append(Entry(5)));
  }
  Journal journal(Settings(temp));
  EXPECT_EQ(Data(ReadAll(journal)), Entries(5, 6));
  EXPECT_EQ(journal.Stats().corrupt_total, 0u);
  EXPECT_TRUE(journal.TakeCorruptionReports().empty());
}

TEST(JournalTest, RewindReadsTheUncommittedEntriesAgain) {
  TempDir temp;
  Journal journal(Settings(temp));
  AppendRange(journal, 0, 4);
  const auto first = journal.Read(2, 1u << 20, 0ms);
  ASSERT_EQ(Data(first), Entries(0, 2));
  journal.Commit(first[0].end);
  EXPECT_EQ(Data(journal.Read(10, 1u << 20, 0ms)), Entries(2, 4));
  journal.Rewind();
  EXPECT_EQ(Data(journal.Read(10, 1u << 20, 0ms)), Entries(1, 4));
  journal.Rewind();
  journal.Rewind();
  EXPECT_EQ(Data(journal.Read(1, 1u << 20, 0ms)), Entries(1, 2));
}

TEST(JournalTest, CommitIgnoresOldPositionsAndRejectsUnwrittenOnes) {
  TempDir temp;
  Journal journal(Settings(temp));
  AppendRange(journal, 0, 3);
  const auto entries = journal.Read(10, 1u << 20, 0ms);
  journal.Commit(entries[1].end);
  journal.Commit(entries[0].end);  // stale: no-op
  journal.Commit(JournalPosition{});
  EXPECT_EQ(journal.Stats().pending_entries, 1u);
  EXPECT_THROW(journal.Commit(JournalPosition{1, entries[2].end.offset + 1}),
               std::invalid_argument);
  EXPECT_THROW(journal.Commit(JournalPosition{7, 0}), std::invalid_argument);
  EXPECT_THROW(journal.Commit(JournalPosition{1, entries[2].end.offset - 1}),
               std::invalid_argument);  // inside an entry
  EXPECT_EQ(journal.Stats().pending_entries, 1u);
  journal.Rewind();
  EXPECT_EQ(Data(journal.Read(10, 1u << 20, 0ms)), Entries(2, 3));
}

TEST(JournalTest, CommitPastTheReadCursorSkipsThoseEntries) {
  TempDir temp;
  Journal journal(Settings(temp));
  AppendRange(journal, 0, 4);
  const auto all = journal.Read(10, 1u << 20, 0ms);
  journal.Rewind();
  journal.Commit(all[2].end);
  EXPECT_EQ(Data(journal.Read(10, 1u << 20, 0ms)), Entries(3, 4));
}

TEST(JournalTest, TornTailCutShortIsTruncatedAndAppendsContinue) {
  TempDir temp;
  {
    Journal journal(Settings(temp));
    AppendRange(journal, 0, 3);
  }
  const auto segment = SegmentFile(temp, 1);
  fs::resize_file(segment, 3 * kRecord - 5);  // the last record loses its end
  {
    Journal journal(Settings(temp));
    EXPECT_EQ(journal.Stats().corrupt_total, 1u);
    const auto reports = journal.TakeCorruptionReports();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_NE(reports[0].find("torn tail"), std::string::npos) << reports[0];
    EXPECT_EQ(fs::file_size(segment), 2 * kRecord);
    ASSERT_TRUE(journal.Append(Entry(3)));
    EXPECT_EQ(Data(ReadAll(journal)), (std::vector<std::string>{Entry(0), Entry(1), Entry(3)}));
  }
  Journal journal(Settings(temp));
  EXPECT_EQ(journal.Stats().corrupt_total, 0u);
  EXPECT_EQ(journal.Stats().pending_entries, 3u);
}

TEST(JournalTest, TornTailOfAHeaderOrGarbageIsTruncated) {
  TempDir temp;
  {
    Journal journal(Settings(temp));
    AppendRange(journal, 0, 2);
  }
  const auto segment = SegmentFile(temp, 1);
  AppendBytes(segment, std::string("\x05\x00\x00", 3));  // half a header
  {
    Journal journal(Settings(temp));
    EXPECT_EQ(journal.Stats().corrupt_total, 1u);
    EXPECT_EQ(fs::file_size(segment), 2 * kRecord);
  }
  AppendBytes(segment, std::string("\xff\xff\xff\xff garbage after the last record", 34));
  {
    Journal journal(Settings(temp));
    EXPECT_EQ(journal.Stats().corrupt_total, 1u);
    EXPECT_EQ(fs::file_size(segment), 2 * kRecord);
    ASSERT_TRUE(journal.Append(Entry(2)));
    EXPECT_EQ(Data(ReadAll(journal)), Entries(0, 3));
  }
}

TEST(JournalTest, LastRecordFailingItsCrcIsATornTail) {
  TempDir temp;
  {
    Journal journal(Settings(temp));
    AppendRange(journal, 0, 3);
  }
  const auto segment = SegmentFile(temp, 1);
  FlipByte(segment, 3 * kRecord - 1);  // payload of the last record
  Journal journal(Settings(temp));
  EXPECT_EQ(journal.Stats().corrupt_total, 1u);
  EXPECT_EQ(fs::file_size(segment), 2 * kRecord);
  EXPECT_EQ(Data(ReadAll(journal)), Entries(0, 2));
}

TEST(JournalTest, CorruptionMidSegmentSkipsToTheNextSegment) {
  TempDir temp;
  {
    Journal journal(Settings(temp, 3 * kRecord));  // three records per segment
    AppendRange(journal, 0, 9);
    EXPECT_EQ(journal.Stats().segments, 3u);
  }
  FlipByte(SegmentFile(temp, 1), kRecord + 10);  // payload of entry 1
  Journal journal(Settings(temp, 3 * kRecord));
  const auto stats = journal.Stats();
  EXPECT_EQ(stats.corrupt_total, 1u);
  EXPECT_EQ(stats.pending_entries, 7u);  // entries 1 and 2 are beyond reach
  const auto reports = journal.TakeCorruptionReports();
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_NE(reports[0].find("journal-000000000001.log"), std::string::npos) << reports[0];
  EXPECT_NE(reports[0].find("skipped"), std::string::npos) << reports[0];
  EXPECT_EQ(fs::file_size(SegmentFile(temp, 1)), 3 * kRecord);  // left as evidence

  std::vector<std::string> expected{Entry(0)};
  for (const auto& entry : Entries(3, 9)) expected.push_back(entry);
  auto entries = ReadAll(journal);
  EXPECT_EQ(Data(entries), expected);
  ASSERT_TRUE(journal.Append(Entry(9)));
  EXPECT_EQ(Data(ReadAll(journal)), Entries(9, 10));
  journal.Commit(entries.back().end);
  EXPECT_FALSE(fs::exists(SegmentFile(temp, 1)));
  EXPECT_EQ(journal.Stats().pending_entries, 1u);
}

TEST(JournalTest, CorruptionMidLastSegmentContinuesInANewSegment) {
  TempDir temp;
  {
    Journal journal(Settings(temp));
    AppendRange(journal, 0, 4);
  }
  const auto segment = SegmentFile(temp, 1);
  FlipByte(segment, kRecord + 9);  // entry 1; entries 2 and 3 follow it
  {
    Journal journal(Settings(temp));
    EXPECT_EQ(journal.Stats().corrupt_total, 1u);
    EXPECT_EQ(fs::file_size(segment), 4 * kRecord);  // not truncated: data follows the damage
    ASSERT_TRUE(journal.Append(Entry(4)));
    EXPECT_TRUE(fs::exists(SegmentFile(temp, 2)));
    EXPECT_EQ(Data(ReadAll(journal)), (std::vector<std::string>{Entry(0), Entry(4)}));
  }
  Journal journal(Settings(temp));
  EXPECT_EQ(Data(ReadAll(journal)), (std::vector<std::string>{Entry(0), Entry(4)}));
}

TEST(JournalTest, ImpossibleLengthMidSegmentIsCorruption) {
  TempDir temp;
  {
    Journal journal(Settings(temp, 3 * kRecord));
    AppendRange(journal, 0, 6);
  }
  FlipByte(SegmentFile(temp, 1), 3);  // high byte of entry 0's length: > 16 MiB, past the end
  Journal journal(Settings(temp, 3 * kRecord));
  EXPECT_EQ(journal.Stats().corrupt_total, 1u);
  EXPECT_EQ(Data(ReadAll(journal)), Entries(3, 6));
}

TEST(JournalTest, DamageFoundWhileRunningSkipsTheRestOfTheSegment) {
  TempDir temp;
  Journal journal(Settings(temp, 3 * kRecord));
  AppendRange(journal, 0, 8);  // segments 1, 2 full; 3 is being written
  FlipByte(SegmentFile(temp, 1), kRecord + 10);  // entry 1, sealed segment
  FlipByte(SegmentFile(temp, 3), 10);            // entry 6, the segment appends go to
  EXPECT_EQ(Data(ReadAll(journal)), (std::vector<std::string>{Entry(0), Entry(3), Entry(4),
                                                              Entry(5)}));
  EXPECT_EQ(journal.Stats().corrupt_total, 2u);
  EXPECT_EQ(journal.TakeCorruptionReports().size(), 2u);
  ASSERT_TRUE(journal.Append(Entry(8)));  // goes to a new segment the reader can reach
  EXPECT_TRUE(fs::exists(SegmentFile(temp, 4)));
  EXPECT_EQ(Data(ReadAll(journal)), Entries(8, 9));
}

TEST(JournalTest, DamagedCheckpointReplaysEverything) {
  TempDir temp;
  {
    Journal journal(Settings(temp));
    AppendRange(journal, 0, 3);
    journal.Commit(journal.Read(2, 1u << 20, 0ms).back().end);
  }
  {
    std::ofstream(temp.Journal() / "checkpoint", std::ios::trunc) << "garbage\n";
  }
  Journal journal(Settings(temp));
  EXPECT_EQ(journal.Stats().corrupt_total, 1u);
  EXPECT_EQ(journal.TakeCorruptionReports().size(), 1u);
  EXPECT_EQ(Data(ReadAll(journal)), Entries(0, 3));
}

TEST(JournalTest, CheckpointBeyondALostSegmentTailStartsANewSegment) {
  TempDir temp;
  {
    Journal journal(Settings(temp));
    AppendRange(journal, 0, 3);
    journal.Commit(journal.Read(10, 1u << 20, 0ms).back().end);
  }
  fs::resize_file(SegmentFile(temp, 1), kRecord);  // a power cut lost committed bytes
  Journal journal(Settings(temp));
  EXPECT_EQ(journal.Stats().pending_entries, 0u);
  EXPECT_EQ(journal.Stats().corrupt_total, 0u);
  ASSERT_TRUE(journal.Append(Entry(3)));
  EXPECT_TRUE(fs::exists(SegmentFile(temp, 2)));
  EXPECT_EQ(Data(ReadAll(journal)), Entries(3, 4));
}

TEST(JournalTest, RollsSegmentsAndDeletesThemOnceCommitted) {
  TempDir temp;
  auto owner = std::make_unique<Journal>(Settings(temp, 3 * kRecord));
  Journal& journal = *owner;
  AppendRange(journal, 0, 9);
  EXPECT_EQ(journal.Stats().segments, 3u);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(fs::file_size(SegmentFile(temp, i)), 3 * kRecord) << i;
  }
  const auto entries = journal.Read(100, 1u << 20, 0ms);
  ASSERT_EQ(entries.size(), 9u);
  EXPECT_EQ(entries[2].end, (JournalPosition{1, 3 * kRecord}));
  EXPECT_EQ(entries[3].end, (JournalPosition{2, kRecord}));

  journal.Commit(entries[4].end);  // inside segment 2
  EXPECT_FALSE(fs::exists(SegmentFile(temp, 1)));
  EXPECT_TRUE(fs::exists(SegmentFile(temp, 2)));
  auto stats = journal.Stats();
  EXPECT_EQ(stats.segments, 2u);
  EXPECT_EQ(stats.pending_entries, 4u);
  EXPECT_EQ(stats.pending_bytes, 4 * kRecord);

  journal.Commit(entries[8].end);
  EXPECT_FALSE(fs::exists(SegmentFile(temp, 2)));
  stats = journal.Stats();
  EXPECT_EQ(stats.segments, 1u);
  EXPECT_EQ(stats.pending_entries, 0u);
  EXPECT_EQ(stats.pending_bytes, 0u);

  ASSERT_TRUE(journal.Append(Entry(9)));  // segment 3 is full: a fourth one starts
  EXPECT_TRUE(fs::exists(SegmentFile(temp, 4)));
  owner.reset();  // the directory stays locked until the journal is destroyed
  Journal reopened(Settings(temp, 3 * kRecord));
  EXPECT_EQ(Data(ReadAll(reopened)), Entries(9, 10));
}

TEST(JournalTest, EntryLargerThanASegmentOrTheReadBufferRoundTrips) {
  TempDir temp;
  auto owner = std::make_unique<Journal>(Settings(temp, 4096));
  Journal& journal = *owner;
  const std::string big(3u << 20, 'b');
  ASSERT_TRUE(journal.Append("small"));
  ASSERT_TRUE(journal.Append(big));
  ASSERT_TRUE(journal.Append("after"));
  const auto entries = ReadAll(journal);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].data, "small");
  EXPECT_TRUE(entries[1].data == big);
  EXPECT_EQ(entries[2].data, "after");
  owner.reset();
  Journal reopened(Settings(temp, 4096));
  EXPECT_EQ(reopened.Stats().pending_entries, 3u);
  EXPECT_TRUE(reopened.Read(10, 1u << 30, 0ms).at(1).data == big);
}

TEST(JournalTest, FullJournalBlocksAppendUntilCommit) {
  TempDir temp;
  Journal journal(Settings(temp, 64u << 20, 3 * kRecord));
  AppendRange(journal, 0, 3);
  EXPECT_FALSE(journal.Stats().full);

  auto blocked = std::async(std::launch::async, [&] { return journal.Append(Entry(3)); });
  ASSERT_TRUE(Eventually([&] { return journal.Stats().full; }));
  EXPECT_EQ(blocked.wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(journal.Stats().appended_total, 3u);

  const auto first = journal.Read(1, 1u << 20, 0ms);
  journal.Commit(first.at(0).end);
  ASSERT_EQ(blocked.wait_for(kPatience), std::future_status::ready);
  EXPECT_TRUE(blocked.get());
  EXPECT_FALSE(journal.Stats().full);
  EXPECT_EQ(Data(journal.Read(10, 1u << 20, 0ms)), Entries(1, 4));
}

TEST(JournalTest, AppendUntilGivesUpAtTheDeadline) {
  TempDir temp;
  Journal journal(Settings(temp, 64u << 20, 3 * kRecord));
  AppendRange(journal, 0, 3);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(journal.AppendUntil(Entry(3), start + 100ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  auto stats = journal.Stats();
  EXPECT_TRUE(stats.full);
  EXPECT_EQ(stats.appended_total, 3u);
  EXPECT_EQ(stats.pending_bytes, 3 * kRecord);

  journal.Commit(journal.Read(1, 1u << 20, 0ms).at(0).end);
  EXPECT_FALSE(journal.Stats().full);
  EXPECT_TRUE(journal.AppendUntil(Entry(3), std::chrono::steady_clock::now()));  // fits: no wait
}

TEST(JournalTest, CloseWakesABlockedAppendAndAWaitingRead) {
  TempDir temp;
  auto owner = std::make_unique<Journal>(Settings(temp, 64u << 20, 3 * kRecord));
  Journal& journal = *owner;
  AppendRange(journal, 0, 3);
  ASSERT_EQ(journal.Read(10, 1u << 20, 0ms).size(), 3u);  // nothing left to read

  auto append = std::async(std::launch::async, [&] { return journal.Append(Entry(3)); });
  auto read = std::async(std::launch::async, [&] { return journal.Read(10, 1u << 20, 60s); });
  ASSERT_TRUE(Eventually([&] { return journal.Stats().full; }));
  journal.Close();
  ASSERT_EQ(append.wait_for(kPatience), std::future_status::ready);
  ASSERT_EQ(read.wait_for(kPatience), std::future_status::ready);
  EXPECT_FALSE(append.get());
  EXPECT_TRUE(read.get().empty());

  EXPECT_FALSE(journal.Append("after close"));
  EXPECT_FALSE(journal.AppendUntil("after close", std::chrono::steady_clock::now() + 1h));
  EXPECT_TRUE(journal.Read(10, 1u << 20, 1h).empty());
  journal.Commit({1, 2 * kRecord});  // a shutdown may still commit its last batch
  journal.Close();
  owner.reset();
  Journal reopened(Settings(temp, 64u << 20, 3 * kRecord));
  EXPECT_EQ(Data(ReadAll(reopened)), Entries(2, 3));
}

TEST(JournalTest, RefusesOversizedEntriesAtOnce) {
  TempDir temp;
  {
    Journal journal(Settings(temp, 64u << 20, 1024));
    EXPECT_FALSE(journal.Append(std::string(1024 - Journal::kRecordHeaderBytes + 1, 'x')));
    EXPECT_FALSE(
        journal.AppendUntil(std::string(2000, 'x'), std::chrono::steady_clock::now() + 1h));
    EXPECT_EQ(journal.Stats().appended_total, 0u);
    EXPECT_FALSE(journal.Stats().full);
    EXPECT_TRUE(journal.Append(std::string(1024 - Journal::kRecordHeaderBytes, 'x')));
  }
  TempDir other;
  Journal journal(Settings(other, 64u << 20, 64u << 20));
  EXPECT_FALSE(journal.Append(std::string(Journal::kMaxEntryBytes + 1, 'x')));
  EXPECT_TRUE(journal.Append(std::string(Journal::kMaxEntryBytes, 'x')));
  EXPECT_EQ(journal.Read(10, 1u << 30, 0ms).at(0).data.size(), Journal::kMaxEntryBytes);
}

TEST(JournalTest, UnusableDirectoryThrowsNamingThePath) {
  TempDir temp;
  const auto file = temp.Path() / "not-a-directory";
  std::ofstream(file) << "x";
  for (const auto& dir : {file, file / "journal"}) {
    JournalSettings settings;
    settings.dir = dir.string();
    try {
      Journal journal(settings);
      ADD_FAILURE() << "no exception for " << dir;
    } catch (const std::runtime_error& error) {
      EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
    }
  }
  JournalSettings empty;
  EXPECT_THROW(Journal{empty}, std::invalid_argument);
}

TEST(JournalTest, OneJournalPerDirectory) {
  TempDir temp;
  auto first = std::make_unique<Journal>(Settings(temp));
  try {
    Journal second(Settings(temp));
    ADD_FAILURE() << "second journal on the same directory";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find(temp.Journal().string()), std::string::npos);
  }
  ASSERT_TRUE(first->Append("x"));
  first.reset();
  Journal second(Settings(temp));
  EXPECT_EQ(second.Stats().pending_entries, 1u);
}

TEST(JournalTest, FsyncModeRoundTripsAcrossReopen) {
  TempDir temp;
  auto settings = Settings(temp, 10 * kRecord);
  settings.fsync = true;
  {
    Journal journal(settings);
    AppendRange(journal, 0, 25);
    EXPECT_EQ(journal.Stats().segments, 3u);
  }
  Journal journal(settings);
  EXPECT_EQ(Data(ReadAll(journal)), Entries(0, 25));
}

// kill -9 in the middle of appending: every append that returned true must be there after
// the restart, in order, with nothing invented (at most the one in flight beyond the last ack).
TEST(JournalTest, SurvivesKillDashNineMidStream) {
  TempDir temp;
  constexpr int kAcked = 3000;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipe_fds[0]);
    Journal journal(Settings(temp, 16u << 10));  // small segments: rolls happen too
    for (int i = 0;; ++i) {
      if (!journal.Append("crash-" + std::to_string(i))) ::_exit(2);
      if (::write(pipe_fds[1], &i, sizeof i) != static_cast<ssize_t>(sizeof i)) ::_exit(3);
    }
  }
  ::close(pipe_fds[1]);
  int last_ack = -1;
  int value = 0;
  while (last_ack + 1 < kAcked && ::read(pipe_fds[0], &value, sizeof value) == sizeof value) {
    last_ack = value;
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  while (::read(pipe_fds[0], &value, sizeof value) == sizeof value) last_ack = value;
  ::close(pipe_fds[0]);
  ASSERT_GE(last_ack + 1, kAcked);

  Journal journal(Settings(temp, 16u << 10));
  const auto entries = ReadAll(journal);
  ASSERT_GE(entries.size(), static_cast<std::size_t>(last_ack + 1));
  ASSERT_LE(entries.size(), static_cast<std::size_t>(last_ack + 2));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    ASSERT_EQ(entries[i].data, "crash-" + std::to_string(i));
  }
}

TEST(JournalTest, SurvivesAProcessThatDiesWithoutClosing) {
  TempDir temp;
  constexpr int kCount = 1000;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto* journal = new Journal(Settings(temp));  // never destroyed: no close, no flush
    for (int i = 0; i < kCount; ++i) {
      if (!journal->Append("entry " + std::to_string(i))) ::_exit(2);
    }
    ::raise(SIGKILL);
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  Journal journal(Settings(temp));
  const auto entries = ReadAll(journal);
  ASSERT_EQ(entries.size(), static_cast<std::size_t>(kCount));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].data, "entry " + std::to_string(i));
  }
  EXPECT_EQ(journal.Stats().corrupt_total, 0u);
}

// A write that fails half-way (here: the file size limit, standing in for a full disk) throws
// and leaves no partial record behind, so the entries acknowledged before are all intact.
TEST(JournalTest, WriteErrorThrowsAndLeavesNoPartialRecord) {
  TempDir temp;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // write(2) fails with EFBIG instead
    const rlimit limit{6 * kRecord + 4, 6 * kRecord + 4};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
    Journal journal(Settings(temp));
    for (int i = 0; i < 6; ++i) {
      if (!journal.Append(Entry(i))) ::_exit(11);
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        journal.Append(Entry(6));
        ::_exit(12);
      } catch (const std::system_error& error) {
        if (error.code().value() != EFBIG) ::_exit(13);
      }
    }
    if (journal.Stats().pending_entries != 6 || journal.Stats().pending_bytes != 6 * kRecord) {
      ::_exit(14);
    }
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(fs::file_size(SegmentFile(temp, 1)), 6 * kRecord);
  Journal journal(Settings(temp));
  EXPECT_EQ(Data(ReadAll(journal)), Entries(0, 6));
  EXPECT_EQ(journal.Stats().corrupt_total, 0u);
}

// Four appenders against a small journal (appends block on space, segments roll all the time)
// and one reader committing as it goes: every entry arrives exactly once, each thread's in order.
TEST(JournalTest, ConcurrentAppendersEveryEntryReadExactlyOnce) {
  TempDir temp;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  Journal journal(Settings(temp, 8u << 10, 32u << 10));
  std::vector<std::thread> appenders;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    appenders.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!journal.Append(std::to_string(t) + ":" + std::to_string(i))) ++failures;
      }
    });
  }
  std::map<int, int> next_of_thread;
  std::set<std::string> seen;
  int duplicates = 0;
  int out_of_order = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen.size() < static_cast<std::size_t>(kThreads * kPerThread) &&
         std::chrono::steady_clock::now() < deadline) {
    const auto batch = journal.Read(97, 4096, 100ms);
    for (const auto& entry : batch) {
      if (!seen.insert(entry.data).second) ++duplicates;
      const auto colon = entry.data.find(':');
      const int thread = std::stoi(entry.data.substr(0, colon));
      const int index = std::stoi(entry.data.substr(colon + 1));
      if (next_of_thread[thread] != index) ++out_of_order;
      next_of_thread[thread] = index + 1;
    }
    if (!batch.empty()) journal.Commit(batch.back().end);
  }
  for (auto& appender : appenders) appender.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(out_of_order, 0);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
  const auto stats = journal.Stats();
  EXPECT_EQ(stats.pending_entries, 0u);
  EXPECT_EQ(stats.pending_bytes, 0u);
  EXPECT_EQ(stats.appended_total, static_cast<std::uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(stats.segments, 1u);
  EXPECT_EQ(stats.corrupt_total, 0u);
}

}  // namespace
