#include "nilecare/kafka/event_producer.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "client_config.hpp"
#include "client_log.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::kafka {
namespace log = observability::log;

namespace {
constexpr int kPollMs = 100;
// How often, and how long at most, the producer asks the cluster for metadata to know
// whether it is reachable (health): librdkafka keeps no connection to an idle cluster that
// would tell us.
constexpr auto kProbeInterval = std::chrono::seconds(2);
constexpr int kProbeTimeoutMs = 1500;
// Purged records report promptly; this only bounds a misbehaving client.
constexpr int kPurgeReportMs = 2000;

constexpr std::size_t kFramingBytes = 64 * 1024;

std::size_t MaxRecordBytes(const config::KafkaSettings& settings) {
  std::size_t bytes = settings.producer.max_event_bytes;
  if (settings.consumer) bytes = std::max(bytes, settings.consumer->max_event_bytes);
  return bytes;
}

struct Pending {
  DeliveryCallback done;
  std::chrono::steady_clock::time_point queued_at;
};
}  // namespace

ProduceRecord EventRecord(const core::DomainEvent& event, std::string topic, std::string key,
                          std::string traceparent) {
  ProduceRecord record;
  record.topic = std::move(topic);
  record.key = key.empty() ? core::PartitionKey(event) : std::move(key);
  record.value = core::ToJson(event).dump();
  record.headers = {{"event-type", event.event_type},
                    {"event-version", event.event_version},
                    {"correlation-id", event.correlation_id}};
  if (!traceparent.empty()) record.headers.push_back({"traceparent", std::move(traceparent)});
  return record;
}

struct EventProducer::Impl {
  Impl(const config::KafkaSettings& settings_in, std::string bootstrap,
       observability::MetricsRegistry& metrics)
      : max_event_bytes(settings_in.producer.max_event_bytes),
        delivered(Produced(metrics, "delivered")),
        timed_out(Produced(metrics, "timed_out")),
        failed(Produced(metrics, "failed")),
        stopped(Produced(metrics, "stopped")),
        queue_full(Produced(metrics, "queue_full")),
        too_large(Produced(metrics, "too_large")),
        delivery_seconds(metrics.GetHistogram(
            "nilecare_kafka_delivery_seconds",
            "Time from produce to the broker's delivery report (acks=all).")),
        broker_up_gauge(metrics.GetGauge("nilecare_kafka_broker_up",
                                         "1 when the Kafka cluster answers metadata requests.")) {
    const auto& producer = settings_in.producer;
    auto conf = MakeClientConfig(
        settings_in, bootstrap,
        {{"enable.idempotence", "true"},
         {"acks", "all"},
         {"compression.type", producer.compression},
         // gzip's default level 6 costs several times the CPU of level 1 for a few percent
         // on small JSON events.
         {"compression.level", producer.compression == "gzip" ? "1" : "-1"},
         {"linger.ms", std::to_string(producer.linger.count())},
         {"message.timeout.ms", std::to_string(producer.delivery_timeout.count())},
         {"queue.buffering.max.messages", std::to_string(producer.queue_max_messages)},
         // Callers bound what they produce (REST bodies by producer.max_event_bytes); the
         // dead-letter topic takes back whatever the consumer accepted, so the client limit
         // covers both, with room for key, headers and framing.
         {"message.max.bytes", std::to_string(MaxRecordBytes(settings_in) + kFramingBytes)}});
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDelivery);
    rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
    InstallClientLog(conf.get());
    handle = MakeHandle(RD_KAFKA_PRODUCER, std::move(conf));
    metrics.AddCallbackGauge("nilecare_kafka_producer_in_flight",
                             "Events produced and not yet acknowledged by the broker.", {},
                             [this] { return static_cast<double>(in_flight.load()); });
  }

  static observability::Counter& Produced(observability::MetricsRegistry& metrics,
                                          const char* result) {
    return metrics.GetCounter("nilecare_kafka_produced_total",
                              "Events handed to the Kafka producer, by outcome.",
                              {{"result", result}});
  }

  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    auto& self = *static_cast<Impl*>(opaque);
    std::unique_ptr<Pending> pending(static_cast<Pending*>(message->_private));
    self.in_flight.fetch_sub(1);
    DeliveryReport report;
    report.latency = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - pending->queued_at);
    switch (message->err) {
      case RD_KAFKA_RESP_ERR_NO_ERROR:
        report.outcome = DeliveryReport::Outcome::kDelivered;
        report.partition = message->partition;
        report.offset = message->offset;
        self.delivered.Inc();
        self.delivery_seconds.Observe(std::chrono::duration<double>(report.latency).count());
        self.broker_up.store(true);
        break;
      case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        report.outcome = DeliveryReport::Outcome::kTimedOut;
        self.timed_out.Inc();
        break;
      case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
      case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        report.outcome = DeliveryReport::Outcome::kStopped;
        self.stopped.Inc();
        break;
      default:
        report.outcome = DeliveryReport::Outcome::kFailed;
        self.failed.Inc();
        break;
    }
    if (!report.Delivered()) report.error = rd_kafka_err2str(message->err);
    pending->done(report);
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto& self = *static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char text[512] = {};
      rd_kafka_fatal_error(rk, text, sizeof text);
      self.fatal.store(true);
      log::Error("kafka producer fatal error: events cannot be produced until restart",
                 {{"error", text}});
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
      self.broker_up.store(false);
      self.broker_up_gauge.Set(0.0);
    }
    log::Warn("kafka producer", {{"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))},
                                 {"reason", reason}});
  }

  void PollLoop() {
    while (!stopping.load()) rd_kafka_poll(handle.get(), kPollMs);
  }


  void ProbeLoop() {
    std::unique_lock lock(probe_mutex);
    while (!stopping.load()) {
      lock.unlock();
      const rd_kafka_metadata_t* metadata = nullptr;
      const auto err = rd_kafka_metadata(handle.get(), 0, nullptr, &metadata, kProbeTimeoutMs);
      if (metadata != nullptr) rd_kafka_metadata_destroy(metadata);
      const bool up = err == RD_KAFKA_RESP_ERR_NO_ERROR;
      if (up != broker_up.exchange(up)) {
        if (up) {
          log::Info("kafka cluster reachable");
        } else {
          log::Warn("kafka cluster unreachable", {{"error", rd_kafka_err2str(err)}});
        }
      }
      broker_up_gauge.Set(up ? 1.0 : 0.0);
      lock.lock();
      probe_wake.wait_for(lock, kProbeInterval, [this] { return stopping.load(); });
    }
  }

  std::size_t max_event_bytes;
  HandlePtr handle;
  std::atomic<bool> accepting{false};
  std::atomic<bool> stopping{false};
  std::atomic<bool> broker_up{false};
  std::atomic<bool> fatal{false};
  std::atomic<std::int64_t> in_flight{0};
  std::mutex probe_mutex;
  std::condition_variable probe_wake;
  std::thread poll_thread;
  std::thread probe_thread;
  observability::Counter& delivered;
  observability::Counter& timed_out;
  observability::Counter& failed;
  observability::Counter& stopped;
  observability::Counter& queue_full;
  observability::Counter& too_large;
  observability::Histogram& delivery_seconds;
  observability::Gauge& broker_up_gauge;
};

