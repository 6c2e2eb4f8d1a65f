#include "nilecare/kafka/kafka_events.hpp"

#include <set>

#include "event_consumer.hpp"
#include "event_dedupe.hpp"
#include "events_api.hpp"
#include "live_action_runner.hpp"
#include "nilecare/kafka/event_producer.hpp"
#include "nilecare/kafka/mock_cluster.hpp"
#include "nilecare/observability/log.hpp"
#include "nilecare/storage/redis_client.hpp"

namespace nilecare::kafka {
namespace log = observability::log;

namespace {
constexpr int kEmbeddedBrokers = 1;
constexpr int kEmbeddedPartitions = 3;
// Records the REST callers and the gateway's own events may keep in flight before the
// producer reports "degraded": the queue is filling faster than the broker acknowledges.
constexpr double kBusyFraction = 0.8;
// How long Stop() lets records in flight reach the broker.
constexpr auto kStopGrace = std::chrono::seconds(5);

std::set<std::string> TopicsOf(const config::KafkaSettings& settings) {
  std::set<std::string> topics{settings.dead_letter_topic};
  for (const auto& [entity, topic] : settings.topics) topics.insert(topic);
  if (settings.consumer) topics.insert(settings.consumer->topics.begin(), settings.consumer->topics.end());
  return topics;
}

// The gateway's own events: fire and forget, every failure counted and logged.
class OwnEventSink final : public core::EventSink {
 public:
  OwnEventSink(const config::KafkaSettings& settings, EventProducer& producer,
               observability::MetricsRegistry& metrics)
      : settings_(settings),
        producer_(producer),
        published_(metrics.GetCounter("nilecare_kafka_own_events_total",
                                      "The gateway's own events, by outcome.",
                                      {{"result", "delivered"}})),
        failed_(metrics.GetCounter("nilecare_kafka_own_events_total",
                                   "The gateway's own events, by outcome.",
                                   {{"result", "failed"}})) {}

  void Publish(core::DomainEvent event) override {
    if (event.source_service.empty()) event.source_service = settings_.source_service;
    const auto topic = settings_.topics.find(std::string(core::EventEntity(event.event_type)));
    if (topic == settings_.topics.end()) {
      failed_.Inc();
      log::Error("own event not published: no topic for its entity",
                 {{"event_id", event.event_id}, {"event_type", event.event_type}});
      return;
    }
    auto done = [this, event_id = event.event_id, event_type = event.event_type,
                 correlation_id = event.correlation_id](const DeliveryReport& report) {
      if (report.Delivered()) return published_.Inc();
      failed_.Inc();
      log::Error("own event not published",
                 {{"event_id", event_id}, {"event_type", event_type},
                  {"correlation_id", correlation_id}, {"error", report.error}});
    };
    const auto queued = producer_.Produce(EventRecord(event, topic->second), done);
    if (queued != EnqueueResult::kQueued) {
      failed_.Inc();
      log::Error("own event not published: producer refused it",
                 {{"event_id", event.event_id}, {"event_type", event.event_type},
                  {"correlation_id", event.correlation_id},
                  {"error", queued == EnqueueResult::kQueueFull ? "queue_full" : "not_queued"}});
    }
  }

 private:
  const config::KafkaSettings& settings_;
  EventProducer& producer_;
  observability::Counter& published_;
  observability::Counter& failed_;
};

}  // namespace

struct KafkaEvents::Impl {
  Impl(const config::GatewaySettings& gateway, observability::MetricsRegistry& metrics)
      : settings(*gateway.kafka) {
    if (settings.embedded) {
      cluster = std::make_unique<MockCluster>(kEmbeddedBrokers);
      for (const auto& topic : TopicsOf(settings)) cluster->CreateTopic(topic, kEmbeddedPartitions);
      bootstrap = cluster->Bootstraps();
      log::Warn("kafka: embedded mock cluster (in memory, local/dev only; use a real cluster in "
                "production)",
                {{"bootstrap", bootstrap}});
    } else {
      bootstrap = BootstrapServers(settings, {});
    }
    producer = std::make_unique<EventProducer>(settings, bootstrap, metrics);
    own_events = std::make_unique<OwnEventSink>(settings, *producer, metrics);
    if (gateway.auth && gateway.auth->jwt) {
      api = std::make_unique<EventsApi>(settings, *gateway.auth->jwt, *producer, metrics);
    } else {
      log::Warn("kafka: POST /api/v1/events is off: it needs auth.jwt");
    }
  }

  config::KafkaSettings settings;
  std::unique_ptr<MockCluster> cluster;
  std::string bootstrap;
  std::unique_ptr<EventProducer> producer;
  std::unique_ptr<OwnEventSink> own_events;
  std::unique_ptr<EventsApi> api;
  bool stopped{false};
};

KafkaEvents::KafkaEvents(const config::GatewaySettings& settings,
                         observability::MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(settings, metrics)) {}

KafkaEvents::~KafkaEvents() { Stop(); }

void KafkaEvents::RegisterRoutes(http::Dispatcher& dispatcher) {
  if (impl_->api) impl_->api->RegisterRoutes(dispatcher);
}

core::EventSink& KafkaEvents::Events() { return *impl_->own_events; }
EventProducer& KafkaEvents::Producer() { return *impl_->producer; }
const std::string& KafkaEvents::Bootstrap() const { return impl_->bootstrap; }

void KafkaEvents::Start() {
  impl_->producer->Start();
  log::Info("kafka producer started", {{"brokers", impl_->settings.embedded ? "embedded" : impl_->bootstrap},
                                       {"client_id", impl_->settings.client_id}});
}

bool KafkaEvents::Idle() const { return !impl_->api || impl_->api->InFlight() == 0; }

void KafkaEvents::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->producer->Stop(kStopGrace);
}

