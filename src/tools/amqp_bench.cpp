// nilecare-amqp-bench: load generator and baselines for the RabbitMQ task benchmarks
// (bench/tasks.sh).
//
//   publish --mode raw|gateway   --tasks persistent tasks of --size bytes to --queue, at most
//                                --window published and not yet confirmed, as fast as possible
//                                (or --rate per second), then every confirm awaited: confirmed
//                                tasks/s, confirm latency (publish call -> broker ack)
//                                p50/p99/max, failures, CPU per task.
//       raw      plain rabbitmq-c on one connection and one thread: confirm.select, basic.publish
//                (mandatory) in batches of 512 between non-blocking reads of the acks (multiple
//                acks settle every tag up to theirs), pre-built messages with the properties the
//                gateway sets (persistent, priority, message_id, correlation_id, timestamp,
//                content type, an x-task-source header): the floor set by rabbitmq-c and the
//                broker.
//       gateway  amqp::TaskPublisher (its own thread and connection, max_in_flight = --window)
//                fed from this thread with what TaskQueues::Enqueue builds per task: a new task
//                id (core::NewUuid), the request's correlation id, the priority, the
//                x-task-source header table and the body string.
//     The queue is declared as the gateway declares its work queues (amqp::BuildTopology:
//     durable, x-max-priority 10, x-dead-letter-exchange nilecare.dlq) and bound to the direct
//     exchange nilecare-bench. --verify: afterwards the queue must hold exactly the confirmed
//     tasks (it must be new, without consumers); --delete: it is deleted at the end.
//   consume  plain rabbitmq-c consumer: basic.qos --prefetch, manual acks, --tasks deliveries.
//            Without --post each delivery is acked at once (the upper bound); with --post URL
//            its body is POSTed there first (HTTP/1.1 keep-alive, at most --http-concurrency
//            at once on as many connections, non-blocking, from the consuming thread) and acked
//            after the answer, as a gateway worker does.
//            tasks/s from the first delivery to the last ack.
//   queue    prints the queue's ready messages and consumers; --purge empties it, --delete
//            deletes it.
//
// A task body is JSON, padded to --size bytes:
//   {"seq":<i>,"sent_at_us":<wall clock µs when published, 0 without --stamp>,
//    "patient_id":"PAT-bench-<i % 1000>","pad":"xxx..."}
// bench/node/task_handler.mjs takes sent_at_us for the publish -> handler latency.
//
// The last line of output is machine-readable: `RESULT key=value ...`. Exit code 0 when every
// task was confirmed (consume: acked; --verify: and found in the queue); 1 otherwise.

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "amqp/task_publisher.hpp"
#include "amqp/topology.hpp"
#include "bench_stats.hpp"
#include "flag_reader.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/core/ids.hpp"
#include "nilecare/observability/log.hpp"
#include "nilecare/observability/metrics.hpp"

