#include "nilecare/app/gateway.hpp"

#include <atomic>
#include <csignal>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "http_component.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/log.hpp"
#include "nilecare/amqp/task_queues.hpp"
#include "nilecare/kafka/kafka_events.hpp"
#include "nilecare/mqtt/mqtt_ingest.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/realtime/realtime_server.hpp"
#include "nilecare/rest/rest_gateway.hpp"
#include "ops_endpoints.hpp"

namespace nilecare::app {
namespace asio = boost::asio;
namespace log = observability::log;

namespace {
constexpr auto kDrainPollInterval = std::chrono::milliseconds(10);
constexpr auto kReadyPollInterval = std::chrono::milliseconds(20);

int ThreadCount(int configured) {
  if (configured > 0) return configured;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}
}  // namespace

struct Gateway::Impl {
  explicit Impl(config::GatewaySettings settings_in)
      : settings(std::move(settings_in)),
        threads(ThreadCount(settings.service.threads)),
        io(threads),
        strand(asio::make_strand(io)),
        signals(strand, SIGINT, SIGTERM),
        drain_timer(strand),
        ready_timer(strand) {
    ops.service_name = settings.service.name;
    ops.components = &components;
    ops.metrics = &metrics;
  }

  // Components in dependency order; the HTTP listener last, so that when it accepts its
  // first request everything it routes to exists (each reports its own readiness).
  void Build() {
    RegisterOpsEndpoints(dispatcher, ops);
    router::ServiceCaller* services = nullptr;
    if (!settings.routes.empty()) {
      auto rest_component = std::make_unique<rest::RestGateway>(io, settings, metrics);
      rest_component->RegisterRoutes(dispatcher);
      services = &rest_component->Services();
      components.push_back(std::move(rest_component));
    }
    // Before the adapters that publish events, so that it stops after them.
    kafka::KafkaEvents* kafka_events = nullptr;
    if (settings.kafka) {
      auto kafka_component = std::make_unique<kafka::KafkaEvents>(settings, metrics);
      kafka_component->RegisterRoutes(dispatcher);
      kafka_events = kafka_component.get();
      components.push_back(std::move(kafka_component));
    }
    // Before the adapters that enqueue tasks (alert escalation, event rules); after rest,
    // whose upstreams its workers call.
    amqp::TaskQueues* tasks = nullptr;
    if (settings.rabbitmq) {
      auto amqp_component = std::make_unique<amqp::TaskQueues>(settings, services, metrics);
      amqp_component->RegisterRoutes(dispatcher);
      tasks = amqp_component.get();
      components.push_back(std::move(amqp_component));
    }
    realtime::RoomSink* rooms = nullptr;
    if (settings.realtime) {
      auto realtime_component =
          std::make_unique<realtime::RealtimeServer>(io, settings, metrics);
      realtime_component->RegisterRoutes(dispatcher);
      rooms = &realtime_component->Rooms();
      if (kafka_events != nullptr) realtime_component->SetEventSink(&kafka_events->Events());
      if (tasks != nullptr) realtime_component->SetTaskSink(tasks);
      components.push_back(std::move(realtime_component));
    }
    // After realtime: it pushes readings to clinicians through its rooms.
    if (settings.mqtt) {
      auto mqtt_component = std::make_unique<mqtt::MqttIngest>(io, settings, metrics, rooms);
      if (kafka_events != nullptr) mqtt_component->SetEventSink(&kafka_events->Events());
      mqtt_component->RegisterRoutes(dispatcher);
      components.push_back(std::move(mqtt_component));
    }
    // After the adapters its rules drive (rooms, services): it stops first.
    if (kafka_events != nullptr && settings.kafka->consumer) {
      components.push_back(std::make_unique<kafka::EventRouter>(io, settings, *kafka_events, rooms,
                                                                services, tasks, metrics));
    }
    auto http_component =
        std::make_unique<HttpComponent>(io, settings.http, dispatcher, metrics);
    http = http_component.get();
    components.push_back(std::move(http_component));
    RegisterProcessMetrics(ops);
  }

  bool StartAll() {
    for (std::size_t i = 0; i < components.size(); ++i) {
      try {
        components[i]->Start();
      } catch (const std::exception& error) {
        log::Error("start-up failed", {{"component", components[i]->Name()},
                                       {"error", error.what()}});
        for (std::size_t j = i; j-- > 0;) components[j]->Stop();
        return false;
      }
    }
    return true;
  }

