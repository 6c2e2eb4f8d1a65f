#include "device_ingest.hpp"

#include <thread>

#include "nilecare/core/ids.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::mqtt {
namespace log = observability::log;
using json = nlohmann::json;

namespace {

// How often a callback waiting for journal space looks whether the gateway is stopping.
constexpr auto kJournalWaitSlice = std::chrono::milliseconds(100);
// After a journal write error (disk full, EIO), the same message is tried again this late.
constexpr auto kJournalErrorPause = std::chrono::seconds(1);
constexpr auto kLogInterval = std::chrono::seconds(1);

const std::vector<std::string> kAlertRoles = {"role:doctor", "role:nurse"};

std::vector<std::string> AlertRooms(const std::string& patient_id) {
  std::vector<std::string> rooms;
  if (!patient_id.empty()) rooms.push_back("patient:" + patient_id);
  rooms.insert(rooms.end(), kAlertRoles.begin(), kAlertRoles.end());
  return rooms;
}

std::string DescribeBreach(const Breach& breach) {
  // e.g. "hr 150 above 120" — values only, no patient identifiers.
  auto number = [](double value) {
    std::string text = json(value).dump();
    if (text.size() > 2 && text.ends_with(".0")) text.resize(text.size() - 2);
    return text;
  };
  return breach.vital + " " + number(breach.value) +
         (breach.direction == "high" ? " above " : " below ") + number(breach.threshold);
}

}  // namespace

std::string EncodeRecord(const DeviceRecord& record) {
  const std::vector<std::uint8_t> bytes = json::to_cbor(ToJson(record));
  return std::string(bytes.begin(), bytes.end());
}

