#include "nilecare/realtime/recovery_log.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace nilecare::realtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using Rooms = std::set<std::string>;

const Clock::time_point kT0 = Clock::time_point(seconds(1000));

// Appends a packet for `rooms` whose frame names its sequence number.
std::uint64_t Append(RecoveryLog& log, std::vector<std::string> rooms, Clock::time_point at) {
  const std::uint64_t seq = log.NextSeq();
  log.Append(LoggedPacket{
      seq, std::move(rooms),
      OutboundItem{std::make_shared<const std::string>("p" + std::to_string(seq)),
                   Priority::kNormal},
      at});
  return seq;
}

std::vector<std::string> Frames(const std::optional<std::vector<OutboundItem>>& items) {
  std::vector<std::string> frames;
  if (items) {
    for (const OutboundItem& item : *items) frames.push_back(*item.frame);
  }
  return frames;
}

TEST(RecoveryLogTest, StartsAtOne) {
  RecoveryLog log(10, seconds(120));
  EXPECT_EQ(log.NextSeq(), 1u);
  EXPECT_EQ(log.Size(), 0u);
  // A client that connected before anything was sent has offset 0 and missed nothing.
  const auto missed = log.Since(0, Rooms{"ward:4"});
  ASSERT_TRUE(missed.has_value());
  EXPECT_TRUE(missed->empty());
}

TEST(RecoveryLogTest, AppendAdvancesTheSequence) {
  RecoveryLog log(10, seconds(120));
  EXPECT_EQ(Append(log, {"ward:4"}, kT0), 1u);
  EXPECT_EQ(Append(log, {"ward:4"}, kT0), 2u);
  EXPECT_EQ(log.NextSeq(), 3u);
  EXPECT_EQ(log.Size(), 2u);
}

TEST(RecoveryLogTest, IgnoresAPacketOutOfTurn) {
  RecoveryLog log(10, seconds(120));
  Append(log, {"r"}, kT0);
  log.Append(LoggedPacket{7, {"r"}, OutboundItem{}, kT0});  // a gap
  log.Append(LoggedPacket{1, {"r"}, OutboundItem{}, kT0});  // a repeat
  EXPECT_EQ(log.NextSeq(), 2u);
  EXPECT_EQ(log.Size(), 1u);
  EXPECT_EQ(Frames(log.Since(0, Rooms{"r"})), (std::vector<std::string>{"p1"}));
}

TEST(RecoveryLogTest, SinceReturnsLaterPacketsForTheRoomsInOrder) {
  RecoveryLog log(10, seconds(120));
  Append(log, {"patient:1"}, kT0);                // 1
  Append(log, {"patient:2"}, kT0);                // 2
  Append(log, {"patient:1", "ward:4"}, kT0);      // 3
  Append(log, {"ward:4"}, kT0);                   // 4
  Append(log, {"patient:3"}, kT0);                // 5
  Append(log, {"patient:2", "patient:1"}, kT0);   // 6

  EXPECT_EQ(Frames(log.Since(0, Rooms{"patient:1"})),
            (std::vector<std::string>{"p1", "p3", "p6"}));
  EXPECT_EQ(Frames(log.Since(1, Rooms{"patient:1"})), (std::vector<std::string>{"p3", "p6"}));
  // In two of the rooms: sent once.
  EXPECT_EQ(Frames(log.Since(2, Rooms{"patient:1", "ward:4"})),
            (std::vector<std::string>{"p3", "p4", "p6"}));
  EXPECT_EQ(Frames(log.Since(0, Rooms{"patient:9"})), std::vector<std::string>{});
  EXPECT_EQ(Frames(log.Since(0, Rooms{})), std::vector<std::string>{});
}

TEST(RecoveryLogTest, SinceTakesAnyRoomSet) {
  RecoveryLog log(10, seconds(120));
  Append(log, {"a"}, kT0);
  Append(log, {"b"}, kT0);
  const std::unordered_set<std::string> rooms{"b"};
  EXPECT_EQ(Frames(log.Since(0, rooms)), (std::vector<std::string>{"p2"}));
}

TEST(RecoveryLogTest, LatestOffsetMissedNothing) {
  RecoveryLog log(10, seconds(120));
  Append(log, {"r"}, kT0);
  Append(log, {"r"}, kT0);
  const auto missed = log.Since(2, Rooms{"r"});
  ASSERT_TRUE(missed.has_value());
  EXPECT_TRUE(missed->empty());
}

TEST(RecoveryLogTest, FutureOffsetIsNotCovered) {
  RecoveryLog log(10, seconds(120));
  Append(log, {"r"}, kT0);
  EXPECT_FALSE(log.Since(2, Rooms{"r"}).has_value());
  EXPECT_FALSE(log.Since(UINT64_MAX, Rooms{"r"}).has_value());
  RecoveryLog empty(10, seconds(120));
  EXPECT_FALSE(empty.Since(1, Rooms{"r"}).has_value());
}

