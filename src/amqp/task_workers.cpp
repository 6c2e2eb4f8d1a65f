#include "task_workers.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "nilecare/core/clock.hpp"
#include "nilecare/core/ids.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::amqp {
namespace log = observability::log;
using Clock = std::chrono::steady_clock;

namespace {
constexpr auto kIdlePoll = std::chrono::milliseconds(100);
constexpr int kMaxDeliveriesPerTurn = 256;

std::string_view ActionName(FailureDecision::Action action) {
  switch (action) {
    case FailureDecision::Action::kRetry: return "retry";
    case FailureDecision::Action::kDeadLetter: return "dead_letter";
    case FailureDecision::Action::kPark: return "park";
  }
  return "unknown";
}
}  // namespace

struct TaskWorkers::Completion {
  enum class Kind { kHandled, kSentOn };
  Kind kind{Kind::kHandled};
  std::uint64_t generation{0};
  std::size_t queue{0};
  Delivery delivery{};  // kSentOn: only the tag
  router::ServiceCallResult result{};
  PublishOutcome outcome{};
  FailureDecision::Action action{};
  std::string reason{};
};

// Shared with callbacks that may outlive the workers (a handler call still running at stop).
struct TaskWorkers::Inbox {
  std::mutex mutex;
  std::deque<Completion> items;
  int fd{eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};

