#include "nilecare/storage/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "hiredis_asio_adapter.hpp"
#include "nilecare/observability/log.hpp"

namespace nilecare::storage {
namespace asio = boost::asio;
namespace log = observability::log;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kInitialBackoff{100};
constexpr milliseconds kMaxBackoff{5000};
// A connection that answers nothing for this long while commands wait is presumed dead
// (half-open TCP: the peer vanished without a RST), so failing every command until the
// kernel gives up retransmitting (~15 min) is avoided. Generous, so that one slow command
// (a big SCAN, DEBUG SLEEP in tests) does not cost everyone a reconnect.
constexpr milliseconds kMinStallTimeout{5000};
constexpr int kStallTimeoutFactor = 5;

RedisReply Decode(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i)
        out.elements.push_back(Decode(*reply.element[i]));
      break;
    default: out.type = RedisReply::Type::kNil;
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// These change how hiredis routes replies on the connection; Subscribe() owns them.
bool IsConnectionModeCommand(std::string_view name) {
  for (std::string_view mode :
       {"SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "MONITOR"}) {
    if (EqualsIgnoreCase(name, mode)) return true;
  }
  return false;
}

void* IdToPrivdata(std::uint64_t id) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(id));
}
std::uint64_t PrivdataToId(void* privdata) {
  return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(privdata));
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    const int high = i + 2 < text.size() ? HexDigit(text[i + 1]) : -1;
    const int low = i + 2 < text.size() ? HexDigit(text[i + 2]) : -1;
    if (high < 0 || low < 0) {
      throw std::invalid_argument("redis.url: bad percent-encoding in the credentials");
    }
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

template <typename Int>
bool ParseInt(std::string_view text, Int& out) {
  const auto* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, out);
  return !text.empty() && error == std::errc() && ptr == end;
}

}  // namespace

RedisReply RedisReply::Error(std::string text) {
  RedisReply reply;
  reply.type = Type::kError;
  reply.text = std::move(text);
  return reply;
}

RedisEndpoint ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.starts_with("rediss://")) {
    throw std::invalid_argument(
        "redis.url: rediss:// (TLS) is not supported (hiredis 0.14); use a TLS sidecar");
  }
  if (!url.starts_with(kScheme)) throw std::invalid_argument("redis.url must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
  RedisEndpoint endpoint;

  // The last '@' ends the credentials: an unencoded password may contain '@' or '/'.
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      throw std::invalid_argument("redis.url: write credentials as :password@ or user:password@");
    }
    endpoint.username = PercentDecode(userinfo.substr(0, colon));
    endpoint.password = PercentDecode(userinfo.substr(colon + 1));
    if (endpoint.password.empty()) throw std::invalid_argument("redis.url: empty password");
  }
  if (rest.find('?') != std::string_view::npos) {
    throw std::invalid_argument("redis.url: query options are not supported");
  }

  std::string_view authority = rest;
  std::string_view path;
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      throw std::invalid_argument("redis.url: unclosed [ in host");
    endpoint.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw std::invalid_argument("redis.url: junk after ]");
      port_text = after.substr(1);
      if (port_text.empty()) throw std::invalid_argument("redis.url: empty port");
    }
  } else if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    endpoint.host = std::string(authority.substr(0, colon));
    port_text = authority.substr(colon + 1);
    if (port_text.empty()) throw std::invalid_argument("redis.url: empty port");
  } else {
    endpoint.host = std::string(authority);
  }
  if (endpoint.host.empty()) throw std::invalid_argument("redis.url: missing host");
  if (!port_text.empty()) {
    unsigned port = 0;
    if (!ParseInt(port_text, port) || port == 0 || port > 65535) {
      throw std::invalid_argument("redis.url: port must be 1-65535");
    }
    endpoint.port = static_cast<std::uint16_t>(port);
  }
  if (!path.empty() && (!ParseInt(path, endpoint.db) || endpoint.db < 0)) {
    throw std::invalid_argument("redis.url: the path must be a database number (/0, /1...)");
  }
  return endpoint;
}

