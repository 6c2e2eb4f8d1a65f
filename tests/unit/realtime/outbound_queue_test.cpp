#include "nilecare/realtime/outbound_queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nilecare::realtime {
namespace {

using Kind = OutboundQueue::PushResult::Kind;

OutboundItem Item(std::string frame, Priority priority = Priority::kNormal) {
  return OutboundItem{std::make_shared<const std::string>(std::move(frame)), priority};
}

OutboundItem Droppable(std::string frame) { return Item(std::move(frame), Priority::kDroppable); }
OutboundItem Critical(std::string frame) { return Item(std::move(frame), Priority::kCritical); }

std::vector<std::string> Drain(OutboundQueue& queue) {
  std::vector<std::string> frames;
  while (!queue.Empty()) frames.push_back(*queue.PopFront().frame);
  return frames;
}

TEST(OutboundQueueTest, StartsEmpty) {
  OutboundQueue queue(4, 100);
  EXPECT_TRUE(queue.Empty());
  EXPECT_EQ(queue.Size(), 0u);
  EXPECT_EQ(queue.Bytes(), 0u);
}

TEST(OutboundQueueTest, QueuesInOrderAndCountsBytes) {
  OutboundQueue queue(4, 100);
  EXPECT_EQ(queue.Push(Item("42[\"a\"]")).kind, Kind::kQueued);
  EXPECT_EQ(queue.Push(Droppable("42[\"bb\"]")).kind, Kind::kQueued);
  EXPECT_EQ(queue.Push(Critical("3")).kind, Kind::kQueued);
  EXPECT_EQ(queue.Size(), 3u);
  EXPECT_EQ(queue.Bytes(), 7u + 8u + 1u);
  EXPECT_EQ(*queue.Front().frame, "42[\"a\"]");

  const OutboundItem first = queue.PopFront();
  EXPECT_EQ(*first.frame, "42[\"a\"]");
  EXPECT_EQ(first.priority, Priority::kNormal);
  EXPECT_EQ(queue.Bytes(), 9u);
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"42[\"bb\"]", "3"}));
  EXPECT_EQ(queue.Bytes(), 0u);
}

TEST(OutboundQueueTest, SharesFramesWithoutCopying) {
  OutboundQueue a(4, 100);
  OutboundQueue b(4, 100);
  const OutboundItem item = Item("42[\"broadcast\"]");
  a.Push(item);
  b.Push(item);
  EXPECT_EQ(a.Front().frame.get(), b.Front().frame.get());
  EXPECT_EQ(item.frame.use_count(), 3);
}

TEST(OutboundQueueTest, ExactlyFullStillQueues) {
  OutboundQueue queue(2, 10);
  EXPECT_EQ(queue.Push(Item("12345")).kind, Kind::kQueued);
  EXPECT_EQ(queue.Push(Item("67890")).kind, Kind::kQueued);
  EXPECT_EQ(queue.Bytes(), 10u);
}

TEST(OutboundQueueTest, EvictsOldestDroppableWhenPacketLimitIsReached) {
  OutboundQueue queue(3, 1000);
  queue.Push(Droppable("d1"));
  queue.Push(Item("n1"));
  queue.Push(Droppable("d2"));
  const auto result = queue.Push(Item("n2"));
  EXPECT_EQ(result.kind, Kind::kQueued);
  EXPECT_EQ(result.dropped_oldest, 1u);
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"n1", "d2", "n2"}));
}

TEST(OutboundQueueTest, NewerDroppableReplacesOlderOne) {
  OutboundQueue queue(2, 1000);
  queue.Push(Droppable("hr=80"));
  queue.Push(Droppable("hr=81"));
  const auto result = queue.Push(Droppable("hr=82"));
  EXPECT_EQ(result.kind, Kind::kQueued);
  EXPECT_EQ(result.dropped_oldest, 1u);
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"hr=81", "hr=82"}));
}

TEST(OutboundQueueTest, EvictsAsManyAsTheBytesNeedOldestFirst) {
  OutboundQueue queue(10, 10);
  queue.Push(Droppable("aa"));
  queue.Push(Critical("CC"));
  queue.Push(Droppable("bb"));
  queue.Push(Droppable("cc"));
  queue.Push(Item("n"));
  ASSERT_EQ(queue.Bytes(), 9u);
  // 5 bytes needed, 1 free: two droppables go (aa, bb), cc stays.
  const auto result = queue.Push(Item("12345"));
  EXPECT_EQ(result.kind, Kind::kQueued);
  EXPECT_EQ(result.dropped_oldest, 2u);
  EXPECT_EQ(queue.Bytes(), 10u);
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"CC", "cc", "n", "12345"}));
}

TEST(OutboundQueueTest, FullOfNonDroppableRefusesDroppable) {
  OutboundQueue queue(2, 1000);
  queue.Push(Item("n1"));
  queue.Push(Critical("c1"));
  const auto result = queue.Push(Droppable("d"));
  EXPECT_EQ(result.kind, Kind::kDroppedIncoming);
  EXPECT_EQ(result.dropped_oldest, 0u);
  EXPECT_EQ(queue.Size(), 2u);
}

TEST(OutboundQueueTest, FullOfNonDroppableOverflowsOnNormalAndCritical) {
  OutboundQueue queue(2, 1000);
  queue.Push(Item("n1"));
  queue.Push(Item("n2"));
  EXPECT_EQ(queue.Push(Item("n3")).kind, Kind::kOverflow);
  EXPECT_EQ(queue.Push(Critical("alert")).kind, Kind::kOverflow);
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"n1", "n2"}));
}

