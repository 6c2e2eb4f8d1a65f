#include "event_consumer.hpp"

#include <future>
#include <string_view>

#include <nlohmann/json.hpp>

#include "client_log.hpp"
#include "nilecare/core/clock.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::kafka {
namespace log = observability::log;

namespace {
constexpr int kPollMs = 100;
// Records librdkafka prefetches per partition, in KiB: bounded memory whatever the backlog.
constexpr const char* kQueuedMaxKbytes = "16384";

std::string ToHeaderValue(std::int64_t value) { return std::to_string(value); }

std::vector<KafkaHeader> CopyHeaders(const rd_kafka_message_t& message) {
  std::vector<KafkaHeader> copied;
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(&message, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return copied;
  const char* name = nullptr;
  const void* value = nullptr;
  std::size_t size = 0;
  for (std::size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                          RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    copied.push_back({name, value == nullptr ? std::string()
                                             : std::string(static_cast<const char*>(value), size)});
  }
  return copied;
}

// The next offset to read, for the auto-commit (rd_kafka_offset_store_message is newer than
// Debian's librdkafka 2.0).
rd_kafka_resp_err_t StoreOffset(rd_kafka_t* handle, const rd_kafka_message_t& message) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(message.rkt), message.partition)
      ->offset = message.offset + 1;
  rd_kafka_resp_err_t err = rd_kafka_offsets_store(handle, list);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = list->elems[0].err;
  rd_kafka_topic_partition_list_destroy(list);
  return err;
}

}  // namespace

EventConsumer::EventConsumer(const config::KafkaSettings& settings, std::string bootstrap,
                             RuleSet rules, ActionRunner& runner, EventDedupe& dedupe,
                             EventProducer& dead_letters, observability::MetricsRegistry& metrics)
    : settings_(settings),
      consumer_settings_(*settings.consumer),
      dead_letters_(dead_letters),
      metrics_(metrics),
      handler_(consumer_settings_, std::move(rules), runner, dedupe,
               [this](std::chrono::milliseconds delay) { return Wait(delay); }),
      handle_seconds_(metrics.GetHistogram(
          "nilecare_kafka_event_handle_seconds",
          "Time to handle one consumed event (rules, retries and dead-lettering included).")),
      poll_errors_(metrics.GetCounter("nilecare_kafka_consumer_errors_total",
                                      "Errors reported by the Kafka consumer.")) {
  const auto& consumer = consumer_settings_;
  auto conf = MakeClientConfig(
      settings, bootstrap,
      {{"group.id", consumer.group},
       {"enable.auto.commit", "true"},
       // Offsets are stored only once an event is handled (or dead-lettered); the
       // auto-commit then commits what was stored.
       {"enable.auto.offset.store", "false"},
       {"auto.commit.interval.ms", std::to_string(consumer.commit_interval.count())},
       {"auto.offset.reset", consumer.auto_offset_reset},
       {"session.timeout.ms", std::to_string(consumer.session_timeout.count())},
       {"heartbeat.interval.ms", std::to_string(std::max<long long>(consumer.session_timeout.count() / 3, 100))},
       {"statistics.interval.ms", "1000"},
       {"queued.max.messages.kbytes", kQueuedMaxKbytes},
       // Events become pushes to clinicians: do not let an idle fetch hold them long.
       {"fetch.wait.max.ms", "100"}});
  rd_kafka_conf_set_opaque(conf.get(), this);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &EventConsumer::OnRebalance);
  rd_kafka_conf_set_stats_cb(conf.get(), &EventConsumer::OnStats);
  rd_kafka_conf_set_error_cb(conf.get(), &EventConsumer::OnError);
  InstallClientLog(conf.get());
  handle_ = MakeHandle(RD_KAFKA_CONSUMER, std::move(conf));
  // Everything the handle fetches is served by rd_kafka_consumer_poll.
  rd_kafka_poll_set_consumer(handle_.get());
  for (const auto kind : {HandleOutcome::Kind::kHandled, HandleOutcome::Kind::kDuplicate,
                          HandleOutcome::Kind::kUnmatched, HandleOutcome::Kind::kDeadLetter}) {
    events_by_outcome_[static_cast<std::size_t>(kind)] =
        &metrics.GetCounter("nilecare_kafka_events_total", "Consumed events by outcome.",
                            {{"result", std::string(ToString(kind))}});
  }
  metrics.AddCallbackGauge("nilecare_kafka_consumer_lag",
                           "Records in the assigned partitions not consumed yet.", {},
                           [this] { return static_cast<double>(lag_.load()); });
}