namespace nilecare::tools {
namespace {

constexpr std::string_view kProgram = "nilecare-amqp-bench";
constexpr int kExitFailure = 1;
constexpr std::string_view kExchange = "nilecare-bench";
constexpr int kTaskPriority = 5;         // a queue's default priority in the gateway
constexpr int kFrameMax = 131072;        // as amqp::Connection logs in
constexpr std::size_t kRawPool = 1024;   // raw: pre-built ids and bodies
constexpr std::int64_t kRawBatch = 512;  // raw: publishes between reads (TaskPublisher's kBatch)
constexpr int kConsumeBurst = 256;       // consume: deliveries read per turn
constexpr amqp_channel_t kChannel = 1;

constexpr std::string_view kUsage =
    "usage: nilecare-amqp-bench publish --mode raw|gateway --broker HOST:PORT --queue Q --tasks N\n"
    "                           [--size 1024] [--window 10000] [--rate 0] [--stamp]\n"
    "                           [--verify] [--delete] [--timeout 120] [--label L]\n"
    "       nilecare-amqp-bench consume --broker HOST:PORT --queue Q --tasks N [--prefetch 50]\n"
    "                           [--post http://HOST:PORT/PATH [--http-concurrency 32]]\n"
    "                           [--timeout 120] [--label L]\n"
    "       nilecare-amqp-bench queue --broker HOST:PORT --queue Q [--purge | --delete]\n"
    "\n"
    "Benchmarks the gateway's RabbitMQ paths against plain rabbitmq-c (bench/tasks.sh).\n"
    "\n"
    "  --mode M              publish: raw (rabbitmq-c, pre-built messages, the baseline) or\n"
    "                        gateway (amqp::TaskPublisher + a new task per publish)\n"
    "  --broker HOST:PORT    RabbitMQ (user guest, vhost /)\n"
    "  --queue Q             work queue (declared like the gateway's, bound to nilecare-bench)\n"
    "  --tasks N             tasks to publish, or deliveries to read\n"
    "  --size B              task body size in bytes (default 1024)\n"
    "  --window W            at most W published and not yet confirmed (default 10000)\n"
    "  --rate R              tasks/s, paced (default 0: as fast as possible)\n"
    "  --stamp               put the publish time in each body (sent_at_us)\n"
    "  --verify              afterwards the queue must hold exactly the confirmed tasks\n"
    "  --delete              delete the queue at the end (queue: now)\n"
    "  --purge               queue: empty it\n"
    "  --prefetch P          consume: basic.qos prefetch (default 50)\n"
    "  --post URL            consume: POST each body there before acking it\n"
    "  --http-concurrency C  consume: POSTs at once, one keep-alive connection each (default 32)\n"
    "  --timeout S           give up after S seconds (default 120)\n"
    "  --label L             printed in the RESULT line\n"
    "  --help                this text\n";

using Clock = std::chrono::steady_clock;

struct Options {
  std::string mode;
  std::string engine;
  std::string host;
  std::uint16_t port{0};
  std::string queue;
  std::string label;
  std::string post_url;
  std::int64_t tasks{0};
  std::int64_t size{1024};
  std::int64_t window{10000};
  double rate{0};
  std::int64_t prefetch{50};
  std::int64_t http_concurrency{32};
  std::int64_t timeout_s{120};
  bool stamp{false};
  bool verify{false};
  bool remove{false};
  bool purge{false};
  bool help{false};
};

std::optional<Options> ParseArgs(int argc, char** argv, std::string& error) {
  Options o;
  FlagReader flags(argc, argv);
  while (flags.Next()) {
    const std::string_view arg = flags.Flag();
    if (flags.IsHelp()) {
      o.help = true;
      continue;
    }
    if (flags.TakeMode(o.mode)) {
      if (!flags.Error().empty()) {
        error = flags.Error();
        return std::nullopt;
      }
      continue;
    }
    if (flags.Switch("--stamp", o.stamp) || flags.Switch("--verify", o.verify) ||
        flags.Switch("--delete", o.remove) || flags.Switch("--purge", o.purge)) {
      continue;
    }
    const auto flag_value = flags.Value();
    if (!flag_value) {
      error = flags.Error();
      return std::nullopt;
    }
    const std::string_view value = *flag_value;
    bool ok = true;
    if (arg == "--mode") {
      o.engine = value;
      ok = o.engine == "raw" || o.engine == "gateway";
    } else if (arg == "--broker") {
      const auto colon = value.rfind(':');
      ok = colon != std::string_view::npos && colon > 0 &&
           ParseNumber(value.substr(colon + 1), o.port) && o.port != 0;
      if (ok) o.host = value.substr(0, colon);
    } else if (arg == "--queue") {
      o.queue = value;
      ok = !o.queue.empty();
    } else if (arg == "--label") {
      o.label = value;
    } else if (arg == "--post") {
      o.post_url = value;
      ok = o.post_url.starts_with("http://");
    } else if (arg == "--tasks") {
      ok = ParseNumber(value, o.tasks) && o.tasks > 0;
    } else if (arg == "--size") {
      ok = ParseNumber(value, o.size) && o.size > 0 && o.size <= 100000;
    } else if (arg == "--window") {
      ok = ParseNumber(value, o.window) && o.window > 0;
    } else if (arg == "--rate") {
      ok = ParseNumber(value, o.rate);
    } else if (arg == "--prefetch") {
      ok = ParseNumber(value, o.prefetch) && o.prefetch > 0 && o.prefetch <= 65535;
    } else if (arg == "--http-concurrency") {
      ok = ParseNumber(value, o.http_concurrency) && o.http_concurrency > 0 &&
           o.http_concurrency <= 1024;
    } else if (arg == "--timeout") {
      ok = ParseNumber(value, o.timeout_s) && o.timeout_s > 0;
    } else {
      error = flags.Unknown();
      return std::nullopt;
    }
    if (!ok) {
      error = "bad value for " + std::string(arg) + ": " + std::string(value);
      return std::nullopt;
    }
  }
  if (o.help) return o;
  if (o.mode != "publish" && o.mode != "consume" && o.mode != "queue") {
    error = "the first argument is the mode: publish, consume or queue";
    return std::nullopt;
  }
  if (o.host.empty() || o.queue.empty()) {
    error = "--broker and --queue are required";
    return std::nullopt;
  }
  if (o.mode != "queue" && o.tasks == 0) {
    error = "--tasks is required";
    return std::nullopt;
  }
  if (o.mode == "publish" && o.engine.empty()) {
    error = "publish needs --mode raw|gateway";
    return std::nullopt;
  }
  if (o.purge && o.remove) {
    error = "--purge or --delete, not both";
    return std::nullopt;
  }
  return o;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}
std::int64_t WallUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The gateway's view of this broker and queue: one work queue on kExchange, default dead
// letter names (so that a gateway configured with `queues: [{name: Q, exchange:
// nilecare-bench}]` declares the very same queue).
config::RabbitMqSettings BrokerSettings(const Options& o) {
  config::RabbitMqSettings settings;
  settings.url = "amqp://guest:guest@" + o.host + ":" + std::to_string(o.port) + "/";
  settings.host = o.host;
  settings.port = o.port;
  settings.queues = {{o.queue, std::string(kExchange), kTaskPriority}};
  settings.max_in_flight = static_cast<std::size_t>(o.window);
  return settings;
}

// ---- task bodies -----------------------------------------------------------------------------

std::string TaskBody(std::int64_t seq, std::int64_t sent_at_us, std::size_t size) {
  std::string body = "{\"seq\":" + std::to_string(seq) +
                     ",\"sent_at_us\":" + std::to_string(sent_at_us) +
                     ",\"patient_id\":\"PAT-bench-" + std::to_string(seq % 1000) + "\",\"pad\":\"";
  constexpr std::size_t kTail = 2;  // "}
  if (body.size() + kTail < size) body.append(size - body.size() - kTail, 'x');
  body += "\"}";
  return body;
}

// ---- plain rabbitmq-c ------------------------------------------------------------------------

void CheckStatus(int status, std::string_view what) {
  if (status < 0) throw std::runtime_error(std::string(what) + ": " + amqp_error_string2(status));
}

void CheckReply(amqp_rpc_reply_t reply, std::string_view what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      throw std::runtime_error(std::string(what) + ": " + amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        throw std::runtime_error(std::string(what) + ": channel closed by the broker: " +
                                 std::to_string(close->reply_code) + " " +
                                 std::string(amqp::View(close->reply_text)));
      }
      throw std::runtime_error(std::string(what) + ": broker exception");
    default: throw std::runtime_error(std::string(what) + ": no reply");
  }
}

// One connection with channel 1 open, guest on vhost /, no heartbeats.
class RawConnection {
 public:
  RawConnection(const Options& o, std::string_view name) : state_(amqp_new_connection()) {
    if (state_ == nullptr) throw std::runtime_error("out of memory");
    try {
      Open(o, name);
    } catch (...) {
      this->~RawConnection();
      throw;
    }
  }
  ~RawConnection() {
    if (state_ == nullptr) return;
    if (open_) amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
    state_ = nullptr;
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  amqp_connection_state_t State() { return state_; }
  int Fd() const { return amqp_get_sockfd(state_); }

 private:
  void Open(const Options& o, std::string_view name) {
    amqp_socket_t* socket = amqp_tcp_socket_new(state_);
    if (socket == nullptr) throw std::runtime_error("cannot create a socket");
    timeval connect_timeout{10, 0};
    CheckStatus(amqp_socket_open_noblock(socket, o.host.c_str(), o.port, &connect_timeout),
                "connect to " + o.host + ":" + std::to_string(o.port));
    amqp_table_entry_t property{};
    property.key = amqp_cstring_bytes("connection_name");
    property.value.kind = AMQP_FIELD_KIND_UTF8;
    property.value.value.bytes = amqp::Bytes(name);
    amqp_table_t properties{1, &property};
    CheckReply(amqp_login_with_properties(state_, "/", 0, kFrameMax, 0, &properties,
                                          AMQP_SASL_METHOD_PLAIN, "guest", "guest"),
               "login");
    open_ = true;
    amqp_channel_open(state_, kChannel);
    CheckReply(amqp_get_rpc_reply(state_), "channel.open");
  }

  amqp_connection_state_t state_;
  bool open_{false};
};

struct QueueCounts {
  std::int64_t messages{0};
  std::int64_t consumers{0};
};

// Passive queue.declare: ready messages and consumers (throws when the queue is missing).
QueueCounts CountQueue(RawConnection& connection, const std::string& queue) {
  const auto* ok = amqp_queue_declare(connection.State(), kChannel, amqp::Bytes(queue),
                                      /*passive=*/1, 0, 0, 0, amqp_empty_table);
  CheckReply(amqp_get_rpc_reply(connection.State()), "queue.declare (passive) " + queue);
  return {static_cast<std::int64_t>(ok->message_count),
          static_cast<std::int64_t>(ok->consumer_count)};
}

void DeleteQueue(RawConnection& connection, const std::string& queue) {
  amqp_queue_delete(connection.State(), kChannel, amqp::Bytes(queue), 0, 0);
  CheckReply(amqp_get_rpc_reply(connection.State()), "queue.delete " + queue);
}

// The gateway's topology for this queue, declared before anything is measured.
void DeclareBenchTopology(const Options& o) {
  const auto settings = BrokerSettings(o);
  amqp::Connection connection(settings, "nilecare-amqp-bench setup", 1);
  amqp::DeclareTopology(connection, kChannel, amqp::BuildTopology(settings));
}

// ---- confirm bookkeeping -------------------------------------------------------------------

struct Tally {
  explicit Tally(std::int64_t n)
      : sent_ns(static_cast<std::size_t>(n), 0), latency_us(static_cast<std::size_t>(n), -1) {}

