#include "nilecare/realtime/outbound_queue.hpp"

#include <utility>

namespace nilecare::realtime {
namespace {

std::size_t SizeOf(const OutboundItem& item) { return item.frame ? item.frame->size() : 0; }

}  // namespace

OutboundQueue::OutboundQueue(std::size_t max_packets, std::size_t max_bytes)
    : max_packets_(max_packets), max_bytes_(max_bytes) {}

bool OutboundQueue::Fits(std::size_t size) const {
  // Written so that neither sum can wrap, whatever the limits.
  return items_.size() < max_packets_ && size <= max_bytes_ && bytes_ <= max_bytes_ - size;
}

OutboundQueue::PushResult OutboundQueue::Push(OutboundItem item) {
  using Kind = PushResult::Kind;
  const std::size_t size = SizeOf(item);
  PushResult result;
  if (!Fits(size)) {
    // Find how many of the oldest droppable packets have to go before anything goes: when
    // even all of them would not make room, evicting them would lose readings the client
    // could still have had and gain nothing.
    std::size_t evict = 0;
    std::size_t packets = items_.size();
    std::size_t bytes = bytes_;
    const auto fits_then = [&] {
      return packets < max_packets_ && size <= max_bytes_ && bytes <= max_bytes_ - size;
    };
    for (const OutboundItem& queued : items_) {
      if (fits_then()) break;
      if (queued.priority != Priority::kDroppable) continue;
      ++evict;
      --packets;
      bytes -= SizeOf(queued);
    }
    if (!fits_then()) {
      result.kind =
          item.priority == Priority::kDroppable ? Kind::kDroppedIncoming : Kind::kOverflow;
      return result;
    }
    // One compaction pass, so making room for a large packet is linear however many small
    // ones it displaces.
    std::size_t kept = 0;
    for (std::size_t read = 0; read < items_.size(); ++read) {
      if (evict > 0 && items_[read].priority == Priority::kDroppable) {
        bytes_ -= SizeOf(items_[read]);
        --evict;
        ++result.dropped_oldest;
        continue;
      }
      if (kept != read) items_[kept] = std::move(items_[read]);
      ++kept;
    }
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(kept), items_.end());
  }
  bytes_ += size;
  items_.push_back(std::move(item));
  result.kind = Kind::kQueued;
  return result;
}

OutboundItem OutboundQueue::PopFront() {
  OutboundItem item = std::move(items_.front());
  items_.pop_front();
  bytes_ -= SizeOf(item);
  return item;
}

void OutboundQueue::Clear() {
  items_.clear();
  bytes_ = 0;
}

}  // namespace nilecare::realtime