  ~Inbox() { ::close(fd); }
  void Push(Completion completion) {
    {
      std::lock_guard lock(mutex);
      items.push_back(std::move(completion));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(fd, &one, sizeof one);
  }
  std::deque<Completion> Take() {
    std::uint64_t value = 0;
    [[maybe_unused]] auto read = ::read(fd, &value, sizeof value);
    std::deque<Completion> taken;
    std::lock_guard lock(mutex);
    taken.swap(items);
    return taken;
  }
};

TaskWorkers::TaskWorkers(const config::RabbitMqSettings& settings, TopologyPlan topology,
                         TaskPublisher& publisher, router::ServiceCaller& services,
                         observability::MetricsRegistry& metrics)
    : settings_(settings),
      topology_(std::move(topology)),
      publisher_(publisher),
      services_(services),
      metrics_(metrics),
      inbox_(std::make_shared<Inbox>()),
      link_("workers", "consume", settings.reconnect_min, settings.reconnect_max, metrics) {
  if (inbox_->fd < 0) throw std::runtime_error("eventfd failed");
  amqp_channel_t channel = 1;
  for (const auto& worker : settings.workers) {
    const auto* queue = FindQueue(settings, worker.queue);
    if (queue == nullptr) throw std::runtime_error("worker for unknown queue " + worker.queue);
    const observability::Labels labels{{"queue", queue->name}};
    QueueMetrics m{
        &metrics.GetCounter("nilecare_tasks_delivered_total", "Tasks delivered to a worker.",
                            labels),
        &metrics.GetCounter("nilecare_tasks_acked_total",
                            "Tasks done: the handler answered 2xx and the task was acked.", labels),
        &metrics.GetCounter("nilecare_tasks_retried_total",
                            "Failed tasks sent back with x-retry-count + 1 after a back-off.",
                            labels),
        &metrics.GetCounter("nilecare_tasks_parked_total",
                            "Tasks that failed max_rounds rounds, moved to the parking queue.",
                            labels),
        &metrics.GetCounter("nilecare_tasks_requeued_total",
                            "Deliveries handed back to the broker (a retry copy not confirmed).",
                            labels),
        &metrics.GetHistogram("nilecare_task_handler_seconds", "Handler call duration.", labels),
        &metrics.GetGauge("nilecare_tasks_running", "Handler calls in progress.", labels),
        &metrics.GetGauge("nilecare_task_queue_paused",
                          "1 while the queue is paused (its handler's circuit breaker is open).",
                          labels)};
    queues_.push_back(QueueState{&worker, queue, channel++, {}, 0, {}, m});
  }
}

TaskWorkers::~TaskWorkers() {
  if (thread_.joinable()) Stop();
}

void TaskWorkers::Start() {
  thread_ = std::thread([this] { Run(); });
}

void TaskWorkers::BeginStop() { draining_.store(true); }

void TaskWorkers::Stop() {
  draining_.store(true);
  stop_.store(true);
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(inbox_->fd, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void TaskWorkers::Run() {
  while (!stop_.load()) {
    if (!connection_) {
      ProcessCompletions();
      if (link_.ConnectDue() && !draining_.load() && Connect()) continue;
      pollfd fds[1] = {{inbox_->fd, POLLIN, 0}};
      ::poll(fds, 1, static_cast<int>(link_.UntilConnectDue(kIdlePoll).count()));
      continue;
    }
    try {
      bool busy = ProcessCompletions();
      const auto now = Clock::now();
      for (auto& queue : queues_) {
        if (queue.paused_until != Clock::time_point{} && now >= queue.paused_until) {
          queue.paused_until = {};
          queue.metrics.paused->Set(0);
        }
        Dispatch(queue);
      }
      busy = ConsumeAvailable() || busy;
      auto* state = connection_->State();
      if (!busy && amqp_frames_enqueued(state) == 0 && amqp_data_in_buffer(state) == 0) {
        pollfd fds[2] = {{inbox_->fd, POLLIN, 0}, {connection_->Fd(), POLLIN, 0}};
        ::poll(fds, 2, static_cast<int>(NextWait().count()));
      }
    } catch (const AmqpError& error) {
      Disconnect(error.what());
    } catch (const std::exception& error) {
      // Whatever it was, the deliveries in hand go back to the broker with the connection.
      log::Error("rabbitmq workers: unexpected error", {{"error", error.what()}});
      Disconnect(error.what());
    }
  }
  connection_.reset();
  link_.Closed();
}

std::chrono::milliseconds TaskWorkers::NextWait() const {
  auto wait = kIdlePoll;
  const auto now = Clock::now();
  for (const auto& queue : queues_) {
    if (queue.paused_until == Clock::time_point{}) continue;
    wait = std::min(
        wait, std::chrono::duration_cast<std::chrono::milliseconds>(queue.paused_until - now) +
                  std::chrono::milliseconds(1));
  }
  return std::max(wait, std::chrono::milliseconds(0));
}

bool TaskWorkers::Connect() {
  try {
    connection_ = std::make_unique<Connection>(settings_, "nilecare-gateway workers",
                                               static_cast<int>(queues_.size()));
    DeclareTopology(*connection_, 1, topology_);
    for (auto& queue : queues_) {
      connection_->Qos(queue.channel, static_cast<std::uint16_t>(queue.worker->prefetch));
      connection_->Consume(queue.channel, queue.queue->name, "");
    }
  } catch (const AmqpError& error) {
    connection_.reset();
    link_.ConnectFailed(error.what());
    return false;
  }
  ++generation_;
  link_.Up();
  log::Info("rabbitmq workers consuming", {{"queues", static_cast<std::int64_t>(queues_.size())}});
  return true;
}

void TaskWorkers::Disconnect(const std::string& why) {
  log::Warn("rabbitmq workers connection lost", {{"error", why}});
  connection_.reset();
  ++generation_;  // results of calls still running are for deliveries the broker redelivers
  link_.Lost(why);
  for (auto& queue : queues_) {
    queue.pending.clear();
    queue.running = 0;
    queue.metrics.running->Set(0);
  }
}

bool TaskWorkers::ConsumeAvailable() {
  bool any = false;
  for (int i = 0; i < kMaxDeliveriesPerTurn; ++i) {
    amqp_envelope_t envelope{};
    if (!TakeDelivery(connection_->State(), envelope)) break;
    struct Destroy {
      amqp_envelope_t* envelope;
      ~Destroy() { amqp_destroy_envelope(envelope); }
    } destroy{&envelope};
    OnDelivery(envelope);
    any = true;
  }
  return any;
}

void TaskWorkers::OnDelivery(const amqp_envelope_t& envelope) {
  if (envelope.channel < 1 || envelope.channel > queues_.size()) return;
  auto& queue = queues_[envelope.channel - 1];
  const auto& props = envelope.message.properties;
  Delivery delivery;
  delivery.tag = envelope.delivery_tag;
  delivery.body.assign(View(envelope.message.body));
  delivery.message_id = (props._flags & AMQP_BASIC_MESSAGE_ID_FLAG)
                            ? std::string(View(props.message_id))
                            : core::NewUuid();  // a task from elsewhere: ours from here on
  if (props._flags & AMQP_BASIC_CORRELATION_ID_FLAG) {
    delivery.correlation_id.assign(View(props.correlation_id));
  }
  if (props._flags & AMQP_BASIC_PRIORITY_FLAG) delivery.priority = props.priority;
  queue.metrics.delivered->Inc();
  if (props._flags & AMQP_BASIC_HEADERS_FLAG) {
    const auto count = [&](std::string_view key) {
      return std::clamp<std::int64_t>(TableInt(props.headers, key).value_or(0), 0, kMaxHeaderCount);
    };
    delivery.attempt.retry_count = count("x-retry-count");
    delivery.attempt.dead_lettered = count("x-dead-lettered");
    try {
      delivery.headers = std::make_shared<Table>();
      delivery.headers->CopyFrom(props.headers);
    } catch (const AmqpError&) {
      delivery.headers.reset();
      return Fail(queue, std::move(delivery), "bad_headers", /*permanent=*/true);
    }
  }
  if (delivery.body.size() > settings_.max_task_bytes) {
    return Fail(queue, std::move(delivery), "too_large", /*permanent=*/true);
  }
  if (!nlohmann::json::accept(delivery.body)) {
    return Fail(queue, std::move(delivery), "unparseable", /*permanent=*/true);
  }
  queue.pending.push_back(std::move(delivery));
  Dispatch(queue);
}

void TaskWorkers::Dispatch(QueueState& queue) {
  const auto now = Clock::now();
  while (!draining_.load() && now >= queue.paused_until && !queue.pending.empty() &&
         queue.running < queue.worker->concurrency) {
    auto delivery = std::move(queue.pending.front());
    queue.pending.pop_front();
    if (delivery.failure) {
      auto failure = std::move(*delivery.failure);
      delivery.failure.reset();
      Fail(queue, std::move(delivery), failure.error, failure.permanent);
      continue;
    }
    delivery.received = now;
    router::ServiceCall call{
        queue.worker->upstream,
        "POST",
        queue.worker->path,
        delivery.body,
        delivery.correlation_id.empty() ? delivery.message_id : delivery.correlation_id,
        queue.worker->timeout};
    call.headers = {{"X-Task-Id", delivery.message_id},
                    {"Idempotency-Key", delivery.message_id},
                    {"X-Task-Queue", queue.queue->name},
                    {"X-Retry-Count", std::to_string(delivery.attempt.retry_count)}};
    ++queue.running;
    queue.metrics.running->Set(static_cast<double>(queue.running));
    outstanding_.fetch_add(1);
    const auto index = static_cast<std::size_t>(&queue - queues_.data());
    services_.Call(std::move(call),
                   [inbox = inbox_, generation = generation_, index,
                    delivery = std::move(delivery)](router::ServiceCallResult result) mutable {
                     Completion completion;
                     completion.kind = Completion::Kind::kHandled;
                     completion.generation = generation;
                     completion.queue = index;
                     completion.delivery = std::move(delivery);
                     completion.result = std::move(result);
                     inbox->Push(std::move(completion));
                   });
  }
}

bool TaskWorkers::ProcessCompletions() {
  auto completions = inbox_->Take();
  // Each one counts as outstanding until handled (an ack, or a copy sent on, which is then
  // outstanding itself), so Idle() is never early; the ones an exception skips count down too.
  std::size_t handled = 0;
  struct CountDown {
    std::atomic<std::int64_t>& outstanding;
    const std::size_t& handled;
    std::size_t total;
    ~CountDown() { outstanding.fetch_sub(static_cast<std::int64_t>(total - handled)); }
  } count_down{outstanding_, handled, completions.size()};
  for (auto& completion : completions) {
    struct Handled {
      std::atomic<std::int64_t>& outstanding;
      std::size_t& handled;
      ~Handled() {
        outstanding.fetch_sub(1);
        ++handled;
      }
    } mark{outstanding_, handled};
    if (completion.generation != generation_ || !connection_) continue;
    auto& queue = queues_[completion.queue];
    if (completion.kind == Completion::Kind::kHandled) {
      --queue.running;
      queue.metrics.running->Set(static_cast<double>(queue.running));
      OnHandled(queue, std::move(completion.delivery), completion.result);
      continue;
    }
    if (completion.outcome.Confirmed()) {
      Ack(queue, completion.delivery.tag);
      switch (completion.action) {
        case FailureDecision::Action::kRetry: queue.metrics.retried->Inc(); break;
        case FailureDecision::Action::kDeadLetter:
          CountDeadLettered(queue, completion.reason);
          break;
        case FailureDecision::Action::kPark: queue.metrics.parked->Inc(); break;
      }
    } else {
      // The copy is not known to be stored: the original goes back and is tried again later.
      log::Warn("task copy not confirmed; delivery requeued",
                {{"queue", queue.queue->name},
                 {"action", ActionName(completion.action)},
                 {"error", ToString(completion.outcome.kind)}});
      Requeue(queue, completion.delivery.tag);
      queue.paused_until = Clock::now() + queue.worker->pause_on_open;
      queue.metrics.paused->Set(1);
    }
  }
  return !completions.empty();
}

void TaskWorkers::OnHandled(QueueState& queue, Delivery delivery,
                            const router::ServiceCallResult& result) {
  queue.metrics.handler_seconds->Observe(
      std::chrono::duration<double>(Clock::now() - delivery.received).count());
  if (result.Succeeded()) {
    Ack(queue, delivery.tag);
    queue.metrics.acked->Inc();
    return;
  }
  if (result.error == "circuit_open") {
    // Not the task's fault and not an attempt: hold it, and stop calling the handler.
    if (queue.paused_until == Clock::time_point{}) {
      log::Warn("task handler circuit open; queue paused",
                {{"queue", queue.queue->name},
                 {"upstream", queue.worker->upstream},
                 {"pause_ms", static_cast<std::int64_t>(queue.worker->pause_on_open.count())}});
    }
    queue.pending.push_front(std::move(delivery));
    queue.paused_until = Clock::now() + queue.worker->pause_on_open;
    queue.metrics.paused->Set(1);
    return;
  }
  const std::string error =
      result.status != 0 ? "http_" + std::to_string(result.status) : result.error;
  Fail(queue, std::move(delivery), error, result.Permanent());
}

void TaskWorkers::Fail(QueueState& queue, Delivery delivery, const std::string& error,
                       bool permanent) {
  auto decision = DecideFailure(*queue.worker, settings_.dead_letter, delivery.attempt, permanent);
  log::Info("task failed", {{"queue", queue.queue->name},
                            {"task_id", delivery.message_id},
                            {"correlation_id", delivery.correlation_id},
                            {"error", error},
                            {"retry_count", delivery.attempt.retry_count},
                            {"next", ActionName(decision.action)}});
  std::string reason = error == "unparseable" || error == "too_large" || error == "bad_headers"
                           ? error
                       : permanent ? "handler_rejected"
                                   : "retries_exhausted";
  SendOn(queue, std::move(delivery), decision, error, reason, permanent);
}

void TaskWorkers::SendOn(QueueState& queue, Delivery delivery, FailureDecision decision,
                         const std::string& error, const std::string& reason, bool permanent) {
  auto headers = std::make_shared<Table>();
  if (delivery.headers) {
    const auto original = delivery.headers->Get();
    headers->CopyFrom(original);
  }
  headers->Set("x-retry-count", decision.retry_count);
  // The body is copied: if the publisher refuses the copy, the delivery is kept for later.
  OutgoingMessage message{
      "", "", delivery.body, delivery.message_id, delivery.correlation_id, delivery.priority};
  if (decision.action == FailureDecision::Action::kRetry) {
    headers->Set("x-last-error", error);
    auto delay_queue = DelayQueue(*queue.queue, decision.delay);
    message.routing_key = delay_queue.name;
    message.declare_first = std::move(delay_queue);
  } else {
    headers->Set("x-error", error);
    headers->Set("x-failed-at", core::FormatIso8601(std::chrono::system_clock::now()));
    headers->Set("x-original-queue", queue.queue->name);
    headers->Set("x-dead-lettered", delivery.attempt.dead_lettered + 1);
    if (decision.action == FailureDecision::Action::kPark) {
      message.routing_key = settings_.dead_letter.parking_queue;
    } else {
      message.exchange = settings_.dead_letter.exchange;
      message.routing_key = queue.queue->name;  // failed.jobs sends it back by this key
    }
  }
  message.headers = std::move(headers);
  outstanding_.fetch_add(1);
  const auto index = static_cast<std::size_t>(&queue - queues_.data());
  const auto tag = delivery.tag;
  const auto queued = publisher_.Publish(
      std::move(message), [inbox = inbox_, generation = generation_, index, tag,
                           action = decision.action, reason](PublishOutcome outcome) {
        Completion completion;
        completion.kind = Completion::Kind::kSentOn;
        completion.generation = generation;
        completion.queue = index;
        completion.delivery.tag = tag;
        completion.outcome = outcome;
        completion.action = action;
        completion.reason = reason;
        inbox->Push(std::move(completion));
      });
  if (queued == TaskPublisher::EnqueueResult::kQueued) return;
  outstanding_.fetch_sub(1);
  // The publisher is full or stopping: kept (unacked) and decided again after a pause. Handed
  // back to the broker instead, a poison message would come straight back, in a tight loop.
  delivery.failure = Delivery::Failure{error, permanent};
  queue.pending.push_front(std::move(delivery));
  queue.paused_until = Clock::now() + queue.worker->pause_on_open;
  queue.metrics.paused->Set(1);
}

void TaskWorkers::CountDeadLettered(QueueState& queue, std::string_view reason) {
  metrics_
      .GetCounter("nilecare_tasks_dead_lettered_total",
                  "Tasks sent to the dead-letter exchange, by reason.",
                  {{"queue", queue.queue->name}, {"reason", std::string(reason)}})
      .Inc();
}

void TaskWorkers::Ack(QueueState& queue, std::uint64_t tag) {
  Connection::CheckStatus(amqp_basic_ack(connection_->State(), queue.channel, tag, 0), "basic.ack");
}

void TaskWorkers::Requeue(QueueState& queue, std::uint64_t tag) {
  Connection::CheckStatus(
      amqp_basic_nack(connection_->State(), queue.channel, tag, 0, /*requeue=*/1), "basic.nack");
  queue.metrics.requeued->Inc();
}

}  // namespace nilecare::amqp