  // Task i confirmed or failed, once per task (raw: the publishing thread; gateway:
  // TaskPublisher's thread, or the producing one when Publish() refused the task).
  void Settle(std::int64_t i, bool ok, std::string_view outcome) {
    const auto now = NowNs();
    const auto index = static_cast<std::size_t>(i);
    if (ok) {
      latency_us[index] = std::max<std::int64_t>((now - sent_ns[index]) / 1000, 0);
      confirmed.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(mutex);
      ++failures[std::string(outcome)];
    }
    last_ns.store(now, std::memory_order_relaxed);
    settled.fetch_add(1, std::memory_order_release);
  }

  std::string FailureText() {
    std::lock_guard lock(mutex);
    std::string text;
    for (const auto& [outcome, count] : failures) {
      text += (text.empty() ? "" : ",") + outcome + ":" + std::to_string(count);
    }
    return text.empty() ? "-" : text;
  }

  std::vector<std::int64_t> sent_ns;
  std::vector<std::int64_t> latency_us;  // -1: not confirmed
  std::atomic<std::int64_t> settled{0};
  std::atomic<std::int64_t> confirmed{0};
  std::atomic<std::int64_t> failed{0};
  std::atomic<std::int64_t> last_ns{0};
  std::mutex mutex;
  std::map<std::string, std::int64_t> failures;
};

// Paced start of task i: `start` + i / rate (no pacing at rate 0).
std::int64_t DueNs(const Options& o, std::int64_t start, std::int64_t i) {
  return o.rate > 0 ? start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / o.rate)
                    : start;
}

// ---- publish: raw ----------------------------------------------------------------------------

class RawPublisher {
 public:
  RawPublisher(const Options& o, Tally& tally)
      : o_(o),
        tally_(tally),
        connection_(o, "nilecare-amqp-bench raw publisher"),
        settled_flag_(static_cast<std::size_t>(o.tasks) + 1, 0) {
    amqp_confirm_select(connection_.State(), kChannel);
    CheckReply(amqp_get_rpc_reply(connection_.State()), "confirm.select");
    for (std::size_t j = 0; j < kRawPool; ++j) {
      ids_.push_back(core::NewUuid());
      correlation_ids_.push_back(core::NewUuid());
      if (!o.stamp) {
        bodies_.push_back(
            TaskBody(static_cast<std::int64_t>(j), 0, static_cast<std::size_t>(o.size)));
      }
    }
    header_.key = amqp_cstring_bytes("x-task-source");
    header_.value.kind = AMQP_FIELD_KIND_UTF8;
    header_.value.value.bytes = amqp_cstring_bytes("api");
  }