TEST(RecoveryLogTest, CountLimitEvictsTheOldest) {
  RecoveryLog log(3, seconds(120));
  for (int i = 0; i < 5; ++i) Append(log, {"r"}, kT0);
  EXPECT_EQ(log.Size(), 3u);
  EXPECT_EQ(log.NextSeq(), 6u);
  // 1 and 2 are gone: offsets 0 and 1 would need them.
  EXPECT_FALSE(log.Since(0, Rooms{"r"}).has_value());
  EXPECT_FALSE(log.Since(1, Rooms{"r"}).has_value());
  // Offset 2 needs 3, 4 and 5, all kept.
  EXPECT_EQ(Frames(log.Since(2, Rooms{"r"})), (std::vector<std::string>{"p3", "p4", "p5"}));
  EXPECT_EQ(Frames(log.Since(4, Rooms{"r"})), (std::vector<std::string>{"p5"}));
}

TEST(RecoveryLogTest, EvictionCoversPacketsForOtherRooms) {
  // Whether the evicted packet was for the client's rooms cannot be known afterwards, so an
  // offset before it is not covered either way.
  RecoveryLog log(1, seconds(120));
  Append(log, {"other"}, kT0);
  Append(log, {"mine"}, kT0);
  EXPECT_FALSE(log.Since(0, Rooms{"mine"}).has_value());
  EXPECT_EQ(Frames(log.Since(1, Rooms{"mine"})), (std::vector<std::string>{"p2"}));
}

TEST(RecoveryLogTest, ZeroCapacityKeepsNothingButCountsOn) {
  RecoveryLog log(0, seconds(120));
  Append(log, {"r"}, kT0);
  Append(log, {"r"}, kT0);
  EXPECT_EQ(log.Size(), 0u);
  EXPECT_EQ(log.NextSeq(), 3u);
  EXPECT_FALSE(log.Since(1, Rooms{"r"}).has_value());
  const auto missed = log.Since(2, Rooms{"r"});
  ASSERT_TRUE(missed.has_value());
  EXPECT_TRUE(missed->empty());
}

TEST(RecoveryLogTest, ExpireDropsPacketsOlderThanTheWindow) {
  RecoveryLog log(100, seconds(120));
  Append(log, {"r"}, kT0);                  // 1
  Append(log, {"r"}, kT0 + seconds(30));    // 2
  Append(log, {"r"}, kT0 + seconds(60));    // 3

  log.Expire(kT0 + seconds(120));  // 1 is exactly window old: kept
  EXPECT_EQ(log.Size(), 3u);
  EXPECT_EQ(Frames(log.Since(0, Rooms{"r"})), (std::vector<std::string>{"p1", "p2", "p3"}));

  log.Expire(kT0 + seconds(120) + milliseconds(1));
  EXPECT_EQ(log.Size(), 2u);
  EXPECT_FALSE(log.Since(0, Rooms{"r"}).has_value());
  EXPECT_EQ(Frames(log.Since(1, Rooms{"r"})), (std::vector<std::string>{"p2", "p3"}));

  log.Expire(kT0 + seconds(1000));
  EXPECT_EQ(log.Size(), 0u);
  EXPECT_FALSE(log.Since(2, Rooms{"r"}).has_value());
  // Nothing to replay after the latest, even with the log empty.
  const auto missed = log.Since(3, Rooms{"r"});
  ASSERT_TRUE(missed.has_value());
  EXPECT_TRUE(missed->empty());
  EXPECT_EQ(log.NextSeq(), 4u);
}

TEST(RecoveryLogTest, ExpireOnAnEmptyLogIsHarmless) {
  RecoveryLog log(10, seconds(120));
  log.Expire(kT0);
  EXPECT_EQ(log.Size(), 0u);
  EXPECT_TRUE(log.Since(0, Rooms{"r"}).has_value());
}

TEST(RecoveryLogTest, AppendAfterExpiryKeepsCounting) {
  RecoveryLog log(10, seconds(1));
  Append(log, {"r"}, kT0);
  log.Expire(kT0 + seconds(5));
  EXPECT_EQ(Append(log, {"r"}, kT0 + seconds(5)), 2u);
  EXPECT_EQ(Frames(log.Since(1, Rooms{"r"})), (std::vector<std::string>{"p2"}));
  EXPECT_FALSE(log.Since(0, Rooms{"r"}).has_value());
}

TEST(RecoveryLogTest, SinceSharesTheFrames) {
  RecoveryLog log(10, seconds(120));
  Append(log, {"r"}, kT0);
  const auto missed = log.Since(0, Rooms{"r"});
  ASSERT_TRUE(missed.has_value());
  ASSERT_EQ(missed->size(), 1u);
  EXPECT_EQ(missed->front().frame.use_count(), 2);  // the log's and this copy
}

}  // namespace
}  // namespace nilecare::realtime
