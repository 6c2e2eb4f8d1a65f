// nilecare-rtload: load generator for the realtime adapter (and for any Socket.IO v4 server
// with the same events), used by bench/realtime.sh.
//
// It speaks raw Engine.IO v4 / Socket.IO v5 text frames over Beast WebSockets:
//
//   ws://HOST:PORT/socket.io/?EIO=4&transport=websocket
//   <- 0{"sid":...}                            Engine.IO open
//   -> 40{"token":"<jwt>"}                     Socket.IO CONNECT (HS256, sub bench-<i>)
//   <- 40{"sid":...}
//   -> 421["subscribe:patient","P<k>"]         join patient:P<k>, ack id 1
//   <- 431[{"success":true,...}]
//   <- 2  -> 3                                 the server pings, the client pongs
//
// Client i joins room i % R. Once every client is subscribed, an emitter POSTs
//
//   /internal/emit {"room":"patient:P<k>","event":"vitals:update",
//                   "data":{"hr":80,"n":<emit number>,"t":<ns>}}
//
// over a few keep-alive HTTP connections at a fixed total rate, round-robin over the rooms,
// for --warmup then --duration seconds. `t` is CLOCK_MONOTONIC (std::chrono::steady_clock)
// at the moment the request is written; receivers parse it out of
// 42["vitals:update",{...,"t":...},"<offset>"] and record now - t in a log-linear histogram
// (1.6 % resolution). Only emits written in the measured window count (`n` tells them from
// the warm-up's): expected deliveries are sum(room size) over those the server accepted
// (2xx), delivered are their receipts, lost = expected - delivered (vitals are droppable: a
// slow client's queue sheds them). Each emit connection has one request in flight: when
// the server cannot keep up, fewer emits go out (achieved < target rate) rather than an
// unbounded backlog, and latency is that of the achieved rate.
//
// With --gateway-pid the server's VmRSS (/proc/<pid>/status) is read before connecting,
// once every client is subscribed, and after the run; its CPU (utime+stime from
// /proc/<pid>/stat) over the measured window too.
//
// Threads: --threads io threads, each with its own io_context and a share of the clients;
// the emitter runs on the first. Nothing in the receive path allocates: one flat_buffer
// per client is reused, the latency histogram is a fixed array per thread.
//
// The last line of output is machine-readable: `RESULT key=value ...`.

#include <algorithm>
#include <array>
#include <cctype>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <nlohmann/json.hpp>

#include "bench_stats.hpp"
#include "flag_reader.hpp"
#include "nilecare/auth/jwt_signer.hpp"

namespace nilecare::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kProgram = "nilecare-rtload";
constexpr int kExitFailure = 1;

constexpr std::string_view kUsage =
    "usage: nilecare-rtload [options]\n"
    "\n"
    "Connects N Socket.IO clients (raw Engine.IO v4 frames over WebSocket), subscribes each\n"
    "to a patient room, emits vitals:update through POST /internal/emit at a fixed rate and\n"
    "reports deliveries/s, delivery latency and the server's RSS per connection.\n"
    "\n"
    "  --host H               server address (default 127.0.0.1)\n"
    "  --port P               server port (default 8080)\n"
    "  --path P               Engine.IO path (default /socket.io/)\n"
    "  --emit-path P          emit endpoint (default /internal/emit)\n"
    "  --internal-token T     Authorization: Bearer T on the emit requests (default none)\n"
    "  --clients N            Socket.IO clients (default 1000)\n"
    "  --rooms R              patient rooms, client i joins P<i % R> (default 100)\n"
    "  --rate E               emits per second, all rooms together; 0 = no emits (default 1000)\n"
    "  --duration S           measured seconds of emitting (default 10)\n"
    "  --warmup S             seconds of emitting before the measurement (default 1)\n"
    "  --drain S              at most this long for the last deliveries (default 10)\n"
    "  --settle S             wait after connecting, before reading RSS (default 1)\n"
    "  --emitters C           keep-alive HTTP connections of the emitter (default 4)\n"
    "  --threads T            io threads (default 1)\n"
    "  --connect-concurrency K  clients handshaking at once (default 256)\n"
    "  --connect-timeout S    give up on the connect phase after S seconds (default 120)\n"
    "  --source-ips K         clients connect from 127.0.0.1 .. 127.0.0.K (loopback servers;\n"
    "                         default 1): K ephemeral port ranges, so tens of thousands of\n"
    "                         connect() calls do not crawl through one nearly full range\n"
    "  --secret S             HS256 secret (default: $JWT_SECRET)\n"
    "  --iss I                token issuer (default nilecare-auth; empty: none)\n"
    "  --aud A                token audience (default nilecare; empty: none)\n"
    "  --role R               token role (default doctor)\n"
    "  --gateway-pid PID      read the server's RSS and CPU from /proc/PID\n"
    "  --label L              printed in the RESULT line (default run)\n"
    "  --help                 this text\n";

// ---- options ------------------------------------------------------------------------------

struct Options {
  std::string host{"127.0.0.1"};
  std::uint16_t port{8080};
  std::string path{"/socket.io/"};
  std::string emit_path{"/internal/emit"};
  std::string internal_token;
  std::size_t clients{1000};
  std::size_t rooms{100};
  double rate{1000};
  double duration{10};
  double warmup{1};
  double drain{10};
  double settle{1};
  std::size_t emitters{4};
  std::size_t threads{1};
  std::size_t connect_concurrency{256};
  std::size_t source_ips{1};
  double connect_timeout{120};
  std::string secret;
  std::string iss{"nilecare-auth"};
  std::string aud{"nilecare"};
  std::string role{"doctor"};
  long gateway_pid{0};
  std::string label{"run"};
  bool help{false};
};

