#include "nilecare/mqtt/mqtt_ingest.hpp"

#include <fmt/format.h>

#include <thread>

#include "device_api.hpp"
#include "device_directory.hpp"
#include "device_ingest.hpp"
#include "ingest_metrics.hpp"
#include "mqtt_connection.hpp"
#include "nilecare/mqtt/journal.hpp"
#include "nilecare/observability/log.hpp"
#include "vitals_writer.hpp"

namespace nilecare::mqtt {
namespace log = observability::log;

namespace {
// Time the writer gets at shutdown to store what the journal holds; the rest waits in the
// journal for the next start.
constexpr auto kFinalDrain = std::chrono::seconds(5);
constexpr auto kDisconnectTimeout = std::chrono::seconds(1);
constexpr auto kParkWait = std::chrono::seconds(1);
constexpr double kJournalWarnFraction = 0.8;

std::vector<std::string> Subscriptions(const config::MqttSettings& settings) {
  std::vector<std::string> topics;
  const std::string prefix =
      settings.shared_group.empty() ? std::string() : "$share/" + settings.shared_group + "/";
  for (const char* kind : {"vitals", "alerts", "status"}) {
    topics.push_back(prefix + settings.topic_root + "/+/" + kind);
  }
  return topics;
}
}  // namespace

struct MqttIngest::Impl {
  Impl(boost::asio::io_context& io, const config::GatewaySettings& gateway,
       observability::MetricsRegistry& registry, realtime::RoomSink* sink_in)
      : settings(gateway),
        mqtt(*gateway.mqtt),
        metrics(registry),
        sink(sink_in),
        api(std::make_shared<DeviceApi>(io, gateway, directory, metrics, registry)) {
    registry.AddCallbackGauge("nilecare_mqtt_journal_pending_bytes",
                              "Journal bytes not yet committed to PostgreSQL", {}, [this] {
                                return journal ? static_cast<double>(journal->Stats().pending_bytes)
                                               : 0.0;
                              });
    registry.AddCallbackGauge("nilecare_mqtt_journal_pending_entries",
                              "Journal entries not yet committed to PostgreSQL", {}, [this] {
                                return journal ? static_cast<double>(journal->Stats().pending_entries)
                                               : 0.0;
                              });
    registry.AddCallbackGauge("nilecare_mqtt_journal_max_bytes",
                              "mqtt.journal_max_bytes: beyond it ingest stops acknowledging", {},
                              [this] { return static_cast<double>(mqtt.journal_max_bytes); });
    registry.AddCallbackGauge("nilecare_mqtt_journal_full",
                              "1 while the journal is full (messages are not acknowledged)", {},
                              [this] { return journal && journal->Stats().full ? 1.0 : 0.0; });
    registry.AddCallbackGauge("nilecare_devices_mapped", "Devices mapped to a patient", {},
                              [this] { return static_cast<double>(directory.Size()); });
    registry.AddCallbackGauge("nilecare_device_api_pending_queries",
                              "Device API queries waiting for a database connection", {},
                              [this] { return static_cast<double>(api->PendingQueries()); });
  }