  std::int64_t Returned() const { return returned_; }

  // Until every task is settled or the deadline passes.
  void Run(std::int64_t start, Clock::time_point deadline) {
    auto* state = connection_.State();
    const auto n = o_.tasks;
    std::string stamped;
    while (tally_.settled.load(std::memory_order_relaxed) < n && Clock::now() < deadline) {
      std::int64_t sent_now = 0;
      std::int64_t wait_ns = 100'000'000;
      while (next_ < n && next_ - tally_.settled.load(std::memory_order_relaxed) < o_.window &&
             sent_now < kRawBatch) {
        const auto now = NowNs();
        if (const auto due = DueNs(o_, start, next_); due > now) {
          wait_ns = due - now;
          break;
        }
        const auto j = static_cast<std::size_t>(next_) % kRawPool;
        amqp_basic_properties_t props{};
        props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                       AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                       AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
                       AMQP_BASIC_HEADERS_FLAG;
        props.content_type = amqp_cstring_bytes("application/json");
        props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
        props.priority = kTaskPriority;
        props.message_id = amqp::Bytes(ids_[j]);
        props.correlation_id = amqp::Bytes(correlation_ids_[j]);
        props.timestamp = static_cast<std::uint64_t>(std::time(nullptr));
        props.headers = {1, &header_};
        std::string_view body;
        if (o_.stamp) {
          stamped = TaskBody(next_, WallUs(), static_cast<std::size_t>(o_.size));
          body = stamped;
        } else {
          body = bodies_[j];
        }
        tally_.sent_ns[static_cast<std::size_t>(next_)] = NowNs();
        CheckStatus(
            amqp_basic_publish(state, kChannel, amqp::Bytes(kExchange), amqp::Bytes(o_.queue),
                               /*mandatory=*/1, /*immediate=*/0, &props, amqp::Bytes(body)),
            "basic.publish");
        ++next_;
        ++sent_now;
      }
      const bool got_frames = ReadConfirms();
      if (sent_now == 0 && !got_frames && amqp_frames_enqueued(state) == 0 &&
          amqp_data_in_buffer(state) == 0) {
        // Nothing to send (window full, or the next task is not due): wait for acks.
        pollfd fd{connection_.Fd(), POLLIN, 0};
        const timespec timeout{0, std::min<std::int64_t>(wait_ns, 100'000'000)};
        ::ppoll(&fd, 1, &timeout, nullptr);
      }
    }
  }

 private:
  // Delivery tag t is task t - 1 (one channel, nothing sent twice).
  void SettleTag(std::uint64_t tag, bool ok) {
    if (tag == 0 || tag > static_cast<std::uint64_t>(o_.tasks) || settled_flag_[tag]) return;
    settled_flag_[tag] = 1;
    tally_.Settle(static_cast<std::int64_t>(tag) - 1, ok, ok ? "confirmed" : "nacked");
  }

  void HandleAck(std::uint64_t tag, bool multiple, bool ok) {
    if (multiple) {
      for (auto t = lowest_; t <= tag && t <= static_cast<std::uint64_t>(o_.tasks); ++t)
        SettleTag(t, ok);
    } else {
      SettleTag(tag, ok);
    }
    while (lowest_ <= static_cast<std::uint64_t>(o_.tasks) && settled_flag_[lowest_]) ++lowest_;
  }

  bool ReadConfirms() {
    auto* state = connection_.State();
    bool any = false;
    while (true) {
      timeval zero{0, 0};
      amqp_frame_t frame{};
      const int status = amqp_simple_wait_frame_noblock(state, &frame, &zero);
      if (status == AMQP_STATUS_TIMEOUT) return any;
      CheckStatus(status, "read");
      any = true;
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          const auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          HandleAck(ack->delivery_tag, ack->multiple != 0, true);
          break;
        }
        case AMQP_BASIC_NACK_METHOD: {
          const auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
          HandleAck(nack->delivery_tag, nack->multiple != 0, false);
          break;
        }
        case AMQP_BASIC_RETURN_METHOD: {
          amqp_message_t message{};
          CheckReply(amqp_read_message(state, frame.channel, &message, 0), "basic.return");
          amqp_destroy_message(&message);
          ++returned_;
          break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
        case AMQP_CONNECTION_CLOSE_METHOD:
          throw std::runtime_error("the broker closed the channel or connection");
        default: break;
      }
    }
  }