std::optional<Options> ParseArgs(int argc, char** argv, std::string& error) {
  Options o;
  if (const char* env = std::getenv("JWT_SECRET"); env != nullptr) o.secret = env;
  nilecare::tools::FlagReader flags(argc, argv);
  while (flags.Next()) {
    if (flags.IsHelp()) {
      o.help = true;
      continue;
    }
    const std::string_view arg = flags.Flag();
    const auto flag_value = flags.Value();
    if (!flag_value) {
      error = flags.Error();
      return std::nullopt;
    }
    const std::string_view value = *flag_value;
    bool ok = true;
    if (arg == "--host") {
      o.host = value;
    } else if (arg == "--port") {
      ok = ParseNumber(value, o.port) && o.port != 0;
    } else if (arg == "--path") {
      o.path = value;
      if (o.path.empty() || o.path.front() != '/') ok = false;
      if (ok && o.path.back() != '/') o.path.push_back('/');
    } else if (arg == "--emit-path") {
      o.emit_path = value;
    } else if (arg == "--internal-token") {
      o.internal_token = value;
    } else if (arg == "--clients") {
      ok = ParseNumber(value, o.clients) && o.clients > 0;
    } else if (arg == "--rooms") {
      ok = ParseNumber(value, o.rooms) && o.rooms > 0;
    } else if (arg == "--rate") {
      ok = ParseNumber(value, o.rate);
    } else if (arg == "--duration") {
      ok = ParseNumber(value, o.duration) && o.duration > 0;
    } else if (arg == "--warmup") {
      ok = ParseNumber(value, o.warmup);
    } else if (arg == "--drain") {
      ok = ParseNumber(value, o.drain);
    } else if (arg == "--settle") {
      ok = ParseNumber(value, o.settle);
    } else if (arg == "--emitters") {
      ok = ParseNumber(value, o.emitters) && o.emitters > 0 && o.emitters <= 1024;
    } else if (arg == "--threads") {
      ok = ParseNumber(value, o.threads) && o.threads > 0 && o.threads <= 64;
    } else if (arg == "--connect-concurrency") {
      ok = ParseNumber(value, o.connect_concurrency) && o.connect_concurrency > 0;
    } else if (arg == "--source-ips") {
      ok = ParseNumber(value, o.source_ips) && o.source_ips > 0 && o.source_ips <= 250;
    } else if (arg == "--connect-timeout") {
      ok = ParseNumber(value, o.connect_timeout) && o.connect_timeout > 0;
    } else if (arg == "--secret") {
      o.secret = value;
    } else if (arg == "--iss") {
      o.iss = value;
    } else if (arg == "--aud") {
      o.aud = value;
    } else if (arg == "--role") {
      o.role = value;
    } else if (arg == "--gateway-pid") {
      ok = ParseNumber(value, o.gateway_pid) && o.gateway_pid > 0;
    } else if (arg == "--label") {
      o.label = value;
    } else {
      error = flags.Unknown();
      return std::nullopt;
    }
    if (!ok) {
      error = "bad value for " + std::string(arg) + ": " + std::string(value);
      return std::nullopt;
    }
  }
  if (!o.help && o.secret.empty()) {
    error = "no secret: pass --secret or set JWT_SECRET";
    return std::nullopt;
  }
  return o;
}

// ---- /proc -------------------------------------------------------------------------------

