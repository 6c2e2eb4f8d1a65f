#pragma once
// A client's bounded send queue. Packets carry a priority; when the bound (packets or
// bytes) is reached, the oldest droppable packets (vitals:update: a newer reading replaces
// them) make room. When they cannot (evicting every one would not be enough, and then none
// is evicted) the queue refuses: a droppable packet is dropped itself, anything else tells
// the caller to disconnect the client, because memory must not grow without bound and a
// clinician must not silently miss an alert.
// Not thread-safe: a session owns one and touches it on its strand.

#include <cstddef>
#include <deque>
#include <memory>
#include <string>

namespace nilecare::realtime {

enum class Priority { kDroppable, kNormal, kCritical };

struct OutboundItem {
  // One complete Engine.IO packet (type digit included), often shared by many clients.
  std::shared_ptr<const std::string> frame;
  Priority priority{Priority::kNormal};
};

class OutboundQueue {
 public:
  OutboundQueue(std::size_t max_packets, std::size_t max_bytes);

  struct PushResult {
    enum class Kind { kQueued, kDroppedIncoming, kOverflow } kind{Kind::kQueued};
    std::size_t dropped_oldest{0};  // droppable packets evicted to make room
  };
  PushResult Push(OutboundItem item);

  bool Empty() const { return items_.empty(); }
  std::size_t Size() const { return items_.size(); }
  std::size_t Bytes() const { return bytes_; }
  const OutboundItem& Front() const { return items_.front(); }
  OutboundItem PopFront();
  void Clear();

 private:
  bool Fits(std::size_t size) const;

  std::size_t max_packets_;
  std::size_t max_bytes_;
  std::size_t bytes_{0};
  std::deque<OutboundItem> items_;
};

}  // namespace nilecare::realtime