EventConsumer::~EventConsumer() { Stop(); }

void EventConsumer::Start() {
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(static_cast<int>(consumer_settings_.topics.size()));
  for (const auto& topic : consumer_settings_.topics) {
    rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  }
  const auto err = rd_kafka_subscribe(handle_.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("kafka consumer: subscribe failed: ") +
                             rd_kafka_err2str(err));
  }
  thread_ = std::thread([this] { Run(); });
}

void EventConsumer::RequestStop() {
  {
    std::lock_guard lock(wait_mutex_);  // a Wait() in progress sees the flag or the notify
    stopping_.store(true);
  }
  wait_wake_.notify_all();
}

void EventConsumer::Stop(bool cluster_reachable) {
  RequestStop();
  if (thread_.joinable()) thread_.join();
  if (!handle_) return;
  if (cluster_reachable) {
    // Stored offsets are committed by close (auto-commit), then the group is left, so the
    // partitions move to another instance at once instead of after session.timeout.
    rd_kafka_consumer_close(handle_.get());
    handle_.reset();
    return;
  }
  log::Warn("kafka consumer: cluster unreachable, stopping without committing or leaving the "
            "group (uncommitted events will be redelivered and skipped by event_id)");
  rd_kafka_destroy_flags(handle_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

bool EventConsumer::Wait(std::chrono::milliseconds delay) {
  std::unique_lock lock(wait_mutex_);
  return !wait_wake_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

void EventConsumer::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto& self = *static_cast<EventConsumer*>(opaque);
  const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative) {
      if (auto* error = rd_kafka_incremental_assign(rk, partitions)) rd_kafka_error_destroy(error);
    } else {
      rd_kafka_assign(rk, partitions);
    }
    self.joined_.store(true);
    log::Info("kafka consumer: partitions assigned",
              {{"group", self.consumer_settings_.group}, {"partitions", partitions->cnt}});
  } else {
    if (cooperative) {
      if (auto* error = rd_kafka_incremental_unassign(rk, partitions)) rd_kafka_error_destroy(error);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    log::Info("kafka consumer: partitions revoked",
              {{"group", self.consumer_settings_.group}, {"partitions", partitions->cnt}});
  }
}

int EventConsumer::OnStats(rd_kafka_t*, char* json, std::size_t length, void* opaque) {
  auto& self = *static_cast<EventConsumer*>(opaque);
  const auto stats = nlohmann::json::parse(json, json + length, nullptr, false);
  if (stats.is_discarded()) return 0;
  std::int64_t lag = 0;
  if (const auto topics = stats.find("topics"); topics != stats.end() && topics->is_object()) {
    for (const auto& topic : *topics) {
      const auto partitions = topic.find("partitions");
      if (partitions == topic.end() || !partitions->is_object()) continue;
      for (const auto& partition : *partitions) {
        const auto it = partition.find("consumer_lag");
        if (it != partition.end() && it->is_number_integer() && it->get<std::int64_t>() > 0) {
          lag += it->get<std::int64_t>();
        }
      }
    }
  }
  self.lag_.store(lag);
  return 0;  // librdkafka frees the buffer
}

void EventConsumer::OnError(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto& self = *static_cast<EventConsumer*>(opaque);
  self.poll_errors_.Inc();
  log::Warn("kafka consumer", {{"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))},
                               {"reason", reason}});
}

void EventConsumer::Run() {
  while (!stopping_.load()) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(handle_.get(), kPollMs);
    if (message == nullptr) continue;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        poll_errors_.Inc();
        log::Warn("kafka consumer: fetch error", {{"error", rd_kafka_message_errstr(message)}});
      }
      rd_kafka_message_destroy(message);
      continue;
    }
    const bool handled = Process(*message);
    if (handled) {
      if (const auto err = StoreOffset(handle_.get(), *message); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        // The partition was revoked meanwhile: its new owner sees the record again (and
        // skips it by event_id).
        log::Warn("kafka consumer: offset not stored", {{"error", std::string_view(rd_kafka_err2str(err))}});
      }
    }
    rd_kafka_message_destroy(message);
  }
  finished_.store(true);
}