// VmRSS of a process in KiB, or -1.
long ReadRssKib(long pid) {
  std::ifstream in("/proc/" + (pid > 0 ? std::to_string(pid) : std::string("self")) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// utime + stime of a process, in seconds, or -1.
double ReadCpuSeconds(long pid) {
  std::ifstream in("/proc/" + (pid > 0 ? std::to_string(pid) : std::string("self")) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may contain spaces; fields after its ')' are plain.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // Fields 3..13 precede utime (14) and stime (15).
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::uint64_t NowNs() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

// ---- latency histogram ---------------------------------------------------------------------

// Log-linear: values below 64 exact, then 64 sub-buckets per power of two (< 1.6 % error).
class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr std::uint64_t kSub = 1u << kSubBits;
  static constexpr std::size_t kBuckets = (64 - kSubBits + 1) * kSub;

  void Record(std::uint64_t value) {
    ++counts_[Index(value)];
    ++count_;
    max_ = std::max(max_, value);
  }
  void Merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  std::uint64_t Count() const { return count_; }
  std::uint64_t Max() const { return max_; }
  // The midpoint of the bucket holding the q-quantile (0 when empty).
  std::uint64_t Quantile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= std::max<std::uint64_t>(rank, 1)) {
        const auto [low, high] = Bounds(i);
        return std::min(low + (high - low) / 2, max_);
      }
    }
    return max_;
  }

 private:
  static std::size_t Index(std::uint64_t v) {
    if (v < kSub) return static_cast<std::size_t>(v);
    const int exponent = 63 - __builtin_clzll(v);  // >= kSubBits
    const int shift = exponent - kSubBits;
    return static_cast<std::size_t>(shift + 1) * kSub + ((v >> shift) & (kSub - 1));
  }
  static std::pair<std::uint64_t, std::uint64_t> Bounds(std::size_t index) {
    if (index < kSub) return {index, index};
    const std::size_t shift = index / kSub - 1;
    const std::uint64_t low = (kSub + index % kSub) << shift;
    return {low, low + ((std::uint64_t{1} << shift) - 1)};
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_{0};
  std::uint64_t max_{0};
};

// ---- shared state ---------------------------------------------------------------------------

struct Shared {
  // The number of the first emit written in the measured window, published by the emitter
  // before it writes that emit: receivers count emits from it on, not the warm-up's.
  std::atomic<std::uint64_t> first_measured{std::numeric_limits<std::uint64_t>::max()};
  std::atomic<std::size_t> subscribed{0};
  std::atomic<std::size_t> failed{0};
  std::atomic<std::size_t> disconnected{0};  // after being subscribed
};

class Client;

struct alignas(64) Worker {
  asio::io_context io{1};
  std::thread thread;
  Histogram latency;             // measured deliveries, ns
  Histogram connect_latency;     // TCP connect -> subscribe ack, ns
  std::atomic<std::uint64_t> delivered{0};
  std::uint64_t warmup_delivered{0};
  std::uint64_t unexpected{0};  // events other than ours, unparsable ones
  std::uint64_t pings{0};
  std::uint64_t last_delivery_ns{0};
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::uint32_t> room_members;  // subscribed clients per room
  std::size_t next_start{0};
  std::string failure_sample;  // the first failure, for the report
  Shared* shared{nullptr};
  const Options* options{nullptr};
  tcp::endpoint endpoint;
  std::string host_header;
  std::string target;

  void StartNext();
};

// ---- one Socket.IO client -----------------------------------------------------------------

class Client {
 public:
  using BindAddressNoPort =
      asio::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>;

  Client(Worker& worker, std::size_t room, std::string connect_packet, asio::ip::address source)
      : worker_(worker),
        source_(source),
        ws_(worker.io),
        room_(room),
        connect_packet_(std::move(connect_packet)),
        subscribe_packet_("421[\"subscribe:patient\",\"P" + std::to_string(room) + "\"]") {}

  void Start() {
    started_ns_ = NowNs();
    if (!source_.is_unspecified()) {
      // Another loopback source address: its own ephemeral port space. The port is
      // chosen at connect() (IP_BIND_ADDRESS_NO_PORT), per destination.
      auto& socket = beast::get_lowest_layer(ws_);
      beast::error_code ec;
      socket.open(tcp::v4(), ec);
      if (!ec) socket.set_option(BindAddressNoPort(true), ec);
      if (!ec) socket.bind(tcp::endpoint(source_, 0), ec);
      if (ec) return Fail("bind " + source_.to_string() + ": " + ec.message());
    }
    beast::get_lowest_layer(ws_).async_connect(worker_.endpoint, [this](beast::error_code ec) {
      if (ec) return Fail("connect: " + ec.message());
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).set_option(tcp::no_delay(true), ignored);
      ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
        request.set(beast::http::field::user_agent, "nilecare-rtload");
      }));
      ws_.read_message_max(1 << 20);
      ws_.auto_fragment(false);
      ws_.text(true);
      ws_.async_handshake(worker_.host_header, worker_.target, [this](beast::error_code hs_ec) {
        if (hs_ec) return Fail("websocket handshake: " + hs_ec.message());
        buffer_.reserve(512);
        Read();
      });
    });
  }

  // At exit: an abortive close (RST) leaves no TIME_WAIT behind, so the next run finds
  // the ephemeral ports free (19,000 sockets in TIME_WAIT slow every connect() down).
  void SetAbortiveClose() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).set_option(asio::socket_base::linger(true, 0), ignored);
  }

 private:
  enum class State { kOpening, kConnecting, kSubscribing, kSubscribed, kDone };

  void Read() {
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      if (ec) return Closed(ec);
      const auto data = buffer_.cdata();
      OnMessage(std::string_view(static_cast<const char*>(data.data()), data.size()));
      buffer_.consume(buffer_.size());
      if (state_ != State::kDone) Read();
    });
  }

  void OnMessage(std::string_view m) {
    if (m.empty()) return;
    switch (m[0]) {
      case '2':  // Engine.IO ping
        ++worker_.pings;
        return Write("3");
      case '4':
        if (m.size() >= 3 && m[1] == '2') return OnEvent(m.substr(2));
        return OnSocketIo(m.substr(1));
      case '0':  // Engine.IO open
        if (state_ == State::kOpening) {
          state_ = State::kConnecting;
          Write(connect_packet_);
        }
        return;
      case '1':  // Engine.IO close
        return Closed(websocket::error::closed);
      case '6':  // noop
        return;
      default:
        ++worker_.unexpected;
    }
  }

  void OnSocketIo(std::string_view p) {
    if (p.empty()) return;
    switch (p[0]) {
      case '0':  // CONNECT reply
        if (state_ == State::kConnecting && p.find("\"sid\"") != std::string_view::npos) {
          state_ = State::kSubscribing;
          return Write(subscribe_packet_);
        }
        return;
      case '3':  // ACK: ours has id 1
        if (state_ == State::kSubscribing && p.starts_with("31[")) {
          if (p.find("\"success\":true") == std::string_view::npos) {
            return Fail("subscribe refused: " + std::string(p.substr(0, 200)));
          }
          state_ = State::kSubscribed;
          worker_.connect_latency.Record(NowNs() - started_ns_);
          ++worker_.room_members[room_];
          worker_.shared->subscribed.fetch_add(1, std::memory_order_relaxed);
          worker_.StartNext();
        }
        return;
      case '4':  // CONNECT_ERROR
        return Fail("connect refused: " + std::string(p.substr(0, 200)));
      case '1':  // DISCONNECT
        return Closed(websocket::error::closed);
      default:
        ++worker_.unexpected;
    }
  }

  // The number after "<key>": from `from` on, or nullopt.
  static std::optional<std::uint64_t> NumberAfter(std::string_view p, std::string_view key,
                                                  std::size_t& from) {
    const auto at = p.find(key, from);
    if (at == std::string_view::npos) return std::nullopt;
    std::uint64_t value = 0;
    const char* first = p.data() + at + key.size();
    const auto [ptr, ec] = std::from_chars(first, p.data() + p.size(), value);
    if (ec != std::errc() || ptr == first) return std::nullopt;
    from = static_cast<std::size_t>(ptr - p.data());
    return value;
  }

  // ["vitals:update",{"hr":80,"n":<emit index>,"t":<ns>},"<offset>"]
  void OnEvent(std::string_view p) {
    const std::uint64_t now = NowNs();
    static constexpr std::string_view kPrefix = "[\"vitals:update\",";
    if (!p.starts_with(kPrefix)) {
      ++worker_.unexpected;
      return;
    }
    std::size_t from = kPrefix.size();
    const auto index = NumberAfter(p, "\"n\":", from);
    const auto stamp = index ? NumberAfter(p, "\"t\":", from) : std::nullopt;
    if (!stamp) {
      ++worker_.unexpected;
      return;
    }
    if (*index < worker_.shared->first_measured.load(std::memory_order_acquire)) {
      ++worker_.warmup_delivered;
      return;
    }
    worker_.latency.Record(now > *stamp ? now - *stamp : 0);
    worker_.last_delivery_ns = now;
    worker_.delivered.fetch_add(1, std::memory_order_relaxed);
  }

  // Messages point at storage that outlives the write: the client's packets or literals.
  void Write(std::string_view message) {
    if (writing_) {
      if (queued_ < queue_.size()) queue_[queued_++] = message;
      return;
    }
    writing_ = true;
    ws_.async_write(asio::buffer(message.data(), message.size()),
                    [this](beast::error_code ec, std::size_t) {
                      writing_ = false;
                      if (ec) return Closed(ec);
                      if (queued_ > 0) {
                        const std::string_view next = queue_[0];
                        std::move(queue_.begin() + 1, queue_.begin() + queued_, queue_.begin());
                        --queued_;
                        Write(next);
                      }
                    });
  }

  void Fail(std::string why) {
    if (state_ == State::kDone) return;
    const bool was_subscribed = state_ == State::kSubscribed;
    state_ = State::kDone;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    if (was_subscribed) {
      worker_.shared->disconnected.fetch_add(1, std::memory_order_relaxed);
      --worker_.room_members[room_];
      return;
    }
    if (worker_.failure_sample.empty()) worker_.failure_sample = std::move(why);
    worker_.shared->failed.fetch_add(1, std::memory_order_relaxed);
    worker_.StartNext();
  }

  void Closed(beast::error_code ec) { Fail("closed: " + ec.message()); }

  Worker& worker_;
  asio::ip::address source_;  // unspecified: let the kernel choose
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  std::size_t room_;
  std::string connect_packet_;
  std::string subscribe_packet_;
  State state_{State::kOpening};
  bool writing_{false};
  std::array<std::string_view, 4> queue_{};
  std::size_t queued_{0};
  std::uint64_t started_ns_{0};
};

