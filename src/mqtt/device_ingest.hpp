#pragma once
// What happens to one MQTT message from a device (private to src/mqtt): validate, make it
// durable in the journal, then raise threshold alerts and push it live. No Paho and no
// PostgreSQL here, so tests drive it directly with a journal in a temp dir and a fake sink.
//
// Order matters: the record is journaled before OnMessage returns true (and so before
// Paho's PUBACK); the push to clinicians follows the journal write and never waits for
// PostgreSQL. A message that fails validation is journaled as a rejection (and so stored in
// vitals_rejects) and acknowledged: redelivering it would fail the same way.

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

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
               IngestMetrics& metrics);

  // Paho's message handler. true = durable (or durably rejected): acknowledge it. false =
  // not durable yet (journal full, stopping): leave it unacknowledged.
  bool OnMessage(std::string_view topic, std::string_view payload);

  // From now on a full journal makes OnMessage give up at once (the gateway is stopping).
  void Abort() { aborted_ = true; }

 private:
  bool Append(const DeviceRecord& record);
  bool Reject(std::string device_id, std::string_view topic_kind, std::string_view reason,
              std::string_view payload, TimePoint received_at);
  bool HandleVitals(const std::string& device_id, std::string_view payload, TimePoint now);
  bool HandleAlert(const std::string& device_id, std::string_view payload, TimePoint now);
  bool HandleStatus(const std::string& device_id, std::string_view payload, TimePoint now);
  void LogRejection(std::string_view device_id, std::string_view topic_kind,
                    std::string_view reason, std::size_t size);

  const config::MqttSettings& settings_;
  MessageLimits limits_;
  Journal& journal_;
  DeviceDirectory& directory_;
  realtime::RoomSink* sink_;
  IngestMetrics& metrics_;
  ThresholdMonitor thresholds_;
  std::atomic<bool> aborted_{false};

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