  const Options& o_;
  Tally& tally_;
  RawConnection connection_;
  std::vector<std::string> ids_, correlation_ids_, bodies_;
  amqp_table_entry_t header_{};
  std::vector<char> settled_flag_;  // by delivery tag
  std::uint64_t lowest_{1};         // lowest tag not settled
  std::int64_t next_{0};
  std::int64_t returned_{0};
};

// ---- publish -----------------------------------------------------------------------------------

int Publish(const Options& o) {
  const bool raw = o.engine == "raw";
  Tally tally(o.tasks);
  DeclareBenchTopology(o);

  std::unique_ptr<RawPublisher> raw_publisher;
  const auto settings = BrokerSettings(o);
  observability::MetricsRegistry metrics;
  // gateway: the window; declared before the publisher, whose callbacks release it.
  std::counting_semaphore<> slots(static_cast<std::ptrdiff_t>(o.window));
  std::unique_ptr<amqp::TaskPublisher> publisher;
  if (raw) {
    raw_publisher = std::make_unique<RawPublisher>(o, tally);
  } else {
    publisher =
        std::make_unique<amqp::TaskPublisher>(settings, amqp::BuildTopology(settings), metrics);
    publisher->Start();
    const auto connect_deadline = Clock::now() + std::chrono::seconds(10);
    while (!publisher->Link().Connected() && Clock::now() < connect_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!publisher->Link().Connected()) {
      throw std::runtime_error("TaskPublisher did not connect in 10 s: " +
                               publisher->Link().LastError());
    }
  }

  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  const double cpu0 = CpuSeconds();
  const std::int64_t start = NowNs();
  std::int64_t full = 0;
  std::int64_t published_at = 0;
  if (raw) {
    raw_publisher->Run(start, deadline);
    published_at = NowNs();
  } else {
    const auto& queue = settings.queues.front();
    for (std::int64_t i = 0; i < o.tasks && Clock::now() < deadline;) {
      if (const auto due = DueNs(o, start, i); due > NowNs()) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(due - NowNs()));
      }
      // A free slot of the window (released by the done callback, after TaskPublisher's own
      // count went down): Publish() then never finds the publisher full.
      if (!slots.try_acquire_until(deadline)) break;
      // What TaskQueues::Enqueue builds for a task from POST /api/v1/tasks/{queue}.
      amqp::OutgoingMessage message;
      message.body = TaskBody(i, o.stamp ? WallUs() : 0, static_cast<std::size_t>(o.size));
      message.message_id = core::NewUuid();
      message.correlation_id = core::NewUuid();  // the request's (generated) correlation id
      message.priority = std::clamp(kTaskPriority, 0, settings.max_priority);
      message.headers = std::make_shared<amqp::Table>();
      message.headers->Set("x-task-source", "api");
      message.exchange = queue.exchange;
      message.routing_key = queue.name;
      tally.sent_ns[static_cast<std::size_t>(i)] = NowNs();
      const auto queued =
          publisher->Publish(std::move(message), [&tally, &slots, i](amqp::PublishOutcome outcome) {
            tally.Settle(i, outcome.Confirmed(), amqp::ToString(outcome.kind));
            slots.release();
          });
      if (queued == amqp::TaskPublisher::EnqueueResult::kFull) {
        ++full;  // not expected (see slots); the task is built again
        slots.release();
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        continue;
      }
      if (queued == amqp::TaskPublisher::EnqueueResult::kStopped) {
        tally.Settle(i, false, "stopped");
        slots.release();
      }
      ++i;
    }
    published_at = NowNs();
    // Every slot back: every task settled (blocking, no polling that would add to the CPU).
    for (std::int64_t k = 0; k < o.window && slots.try_acquire_until(deadline); ++k) {
    }
  }
  const double cpu1 = CpuSeconds();
  const auto settled = tally.settled.load(std::memory_order_acquire);
  if (publisher) publisher->Stop(std::chrono::milliseconds(1000));
  const std::int64_t returned = raw ? raw_publisher->Returned() : 0;
  raw_publisher.reset();

  const auto confirmed = tally.confirmed.load();
  const auto failed = tally.failed.load() + (o.tasks - settled);  // never settled = failed
  const double publish_s = static_cast<double>(published_at - start) / 1e9;
  const double total_s =
      static_cast<double>(std::max(tally.last_ns.load(), published_at) - start) / 1e9;
  const double rate = total_s > 0 ? static_cast<double>(confirmed) / total_s : 0;
  const double cpu = cpu1 - cpu0;
  const double us_per_task = confirmed > 0 ? cpu * 1e6 / static_cast<double>(confirmed) : 0;
  const auto q = LatencyQuantiles(tally.latency_us);

  std::int64_t queued = -1;
  bool verified = true;
  if (o.verify || o.remove) {
    RawConnection connection(o, "nilecare-amqp-bench check");
    if (o.verify) {
      queued = CountQueue(connection, o.queue).messages;
      verified = queued == confirmed;
    }
    if (o.remove) DeleteQueue(connection, o.queue);
  }

  std::cout << kProgram << " publish mode=" << o.engine << " queue=" << o.queue
            << " window=" << o.window
            << (o.rate > 0 ? " rate=" + Fixed(o.rate, 0) + "/s" : std::string(" rate=max")) << '\n'
            << "  tasks         " << o.tasks << " (" << o.size << " bytes, persistent)\n"
            << "  confirmed     " << confirmed << ", failed " << failed << " ("
            << tally.FailureText() << "), returned " << returned << ", publisher full " << full
            << '\n'
            << "  time          " << Fixed(total_s, 3) << " s to the last confirm ("
            << Fixed(publish_s, 3) << " s publishing)\n"
            << "  tasks/s       " << Fixed(rate, 0) << '\n'
            << "  confirm ms    p50 " << Fixed(q.p50_ms, 2) << "  p99 " << Fixed(q.p99_ms, 2)
            << "  max " << Fixed(q.max_ms, 2) << '\n'
            << "  cpu           " << Fixed(cpu, 2) << " s (" << Fixed(us_per_task, 2)
            << " us/task, this process)\n";
  if (o.verify)
    std::cout << "  in the queue  " << queued << (verified ? "" : " (expected the confirmed count)")
              << '\n';
  std::cout << "RESULT label=" << (o.label.empty() ? "publish-" + o.engine : o.label)
            << " mode=" << o.engine << " tasks=" << o.tasks << " confirmed=" << confirmed
            << " failed=" << failed << " returned=" << returned << " full=" << full
            << " queued=" << (o.verify ? std::to_string(queued) : std::string("-"))
            << " size=" << o.size << " seconds=" << Fixed(total_s, 3)
            << " publish_seconds=" << Fixed(publish_s, 3) << " rate=" << Fixed(rate, 0)
            << " target_rate=" << Fixed(o.rate, 0) << " p50_ms=" << Fixed(q.p50_ms, 3)
            << " p99_ms=" << Fixed(q.p99_ms, 3) << " max_ms=" << Fixed(q.max_ms, 3)
            << " cpu_s=" << Fixed(cpu, 2) << " cpu_us_per_task=" << Fixed(us_per_task, 2)
            << std::endl;
  return confirmed == o.tasks && returned == 0 && verified ? 0 : kExitFailure;
}

