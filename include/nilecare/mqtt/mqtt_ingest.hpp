#pragma once
// The MQTT adapter: device vitals, alerts and status in (spec §5), stored in PostgreSQL with
// zero loss, critical values alerted, readings pushed live; device commands out; the device
// REST API. See docs/devices.md.
//
// YAML (`mqtt:`; defaults in config::MqttSettings):
//   urls: [tcp://127.0.0.1:1883]   brokers, tried in order (ssl:// with tls:)
//   client_id: nilecare-gateway    the persistent session's key: stable, unique per instance
//   username / password            from the environment (${MQTT_USERNAME}, ${MQTT_PASSWORD})
//   tls: { ca_file, cert_file, key_file, verify }
//   shared_group: ""               "" = plain subscriptions; else $share/<group>/... so that
//                                  several gateways split the devices' messages
//   topic_root: devices            <root>/{id}/vitals|alerts|status in, <root>/{id}/commands out
//   keep_alive: 30s, connect_timeout: 10s, reconnect_min: 1s, reconnect_max: 30s
//   max_payload: 4096              larger messages are rejected (and kept, truncated)
//   journal_dir: /var/lib/nilecare-gateway/journal   made durable here before the PUBACK
//   journal_max_bytes: 1GiB        backlog bound (PostgreSQL down): full -> the callback
//                                  waits, no PUBACK, the broker holds further messages
//   journal_segment_bytes: 64MiB, journal_fsync: false (true: survives power loss)
//   batch_max_rows: 5000, batch_max_delay: 20ms   COPY batches into device_vitals
//   db_retry_min: 200ms, db_retry_max: 5s         writer back-off while PostgreSQL is down
//   device_refresh: 30s            devices table re-read (device -> patient map)
//   max_devices: 100000            threshold re-arm memory
//   command_timeout: 5s, max_command_bytes: 16KiB
//   read_roles: [doctor, nurse, admin], write_roles: [nurse, admin]   device API
// Also reads `database:` (required), `thresholds:`, and `realtime:` (live push; without it
// nothing is pushed) and auth.jwt (device API).

#include <memory>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/component.hpp"
#include "nilecare/core/domain_event.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/realtime/room_sink.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::mqtt {

class MqttIngest final : public core::Component {
 public:
  // `sink` may be null (no realtime adapter). Throws std::runtime_error for settings that
  // cannot work.
  MqttIngest(boost::asio::io_context& io, const config::GatewaySettings& settings,
             observability::MetricsRegistry& metrics, realtime::RoomSink* sink);
  ~MqttIngest() override;

  void RegisterRoutes(http::Dispatcher& dispatcher);

  // Where alerts are announced as vitals.critical / device.alert events (Kafka adapter);
  // null = alerts go to clinicians and the database only. Call before Start().
  void SetEventSink(core::EventSink* events);

  std::string_view Name() const override { return "mqtt"; }
  // Opens the journal (throws naming the directory when it is unusable), starts the writer
  // (which replays what the journal still holds) and connects to the broker.
  void Start() override;
  void BeginStop() override;
  void Stop() override;
  core::ComponentHealth Health() const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nilecare::mqtt