EventProducer::EventProducer(const config::KafkaSettings& settings, std::string bootstrap,
                             observability::MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(settings, std::move(bootstrap), metrics)) {}

EventProducer::~EventProducer() { Stop(std::chrono::milliseconds(0)); }

void EventProducer::Start() {
  if (impl_->poll_thread.joinable()) return;
  impl_->accepting.store(true);
  impl_->poll_thread = std::thread([impl = impl_.get()] { impl->PollLoop(); });
  impl_->probe_thread = std::thread([impl = impl_.get()] { impl->ProbeLoop(); });
}

EnqueueResult EventProducer::Produce(ProduceRecord record, DeliveryCallback done) {
  auto& impl = *impl_;
  if (!impl.accepting.load()) return EnqueueResult::kStopped;
  rd_kafka_headers_t* headers = rd_kafka_headers_new(record.headers.size());
  for (const auto& header : record.headers) {
    rd_kafka_header_add(headers, header.name.data(), static_cast<ssize_t>(header.name.size()),
                        header.value.data(), static_cast<ssize_t>(header.value.size()));
  }
  auto pending = std::make_unique<Pending>(Pending{std::move(done), std::chrono::steady_clock::now()});
  impl.in_flight.fetch_add(1);
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      impl.handle.get(), RD_KAFKA_V_TOPIC(record.topic.c_str()),
      RD_KAFKA_V_KEY(record.key.data(), record.key.size()),
      RD_KAFKA_V_VALUE(record.value.data(), record.value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
      RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    (void)pending.release();  // the delivery report owns it now
    return EnqueueResult::kQueued;
  }
  impl.in_flight.fetch_sub(1);
  rd_kafka_headers_destroy(headers);  // only owned by librdkafka on success
  switch (err) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      impl.queue_full.Inc();
      return EnqueueResult::kQueueFull;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      impl.too_large.Inc();
      return EnqueueResult::kTooLarge;
    default:
      impl.failed.Inc();
      return EnqueueResult::kFailed;
  }
}

void EventProducer::Stop(std::chrono::milliseconds grace) {
  auto& impl = *impl_;
  impl.accepting.store(false);
  if (impl.stopping.exchange(true)) return;
  impl.probe_wake.notify_all();
  {
    std::lock_guard lock(impl.probe_mutex);  // the probe sees `stopping` before it waits
  }
  impl.probe_wake.notify_all();
  // One thread serves delivery reports at a time (callbacks must not run concurrently):
  // the poll thread ends before this one flushes.
  if (impl.poll_thread.joinable()) impl.poll_thread.join();
  rd_kafka_flush(impl.handle.get(), static_cast<int>(grace.count()));
  // What the broker has not acknowledged by now fails with kStopped.
  rd_kafka_purge(impl.handle.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(impl.handle.get(), kPurgeReportMs);
  if (impl.probe_thread.joinable()) impl.probe_thread.join();
}

std::int64_t EventProducer::InFlight() const { return impl_->in_flight.load(); }
bool EventProducer::BrokerUp() const { return impl_->broker_up.load() && !impl_->fatal.load(); }
bool EventProducer::Fatal() const { return impl_->fatal.load(); }
std::size_t EventProducer::MaxEventBytes() const { return impl_->max_event_bytes; }

}  // namespace nilecare::kafka