// ---- consume: HTTP POSTs -----------------------------------------------------------------------

struct Url {
  std::string host;
  std::string port;
  std::string path;
};

Url ParseUrl(const std::string& url) {
  const auto rest = std::string_view(url).substr(std::string_view("http://").size());
  const auto slash = rest.find('/');
  const auto authority = rest.substr(0, slash);
  Url parsed;
  parsed.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  const auto colon = authority.rfind(':');
  parsed.host = authority.substr(0, colon);
  parsed.port = colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
  return parsed;
}

// --http-concurrency keep-alive HTTP/1.1 connections, non-blocking, driven by the consuming
// thread's poll() (one thread for the broker and the handler calls: no hand-offs). A task
// waits for a free connection; a connection the server closed is opened again and the
// request sent once more; a second failure or a non-2xx answer counts as an error (the task
// is acked all the same).
class HttpPoster {
 public:
  HttpPoster(const Url& url, std::int64_t connections) : url_(url) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (const int rc = getaddrinfo(url.host.c_str(), url.port.c_str(), &hints, &address_);
        rc != 0) {
      throw std::runtime_error("resolve " + url.host + ": " + gai_strerror(rc));
    }
    connections_.resize(static_cast<std::size_t>(connections));
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      Open(connections_[i]);
      free_.push_back(i);
    }
  }
  ~HttpPoster() {
    for (auto& connection : connections_) {
      if (connection.fd >= 0) ::close(connection.fd);
    }
    freeaddrinfo(address_);
  }
  HttpPoster(const HttpPoster&) = delete;
  HttpPoster& operator=(const HttpPoster&) = delete;

  std::int64_t Errors() const { return errors_; }
  const std::string& FirstError() const { return first_error_; }

  void Submit(std::uint64_t tag, std::string_view body, std::string_view task_id) {
    std::string request =
        "POST " + url_.path + " HTTP/1.1\r\nHost: " + url_.host + ":" + url_.port +
        "\r\nContent-Type: application/json\r\nX-Task-Id: " + std::string(task_id) +
        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    request += body;
    waiting_.push_back({tag, std::move(request)});
    Pump();
  }

  // The connections with a request in progress, appended to `fds` for poll().
  void PollFds(std::vector<pollfd>& fds) {
    polled_.clear();
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      const auto& connection = connections_[i];
      if (!connection.busy) continue;
      fds.push_back(
          {connection.fd,
           static_cast<short>(connection.sent < connection.request.size() ? POLLOUT : POLLIN), 0});
      polled_.push_back(i);
    }
  }

  // After poll() (`fds`: the entries PollFds added): advances the connections that are
  // ready; the tags of the tasks done since the last call go to `done`.
  void Progress(const pollfd* fds, std::vector<std::uint64_t>& done) {
    for (std::size_t k = 0; k < polled_.size(); ++k) {
      if (fds[k].revents != 0 && Advance(connections_[polled_[k]])) Complete(polled_[k]);
    }
    Pump();
    done.insert(done.end(), finished_.begin(), finished_.end());
    finished_.clear();
  }

 private:
  struct Connection {
    int fd{-1};
    bool busy{false};
    bool retried{false};
    std::uint64_t tag{0};
    std::string request;
    std::size_t sent{0};
    std::string response;
  };

  void Open(Connection& connection) {
    if (connection.fd >= 0) ::close(connection.fd);
    connection.fd = -1;
    for (auto* ai = address_; ai != nullptr && connection.fd < 0; ai = ai->ai_next) {
      const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        ::close(fd);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      connection.fd = fd;
    }
  }

  // Waiting tasks onto free connections.
  void Pump() {
    while (!free_.empty() && !waiting_.empty()) {
      const auto i = free_.back();
      free_.pop_back();
      auto& connection = connections_[i];
      connection.busy = true;
      connection.retried = false;
      connection.tag = waiting_.front().first;
      connection.request = std::move(waiting_.front().second);
      connection.sent = 0;
      connection.response.clear();
      waiting_.pop_front();
      if (Advance(connection)) Complete(i);  // usually the answer comes with a later poll()
    }
  }

  void Complete(std::size_t i) {
    auto& connection = connections_[i];
    connection.busy = false;
    finished_.push_back(connection.tag);
    free_.push_back(i);
  }

  void Error(const std::string& what) {
    ++errors_;
    if (first_error_.empty()) first_error_ = what;
  }

  // Sends what is left, reads what arrived; true once the answer is complete (or failed twice).
  bool Advance(Connection& connection) {
    const auto failed = [&](const std::string& what) {
      if (!connection.retried) {
        connection.retried = true;
        Open(connection);
        connection.sent = 0;
        connection.response.clear();
        return connection.fd < 0 ? (Error(what), true) : false;
      }
      Error(what);
      Open(connection);
      return true;
    };
    if (connection.fd < 0) return failed("connect: " + std::string(std::strerror(errno)));
    while (connection.sent < connection.request.size()) {
      const auto n = ::send(connection.fd, connection.request.data() + connection.sent,
                            connection.request.size() - connection.sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
      if (n <= 0) return failed("send: " + std::string(std::strerror(errno)));
      connection.sent += static_cast<std::size_t>(n);
    }
    char buffer[4096];
    while (true) {
      const auto n = ::recv(connection.fd, buffer, sizeof buffer, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0)
        return failed(n == 0 ? "connection closed by the server"
                             : "recv: " + std::string(std::strerror(errno)));
      connection.response.append(buffer, static_cast<std::size_t>(n));
    }
    const auto& response = connection.response;
    const auto header_end = response.find("\r\n\r\n");
    if (header_end == std::string::npos) return false;
    std::string head = response.substr(0, header_end);
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (head.find("transfer-encoding: chunked") != std::string::npos) {
      if (response.find("\r\n0\r\n\r\n", header_end) == std::string::npos) return false;
    } else if (const auto at = head.find("content-length:"); at != std::string::npos) {
      if (response.size() < header_end + 4 + std::stoul(head.substr(at + 15))) return false;
    }
    if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0 || response[9] != '2') {
      Error(response.size() >= 12 ? "status " + response.substr(9, 3) : "not an HTTP answer");
    }
    if (head.find("connection: close") != std::string::npos) Open(connection);
    return true;
  }

  Url url_;
  addrinfo* address_{nullptr};
  std::vector<Connection> connections_;
  std::vector<std::size_t> polled_;  // connections_ index of each polled fd
  std::vector<std::size_t> free_;    // connections_ index of the idle ones
  std::deque<std::pair<std::uint64_t, std::string>> waiting_;  // tag, request
  std::vector<std::uint64_t> finished_;
  std::int64_t errors_{0};
  std::string first_error_;
};

