#include "task_publisher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "nilecare/observability/log.hpp"

namespace nilecare::amqp {
namespace log = observability::log;
using Clock = std::chrono::steady_clock;

namespace {
constexpr amqp_channel_t kChannel = 1;
constexpr std::size_t kBatch = 512;
constexpr auto kIdlePoll = std::chrono::milliseconds(100);
constexpr auto kDeadlineScan = std::chrono::milliseconds(100);
// Stop(): how long after the grace a thread stuck in a blocking write is given before its
// socket is shut down under it.
constexpr auto kStopMargin = std::chrono::seconds(2);
}  // namespace

std::string_view ToString(PublishOutcome::Kind kind) {
  switch (kind) {
    case PublishOutcome::Kind::kConfirmed: return "confirmed";
    case PublishOutcome::Kind::kNacked: return "nacked";
    case PublishOutcome::Kind::kUnroutable: return "unroutable";
    case PublishOutcome::Kind::kTimeout: return "timeout";
    case PublishOutcome::Kind::kStopped: return "stopped";
  }
  return "unknown";
}

TaskPublisher::TaskPublisher(const config::RabbitMqSettings& settings, TopologyPlan topology,
                             observability::MetricsRegistry& metrics)
    : settings_(settings),
      topology_(std::move(topology)),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      link_("publisher", "publish", settings.reconnect_min, settings.reconnect_max, metrics),
      confirm_seconds_(metrics.GetHistogram("nilecare_amqp_confirm_seconds",
                                            "Publish to broker confirm (or failure).")) {
  if (wake_fd_ < 0) throw std::runtime_error("eventfd failed");
  for (auto kind : {PublishOutcome::Kind::kConfirmed, PublishOutcome::Kind::kNacked,
                    PublishOutcome::Kind::kUnroutable, PublishOutcome::Kind::kTimeout,
                    PublishOutcome::Kind::kStopped}) {
    outcomes_[kind] = &metrics.GetCounter(
        "nilecare_amqp_publishes_total",
        "Messages published to RabbitMQ (tasks, retries, dead letters) by outcome.",
        {{"result", std::string(ToString(kind))}});
  }
}

TaskPublisher::~TaskPublisher() {
  if (thread_.joinable()) Stop(std::chrono::milliseconds(0));
  ::close(wake_fd_);
}

void TaskPublisher::Start() {
  thread_ = std::thread([this] { Run(); });
}

void TaskPublisher::Stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    stop_deadline_ = Clock::now() + grace;
  }
  Wake();
  if (!thread_.joinable()) return;
  // A write blocked by a broker that stopped reading (an alarm that came before its
  // connection.blocked) would hold the thread for good: its socket is shut down under it.
  const auto give_up = Clock::now() + grace + kStopMargin;
  while (!exited_.load() && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!exited_.load()) {
    if (const int fd = socket_fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  thread_.join();
}

TaskPublisher::EnqueueResult TaskPublisher::Publish(OutgoingMessage message, Done done) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return EnqueueResult::kStopped;
    if (in_flight_.load() >= settings_.max_in_flight) return EnqueueResult::kFull;
    const auto now = Clock::now();
    waiting_.push_back({std::move(message), std::move(done), now + settings_.confirm_timeout, now});
    in_flight_.fetch_add(1);
  }
  Wake();
  return EnqueueResult::kQueued;
}

void TaskPublisher::Wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_, &one, sizeof one);
}

void TaskPublisher::WaitForWork(std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {-1, POLLIN, 0}};
  if (connection_) fds[1].fd = connection_->Fd();
  ::poll(fds, connection_ ? 2 : 1, static_cast<int>(timeout.count()));
  if (fds[0].revents & POLLIN) {
    std::uint64_t value = 0;
    [[maybe_unused]] auto read = ::read(wake_fd_, &value, sizeof value);
  }
}