void Worker::StartNext() {
  if (next_start < clients.size()) clients[next_start++]->Start();
}

// ---- the emitter ----------------------------------------------------------------------------

struct EmitStats {
  std::atomic<std::uint64_t> sent{0};          // measured emits written
  std::atomic<std::uint64_t> accepted{0};      // ... answered 2xx
  std::atomic<std::uint64_t> errors{0};        // non-2xx, unparsable, connection errors
  std::atomic<std::uint64_t> expected{0};      // sum of room sizes over accepted emits
  std::atomic<std::uint64_t> reported{0};      // sum of the server's local_recipients
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<bool> done{false};
  std::uint64_t warmup_sent{0};
  std::uint64_t due_unsent{0};  // scheduled in the window but not written by its end
  std::uint64_t late{0};        // written more than 1 ms after their scheduled time
  std::uint64_t max_lag_ns{0};
};

class Emitter {
 public:
  Emitter(asio::io_context& io, const Options& options, tcp::endpoint endpoint,
          std::vector<std::uint32_t> room_sizes, EmitStats& stats)
      : options_(options),
        endpoint_(endpoint),
        room_sizes_(std::move(room_sizes)),
        stats_(stats),
        timer_(io) {
    header_ = "POST " + options.emit_path + " HTTP/1.1\r\nHost: " + options.host + ":" +
              std::to_string(options.port) +
              "\r\nContent-Type: application/json\r\nUser-Agent: nilecare-rtload\r\n";
    if (!options.internal_token.empty()) {
      header_ += "Authorization: Bearer " + options.internal_token + "\r\n";
    }
    header_ += "Content-Length: ";
    for (std::size_t i = 0; i < options.emitters; ++i) {
      conns_.push_back(std::make_unique<Conn>(io));
      conns_.back()->request.reserve(header_.size() + 256);
    }
  }

  // Connects every HTTP connection; `ready(errors)` runs on the io thread.
  void Connect(std::function<void(std::size_t)> ready) {
    auto left = std::make_shared<std::size_t>(conns_.size());
    auto failures = std::make_shared<std::size_t>(0);
    for (auto& owned : conns_) {
      owned->socket.async_connect(endpoint_, [c = owned.get(), left, failures,
                                              ready](beast::error_code ec) {
        if (ec) {
          ++*failures;
        } else {
          beast::error_code ignored;
          c->socket.set_option(tcp::no_delay(true), ignored);
          c->open = true;
        }
        if (--*left == 0) ready(*failures);
      });
    }
  }

  // Emits from t0 to end; those written from measure_start on are measured, and the
  // number of the first of them is stored in `first_measured`. Emits are numbered in the
  // order they are written: an emitter that fell behind in the warm-up catches up, and
  // its late warm-up emits still count as warm-up.
  void Start(Clock::time_point t0, Clock::time_point measure_start, Clock::time_point end,
             std::atomic<std::uint64_t>& first_measured) {
    t0_ = t0;
    measure_start_ = measure_start;
    end_ = end;
    first_measured_ = &first_measured;
    Tick();
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    bool open{false};
    bool busy{false};
    bool measured{false};  // the request in flight counts
    std::size_t room{0};
    std::string request;
    std::array<char, 8192> in{};
    std::size_t in_len{0};
  };

