#include "nilecare/realtime/recovery_log.hpp"

#include <utility>

namespace nilecare::realtime {

RecoveryLog::RecoveryLog(std::size_t max_packets, std::chrono::milliseconds window)
    : max_packets_(max_packets), window_(window) {}

void RecoveryLog::Append(LoggedPacket packet) {
  // Since() relies on the log holding consecutive sequence numbers. A packet out of turn
  // is a caller bug; keeping it out means an offset that names it is "in the future" and
  // recovery falls back to a fresh session instead of replaying the wrong packets.
  if (packet.seq != next_seq_) return;
  next_seq_ = packet.seq + 1;
  packets_.push_back(std::move(packet));
  while (packets_.size() > max_packets_) {
    evicted_through_ = packets_.front().seq;
    packets_.pop_front();
  }
}

void RecoveryLog::Expire(std::chrono::steady_clock::time_point now) {
  const auto cutoff = now - window_;
  // Appended in time order, so the expired packets are a prefix.
  while (!packets_.empty() && packets_.front().at < cutoff) {
    evicted_through_ = packets_.front().seq;
    packets_.pop_front();
  }
}

}  // namespace nilecare::realtime