void TaskPublisher::Run() {
  auto next_scan = Clock::now();
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ && ((waiting_.empty() && retry_.empty() && unconfirmed_.empty()) ||
                        Clock::now() >= stop_deadline_)) {
        break;
      }
    }
    const auto now = Clock::now();
    if (now >= next_scan) {
      ExpireDeadlines();
      next_scan = now + kDeadlineScan;
    }
    if (!connection_ && (!link_.ConnectDue() || !Connect())) {
      WaitForWork(link_.UntilConnectDue(kIdlePoll));
      continue;
    }
    try {
      SendWaiting();
      ReadFrames();
    } catch (const std::exception& error) {
      Disconnect(error.what());
      continue;
    }
    bool idle;
    {
      std::lock_guard lock(mutex_);
      idle = waiting_.empty() && retry_.empty();
    }
    if (idle && amqp_frames_enqueued(connection_->State()) == 0 &&
        amqp_data_in_buffer(connection_->State()) == 0) {
      WaitForWork(kIdlePoll);
    }
  }
  // Whatever is left could not be confirmed within the grace.
  std::deque<Pending> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(waiting_);
  }
  for (auto& pending : retry_) Finish(pending, PublishOutcome::Kind::kStopped);
  for (auto& [tag, pending] : unconfirmed_) Finish(pending, PublishOutcome::Kind::kStopped);
  for (auto& pending : left) Finish(pending, PublishOutcome::Kind::kStopped);
  retry_.clear();
  unconfirmed_.clear();
  socket_fd_.store(-1);
  connection_.reset();
  link_.Closed();
  exited_.store(true);
}

bool TaskPublisher::Connect() {
  try {
    connection_ = std::make_unique<Connection>(settings_, "nilecare-gateway publisher", 1);
    DeclareTopology(*connection_, kChannel, topology_);
    connection_->ConfirmSelect(kChannel);
  } catch (const AmqpError& error) {
    connection_.reset();
    link_.ConnectFailed(error.what());
    return false;
  }
  socket_fd_.store(connection_->Fd());
  next_tag_ = 1;
  blocked_ = false;
  delay_declared_.clear();
  link_.Up();
  log::Info("rabbitmq publisher connected",
            {{"broker", settings_.host + ":" + std::to_string(settings_.port)},
             {"resending", static_cast<std::int64_t>(retry_.size())}});
  return true;
}

void TaskPublisher::Disconnect(const std::string& why) {
  log::Warn("rabbitmq publisher connection lost",
            {{"error", why}, {"unconfirmed", static_cast<std::int64_t>(unconfirmed_.size())}});
  socket_fd_.store(-1);
  connection_.reset();
  link_.Lost(why);
  // Sent but not confirmed: the broker may or may not have them. Sent again, in order.
  for (auto it = unconfirmed_.rbegin(); it != unconfirmed_.rend(); ++it) {
    it->second.returned = false;
    retry_.push_front(std::move(it->second));
  }
  unconfirmed_.clear();
}

void TaskPublisher::SendWaiting() {
  if (blocked_) return;  // deadlines keep running (ExpireDeadlines)
  std::deque<Pending> batch;
  while (!retry_.empty() && batch.size() < kBatch) {
    batch.push_back(std::move(retry_.front()));
    retry_.pop_front();
  }
  {
    std::lock_guard lock(mutex_);
    while (!waiting_.empty() && batch.size() < kBatch) {
      batch.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
  }
  const auto now = Clock::now();
  try {
    while (!batch.empty()) {
      auto& pending = batch.front();
      if (now >= pending.deadline) {
        Finish(pending, PublishOutcome::Kind::kTimeout);
        batch.pop_front();
        continue;
      }
      auto& message = pending.message;
      if (message.declare_first) {
        auto& declared = delay_declared_[message.declare_first->name];
        if (declared == Clock::time_point{} || now - declared >= kDelayQueueRedeclare) {
          connection_->DeclareQueue(kChannel, *message.declare_first);
          declared = now;
        }
      }
      amqp_basic_properties_t props{};
      props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                     AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                     AMQP_BASIC_TIMESTAMP_FLAG;
      props.content_type = amqp_cstring_bytes("application/json");
      props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
      props.priority = static_cast<std::uint8_t>(message.priority);
      props.message_id = Bytes(message.message_id);
      props.timestamp = static_cast<std::uint64_t>(std::time(nullptr));
      if (!message.correlation_id.empty()) {
        props._flags |= AMQP_BASIC_CORRELATION_ID_FLAG;
        props.correlation_id = Bytes(message.correlation_id);
      }
      if (message.headers && !message.headers->Empty()) {
        props._flags |= AMQP_BASIC_HEADERS_FLAG;
        props.headers = message.headers->Get();
      }
      Connection::CheckStatus(
          amqp_basic_publish(connection_->State(), kChannel, Bytes(message.exchange),
                             Bytes(message.routing_key), /*mandatory=*/1, /*immediate=*/0, &props,
                             Bytes(message.body)),
          "basic.publish");
      unconfirmed_.emplace(next_tag_++, std::move(pending));
      batch.pop_front();
    }
  } catch (...) {
    // Not sent (or not known to be): first in line on the next connection.
    while (!batch.empty()) {
      retry_.push_front(std::move(batch.back()));
      batch.pop_back();
    }
    throw;
  }
}

void TaskPublisher::ReadFrames() {
  auto* state = connection_->State();
  while (true) {
    // Frames live in rabbitmq-c's pools until released: without this every confirm stays.
    amqp_maybe_release_buffers(state);
    amqp_frame_t frame{};
    timeval no_wait = kNoWait;
    const int status = amqp_simple_wait_frame_noblock(state, &frame, &no_wait);
    if (status == AMQP_STATUS_TIMEOUT) return;
    Connection::CheckStatus(status, "read");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        const auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
        HandleAck(ack->delivery_tag, ack->multiple != 0, PublishOutcome::Kind::kConfirmed);
        break;
      }
      case AMQP_BASIC_NACK_METHOD: {
        const auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
        HandleAck(nack->delivery_tag, nack->multiple != 0, PublishOutcome::Kind::kNacked);
        break;
      }
      case AMQP_BASIC_RETURN_METHOD: HandleReturn(frame.channel); break;
      case AMQP_CONNECTION_BLOCKED_METHOD:
        // A resource alarm: the broker stops reading; writing on would block this thread.
        if (!blocked_) log::Warn("rabbitmq blocked publishing (resource alarm)");
        blocked_ = true;
        break;
      case AMQP_CONNECTION_UNBLOCKED_METHOD:
        if (blocked_) log::Info("rabbitmq unblocked publishing");
        blocked_ = false;
        break;
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD: throw AmqpError(CloseReason(frame.payload.method));
      default: break;
    }
  }
}