std::optional<DeviceRecord> DecodeRecord(std::string_view entry) {
  try {
    return FromJson(json::from_cbor(entry.begin(), entry.end()));
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

DeviceIngest::DeviceIngest(const config::MqttSettings& settings,
                           const config::ThresholdSettings& thresholds, Journal& journal,
                           DeviceDirectory& directory, realtime::RoomSink* sink,
                           IngestMetrics& metrics, core::EventSink* events)
    : settings_(settings),
      journal_(journal),
      directory_(directory),
      sink_(sink),
      metrics_(metrics),
      events_(events),
      thresholds_(thresholds, settings.max_devices) {
  limits_.max_payload = settings.max_payload;
}

void DeviceIngest::OnMessage(std::string_view topic, std::string_view payload) {
  const TimePoint now = Now();
  const auto device_topic = ParseDeviceTopic(topic, settings_.topic_root);
  if (!device_topic) {
    // Subscriptions only match <root>/+/<kind>, so this is a device id we refuse (too long,
    // odd characters). The topic is not kept: it is device-controlled text.
    return Reject("", "unknown", "bad_device_id", payload, now);
  }
  switch (device_topic->kind) {
    case TopicKind::kVitals: return HandleVitals(device_topic->device_id, payload, now);
    case TopicKind::kAlerts: return HandleAlert(device_topic->device_id, payload, now);
    case TopicKind::kStatus: return HandleStatus(device_topic->device_id, payload, now);
  }
}

void DeviceIngest::HandleVitals(const std::string& device_id, std::string_view payload,
                                TimePoint now) {
  auto parsed = ParseVitals(device_id, payload, now, limits_);
  if (auto* reason = std::get_if<RejectReason>(&parsed)) {
    return Reject(device_id, "vitals", *reason, payload, now);
  }
  auto& reading = std::get<VitalsReading>(parsed);
  if (reading.patient_id.empty()) reading.patient_id = directory_.PatientOf(device_id);
  Append(reading);
  metrics_.vitals_accepted.Inc();

  // Alerts are journaled too (device_alerts keeps what clinicians were told), after the
  // reading: a crash in between re-evaluates nothing, but the reading is safe.
  const auto breaches = thresholds_.Check(reading, std::chrono::steady_clock::now());
  std::vector<DeviceAlert> alerts;
  for (const Breach& breach : breaches) {
    DeviceAlert alert;
    alert.id = core::NewUuid();
    alert.device_id = device_id;
    alert.patient_id = reading.patient_id;
    alert.alert_type = breach.alert_type;
    alert.severity = "critical";
    alert.value = breach.value;
    alert.message = DescribeBreach(breach);
    alert.at = now;
    Append(alert);
    if (events_ != nullptr) {
      events_->Publish(core::NewDomainEvent(
          "vitals.critical", {}, alert.id,
          {{"alert_id", alert.id},
           {"patient_id", alert.patient_id},
           {"device_id", device_id},
           {"alert_type", breach.alert_type},
           {"vital", breach.vital},
           {"value", breach.value},
           {"threshold", breach.threshold},
           {"direction", breach.direction},
           {"measured_at", FormatTimestamp(reading.measured_at)}}));
    }
    alerts.push_back(std::move(alert));
  }

  if (sink_ == nullptr) return;
  if (reading.patient_id.empty()) {
    metrics_.unmapped_readings.Inc();
  } else {
    sink_->Emit({"patient:" + reading.patient_id}, "vitals:update", VitalsEvent(reading));
    metrics_.pushes.Inc();
  }
  for (std::size_t i = 0; i < alerts.size(); ++i) {
    const Breach& breach = breaches[i];
    json data = {{"patient_id", reading.patient_id},
                 {"device_id", device_id},
                 {"alert_type", breach.alert_type},
                 {"severity", "critical"},
                 {"vital", breach.vital},
                 {"value", breach.value},
                 {"threshold", breach.threshold},
                 {"direction", breach.direction},
                 {"timestamp", FormatTimestamp(reading.measured_at)},
                 {"source", "threshold"}};
    sink_->EmitCritical(AlertRooms(reading.patient_id), std::move(data), alerts[i].id);
    metrics_.threshold_alerts.Inc();
    log::Warn("vitals threshold breached",
              {{"device_id", device_id}, {"alert_type", breach.alert_type},
               {"alert_id", alerts[i].id}});
  }
}

void DeviceIngest::HandleAlert(const std::string& device_id, std::string_view payload,
                               TimePoint now) {
  auto parsed = ParseAlert(device_id, payload, now, limits_);
  if (auto* reason = std::get_if<RejectReason>(&parsed)) {
    return Reject(device_id, "alerts", *reason, payload, now);
  }
  auto& alert = std::get<DeviceAlert>(parsed);
  alert.id = core::NewUuid();
  if (alert.patient_id.empty()) alert.patient_id = directory_.PatientOf(device_id);
  Append(alert);
  metrics_.alerts_accepted.Inc();
  log::Warn("device alert", {{"device_id", device_id}, {"alert_type", alert.alert_type},
                             {"severity", alert.severity}, {"alert_id", alert.id}});
  if (events_ != nullptr) {
    events_->Publish(core::NewDomainEvent(
        "device.alert", {}, alert.id,
        {{"alert_id", alert.id},
         {"patient_id", alert.patient_id},
         {"device_id", device_id},
         {"alert_type", alert.alert_type},
         {"severity", alert.severity},
         {"value", alert.value ? json(*alert.value) : json(nullptr)},
         {"message", alert.message},
         {"timestamp", FormatTimestamp(alert.at)}}));
  }
  if (sink_ == nullptr) return;
  json data = {{"patient_id", alert.patient_id},
               {"device_id", device_id},
               {"alert_type", alert.alert_type},
               {"severity", alert.severity},
               {"value", alert.value ? json(*alert.value) : json(nullptr)},
               {"threshold", nullptr},
               {"message", alert.message},
               {"timestamp", FormatTimestamp(alert.at)},
               {"source", "device"}};
  if (alert.severity == "critical") {
    sink_->EmitCritical(AlertRooms(alert.patient_id), std::move(data), alert.id);
  } else {
    // Warnings inform the nurses' station; only critical alarms demand an acknowledgement.
    sink_->Emit({"role:nurse"}, "device:alert", data);
  }
}

void DeviceIngest::HandleStatus(const std::string& device_id, std::string_view payload,
                                TimePoint now) {
  auto parsed = ParseStatus(device_id, payload, now, limits_);
  if (auto* reason = std::get_if<RejectReason>(&parsed)) {
    return Reject(device_id, "status", *reason, payload, now);
  }
  const auto& status = std::get<DeviceStatus>(parsed);
  Append(status);
  metrics_.statuses_accepted.Inc();
  log::Info("device status", {{"device_id", device_id}, {"status", status.status}});
  if (sink_ != nullptr) {
    json data = {{"device_id", device_id},
                 {"status", status.status},
                 {"timestamp", FormatTimestamp(status.at)}};
    const std::string patient = directory_.PatientOf(device_id);
    if (!patient.empty()) data["patient_id"] = patient;
    sink_->Emit({"role:nurse"}, "device:status", data);
  }
}

void DeviceIngest::Reject(std::string device_id, std::string_view topic_kind,
                          std::string_view reason, std::string_view payload,
                          TimePoint received_at) {
  Rejection rejection;
  rejection.id = core::NewUuid();
  rejection.device_id = std::move(device_id);
  rejection.topic_kind = std::string(topic_kind);
  rejection.reason = std::string(reason);
  rejection.payload = std::string(payload.substr(0, settings_.max_payload));
  rejection.payload_size = payload.size();
  rejection.received_at = received_at;
  Append(rejection);
  metrics_.CountRejection(topic_kind, reason);
  LogRejection(rejection.device_id, topic_kind, reason, payload.size());
}

void DeviceIngest::Append(const DeviceRecord& record) {
  const std::string entry = EncodeRecord(record);
  const auto started = std::chrono::steady_clock::now();
  bool counted = false;
  while (true) {
    try {
      if (journal_.AppendUntil(entry, std::chrono::steady_clock::now() + kJournalWaitSlice)) break;
    } catch (const std::exception& error) {
      // Disk full, EIO: not durable, so not acknowledged. Try again; the error is loud.
      log::Error("mqtt journal write failed; the message waits (not acknowledged)",
                 {{"error", error.what()}});
      metrics_.journal_errors.Inc();
      waiting_ = true;
      std::this_thread::sleep_for(kJournalErrorPause);
    }
    // Full (PostgreSQL has been away long enough to fill journal_max_bytes): wait. Paho
    // reads nothing more meanwhile, so the broker keeps the rest.
    waiting_ = true;
    if (!counted) {
      metrics_.journal_waits.Inc();
      counted = true;
    }
    if (aborted_) {
      holding_ = true;
      Hold();
    }
  }
  waiting_ = false;
  metrics_.journal_append_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

void DeviceIngest::Hold() {
  // The gateway is stopping and this message is not durable. Returning would let Paho send
  // the PUBACK, so this thread parks until the process exits; the broker redelivers the
  // message to the next session. Touches nothing: the objects around it may be gone.
  while (true) std::this_thread::sleep_for(std::chrono::hours(1));
}

void DeviceIngest::LogRejection(std::string_view device_id, std::string_view topic_kind,
                                std::string_view reason, std::size_t size) {
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(log_mutex_);
    auto it = log_throttle_.find(reason);
    if (it == log_throttle_.end()) it = log_throttle_.emplace(std::string(reason), LogThrottle{}).first;
    const auto now = std::chrono::steady_clock::now();
    if (it->second.last != std::chrono::steady_clock::time_point{} &&
        now - it->second.last < kLogInterval) {
      ++it->second.suppressed;
      return;
    }
    it->second.last = now;
    suppressed = std::exchange(it->second.suppressed, 0);
  }
  // Never the payload: it may carry patient data.
  log::Warn("device message rejected",
            {{"device_id", device_id}, {"kind", topic_kind}, {"reason", reason},
             {"size", size}, {"similar_suppressed", suppressed}});
}

}  // namespace nilecare::mqtt