// ---- consume -----------------------------------------------------------------------------------

int Consume(const Options& o) {
  DeclareBenchTopology(o);
  RawConnection connection(o, "nilecare-amqp-bench consumer");
  auto* state = connection.State();
  amqp_basic_qos(state, kChannel, 0, static_cast<std::uint16_t>(o.prefetch), 0);
  CheckReply(amqp_get_rpc_reply(state), "basic.qos");
  std::unique_ptr<HttpPoster> poster;
  if (!o.post_url.empty())
    poster = std::make_unique<HttpPoster>(ParseUrl(o.post_url), o.http_concurrency);
  const double cpu_start = CpuSeconds();
  const auto subscribed = NowNs();
  amqp_basic_consume(state, kChannel, amqp::Bytes(o.queue), amqp_empty_bytes, 0, /*no_ack=*/0, 0,
                     amqp_empty_table);
  CheckReply(amqp_get_rpc_reply(state), "basic.consume");

  std::int64_t delivered = 0, acked = 0, bytes = 0, first_ns = 0, last_ns = 0;
  double cpu0 = cpu_start;
  const auto ack = [&](std::uint64_t tag) {
    CheckStatus(amqp_basic_ack(state, kChannel, tag, 0), "basic.ack");
    ++acked;
    last_ns = NowNs();
  };
  std::vector<pollfd> fds;
  std::vector<std::uint64_t> done;
  bool read_broker = true;
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  while (acked < o.tasks && Clock::now() < deadline) {
    bool busy = false;
    for (int k = 0; read_broker && k < kConsumeBurst && delivered < o.tasks; ++k) {
      amqp_maybe_release_buffers(state);
      amqp_envelope_t envelope{};
      timeval zero{0, 0};
      const auto reply = amqp_consume_message(state, &envelope, &zero, 0);
      if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
        if (delivered++ == 0) {
          first_ns = NowNs();
          cpu0 = CpuSeconds();
        }
        bytes += static_cast<std::int64_t>(envelope.message.body.len);
        if (poster) {
          const auto& props = envelope.message.properties;
          poster->Submit(envelope.delivery_tag, amqp::View(envelope.message.body),
                         (props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) ? amqp::View(props.message_id)
                                                                     : std::string_view());
        } else {
          ack(envelope.delivery_tag);
        }
        amqp_destroy_envelope(&envelope);
        busy = true;
        continue;
      }
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          reply.library_error == AMQP_STATUS_TIMEOUT) {
        break;
      }
      if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
          reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
        amqp_frame_t frame{};
        CheckStatus(amqp_simple_wait_frame(state, &frame), "read");
        if (frame.frame_type == AMQP_FRAME_METHOD &&
            (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
             frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD ||
             frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD)) {
          throw std::runtime_error("the broker closed the channel or cancelled the consumer");
        }
        busy = true;
        continue;
      }
      CheckReply(reply, "consume");
    }
    // One poll() for the broker and the handler connections; it waits only when idle.
    fds.clear();
    fds.push_back({connection.Fd(), POLLIN, 0});
    if (poster) poster->PollFds(fds);
    const bool buffered = amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0;
    ::poll(fds.data(), fds.size(), busy || buffered ? 0 : 100);
    read_broker = buffered || fds[0].revents != 0;
    if (poster) {
      done.clear();
      poster->Progress(fds.data() + 1, done);
      for (const auto tag : done) ack(tag);
    }
  }
  const double cpu1 = CpuSeconds();
  const std::int64_t http_errors = poster ? poster->Errors() : 0;
  const std::string first_error = poster ? poster->FirstError() : std::string();
  poster.reset();

  const double secs =
      delivered > 0 && last_ns > first_ns ? static_cast<double>(last_ns - first_ns) / 1e9 : 0;
  const double rate = secs > 0 ? static_cast<double>(acked) / secs : 0;
  const double start_s = first_ns > 0 ? static_cast<double>(first_ns - subscribed) / 1e9 : 0;
  const double cpu = cpu1 - cpu0;
  const double us_per_task = acked > 0 ? cpu * 1e6 / static_cast<double>(acked) : 0;
  std::cout << kProgram << " consume queue=" << o.queue << " prefetch=" << o.prefetch
            << (!o.post_url.empty() ? " post=" + o.post_url +
                                          " http_concurrency=" + std::to_string(o.http_concurrency)
                                    : std::string(" (ack only)"))
            << '\n'
            << "  delivered     " << delivered << " of " << o.tasks << " ("
            << Fixed(
                   delivered > 0 ? static_cast<double>(bytes) / static_cast<double>(delivered) : 0,
                   0)
            << " bytes avg), acked " << acked << ", HTTP errors " << http_errors << '\n'
            << "  consume -> first delivery " << Fixed(start_s, 3) << " s\n"
            << "  first delivery -> last ack " << Fixed(secs, 3) << " s\n"
            << "  tasks/s       " << Fixed(rate, 0) << '\n'
            << "  cpu           " << Fixed(cpu, 2) << " s (" << Fixed(us_per_task, 2)
            << " us/task, this process)\n";
  if (!first_error.empty()) std::cout << "  first error   " << first_error << '\n';
  std::cout << "RESULT label=" << (o.label.empty() ? std::string("consume") : o.label)
            << " mode=consume post=" << (o.post_url.empty() ? 0 : 1)
            << " http_concurrency=" << (o.post_url.empty() ? 0 : o.http_concurrency)
            << " prefetch=" << o.prefetch << " tasks=" << o.tasks << " delivered=" << delivered
            << " acked=" << acked << " http_errors=" << http_errors
            << " start_s=" << Fixed(start_s, 3) << " seconds=" << Fixed(secs, 3)
            << " rate=" << Fixed(rate, 0) << " cpu_s=" << Fixed(cpu, 2)
            << " cpu_us_per_task=" << Fixed(us_per_task, 2) << std::endl;
  return acked == o.tasks && http_errors == 0 ? 0 : kExitFailure;
}

