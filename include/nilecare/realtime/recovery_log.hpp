#pragma once
// The packets broadcast to rooms in the last `window`, kept so that a client reconnecting
// within it gets what it missed (Socket.IO >= 4.6 "connection state recovery"). Each
// packet has a sequence number; the client learns it as the offset at the end of each
// event and sends the last one back when it reconnects. Bounded by count and age.
// Not thread-safe: the hub calls it under its own lock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nilecare/realtime/outbound_queue.hpp"

namespace nilecare::realtime {

struct LoggedPacket {
  std::uint64_t seq{0};
  std::vector<std::string> rooms;
  OutboundItem item;
  std::chrono::steady_clock::time_point at{};
};

class RecoveryLog {
 public:
  RecoveryLog(std::size_t max_packets, std::chrono::milliseconds window);

  // Sequence numbers start at 1 and grow by one per Append.
  std::uint64_t NextSeq() const { return next_seq_; }
  void Append(LoggedPacket packet);
  // Drops packets older than the window.
  void Expire(std::chrono::steady_clock::time_point now);

  // The packets after `offset` sent to any of `rooms` (sorted, unique), in order; nullopt
  // when the log no longer covers `offset` (packets after it were evicted) or `offset` is
  // in the future.
  template <typename RoomSet>
  std::optional<std::vector<OutboundItem>> Since(std::uint64_t offset,
                                                 const RoomSet& rooms) const;

  std::size_t Size() const { return packets_.size(); }

 private:
  std::size_t max_packets_;
  std::chrono::milliseconds window_;
  std::uint64_t next_seq_{1};
  std::uint64_t evicted_through_{0};  // highest seq no longer kept
  std::deque<LoggedPacket> packets_;
};

template <typename RoomSet>
std::optional<std::vector<OutboundItem>> RecoveryLog::Since(std::uint64_t offset,
                                                            const RoomSet& rooms) const {
  if (offset >= next_seq_ || offset < evicted_through_) return std::nullopt;
  std::vector<OutboundItem> missed;
  for (const LoggedPacket& packet : packets_) {
    if (packet.seq <= offset) continue;
    for (const std::string& room : packet.rooms) {
      if (rooms.count(room) != 0) {
        missed.push_back(packet.item);
        break;
      }
    }
  }
  return missed;
}

}  // namespace nilecare::realtime
