#pragma once
// What happens to one MQTT message from a device (private to src/mqtt): validate, make it
// durable in the journal, then raise threshold alerts and push it live. No Paho and no
// PostgreSQL here, so tests drive it directly with a journal in a temp dir and a fake sink.
//
// Order matters: the record is journaled before OnMessage returns, and Paho sends the PUBACK
// when its callback returns — whatever the callback answers (checked in Paho C 1.3's
// MQTTProtocol_handlePublishes: processPublication, then the PUBACK). So OnMessage returns
// only once the message is durable: a full journal or a failing disk makes it wait, and
// while the gateway stops it never returns (Hold()), leaving the message unacknowledged with
// the broker, which redelivers it to the next session. The push to clinicians follows the
// journal write and never waits for PostgreSQL. A message that fails validation is journaled
// as a rejection (and so stored in vitals_rejects) and acknowledged: redelivering it would
// fail the same way.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "nilecare/core/domain_event.hpp"
#include "device_directory.hpp"
#include "ingest_metrics.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/mqtt/device_message.hpp"
#include "nilecare/mqtt/journal.hpp"
#include "nilecare/realtime/room_sink.hpp"
#include "threshold_monitor.hpp"

namespace nilecare::mqtt {

// Journal entries are CBOR of ToJson(record): compact, and able to carry the raw bytes of
// a rejected payload.
std::string EncodeRecord(const DeviceRecord& record);
std::optional<DeviceRecord> DecodeRecord(std::string_view entry);

class DeviceIngest {
 public:
  // `sink` may be null (no realtime adapter: nothing is pushed).
  DeviceIngest(const config::MqttSettings& settings, const config::ThresholdSettings& thresholds,
               Journal& journal, DeviceDirectory& directory, realtime::RoomSink* sink,
               IngestMetrics& metrics, core::EventSink* events = nullptr);

  // Paho's message handler: returns once the message is durable (or durably rejected).
  void OnMessage(std::string_view topic, std::string_view payload);

  // The gateway is stopping: a callback that is waiting for journal space (or one that
  // starts waiting) holds for good instead of returning.
  void Abort() { aborted_ = true; }
  // A callback is waiting for the journal (full, or failing): health and shutdown ask.
  bool Waiting() const { return waiting_.load(); }
  // A callback is parked for good (after Abort): the connection must be abandoned, not
  // closed, or Paho would acknowledge what it holds.
  bool Holding() const { return holding_.load(); }

 private:
  void Append(const DeviceRecord& record);
  [[noreturn]] void Hold();
  void Reject(std::string device_id, std::string_view topic_kind, std::string_view reason,
              std::string_view payload, TimePoint received_at);
  void HandleVitals(const std::string& device_id, std::string_view payload, TimePoint now);
  void HandleAlert(const std::string& device_id, std::string_view payload, TimePoint now);
  void HandleStatus(const std::string& device_id, std::string_view payload, TimePoint now);
  void LogRejection(std::string_view device_id, std::string_view topic_kind,
                    std::string_view reason, std::size_t size);

  const config::MqttSettings& settings_;
  MessageLimits limits_;
  Journal& journal_;
  DeviceDirectory& directory_;
  realtime::RoomSink* sink_;
  IngestMetrics& metrics_;
  core::EventSink* events_;
  ThresholdMonitor thresholds_;
  std::atomic<bool> aborted_{false};
  std::atomic<bool> waiting_{false};
  std::atomic<bool> holding_{false};

  // One log line per rejection reason per second at most: 10,000 malformed messages must
  // not become 10,000 log lines (the counter has the exact number).
  struct LogThrottle {
    std::chrono::steady_clock::time_point last{};
    std::uint64_t suppressed{0};
  };
  std::mutex log_mutex_;
  std::map<std::string, LogThrottle, std::less<>> log_throttle_;
};

}  // namespace nilecare::mqtt