TEST(OutboundQueueTest, ByteLimitOverflow) {
  OutboundQueue queue(100, 8);
  queue.Push(Item("12345"));
  EXPECT_EQ(queue.Push(Critical("1234")).kind, Kind::kOverflow);
  EXPECT_EQ(queue.Push(Droppable("1234")).kind, Kind::kDroppedIncoming);
  EXPECT_EQ(queue.Push(Item("123")).kind, Kind::kQueued);
  EXPECT_EQ(queue.Bytes(), 8u);
}

TEST(OutboundQueueTest, KeepsDroppablesWhenEvictingThemWouldNotMakeRoom) {
  OutboundQueue queue(10, 10);
  queue.Push(Droppable("dd"));
  queue.Push(Item("nnnnnn"));
  // 8 of 10 bytes in use: a 5-byte packet needs 3 freed, and the droppable holds only 2.
  const auto dropped = queue.Push(Droppable("12345"));
  EXPECT_EQ(dropped.kind, Kind::kDroppedIncoming);
  EXPECT_EQ(dropped.dropped_oldest, 0u);
  const auto overflow = queue.Push(Critical("12345"));
  EXPECT_EQ(overflow.kind, Kind::kOverflow);
  EXPECT_EQ(overflow.dropped_oldest, 0u);
  EXPECT_EQ(Drain(queue), (std::vector<std::string>{"dd", "nnnnnn"}));
}

TEST(OutboundQueueTest, ItemLargerThanTheByteLimit) {
  OutboundQueue queue(10, 4);
  queue.Push(Droppable("d"));
  const auto critical = queue.Push(Critical("123456"));
  EXPECT_EQ(critical.kind, Kind::kOverflow);
  EXPECT_EQ(critical.dropped_oldest, 0u);
  EXPECT_EQ(queue.Push(Droppable("123456")).kind, Kind::kDroppedIncoming);
  EXPECT_EQ(queue.Size(), 1u);

  OutboundQueue empty(10, 4);
  EXPECT_EQ(empty.Push(Item("12345")).kind, Kind::kOverflow);
  EXPECT_TRUE(empty.Empty());
}

TEST(OutboundQueueTest, ZeroLimits) {
  OutboundQueue no_packets(0, 100);
  EXPECT_EQ(no_packets.Push(Item("x")).kind, Kind::kOverflow);
  EXPECT_EQ(no_packets.Push(Droppable("x")).kind, Kind::kDroppedIncoming);

  OutboundQueue no_bytes(10, 0);
  EXPECT_EQ(no_bytes.Push(Item("x")).kind, Kind::kOverflow);
  EXPECT_EQ(no_bytes.Push(Item("")).kind, Kind::kQueued);  // an empty frame fits
}

TEST(OutboundQueueTest, HugeLimitsDoNotWrap) {
  OutboundQueue queue(SIZE_MAX, SIZE_MAX);
  EXPECT_EQ(queue.Push(Item("abc")).kind, Kind::kQueued);
  EXPECT_EQ(queue.Bytes(), 3u);
}

TEST(OutboundQueueTest, NullFrameCountsAsEmpty) {
  OutboundQueue queue(2, 10);
  EXPECT_EQ(queue.Push(OutboundItem{nullptr, Priority::kNormal}).kind, Kind::kQueued);
  EXPECT_EQ(queue.Bytes(), 0u);
  EXPECT_EQ(queue.PopFront().frame, nullptr);
  EXPECT_EQ(queue.Bytes(), 0u);
}

TEST(OutboundQueueTest, ManySmallDroppablesMakeRoomForOneLargePacket) {
  OutboundQueue queue(2000, 1000);
  for (int i = 0; i < 1000; ++i) queue.Push(Droppable("d"));
  queue.Push(Critical("c"));  // evicts one
  ASSERT_EQ(queue.Bytes(), 1000u);
  const auto result = queue.Push(Item(std::string(900, 'n')));
  EXPECT_EQ(result.kind, Kind::kQueued);
  EXPECT_EQ(result.dropped_oldest, 900u);
  EXPECT_EQ(queue.Size(), 99u + 1u + 1u);
  EXPECT_EQ(queue.Bytes(), 1000u);
  // The survivors keep their order: the 99 newest droppables, the critical, the new one.
  EXPECT_EQ(*queue.PopFront().frame, "d");
  std::size_t droppables = 1;
  while (queue.Front().priority == Priority::kDroppable) {
    queue.PopFront();
    ++droppables;
  }
  EXPECT_EQ(droppables, 99u);
  EXPECT_EQ(*queue.PopFront().frame, "c");
  EXPECT_EQ(queue.PopFront().frame->size(), 900u);
  EXPECT_TRUE(queue.Empty());
}

TEST(OutboundQueueTest, ClearResetsEverything) {
  OutboundQueue queue(2, 10);
  queue.Push(Item("12345"));
  queue.Push(Item("67890"));
  queue.Clear();
  EXPECT_TRUE(queue.Empty());
  EXPECT_EQ(queue.Bytes(), 0u);
  EXPECT_EQ(queue.Push(Item("1234567890")).kind, Kind::kQueued);
}

}  // namespace
}  // namespace nilecare::realtime