void TaskPublisher::HandleReturn(amqp_channel_t channel) {
  amqp_message_t message{};
  const auto reply = amqp_read_message(connection_->State(), channel, &message, 0);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) throw AmqpError("reading a returned message");
  // A return comes before the ack of its publish: the oldest unconfirmed publish with this
  // message_id not yet marked is the one (returns only happen when a binding is missing).
  if (message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) {
    const auto id = View(message.properties.message_id);
    for (auto& [tag, pending] : unconfirmed_) {
      if (!pending.returned && pending.message.message_id == id) {
        pending.returned = true;
        break;
      }
    }
  }
  amqp_destroy_message(&message);
}

void TaskPublisher::HandleAck(std::uint64_t tag, bool multiple, PublishOutcome::Kind kind) {
  const auto settle = [&](Pending& pending) {
    Finish(pending, pending.returned ? PublishOutcome::Kind::kUnroutable : kind);
  };
  if (multiple) {
    const auto end = unconfirmed_.upper_bound(tag);
    for (auto it = unconfirmed_.begin(); it != end; ++it) settle(it->second);
    unconfirmed_.erase(unconfirmed_.begin(), end);
  } else if (const auto it = unconfirmed_.find(tag); it != unconfirmed_.end()) {
    settle(it->second);
    unconfirmed_.erase(it);
  }
}

void TaskPublisher::ExpireDeadlines() {
  const auto now = Clock::now();
  // Declared long ago means declared again before the next use anyway.
  std::erase_if(delay_declared_,
                [&](const auto& entry) { return now - entry.second >= kDelayQueueRedeclare; });
  // A late confirm for an expired tag is ignored: the caller was already told "not confirmed".
  // Deadlines are enqueue time + confirm_timeout and sends are in order (resends first), so
  // they grow with the tag: the scan stops at the first one still running.
  for (auto it = unconfirmed_.begin(); it != unconfirmed_.end() && now >= it->second.deadline;) {
    Finish(it->second, PublishOutcome::Kind::kTimeout);
    it = unconfirmed_.erase(it);
  }
  std::erase_if(retry_, [&](Pending& pending) {
    if (now < pending.deadline) return false;
    Finish(pending, PublishOutcome::Kind::kTimeout);
    return true;
  });
  std::deque<Pending> expired;
  {
    std::lock_guard lock(mutex_);
    while (!waiting_.empty() && now >= waiting_.front().deadline) {
      expired.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
    }
  }
  for (auto& pending : expired) Finish(pending, PublishOutcome::Kind::kTimeout);
}

void TaskPublisher::Finish(Pending& pending, PublishOutcome::Kind kind) {
  in_flight_.fetch_sub(1);
  outcomes_[kind]->Inc();
  confirm_seconds_.Observe(std::chrono::duration<double>(Clock::now() - pending.started).count());
  if (!pending.done) return;
  auto done = std::move(pending.done);
  pending.done = nullptr;
  try {
    done(PublishOutcome{kind});
  } catch (const std::exception& error) {
    log::Error("rabbitmq publish callback failed", {{"error", error.what()}});
  }
}

}  // namespace nilecare::amqp
