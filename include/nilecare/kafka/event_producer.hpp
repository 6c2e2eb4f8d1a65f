#pragma once
// The gateway's Kafka producer (librdkafka): idempotent, acks=all, compressed, lingering a
// few milliseconds so that concurrent events share a request. One per process; every path
// that produces (POST /api/v1/events, the gateway's own events, the consumer's dead-letter
// topic) goes through it.
//
// YAML: kafka.{brokers, client_id, properties} and kafka.producer.{compression, linger,
// delivery_timeout, queue_max_messages, max_event_bytes} (config::KafkaSettings).
//
// Threading: Produce() may be called from any thread and never blocks: a full local queue
// (queue_max_messages produced but not yet acknowledged) is refused at once. Delivery
// callbacks run on the producer's poll thread, one at a time; they must not block.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/domain_event.hpp"
#include "nilecare/observability/metrics.hpp"

namespace nilecare::kafka {

struct KafkaHeader {
  std::string name;
  std::string value;
};

struct ProduceRecord {
  std::string topic;
  std::string key;
  std::string value;
  std::vector<KafkaHeader> headers;
};

struct DeliveryReport {
  enum class Outcome { kDelivered, kTimedOut, kFailed, kStopped };
  Outcome outcome{Outcome::kFailed};
  std::int32_t partition{-1};
  std::int64_t offset{-1};
  std::string error{};  // librdkafka's error text; never message content
  std::chrono::microseconds latency{};

  bool Delivered() const { return outcome == Outcome::kDelivered; }
};

using DeliveryCallback = std::function<void(const DeliveryReport&)>;

enum class EnqueueResult { kQueued, kQueueFull, kTooLarge, kStopped, kFailed };

// The spec's record for an event: key = `key` when given, else core::PartitionKey; headers
// event-type, event-version, correlation-id, and traceparent when not empty.
ProduceRecord EventRecord(const core::DomainEvent& event, std::string topic, std::string key = {},
                          std::string traceparent = {});

class EventProducer {
 public:
  // `bootstrap` overrides kafka.brokers (the embedded cluster's address). Throws
  // std::runtime_error naming the librdkafka property that was refused (never its value).
  EventProducer(const config::KafkaSettings& settings, std::string bootstrap,
                observability::MetricsRegistry& metrics);
  ~EventProducer();
  EventProducer(const EventProducer&) = delete;
  EventProducer& operator=(const EventProducer&) = delete;

  // Starts the poll thread (delivery reports, statistics, errors).
  void Start();

  // Queues a record; `done` is called exactly once if the result is kQueued, never otherwise.
  // Callers bound the value's size (producer.max_event_bytes for what clients send).
  EnqueueResult Produce(ProduceRecord record, DeliveryCallback done);

  // Stops taking records, waits up to `grace` for those in flight, then fails the rest with
  // kStopped and stops the poll thread. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  // Records queued or in flight, not yet reported.
  std::int64_t InFlight() const;
  // Whether a broker of the cluster is reachable (from librdkafka's statistics, refreshed
  // every second) and no fatal error stopped the producer.
  bool BrokerUp() const;
  bool Fatal() const;
  std::size_t MaxEventBytes() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nilecare::kafka