core::ComponentHealth KafkaEvents::Health() const {
  const auto& producer = *impl_->producer;
  if (impl_->stopped) return {core::HealthState::kStopping, "stopped"};
  if (producer.Fatal()) return {core::HealthState::kDown, "producer fatal error (see log)"};
  // An unreachable cluster degrades the gateway without taking it out of service: REST,
  // realtime and device ingest do not depend on Kafka.
  if (!producer.BrokerUp()) return {core::HealthState::kDegraded, "kafka cluster unreachable"};
  const auto in_flight = static_cast<double>(producer.InFlight());
  if (in_flight > kBusyFraction * static_cast<double>(impl_->settings.producer.queue_max_messages)) {
    return {core::HealthState::kDegraded, "producer queue above 80%"};
  }
  return {core::HealthState::kUp, impl_->settings.embedded ? "embedded mock cluster" : ""};
}

struct EventRouter::Impl {
  Impl(boost::asio::io_context& io, const config::GatewaySettings& gateway, KafkaEvents& kafka,
       realtime::RoomSink* rooms, router::ServiceCaller* services, core::TaskSink* tasks,
       observability::MetricsRegistry& metrics)
      : settings(*gateway.kafka), producer(kafka.Producer()), runner(rooms, services, tasks) {
    const auto& consumer_settings = *settings.consumer;
    if (gateway.redis) {
      redis = std::make_shared<storage::RedisClient>(io, *gateway.redis, metrics, "events");
    }
    dedupe = std::make_unique<CachedEventDedupe>(
        consumer_settings.dedupe_max_entries, consumer_settings.dedupe_ttl, redis,
        gateway.redis ? gateway.redis->key_prefix : std::string(),
        gateway.redis ? gateway.redis->command_timeout : std::chrono::milliseconds(1000), metrics);
    // The built-in rules' tasks need the spec's queues (the loader warns when they are not).
    const bool with_tasks =
        tasks != nullptr && tasks->HasQueue("email.normal") && tasks->HasQueue("sms.urgent");
    auto rules = gateway.events ? gateway.events->rules : config::DefaultEventRules(with_tasks);
    for (auto& rule : rules) {
      std::erase_if(rule.actions, [&](const config::EventAction& action) {
        using Kind = config::EventAction::Kind;
        const char* needs = action.kind == Kind::kEmit && rooms == nullptr      ? "realtime"
                            : action.kind == Kind::kHttp && services == nullptr ? "upstreams"
                            : action.kind == Kind::kTask && tasks == nullptr    ? "rabbitmq"
                                                                                : nullptr;
        if (needs != nullptr) {
          log::Warn("events: rule action dropped: its adapter is not configured",
                    {{"rule", rule.origin}, {"match", rule.match}, {"needs", needs}});
        }
        return needs != nullptr;
      });
    }
    std::erase_if(rules, [](const config::EventRule& rule) { return rule.actions.empty(); });
    rule_count = rules.size();
    consumer = std::make_unique<EventConsumer>(settings, kafka.Bootstrap(), RuleSet(std::move(rules)),
                                               runner, *dedupe, kafka.Producer(), metrics);
  }

  config::KafkaSettings settings;
  EventProducer& producer;  // its metadata probe tells whether the cluster answers
  LiveActionRunner runner;
  std::shared_ptr<storage::RedisClient> redis;
  std::unique_ptr<CachedEventDedupe> dedupe;
  std::unique_ptr<EventConsumer> consumer;
  std::size_t rule_count{0};
  std::chrono::steady_clock::time_point started_at{};
  bool stopped{false};
};

EventRouter::EventRouter(boost::asio::io_context& io, const config::GatewaySettings& settings,
                         KafkaEvents& kafka, realtime::RoomSink* rooms,
                         router::ServiceCaller* services, core::TaskSink* tasks,
                         observability::MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(io, settings, kafka, rooms, services, tasks, metrics)) {}

EventRouter::~EventRouter() { Stop(); }

void EventRouter::Start() {
  if (impl_->redis) impl_->redis->Start();
  impl_->started_at = std::chrono::steady_clock::now();
  impl_->consumer->Start();
  log::Info("kafka consumer started", {{"group", impl_->settings.consumer->group},
                                       {"topics", static_cast<std::int64_t>(impl_->settings.consumer->topics.size())},
                                       {"rules", static_cast<std::int64_t>(impl_->rule_count)}});
}

void EventRouter::BeginStop() {
  // No new events while the gateway drains; the one in hand finishes (its actions may need
  // the io threads, so this must not wait for it here).
  impl_->consumer->RequestStop();
  impl_->runner.Abort();
}

bool EventRouter::Idle() const { return impl_->consumer->Finished(); }

void EventRouter::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->runner.Abort();
  impl_->consumer->Stop(impl_->producer.BrokerUp());
  if (impl_->redis) impl_->redis->Stop();
}

core::ComponentHealth EventRouter::Health() const {
  if (impl_->stopped) return {core::HealthState::kStopping, "stopped"};
  const auto lag = "lag " + std::to_string(impl_->consumer->Lag());
  if (impl_->consumer->Joined()) return {core::HealthState::kUp, lag};
  // The first join takes a few seconds; after a session timeout without one, the gateway is
  // serving everything else and says what is missing.
  const auto grace = impl_->settings.consumer->session_timeout + std::chrono::seconds(5);
  if (std::chrono::steady_clock::now() - impl_->started_at < grace) {
    return {core::HealthState::kStarting, "joining consumer group"};
  }
  return {core::HealthState::kDegraded, "not in the consumer group (kafka unreachable?)"};
}

}  // namespace nilecare::kafka