  static std::size_t Digits(std::uint64_t value) {
    std::size_t digits = 1;
    while (value >= 10) {
      value /= 10;
      ++digits;
    }
    return digits;
  }

  // When emit #index is due: emits are spread evenly from t0.
  Clock::time_point Scheduled(std::uint64_t index) const {
    return t0_ + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(static_cast<double>(index) / options_.rate));
  }

  // Emits scheduled at or before `now` (and before the end).
  std::uint64_t Due(Clock::time_point now) const {
    if (now < t0_) return 0;
    const double total = std::chrono::duration<double>(end_ - t0_).count() * options_.rate;
    const auto all = static_cast<std::uint64_t>(std::ceil(total));
    if (now >= end_) return all;
    const double seconds = std::chrono::duration<double>(now - t0_).count();
    return std::min(all, static_cast<std::uint64_t>(seconds * options_.rate) + 1);
  }

  void Tick() {
    const auto now = Clock::now();
    Pump(now);
    if (now >= end_) {
      stats_.due_unsent = Due(end_) - issued_;
      stopping_ = true;
      MaybeDone();
      return;
    }
    // Wake when the next emit is due (not before 200 us from now: emits are batched at
    // high rates), so an emit leaves within ~0.2 ms of its schedule unless every
    // connection is busy.
    timer_.expires_at(std::max(Scheduled(issued_), now + std::chrono::microseconds(200)));
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec) Tick();
    });
  }

  // Writes what is due on every idle connection.
  void Pump(Clock::time_point now) {
    if (stopping_) return;
    const std::uint64_t due = Due(now);
    for (std::size_t n = 0; n < conns_.size() && issued_ < due; ++n) {
      Conn& conn = *conns_[next_conn_];
      next_conn_ = (next_conn_ + 1) % conns_.size();
      if (!conn.open || conn.busy) continue;
      Send(conn);
    }
  }

  // The stamp is taken here, as the request is written: latency is write -> receipt, and
  // whether the emit is measured follows from the same clock reading.
  void Send(Conn& conn) {
    const auto now = Clock::now();
    const std::uint64_t index = issued_++;
    const auto scheduled = Scheduled(index);
    const auto lag = std::chrono::duration_cast<std::chrono::nanoseconds>(now - scheduled).count();
    const auto stamp = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count());
    conn.measured = now >= measure_start_;
    if (conn.measured && !published_) {
      first_measured_->store(index, std::memory_order_release);
      published_ = true;
    }
    if (conn.measured) {
      stats_.sent.fetch_add(1, std::memory_order_relaxed);
      if (lag > 1'000'000) ++stats_.late;
      stats_.max_lag_ns = std::max<std::uint64_t>(stats_.max_lag_ns, lag > 0 ? lag : 0);
    } else {
      ++stats_.warmup_sent;
    }
    conn.room = static_cast<std::size_t>(index % room_sizes_.size());

    char number[24];
    auto append_number = [&conn, &number](std::uint64_t value) {
      conn.request.append(number, std::to_chars(number, number + sizeof number, value).ptr);
    };
    // {"room":"patient:P<k>","event":"vitals:update","data":{"hr":80,"n":<index>,"t":<ns>}},
    // its length known before it is written.
    static constexpr std::string_view kBody1 = R"({"room":"patient:P)";
    static constexpr std::string_view kBody2 = R"(","event":"vitals:update","data":{"hr":80,"n":)";
    static constexpr std::string_view kBody3 = R"(,"t":)";
    static constexpr std::string_view kBody4 = "}}";
    const std::size_t body_size = kBody1.size() + Digits(conn.room) + kBody2.size() +
                                  Digits(index) + kBody3.size() + Digits(stamp) + kBody4.size();
    conn.request.clear();  // keeps its capacity: no allocation per emit
    conn.request.append(header_);
    append_number(body_size);
    conn.request.append("\r\n\r\n");
    conn.request.append(kBody1);
    append_number(conn.room);
    conn.request.append(kBody2);
    append_number(index);
    conn.request.append(kBody3);
    append_number(stamp);
    conn.request.append(kBody4);
    conn.busy = true;
    stats_.in_flight.fetch_add(1, std::memory_order_relaxed);
    asio::async_write(conn.socket, asio::buffer(conn.request),
                      [this, c = &conn](beast::error_code ec, std::size_t) {
                        if (ec) return Broken(*c);
                        ReadResponse(*c);
                      });
  }

  void ReadResponse(Conn& conn) {
    conn.socket.async_read_some(
        asio::buffer(conn.in.data() + conn.in_len, conn.in.size() - conn.in_len),
        [this, c = &conn](beast::error_code ec, std::size_t bytes) {
          if (ec) return Broken(*c);
          c->in_len += bytes;
          OnResponseBytes(*c);
        });
  }

  static std::size_t FindNoCase(std::string_view haystack, std::string_view needle) {
    if (needle.size() > haystack.size()) return std::string_view::npos;
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
      bool match = true;
      for (std::size_t j = 0; j < needle.size() && match; ++j) {
        match = std::tolower(static_cast<unsigned char>(haystack[i + j])) ==
                std::tolower(static_cast<unsigned char>(needle[j]));
      }
      if (match) return i;
    }
    return std::string_view::npos;
  }

  void OnResponseBytes(Conn& conn) {
    const std::string_view text(conn.in.data(), conn.in_len);
    const auto header_end = text.find("\r\n\r\n");
    if (header_end == std::string_view::npos) {
      if (conn.in_len == conn.in.size()) return Broken(conn);
      return ReadResponse(conn);
    }
    const std::string_view header = text.substr(0, header_end);
    // The usual spelling first: the case-blind search is the slow path.
    auto length_at = header.find("\r\nContent-Length:");
    if (length_at == std::string_view::npos) length_at = FindNoCase(header, "\r\ncontent-length:");
    if (length_at == std::string_view::npos || header.size() < 12) return Broken(conn);
    std::size_t length_pos = length_at + 17;
    while (length_pos < header.size() && header[length_pos] == ' ') ++length_pos;
    std::size_t content_length = 0;
    std::from_chars(header.data() + length_pos, header.data() + header.size(), content_length);
    const std::size_t total = header_end + 4 + content_length;
    if (total > conn.in.size()) return Broken(conn);
    if (conn.in_len < total) return ReadResponse(conn);

    unsigned status = 0;
    std::from_chars(header.data() + 9, header.data() + 12, status);
    const std::string_view body = text.substr(header_end + 4, content_length);
    const bool ok = status >= 200 && status < 300;
    if (conn.measured) {
      if (ok) {
        stats_.accepted.fetch_add(1, std::memory_order_relaxed);
        stats_.expected.fetch_add(room_sizes_[conn.room], std::memory_order_relaxed);
        static constexpr std::string_view kRecipients = "\"local_recipients\":";
        if (const auto at = body.find(kRecipients); at != std::string_view::npos) {
          std::uint64_t reported = 0;
          std::from_chars(body.data() + at + kRecipients.size(), body.data() + body.size(),
                          reported);
          stats_.reported.fetch_add(reported, std::memory_order_relaxed);
        }
      } else {
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        if (error_sample_.empty()) error_sample_ = std::string(text.substr(0, 300));
      }
    }
    const bool close = header.find("lose") != std::string_view::npos &&  // cheaply first
                       FindNoCase(header, "\r\nconnection: close") != std::string_view::npos;
    // Keep whatever follows (nothing, without pipelining); `text` and `header` are stale.
    std::memmove(conn.in.data(), conn.in.data() + total, conn.in_len - total);
    conn.in_len -= total;
    conn.busy = false;
    stats_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (close) {
      beast::error_code ignored;
      conn.socket.close(ignored);
      conn.open = false;
    }
    // Catch up at once rather than at the next tick.
    const auto now = Clock::now();
    if (!stopping_ && conn.open && issued_ < Due(now)) Send(conn);
    MaybeDone();
  }

  void Broken(Conn& conn) {
    if (conn.measured) stats_.errors.fetch_add(1, std::memory_order_relaxed);
    if (error_sample_.empty()) error_sample_ = "emit connection broken";
    beast::error_code ignored;
    conn.socket.close(ignored);
    conn.open = false;
    if (conn.busy) {
      conn.busy = false;
      stats_.in_flight.fetch_sub(1, std::memory_order_relaxed);
    }
    MaybeDone();
  }

  void MaybeDone() {
    if (stopping_ && stats_.in_flight.load(std::memory_order_relaxed) == 0) {
      stats_.done.store(true);
    }
  }

 public:
  std::string error_sample_;

 private:
  const Options& options_;
  tcp::endpoint endpoint_;
  std::vector<std::uint32_t> room_sizes_;
  EmitStats& stats_;
  asio::steady_timer timer_;
  std::string header_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::size_t next_conn_{0};
  std::uint64_t issued_{0};
  bool stopping_{false};
  Clock::time_point t0_{}, measure_start_{}, end_{};
  std::atomic<std::uint64_t>* first_measured_{nullptr};
  bool published_{false};
};

