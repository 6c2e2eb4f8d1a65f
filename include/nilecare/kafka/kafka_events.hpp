#pragma once
// The Kafka adapter (spec §2, docs/events.md), as two components:
//   KafkaEvents  ("kafka")   the producer: POST /api/v1/events, the gateway's own events
//                            (core::EventSink), the dead-letter topic. Built before the
//                            adapters that publish, stopped after them.
//   EventRouter  ("events")  the consumer group and `events.rules`: emits to Socket.IO rooms,
//                            calls services. Built after the adapters it drives.
//
// YAML (`kafka:`; defaults in config::KafkaSettings):
//   brokers: [127.0.0.1:9092]   or `embedded`: librdkafka's mock cluster in this process
//                                (local/dev only: in memory, logged as such)
//   client_id, source_service: nilecare-gateway
//   topics: {entity: topic}      patient, appointment, prescription, payment, lab, audit,
//                                vitals, device -> <entity>.events
//   dead_letter_topic: nilecare.dlq
//   properties: {}               librdkafka properties for production clusters (TLS, SASL)
//   publish_roles: []            POST /api/v1/events: empty = any valid token
//   producer: { compression: gzip, linger: 5ms, delivery_timeout: 10s,
//               queue_max_messages: 100000, max_event_bytes: 256KiB }
//   consumer: { group, topics, auto_offset_reset: latest, session_timeout: 10s,
//               commit_interval: 1s, retries: 3, retry_min: 200ms, retry_max: 5s,
//               max_event_bytes: 1MiB, dedupe_ttl: 24h, dedupe_max_entries: 100000 }
//             or `consumer: off`
// `events: { rules: [...] }` (absent: config::DefaultEventRules); `redis:` for dedupe across
// restarts; `auth.jwt` for POST /api/v1/events; `upstreams:` for http actions; `rabbitmq:`
// for task actions.

#include <memory>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/component.hpp"
#include "nilecare/core/domain_event.hpp"
#include "nilecare/core/task_sink.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/realtime/room_sink.hpp"
#include "nilecare/router/service_caller.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::kafka {

class EventProducer;

class KafkaEvents final : public core::Component {
 public:
  // Throws std::runtime_error for settings that cannot work (a refused librdkafka property,
  // no auth.jwt for the publishing endpoint).
  KafkaEvents(const config::GatewaySettings& settings, observability::MetricsRegistry& metrics);
  ~KafkaEvents() override;

  void RegisterRoutes(http::Dispatcher& dispatcher);
  // The gateway's own events (vitals.critical, device.alert, audit phi_accessed).
  core::EventSink& Events();
  EventProducer& Producer();
  // The address the clients use: kafka.brokers, or the embedded cluster's.
  const std::string& Bootstrap() const;

  std::string_view Name() const override { return "kafka"; }
  void Start() override;
  bool Idle() const override;
  void Stop() override;
  core::ComponentHealth Health() const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class EventRouter final : public core::Component {
 public:
  // `rooms`, `services` and `tasks` may be null (adapter not configured): rules needing them
  // are dropped at start with a warning.
  EventRouter(boost::asio::io_context& io, const config::GatewaySettings& settings,
              KafkaEvents& kafka, realtime::RoomSink* rooms, router::ServiceCaller* services,
              core::TaskSink* tasks, observability::MetricsRegistry& metrics);
  ~EventRouter() override;

  std::string_view Name() const override { return "events"; }
  void Start() override;
  void BeginStop() override;
  bool Idle() const override;
  void Stop() override;
  core::ComponentHealth Health() const override;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nilecare::kafka