  const config::GatewaySettings& settings;
  const config::MqttSettings& mqtt;
  IngestMetrics metrics;
  realtime::RoomSink* sink;
  DeviceDirectory directory;
  std::unique_ptr<Journal> journal;
  std::unique_ptr<DeviceIngest> ingest;
  std::unique_ptr<VitalsWriter> writer;
  std::unique_ptr<MqttConnection> connection;
  std::shared_ptr<DeviceApi> api;
  std::atomic<bool> ever_connected{false};
  std::atomic<bool> connect_failed{false};
  core::EventSink* events{nullptr};
  std::atomic<bool> stopping{false};
  mutable std::mutex detail_mutex;
  std::string broker_detail;  // why the broker connection is down
};

MqttIngest::MqttIngest(boost::asio::io_context& io, const config::GatewaySettings& settings,
                       observability::MetricsRegistry& metrics, realtime::RoomSink* sink) {
  if (!settings.mqtt || !settings.database) {
    throw std::runtime_error("mqtt: needs the mqtt and database sections");
  }
  if (!settings.auth || !settings.auth->jwt) {
    throw std::runtime_error("mqtt: the device API needs auth.jwt");
  }
  impl_ = std::make_unique<Impl>(io, settings, metrics, sink);
}

MqttIngest::~MqttIngest() {
  if (impl_ && !impl_->stopping) Stop();
}

void MqttIngest::SetEventSink(core::EventSink* events) { impl_->events = events; }

void MqttIngest::RegisterRoutes(http::Dispatcher& dispatcher) {
  impl_->api->RegisterRoutes(dispatcher);
}

void MqttIngest::Start() {
  Impl& impl = *impl_;
  const config::MqttSettings& settings = impl.mqtt;
  impl.journal = std::make_unique<Journal>(JournalSettings{
      settings.journal_dir, settings.journal_max_bytes, settings.journal_segment_bytes,
      settings.journal_fsync});
  const JournalStats stats = impl.journal->Stats();
  log::Info("mqtt journal opened",
            {{"dir", settings.journal_dir}, {"pending_entries", stats.pending_entries},
             {"pending_bytes", stats.pending_bytes}, {"fsync", settings.journal_fsync}});
  for (const std::string& report : impl.journal->TakeCorruptionReports()) {
    // A torn last record after a crash is expected; anything else means disk trouble.
    log::Error("mqtt journal damage repaired", {{"dir", settings.journal_dir}, {"report", report}});
  }
  impl.ingest = std::make_unique<DeviceIngest>(settings, impl.settings.thresholds, *impl.journal,
                                               impl.directory, impl.sink, impl.metrics,
                                               impl.events);
  impl.writer = std::make_unique<VitalsWriter>(settings, *impl.settings.database, *impl.journal,
                                               impl.directory, impl.metrics);
  impl.writer->Start();
  Impl* raw = impl_.get();
  impl.connection = std::make_unique<MqttConnection>(
      settings, settings.client_id, Subscriptions(settings),
      [raw](std::string_view topic, std::string_view payload) {
        raw->ingest->OnMessage(topic, payload);
      },
      [raw](bool connected, std::string_view detail) {
        raw->metrics.mqtt_connected.Set(connected ? 1 : 0);
        {
          std::lock_guard lock(raw->detail_mutex);
          raw->broker_detail = connected ? std::string() : std::string(detail);
        }
        if (connected) {
          raw->ever_connected = true;
          log::Info("mqtt connected and subscribed", {{"client_id", raw->mqtt.client_id}});
        } else {
          raw->connect_failed = true;
          if (!raw->stopping) log::Warn("mqtt broker unreachable", {{"error", detail}});
        }
      });
  impl.api->SetConnection(impl.connection.get());
  impl.connection->Start();
}

void MqttIngest::BeginStop() {}

void MqttIngest::Stop() {
  Impl& impl = *impl_;
  if (impl.stopping.exchange(true)) return;
  // Order: stop taking messages (whatever is journaled was acknowledged, whatever is not
  // stays with the broker), then give the writer a moment to store the journal, then close.
  bool abandon = false;
  if (impl.ingest) {
    impl.ingest->Abort();
    // A callback waiting for journal space parks within kParkWait: its message must never
    // be acknowledged, so the connection is abandoned rather than closed.
    const auto deadline = std::chrono::steady_clock::now() + kParkWait;
    while (impl.ingest->Waiting() && !impl.ingest->Holding() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    abandon = impl.ingest->Holding();
  }
  if (impl.connection) {
    impl.connection->Stop(kDisconnectTimeout, abandon);
    if (abandon) {
      log::Warn("mqtt: stopping with a full journal; the message being received stays "
                "unacknowledged with the broker, which redelivers it at the next start");
      // Paho's threads still reference the connection: it lives until the process exits.
      static_cast<void>(impl.connection.release());
    }
  }
  if (impl.writer) impl.writer->Stop(std::chrono::steady_clock::now() + kFinalDrain);
  if (impl.journal) {
    const JournalStats stats = impl.journal->Stats();
    if (stats.pending_entries > 0) {
      log::Warn("mqtt journal not fully stored at shutdown; it is replayed at the next start",
                {{"pending_entries", stats.pending_entries}});
    }
    impl.journal->Close();
  }
  impl.api->Stop();
}

core::ComponentHealth MqttIngest::Health() const {
  const Impl& impl = *impl_;
  using core::HealthState;
  if (impl.stopping) return {HealthState::kStopping, ""};
  if (!impl.journal || !impl.writer) return {HealthState::kStarting, "opening the journal"};
  std::vector<std::string> problems;
  const bool connected = impl.connection && impl.connection->Connected();
  if (!connected) {
    std::lock_guard lock(impl.detail_mutex);
    problems.push_back("mqtt broker not connected" +
                       (impl.broker_detail.empty() ? std::string() : ": " + impl.broker_detail));
  }
  const JournalStats stats = impl.journal->Stats();
  if (!impl.writer->DatabaseUp()) {
    problems.push_back(fmt::format("database unavailable, journal holds {} readings",
                                   stats.pending_entries));
  }
  if (stats.full || impl.ingest->Waiting()) {
    problems.push_back("journal full or failing: ingest paused, the broker holds new messages");
  } else if (static_cast<double>(stats.pending_bytes) >=
             kJournalWarnFraction * static_cast<double>(impl.mqtt.journal_max_bytes)) {
    problems.push_back(fmt::format("journal {}% full",
                                   stats.pending_bytes * 100 / impl.mqtt.journal_max_bytes));
  }
  if (problems.empty()) return {HealthState::kUp, ""};
  // Before the first broker connection or schema migration has been tried: starting.
  if (!impl.ever_connected && !impl.connect_failed) return {HealthState::kStarting, problems.front()};
  std::string detail;
  for (const std::string& problem : problems) detail += (detail.empty() ? "" : "; ") + problem;
  return {HealthState::kDegraded, detail};
}

}  // namespace nilecare::mqtt