// ---- the run --------------------------------------------------------------------------------

double Ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

void SleepUntil(Clock::time_point when) { std::this_thread::sleep_until(when); }

int Run(const Options& o) {
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  {
    asio::io_context resolver_io;
    tcp::resolver resolver(resolver_io);
    const auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
    if (ec || results.empty()) {
      std::cerr << kProgram << ": cannot resolve " << o.host << ": " << ec.message() << '\n';
      return kExitFailure;
    }
    endpoint = results.begin()->endpoint();
  }
  if (o.source_ips > 1 && !(endpoint.address().is_v4() && endpoint.address().is_loopback())) {
    std::cerr << kProgram << ": --source-ips needs an IPv4 loopback server address\n";
    return kExitUsage;
  }

  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::size_t t = 0; t < o.threads; ++t) {
    auto worker = std::make_unique<Worker>();
    worker->shared = &shared;
    worker->options = &o;
    worker->endpoint = endpoint;
    worker->host_header = o.host + ":" + std::to_string(o.port);
    worker->target = o.path + "?EIO=4&transport=websocket";
    worker->room_members.assign(o.rooms, 0);
    workers.push_back(std::move(worker));
  }

  // Tokens first: signing is not part of what is measured.
  const long long now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  for (std::size_t i = 0; i < o.clients; ++i) {
    nlohmann::json claims = {{"sub", "bench-" + std::to_string(i)},
                             {"iat", now_s},
                             {"exp", now_s + 24 * 3600}};
    if (!o.role.empty()) claims["role"] = o.role;
    if (!o.iss.empty()) claims["iss"] = o.iss;
    if (!o.aud.empty()) claims["aud"] = o.aud;
    std::string packet = "40{\"token\":\"" + auth::SignHmac("HS256", o.secret, claims) + "\"}";
    Worker& worker = *workers[i % o.threads];
    asio::ip::address source;
    if (o.source_ips > 1) {
      source = asio::ip::make_address_v4(0x7f000001u +
                                         static_cast<std::uint32_t>(i % o.source_ips));
    }
    worker.clients.push_back(
        std::make_unique<Client>(worker, i % o.rooms, std::move(packet), source));
  }

  const long pid = o.gateway_pid;
  const long rss_before = pid > 0 ? ReadRssKib(pid) : -1;

  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (auto& worker : workers) {
    guards.emplace_back(worker->io.get_executor());
    Worker* w = worker.get();
    w->thread = std::thread([w] { w->io.run(); });
  }

  // ---- connect ----
  const auto connect_start = Clock::now();
  const std::size_t per_worker =
      std::max<std::size_t>(1, (o.connect_concurrency + o.threads - 1) / o.threads);
  for (auto& worker : workers) {
    asio::post(worker->io, [w = worker.get(), per_worker] {
      for (std::size_t k = 0; k < per_worker; ++k) w->StartNext();
    });
  }
  const auto connect_deadline =
      connect_start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(o.connect_timeout));
  while (shared.subscribed.load() + shared.failed.load() < o.clients &&
         Clock::now() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double connect_s =
      std::chrono::duration<double>(Clock::now() - connect_start).count();
  const std::size_t subscribed = shared.subscribed.load();
  std::cerr << kProgram << ": " << subscribed << "/" << o.clients << " clients subscribed in "
            << Fixed(connect_s, 2) << " s (" << shared.failed.load() << " failed)\n";

  std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
  const long rss_connected = pid > 0 ? ReadRssKib(pid) : -1;

  // Room sizes as the emitter will count them, read on the io threads.
  std::vector<std::uint32_t> room_sizes(o.rooms, 0);
  for (auto& worker : workers) {
    std::promise<std::vector<std::uint32_t>> members;
    auto future = members.get_future();
    asio::post(worker->io, [w = worker.get(), &members] { members.set_value(w->room_members); });
    const auto counts = future.get();
    for (std::size_t r = 0; r < o.rooms; ++r) room_sizes[r] += counts[r];
  }

  // ---- emit ----
  EmitStats emit;
  std::unique_ptr<Emitter> emitter;
  double gw_cpu = -1, tool_cpu = -1, window_s = 0;
  std::uint64_t measure_start_ns = 0;
  bool emitter_ok = true;
  if (o.rate > 0 && subscribed > 0) {
    emitter = std::make_unique<Emitter>(workers[0]->io, o, endpoint, room_sizes, emit);
    std::promise<std::size_t> connected;
    auto future = connected.get_future();
    asio::post(workers[0]->io, [&] {
      emitter->Connect([&connected](std::size_t errors) { connected.set_value(errors); });
    });
    if (const std::size_t errors = future.get(); errors == o.emitters) {
      std::cerr << kProgram << ": no emitter connection could be opened\n";
      emitter_ok = false;
    }
  }
  if (emitter && emitter_ok) {
    const auto t0 = Clock::now() + std::chrono::milliseconds(20);
    const auto measure_start = t0 + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.warmup));
    const auto end = measure_start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.duration));
    measure_start_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(measure_start.time_since_epoch())
            .count());
    asio::post(workers[0]->io,
               [&] { emitter->Start(t0, measure_start, end, shared.first_measured); });

    SleepUntil(measure_start);
    const double gw0 = pid > 0 ? ReadCpuSeconds(pid) : -1;
    const double self0 = ReadCpuSeconds(0);
    SleepUntil(end);
    const double gw1 = pid > 0 ? ReadCpuSeconds(pid) : -1;
    const double self1 = ReadCpuSeconds(0);
    window_s = std::chrono::duration<double>(end - measure_start).count();
    if (pid > 0 && gw0 >= 0 && gw1 >= 0) gw_cpu = 100.0 * (gw1 - gw0) / window_s;
    tool_cpu = 100.0 * (self1 - self0) / window_s;

    // Drain: until every expected delivery arrived, nothing arrived for a second, or
    // --drain ran out.
    const auto drain_deadline = end + std::chrono::duration_cast<Clock::duration>(
                                          std::chrono::duration<double>(o.drain));
    auto delivered_now = [&] {
      std::uint64_t total = 0;
      for (auto& worker : workers) total += worker->delivered.load(std::memory_order_relaxed);
      return total;
    };
    std::uint64_t last_seen = delivered_now();
    auto last_progress = Clock::now();
    while (Clock::now() < drain_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const std::uint64_t seen = delivered_now();
      if (emit.done.load() && seen >= emit.expected.load()) break;
      if (seen != last_seen) {
        last_seen = seen;
        last_progress = Clock::now();
      } else if (emit.done.load() && Clock::now() - last_progress > std::chrono::seconds(1)) {
        break;
      }
    }
  }
  const long rss_after = pid > 0 ? ReadRssKib(pid) : -1;
  const long tool_rss = ReadRssKib(0);

  for (auto& worker : workers) worker->io.stop();
  for (auto& worker : workers) worker->thread.join();
  for (auto& worker : workers) {
    for (auto& client : worker->clients) client->SetAbortiveClose();
  }

  // ---- report ----
  Histogram latency;
  Histogram connect_latency;
  std::uint64_t delivered = 0, warmup_delivered = 0, unexpected = 0, last_delivery_ns = 0;
  std::string failure_sample;
  for (auto& worker : workers) {
    latency.Merge(worker->latency);
    connect_latency.Merge(worker->connect_latency);
    delivered += worker->delivered.load();
    warmup_delivered += worker->warmup_delivered;
    unexpected += worker->unexpected;
    last_delivery_ns = std::max(last_delivery_ns, worker->last_delivery_ns);
    if (failure_sample.empty()) failure_sample = worker->failure_sample;
  }
  const std::uint64_t expected = emit.expected.load();
  const std::uint64_t lost = expected > delivered ? expected - delivered : 0;
  double delivery_window_s = window_s;
  if (last_delivery_ns > measure_start_ns && measure_start_ns > 0) {
    delivery_window_s =
        std::max(window_s, static_cast<double>(last_delivery_ns - measure_start_ns) / 1e9);
  }
  const double deliveries_per_s = delivery_window_s > 0 ? delivered / delivery_window_s : 0;
  const double emit_rate = window_s > 0 ? emit.sent.load() / window_s : 0;
  const long rss_per_conn_bytes =
      rss_before >= 0 && rss_connected >= 0 && subscribed > 0
          ? static_cast<long>((rss_connected - rss_before) * 1024.0 / subscribed)
          : -1;
  const long rss_per_conn_after_bytes =
      rss_before >= 0 && rss_after >= 0 && subscribed > 0
          ? static_cast<long>((rss_after - rss_before) * 1024.0 / subscribed)
          : -1;

  std::cout << "clients      " << subscribed << "/" << o.clients << " subscribed ("
            << shared.failed.load() << " failed, " << shared.disconnected.load()
            << " disconnected later) in " << Fixed(connect_s, 2) << " s; connect+subscribe p50 "
            << Fixed(Ms(connect_latency.Quantile(0.5)), 2) << " ms, p99 "
            << Fixed(Ms(connect_latency.Quantile(0.99)), 2) << " ms\n";
  if (!failure_sample.empty()) std::cout << "first failure: " << failure_sample << '\n';
  std::cout << "rooms        " << o.rooms << " (" << o.clients / o.rooms << "-"
            << (o.clients + o.rooms - 1) / o.rooms << " clients each)\n";
  if (emitter) {
    std::cout << "emits        " << emit.sent.load() << " in " << Fixed(window_s, 1)
              << " s (target " << Fixed(o.rate, 0) << "/s, achieved " << Fixed(emit_rate, 0)
              << "/s; " << emit.due_unsent << " due but unsent, " << emit.late
              << " sent >1 ms late, max lag " << Fixed(Ms(emit.max_lag_ns), 1) << " ms; "
              << emit.errors.load() << " errors)\n";
    if (!emitter->error_sample_.empty()) {
      std::cout << "first emit error: " << emitter->error_sample_ << '\n';
    }
    std::cout << "deliveries   " << delivered << "/" << expected << " expected (" << lost
              << " lost; server counted " << emit.reported.load() << " recipients), "
              << Fixed(deliveries_per_s, 0) << "/s; " << warmup_delivered
              << " warm-up deliveries not counted\n";
    std::cout << "latency      p50 " << Fixed(Ms(latency.Quantile(0.5)), 3) << " ms, p90 "
              << Fixed(Ms(latency.Quantile(0.9)), 3) << " ms, p99 "
              << Fixed(Ms(latency.Quantile(0.99)), 3) << " ms, max "
              << Fixed(Ms(latency.Max()), 3) << " ms\n";
    std::cout << "cpu          server " << Fixed(gw_cpu, 0) << " %, this tool "
              << Fixed(tool_cpu, 0) << " % (100 % = one core)\n";
  }
  if (pid > 0) {
    std::cout << "server rss   " << rss_before << " KiB idle, " << rss_connected
              << " KiB connected, " << rss_after << " KiB after; "
              << Fixed(rss_per_conn_bytes / 1024.0, 2) << " KiB/connection ("
              << Fixed(rss_per_conn_after_bytes / 1024.0, 2) << " after the run)\n";
  }
  std::cout << "RESULT label=" << o.label << " clients=" << o.clients
            << " subscribed=" << subscribed << " failed=" << shared.failed.load()
            << " disconnected=" << shared.disconnected.load() << " rooms=" << o.rooms
            << " connect_s=" << Fixed(connect_s, 2)
            << " connect_p99_ms=" << Fixed(Ms(connect_latency.Quantile(0.99)), 2)
            << " rate=" << Fixed(o.rate, 0) << " emits=" << emit.sent.load()
            << " emit_rate=" << Fixed(emit_rate, 0) << " emit_errors=" << emit.errors.load()
            << " emit_late=" << emit.late << " expected=" << expected
            << " delivered=" << delivered << " lost=" << lost
            << " reported=" << emit.reported.load()
            << " deliveries_per_s=" << Fixed(deliveries_per_s, 0)
            << " p50_ms=" << Fixed(Ms(latency.Quantile(0.5)), 3)
            << " p90_ms=" << Fixed(Ms(latency.Quantile(0.9)), 3)
            << " p99_ms=" << Fixed(Ms(latency.Quantile(0.99)), 3)
            << " max_ms=" << Fixed(Ms(latency.Max()), 3) << " gw_cpu=" << Fixed(gw_cpu, 0)
            << " tool_cpu=" << Fixed(tool_cpu, 0) << " rss_before_kib=" << rss_before
            << " rss_connected_kib=" << rss_connected << " rss_after_kib=" << rss_after
            << " rss_per_conn_b=" << rss_per_conn_bytes
            << " rss_per_conn_after_b=" << rss_per_conn_after_bytes
            << " tool_rss_kib=" << tool_rss << " unexpected=" << unexpected << '\n';
  std::cout.flush();
  // The io threads are stopped with N sockets and their pending operations still open;
  // the kernel closes them faster than tearing the clients down one by one.
  std::_Exit(subscribed == 0 ? kExitFailure : 0);
}

}  // namespace
}  // namespace nilecare::tools

int main(int argc, char** argv) {
  using namespace nilecare::tools;
  return RunMain(kProgram, [&] {
    int exit_code = 0;
    const auto options = ParseCommandLine(argc, argv, ParseArgs, kProgram, kUsage, exit_code);
    if (!options) return exit_code;
    return Run(*options);
  });
}