bool EventConsumer::Process(const rd_kafka_message_t& message) {
  const auto started = std::chrono::steady_clock::now();
  const char* topic = rd_kafka_topic_name(message.rkt);
  auto consumed = consumed_by_topic_.find(std::string_view(topic));
  if (consumed == consumed_by_topic_.end()) {
    consumed = consumed_by_topic_
                   .emplace(topic, &metrics_.GetCounter("nilecare_kafka_consumed_total",
                                                        "Records read by the event consumer.",
                                                        {{"topic", topic}}))
                   .first;
  }
  consumed->second->Inc();
  const std::string_view payload(static_cast<const char*>(message.payload), message.len);
  const auto outcome = handler_.Handle(payload);
  if (outcome.kind == HandleOutcome::Kind::kAborted) return false;
  if (outcome.kind == HandleOutcome::Kind::kDeadLetter && !DeadLetter(message, outcome)) {
    return false;
  }
  auto& counter = events_by_outcome_[static_cast<std::size_t>(outcome.kind)];
  if (counter == nullptr) {
    counter = &metrics_.GetCounter("nilecare_kafka_events_total", "Consumed events by outcome.",
                                   {{"result", std::string(ToString(outcome.kind))}});
  }
  counter->Inc();
  handle_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (outcome.kind == HandleOutcome::Kind::kDuplicate) {
    log::Info("kafka event skipped: already handled",
              {{"event_id", outcome.event_id}, {"event_type", outcome.event_type},
               {"correlation_id", outcome.correlation_id}});
  } else {
    log::Debug("kafka event handled",
               {{"event_id", outcome.event_id}, {"event_type", outcome.event_type},
                {"correlation_id", outcome.correlation_id},
                {"result", ToString(outcome.kind)}});
  }
  return true;
}

bool EventConsumer::DeadLetter(const rd_kafka_message_t& message, const HandleOutcome& outcome) {
  const char* topic = rd_kafka_topic_name(message.rkt);
  ProduceRecord record;
  record.topic = settings_.dead_letter_topic;
  if (message.key != nullptr) record.key.assign(static_cast<const char*>(message.key), message.key_len);
  record.value.assign(static_cast<const char*>(message.payload), message.len);
  record.headers = CopyHeaders(message);
  record.headers.push_back({"x-error", outcome.reason});
  if (!outcome.failed_action.empty()) record.headers.push_back({"x-failed-action", outcome.failed_action});
  record.headers.push_back({"x-attempts", std::to_string(outcome.attempts)});
  record.headers.push_back({"x-original-topic", topic});
  record.headers.push_back({"x-original-partition", ToHeaderValue(message.partition)});
  record.headers.push_back({"x-original-offset", ToHeaderValue(message.offset)});
  record.headers.push_back({"x-consumer-group", consumer_settings_.group});
  record.headers.push_back({"x-failed-at", core::NowIso8601()});

  auto delay = consumer_settings_.retry_min;
  for (;;) {
    auto promise = std::make_shared<std::promise<DeliveryReport>>();
    auto future = promise->get_future();
    const auto queued = dead_letters_.Produce(
        record, [promise](const DeliveryReport& report) { promise->set_value(report); });
    std::string error;
    if (queued == EnqueueResult::kQueued) {
      const auto report = future.get();  // bounded by producer.delivery_timeout
      if (report.Delivered()) break;
      error = report.error;
    } else {
      error = queued == EnqueueResult::kQueueFull ? "producer queue full" : "not queued";
    }
    // The partition waits: moving on without the dead-letter copy would lose the event.
    log::Error("kafka consumer: dead-letter topic unavailable, retrying",
               {{"event_id", outcome.event_id}, {"error", error},
                {"dead_letter_topic", settings_.dead_letter_topic}});
    if (!Wait(delay)) return false;
    delay = std::min(delay * 2, consumer_settings_.retry_max);
  }
  metrics_.GetCounter("nilecare_kafka_dead_lettered_total",
                      "Consumed events sent to the dead-letter topic, by reason.",
                      {{"reason", outcome.failed_action.empty() ? outcome.reason : "action_failed"}})
      .Inc();
  log::Warn("kafka event dead-lettered",
            {{"event_id", outcome.event_id}, {"event_type", outcome.event_type},
             {"correlation_id", outcome.correlation_id}, {"topic", topic},
             {"partition", static_cast<std::int64_t>(message.partition)},
             {"offset", static_cast<std::int64_t>(message.offset)},
             {"error", outcome.reason}, {"failed_action", outcome.failed_action},
             {"attempts", outcome.attempts}});
  return true;
}

}  // namespace nilecare::kafka