// ---- queue -------------------------------------------------------------------------------------

int Queue(const Options& o) {
  RawConnection connection(o, "nilecare-amqp-bench queue");
  const auto counts = CountQueue(connection, o.queue);
  if (o.purge) {
    amqp_queue_purge(connection.State(), kChannel, amqp::Bytes(o.queue));
    CheckReply(amqp_get_rpc_reply(connection.State()), "queue.purge " + o.queue);
  }
  if (o.remove) DeleteQueue(connection, o.queue);
  std::cout << "RESULT queue=" << o.queue << " messages=" << counts.messages
            << " consumers=" << counts.consumers << " purged=" << (o.purge ? 1 : 0)
            << " deleted=" << (o.remove ? 1 : 0) << std::endl;
  return 0;
}

int Run(const Options& o) {
  observability::log::Init("warn", observability::log::Format::kJson);
  const int code = o.mode == "publish" ? Publish(o) : o.mode == "consume" ? Consume(o) : Queue(o);
  observability::log::Shutdown();
  return code;
}

}  // namespace
}  // namespace nilecare::tools

int main(int argc, char** argv) {
  return nilecare::tools::RunMain(nilecare::tools::kProgram, [&] {
    int exit_code = 0;
    const auto options = nilecare::tools::ParseCommandLine(argc, argv, nilecare::tools::ParseArgs,
                                                           nilecare::tools::kProgram,
                                                           nilecare::tools::kUsage, exit_code);
    if (!options) return exit_code;
    return nilecare::tools::Run(*options);
  });
}