  void WatchReady() {
    ready_timer.expires_after(kReadyPollInterval);
    ready_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || ops.draining) return;
      if (!ops.Ready()) return WatchReady();
      const auto elapsed = std::chrono::duration<double, std::milli>(
                               std::chrono::steady_clock::now() - ops.started_steady)
                               .count();
      log::Info("gateway ready", {{"startup_ms", elapsed}});
    });
  }

  void WaitForSignal() {
    signals.async_wait([this](boost::system::error_code ec, int signal_number) {
      if (ec) return;
      if (ops.draining.exchange(true)) {
        // A second signal: the operator does not want to wait for the drain.
        log::Warn("second signal, stopping now", {{"signal", signal_number}});
        StopAll();
        return;
      }
      log::Info("shutdown requested, draining",
                {{"signal", signal_number},
                 {"grace_ms", static_cast<std::int64_t>(settings.service.shutdown_grace.count())}});
      ready_timer.cancel();
      for (auto it = components.rbegin(); it != components.rend(); ++it) (*it)->BeginStop();
      drain_deadline = std::chrono::steady_clock::now() + settings.service.shutdown_grace;
      WaitForSignal();
      PollDrain();
    });
  }

  void PollDrain() {
    bool idle = true;
    for (const auto& component : components) idle = idle && component->Idle();
    if (idle || std::chrono::steady_clock::now() >= drain_deadline) {
      if (!idle) {
        log::Warn("shutdown grace expired with work in flight",
                  {{"http_requests_in_flight", http->ActiveRequests()}});
      }
      StopAll();
      return;
    }
    drain_timer.expires_after(kDrainPollInterval);
    drain_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) PollDrain();
    });
  }

  void StopAll() {
    if (stopped) return;
    stopped = true;
    drain_timer.cancel();
    signals.cancel();
    for (auto it = components.rbegin(); it != components.rend(); ++it) (*it)->Stop();
    log::Info("gateway stopped");
    io.stop();
  }

  // Declaration order is destruction order in reverse: connections still queued in the
  // io_context refer to the metrics and the dispatcher, so those outlive `io`, and
  // everything holding sockets or timers dies before it.
  config::GatewaySettings settings;
  int threads;
  observability::MetricsRegistry metrics;
  http::Dispatcher dispatcher;
  OpsState ops;
  asio::io_context io;
  // The lifecycle's own handlers (signals, drain and ready polling) run one at a time.
  asio::strand<asio::io_context::executor_type> strand;
  asio::signal_set signals;
  asio::steady_timer drain_timer;
  asio::steady_timer ready_timer;
  std::chrono::steady_clock::time_point drain_deadline{};
  std::vector<std::unique_ptr<core::Component>> components;
  HttpComponent* http{nullptr};
  bool stopped{false};
};

Gateway::Gateway(config::GatewaySettings settings)
    : impl_(std::make_unique<Impl>(std::move(settings))) {}

Gateway::~Gateway() = default;

int Gateway::Run() {
  auto& impl = *impl_;
  impl.Build();
  if (!impl.StartAll()) return 1;
  log::Info("gateway started", {{"service", impl.settings.service.name},
                                {"version", NILECARE_VERSION},
                                {"config", impl.settings.source},
                                {"http_port", static_cast<int>(impl.http->Port())},
                                {"threads", impl.threads}});
  for (const auto& warning : impl.settings.warnings) log::Warn("configuration", {{"warning", warning}});
  impl.WaitForSignal();
  impl.WatchReady();

  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(impl.threads - 1));
  std::atomic<int> exit_code{0};
  auto run = [&impl, &exit_code] {
    try {
      impl.io.run();
    } catch (const std::exception& error) {
      // An exception escaping a handler is a bug; stop rather than run half-broken.
      log::Error("unhandled exception, stopping", {{"error", error.what()}});
      exit_code = 1;
      impl.io.stop();
    }
  };
  for (int i = 1; i < impl.threads; ++i) workers.emplace_back(run);
  run();
  for (auto& worker : workers) worker.join();
  return exit_code;
}

}  // namespace nilecare::app
