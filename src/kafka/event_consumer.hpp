#pragma once
// The consumer group (private to src/kafka): one thread polls librdkafka, hands each record
// to the EventHandler, dead-letters what it cannot handle, and only then stores the offset
// (committed every commit_interval, and on revoke and close): at-least-once.

#include <array>
#include <atomic>
#include <map>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "client_config.hpp"
#include "event_handler.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/kafka/event_producer.hpp"
#include "nilecare/observability/metrics.hpp"

namespace nilecare::kafka {

class EventConsumer {
 public:
  // Throws std::runtime_error naming a refused property.
  EventConsumer(const config::KafkaSettings& settings, std::string bootstrap, RuleSet rules,
                ActionRunner& runner, EventDedupe& dedupe, EventProducer& dead_letters,
                observability::MetricsRegistry& metrics);
  ~EventConsumer();

  void Start();
  // Interrupts a back-off, finishes the record in hand (its offset is stored only if it was
  // handled), commits and leaves the group. With `cluster_reachable` false the commit and
  // the leave are skipped: they would wait for a coordinator that does not answer, past
  // the shutdown grace. The uncommitted events come back after a restart, where their ids
  // are skipped. Idempotent.
  void Stop(bool cluster_reachable = true);
  // Stop() without waiting: the thread ends after the record in hand (callable from an io
  // thread: the record's actions may need the io threads to finish).
  void RequestStop();
  bool Finished() const { return finished_.load(); }

  // Joined the group at least once (possibly with no partitions: more instances than
  // partitions is legal).
  bool Joined() const { return joined_.load(); }
  std::int64_t Lag() const { return lag_.load(); }

 private:
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque);
  static int OnStats(rd_kafka_t* rk, char* json, std::size_t length, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  void Run();
  // False when stopping interrupted it: the record stays unhandled.
  bool Process(const rd_kafka_message_t& message);
  bool DeadLetter(const rd_kafka_message_t& message, const HandleOutcome& outcome);
  bool Wait(std::chrono::milliseconds delay);

  const config::KafkaSettings settings_;
  const config::KafkaConsumerSettings consumer_settings_;
  EventProducer& dead_letters_;
  observability::MetricsRegistry& metrics_;
  EventHandler handler_;
  HandlePtr handle_;
  std::thread thread_;
  std::mutex wait_mutex_;
  std::condition_variable wait_wake_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> joined_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::int64_t> lag_{0};
  observability::Histogram& handle_seconds_;
  // Looked up once per topic / outcome: the registry takes a lock per lookup.
  std::map<std::string, observability::Counter*, std::less<>> consumed_by_topic_;
  std::array<observability::Counter*, 5> events_by_outcome_{};
  observability::Counter& poll_errors_;
};

}  // namespace nilecare::kafka