// All state below is guarded by mutex_. Handlers run on strand_ and so one at a time; the
// lock is for Stop() and the destructor, which may run on any thread and must finish the
// hiredis context synchronously (the daemon stops components and then the io_context).
class RedisClient::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, const config::RedisSettings& settings,
       observability::MetricsRegistry& metrics, std::string name)
      : settings_(settings),
        endpoint_(ParseRedisUrl(settings.url)),
        name_(std::move(name)),
        address_(endpoint_.host.find(':') == std::string::npos
                     ? endpoint_.host + ":" + std::to_string(endpoint_.port)
                     : "[" + endpoint_.host + "]:" + std::to_string(endpoint_.port)),
        strand_(asio::make_strand(io)),
        resolver_(strand_),
        connect_timer_(strand_),
        retry_timer_(strand_),
        sweep_timer_(strand_),
        // name_ is declared (so initialised) before results_.
        results_{&CommandCounter(metrics, name_, "ok"), &CommandCounter(metrics, name_, "error"),
                 &CommandCounter(metrics, name_, "timeout"),
                 &CommandCounter(metrics, name_, "disconnected"),
                 &CommandCounter(metrics, name_, "overloaded")},
        connected_gauge_(metrics.GetGauge("nilecare_redis_connected",
                                          "1 while the Redis connection is up and answering",
                                          {{"client", name_}})) {
    connected_gauge_.Set(0);
    health_ = {core::HealthState::kStarting, "not started"};
  }

  ~Impl() {
    std::lock_guard lock(mutex_);
    StopLocked();
  }

  void Start() {
    std::lock_guard lock(mutex_);
    if (phase_ != Phase::kIdle) return;
    SetHealth(core::HealthState::kStarting, "connecting to redis at " + address_);
    Resolve();
  }

  void Stop() {
    std::lock_guard lock(mutex_);
    StopLocked();
  }

  bool Connected() const { return connected_.load(std::memory_order_acquire); }

  core::ComponentHealth Health() const {
    std::lock_guard lock(health_mutex_);
    return health_;
  }

  void Command(std::vector<std::string> args, std::function<void(RedisReply)> done) {
    if (!Connected()) {
      // Fail fast without taking the lock: the common case while Redis is down.
      results_[static_cast<int>(Result::kDisconnected)]->Inc();
      asio::post(strand_, [done = std::move(done)] {
        done(RedisReply::Error(std::string(kErrDisconnected)));
      });
      return;
    }
    asio::dispatch(strand_, [self = shared_from_this(), args = std::move(args),
                             done = std::move(done)]() mutable {
      std::lock_guard lock(self->mutex_);
      self->Submit(std::move(args), std::move(done));
    });
  }

  void Subscribe(std::string channel, MessageHandler handler) {
    std::lock_guard lock(mutex_);
    if (phase_ == Phase::kStopped) return;
    subscriber_ = true;
    auto shared = std::make_shared<MessageHandler>(std::move(handler));
    const bool added = subscriptions_.insert_or_assign(channel, std::move(shared)).second;
    if (added && phase_ == Phase::kConnected) SendSubscriptions("SUBSCRIBE", {std::move(channel)});
  }

  void Unsubscribe(std::string channel) {
    std::lock_guard lock(mutex_);
    if (subscriptions_.erase(channel) == 0) return;
    if (phase_ == Phase::kConnected) SendSubscriptions("UNSUBSCRIBE", {std::move(channel)});
  }

 private:
  enum class Phase { kIdle, kResolving, kConnecting, kConnected, kWaitingToRetry, kStopped };
  enum class Result { kOk, kError, kTimeout, kDisconnected, kOverloaded };
  static constexpr int kResultCount = 5;

  struct Pending {
    std::function<void(RedisReply)> done;
    Clock::time_point deadline;
    // Handshake steps: run inline under the lock, bounded by connect_timeout instead.
    bool internal{false};
  };

  static observability::Counter& CommandCounter(observability::MetricsRegistry& metrics,
                                                const std::string& client, std::string result) {
    return metrics.GetCounter("nilecare_redis_commands_total", "Redis commands by result",
                              {{"client", client}, {"result", std::move(result)}});
  }

  // ----- connection life cycle -------------------------------------------------------

  void Resolve() {
    phase_ = Phase::kResolving;
    // Resolved again on every attempt: a Redis container may come back with a new address.
    resolver_.async_resolve(
        endpoint_.host, std::to_string(endpoint_.port),
        [self = shared_from_this()](const boost::system::error_code& error,
                                    asio::ip::tcp::resolver::results_type results) {
          std::lock_guard lock(self->mutex_);
          self->OnResolved(error, results);
        });
  }

  void OnResolved(const boost::system::error_code& error,
                  const asio::ip::tcp::resolver::results_type& results) {
    if (phase_ != Phase::kResolving) return;
    if (error || results.empty()) {
      HandleClosed("cannot resolve " + endpoint_.host + ": " +
                   (error ? error.message() : std::string("no address")));
      return;
    }
    // Successive attempts rotate through the addresses (IPv4 and IPv6 of one name).
    auto it = results.begin();
    std::advance(it, static_cast<std::ptrdiff_t>(failures_ % results.size()));
    Connect(it->endpoint().address().to_string());
  }

  void Connect(const std::string& ip) {
    // The address is numeric, so hiredis's own getaddrinfo does not block the thread.
    redisAsyncContext* context = redisAsyncConnect(ip.c_str(), endpoint_.port);
    if (context == nullptr) {
      HandleClosed("cannot allocate a connection");
      return;
    }
    if (context->err != 0) {
      std::string reason = context->errstr != nullptr ? context->errstr : "connect failed";
      redisAsyncFree(context);
      HandleClosed(reason);
      return;
    }
    ++generation_;
    context_ = context;
    context->data = this;
    phase_ = Phase::kConnecting;
    outstanding_ = 0;
    drop_reason_.clear();
    last_progress_ = Clock::now();
    redisEnableKeepAlive(&context->c);  // the only dead-peer detection on an idle subscriber
    std::weak_ptr<Impl> weak = weak_from_this();
    adapter_ =
        HiredisAsioAdapter::Attach(strand_, context, [weak](const std::function<void()>& body) {
          if (auto self = weak.lock()) {
            std::lock_guard lock(self->mutex_);
            body();
          }
        });
    redisAsyncSetConnectCallback(context, &Impl::OnConnectHook);
    redisAsyncSetDisconnectCallback(context, &Impl::OnDisconnectHook);

    connect_timer_.expires_after(settings_.connect_timeout);
    connect_timer_.async_wait([self = shared_from_this(),
                               generation = generation_](const boost::system::error_code& error) {
      std::lock_guard lock(self->mutex_);
      if (error || generation != self->generation_ || self->phase_ != Phase::kConnecting) return;
      self->Drop("no connection within " + std::to_string(self->settings_.connect_timeout.count()) +
                 "ms");
    });

    // Queued before the connect completes; hiredis sends them first, in this order.
    if (!endpoint_.password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!endpoint_.username.empty()) auth.push_back(endpoint_.username);
      auth.push_back(endpoint_.password);
      SendHandshake(std::move(auth), "AUTH", false);
    }
    if (endpoint_.db != 0) SendHandshake({"SELECT", std::to_string(endpoint_.db)}, "SELECT", false);
    // Connected() promises that the server answers, not just that TCP is up (a server
    // still loading its data set answers -LOADING).
    SendHandshake({"PING"}, "PING", true);
  }

  void SendHandshake(std::vector<std::string> args, std::string step, bool last) {
    Pending pending;
    pending.internal = true;
    pending.deadline = Clock::time_point::max();
    pending.done = [this, generation = generation_, step = std::move(step),
                    last](RedisReply reply) { OnHandshakeReply(generation, step, last, reply); };
    Issue(args, std::move(pending));
  }

  void OnHandshakeReply(std::uint64_t generation, const std::string& step, bool last,
                        const RedisReply& reply) {
    if (generation != generation_ || phase_ != Phase::kConnecting) return;
    if (reply.IsError()) {
      if (reply.text == kErrDisconnected) return;  // the close path reports it
      // Inside a hiredis callback: the context must not be freed here.
      ScheduleDrop(step + " failed: " + Redact(reply.text));
      return;
    }
    if (!last) return;
    connect_timer_.cancel();
    phase_ = Phase::kConnected;
    backoff_ = kInitialBackoff;
    failures_ = 0;
    last_failure_.clear();
    connected_.store(true, std::memory_order_release);
    connected_gauge_.Set(1);
    SetHealth(core::HealthState::kUp, "connected to " + address_);
    log::Info("redis connected", {{"client", name_}, {"address", address_}, {"db", endpoint_.db}});
    if (!subscriptions_.empty()) {
      std::vector<std::string> channels;
      channels.reserve(subscriptions_.size());
      for (const auto& [channel, handler] : subscriptions_) channels.push_back(channel);
      SendSubscriptions("SUBSCRIBE", std::move(channels));
    }
  }

  void ScheduleDrop(std::string reason) {
    if (!drop_reason_.empty()) return;  // the first failure is the one worth reporting
    drop_reason_ = std::move(reason);
    asio::post(strand_, [self = shared_from_this(), generation = generation_] {
      std::lock_guard lock(self->mutex_);
      if (generation == self->generation_ && self->context_ != nullptr) {
        self->Drop(self->drop_reason_);
      }
    });
  }

  // Frees the context from outside any hiredis callback.
  void Drop(const std::string& reason) {
    redisAsyncContext* context = context_;
    if (context == nullptr) return;
    // Handled before the free, so the hooks hiredis runs during it find nothing to do.
    HandleClosed(reason);
    redisAsyncFree(context);
  }

  static void OnConnectHook(const redisAsyncContext* context, int status) {
    if (status == REDIS_OK) return;  // TCP is up; the handshake decides
    auto* self = static_cast<Impl*>(context->data);
    // hiredis frees the context right after this returns.
    if (self->context_ == context)
      self->HandleClosed(context->c.errstr[0] != '\0' ? context->c.errstr : "connect failed");
  }

  static void OnDisconnectHook(const redisAsyncContext* context, int status) {
    auto* self = static_cast<Impl*>(context->data);
    if (self->context_ != context) return;  // we freed it ourselves (Drop)
    std::string reason = "connection closed";
    if (status != REDIS_OK && context->errstr != nullptr && context->errstr[0] != '\0') {
      reason = context->errstr;
    }
    self->HandleClosed(reason);
  }

  // The context is gone or about to be freed by its caller: never touch it again.
  void HandleClosed(const std::string& reason) {
    const bool was_connected = phase_ == Phase::kConnected;
    context_ = nullptr;
    connect_timer_.cancel();
    connected_.store(false, std::memory_order_release);
    connected_gauge_.Set(0);
    FailAllPending();
    outstanding_ = 0;
    if (phase_ == Phase::kStopped) return;

    const auto delay = backoff_;
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    const auto retry_ms = static_cast<std::int64_t>(delay.count());
    if (was_connected) {
      log::Warn(
          "redis disconnected",
          {{"client", name_}, {"address", address_}, {"reason", reason}, {"retry_ms", retry_ms}});
    } else if (failures_ == 0 || reason != last_failure_) {
      log::Warn(
          "redis connect failed",
          {{"client", name_}, {"address", address_}, {"reason", reason}, {"retry_ms", retry_ms}});
    } else {
      log::Debug("redis connect failed", {{"client", name_},
                                          {"address", address_},
                                          {"reason", reason},
                                          {"retry_ms", retry_ms},
                                          {"failures", failures_}});
    }
    last_failure_ = reason;
    ++failures_;
    SetHealth(core::HealthState::kDown, "redis at " + address_ + " unavailable: " + reason);

    phase_ = Phase::kWaitingToRetry;
    retry_timer_.expires_after(delay);
    retry_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      std::lock_guard lock(self->mutex_);
      if (error || self->phase_ != Phase::kWaitingToRetry) return;
      self->Resolve();
    });
  }

  void StopLocked() {
    if (phase_ == Phase::kStopped) return;
    if (phase_ != Phase::kIdle) log::Info("redis client stopped", {{"client", name_}});
    phase_ = Phase::kStopped;
    resolver_.cancel();
    connect_timer_.cancel();
    retry_timer_.cancel();
    sweep_timer_.cancel();
    Drop("client stopped");
    FailAllPending();
    connected_.store(false, std::memory_order_release);
    connected_gauge_.Set(0);
    SetHealth(core::HealthState::kStopping, "stopped");
  }

  // ----- commands ----------------------------------------------------------------------

  void Submit(std::vector<std::string> args, std::function<void(RedisReply)> done) {
    Pending pending;
    pending.done = std::move(done);
    if (args.empty() || IsConnectionModeCommand(args[0]) || subscriber_) {
      Finish(std::move(pending), RedisReply::Error(std::string(kErrInvalidCommand)),
             Result::kError);
      return;
    }
    if (phase_ != Phase::kConnected) {
      Finish(std::move(pending), RedisReply::Error(std::string(kErrDisconnected)),
             Result::kDisconnected);
      return;
    }
    if (outstanding_ >= kMaxInFlightCommands) {
      Finish(std::move(pending), RedisReply::Error(std::string(kErrOverloaded)),
             Result::kOverloaded);
      return;
    }
    // Every command gets the same timeout, so deadlines grow with the id: the oldest
    // pending command is always the next to expire, and one timer serves them all.
    pending.deadline = Clock::now() + settings_.command_timeout;
    Issue(args, std::move(pending));
    if (!sweep_armed_) ArmSweep();
  }

  void Issue(const std::vector<std::string>& args, Pending pending) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    // privdata is an id, not a pointer: a reply arriving after its command timed out finds
    // no entry and is dropped, with nothing dangling.
    const std::uint64_t id = ++next_id_;
    if (redisAsyncCommandArgv(context_, &Impl::OnReplyHook, IdToPrivdata(id),
                              static_cast<int>(args.size()), argv.data(),
                              lengths.data()) != REDIS_OK) {
      Finish(std::move(pending), RedisReply::Error(std::string(kErrDisconnected)),
             Result::kDisconnected);
      return;
    }
    if (outstanding_++ == 0) last_progress_ = Clock::now();
    pending_.emplace(id, std::move(pending));
  }

  static void OnReplyHook(redisAsyncContext* context, void* reply, void* privdata) {
    static_cast<Impl*>(context->data)
        ->OnReply(PrivdataToId(privdata), static_cast<redisReply*>(reply));
  }

  void OnReply(std::uint64_t id, const redisReply* reply) {
    // hiredis runs the callbacks of a context being freed with a null reply.
    if (reply != nullptr) {
      if (outstanding_ > 0) --outstanding_;
      last_progress_ = Clock::now();
    }
    const auto it = pending_.find(id);
    if (it == pending_.end()) return;  // timed out (or failed) already
    Pending pending = std::move(it->second);
    pending_.erase(it);
    if (reply == nullptr) {
      Finish(std::move(pending), RedisReply::Error(std::string(kErrDisconnected)),
             Result::kDisconnected);
      return;
    }
    RedisReply decoded = Decode(*reply);
    const Result result = decoded.IsError() ? Result::kError : Result::kOk;
    Finish(std::move(pending), std::move(decoded), result);
  }

  void Finish(Pending pending, RedisReply reply, Result result) {
    if (pending.internal) {
      pending.done(std::move(reply));
      return;
    }
    results_[static_cast<int>(result)]->Inc();
    // Posted, never run inline: callers may call back into the client (or drop it), which
    // must not happen under the lock or inside a hiredis callback.
    asio::post(strand_, [done = std::move(pending.done), reply = std::move(reply)]() mutable {
      done(std::move(reply));
    });
  }

  void FailAllPending() {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [id, entry] : pending) {
      Finish(std::move(entry), RedisReply::Error(std::string(kErrDisconnected)),
             Result::kDisconnected);
    }
  }

  milliseconds StallLimit() const {
    return std::max(kMinStallTimeout, std::chrono::duration_cast<milliseconds>(
                                          settings_.command_timeout * kStallTimeoutFactor));
  }

  void ArmSweep() {
    auto next = Clock::time_point::max();
    if (!pending_.empty()) next = pending_.begin()->second.deadline;
    if (outstanding_ > 0) next = std::min(next, last_progress_ + StallLimit());
    if (next == Clock::time_point::max()) return;
    sweep_armed_ = true;
    sweep_timer_.expires_at(next);
    sweep_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      std::lock_guard lock(self->mutex_);
      self->sweep_armed_ = false;
      if (error || self->phase_ == Phase::kStopped) return;
      self->Sweep();
    });
  }

  void Sweep() {
    const auto now = Clock::now();
    while (!pending_.empty() && pending_.begin()->second.deadline <= now) {
      Pending pending = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      Finish(std::move(pending), RedisReply::Error(std::string(kErrTimeout)), Result::kTimeout);
    }
    if (phase_ == Phase::kConnected && outstanding_ > 0 && now - last_progress_ >= StallLimit()) {
      Drop("no reply for " + std::to_string(StallLimit().count()) + "ms");
      return;
    }
    ArmSweep();
  }

  // ----- pub/sub -----------------------------------------------------------------------

  void SendSubscriptions(const char* verb, std::vector<std::string> channels) {
    std::vector<const char*> argv{verb};
    std::vector<std::size_t> lengths{std::string_view(verb).size()};
    for (const auto& channel : channels) {
      argv.push_back(channel.data());
      lengths.push_back(channel.size());
    }
    // Not counted as outstanding: hiredis routes subscription replies to the channel's
    // callback, not to the command queue.
    redisAsyncCommandArgv(context_, &Impl::OnMessageHook, nullptr, static_cast<int>(argv.size()),
                          argv.data(), lengths.data());
  }

  static void OnMessageHook(redisAsyncContext* context, void* reply, void* /*privdata*/) {
    if (reply != nullptr)
      static_cast<Impl*>(context->data)->OnMessage(*static_cast<redisReply*>(reply));
  }

  void OnMessage(const redisReply& reply) {
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 3) return;
    const redisReply& kind = *reply.element[0];
    const redisReply& channel = *reply.element[1];
    const redisReply& payload = *reply.element[2];
    if (kind.type != REDIS_REPLY_STRING || std::string_view(kind.str, kind.len) != "message" ||
        channel.type != REDIS_REPLY_STRING || payload.type != REDIS_REPLY_STRING) {
      return;  // subscribe/unsubscribe confirmations
    }
    std::string name(channel.str, channel.len);
    const auto it = subscriptions_.find(name);
    if (it == subscriptions_.end()) return;  // unsubscribed meanwhile
    asio::post(strand_, [handler = it->second, name = std::move(name),
                         data = std::string(payload.str, payload.len)] { (*handler)(name, data); });
  }

  // ----- health ------------------------------------------------------------------------

  void SetHealth(core::HealthState state, std::string detail) {
    std::lock_guard lock(health_mutex_);
    health_ = {state, std::move(detail)};
  }

  // Server error texts are shown to operators; make sure the password never is.
  std::string Redact(std::string text) const {
    if (endpoint_.password.empty()) return text;
    for (auto at = text.find(endpoint_.password); at != std::string::npos;
         at = text.find(endpoint_.password, at)) {
      text.replace(at, endpoint_.password.size(), "***");
    }
    return text;
  }

  const config::RedisSettings settings_;
  const RedisEndpoint endpoint_;
  const std::string name_;
  const std::string address_;  // host:port for logs and health (never the credentials)
  asio::strand<asio::io_context::executor_type> strand_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer retry_timer_;
  asio::steady_timer sweep_timer_;
  observability::Counter* const results_[kResultCount];
  observability::Gauge& connected_gauge_;

  mutable std::mutex mutex_;
  Phase phase_{Phase::kIdle};
  redisAsyncContext* context_{nullptr};
  std::shared_ptr<HiredisAsioAdapter> adapter_;
  std::uint64_t generation_{0};
  std::uint64_t next_id_{0};
  std::map<std::uint64_t, Pending> pending_;  // by id: oldest first
  std::size_t outstanding_{0};                // sent and unanswered, timed-out ones included
  Clock::time_point last_progress_{};
  bool sweep_armed_{false};
  milliseconds backoff_{kInitialBackoff};
  std::size_t failures_{0};
  std::string last_failure_;
  std::string drop_reason_;
  bool subscriber_{false};
  std::map<std::string, std::shared_ptr<MessageHandler>> subscriptions_;

  std::atomic<bool> connected_{false};
  mutable std::mutex health_mutex_;
  core::ComponentHealth health_;
};

RedisClient::RedisClient(boost::asio::io_context& io, const config::RedisSettings& settings,
                         observability::MetricsRegistry& metrics, std::string name)
    : impl_(std::make_shared<Impl>(io, settings, metrics, std::move(name))) {}

RedisClient::~RedisClient() { impl_->Stop(); }

void RedisClient::Start() { impl_->Start(); }
void RedisClient::Stop() { impl_->Stop(); }
bool RedisClient::Connected() const { return impl_->Connected(); }
core::ComponentHealth RedisClient::Health() const { return impl_->Health(); }

void RedisClient::Command(std::vector<std::string> args, std::function<void(RedisReply)> done) {
  if (!done) done = [](RedisReply) {};
  impl_->Command(std::move(args), std::move(done));
}

void RedisClient::Subscribe(std::string channel, MessageHandler on_message) {
  if (!on_message) on_message = [](const std::string&, const std::string&) {};
  impl_->Subscribe(std::move(channel), std::move(on_message));
}

void RedisClient::Unsubscribe(std::string channel) { impl_->Unsubscribe(std::move(channel)); }

}  // namespace nilecare::storage
