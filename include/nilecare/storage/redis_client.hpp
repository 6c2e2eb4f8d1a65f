#pragma once
// Asynchronous Redis client on the gateway's io_context (hiredis 0.14 driven by Asio).
// Configured by
//   redis: { url: redis://127.0.0.1:6379, connect_timeout: 2s, command_timeout: 1s,
//            key_prefix: "nilecare:" }
// url forms: redis://host[:port][/db], redis://:password@host[:port][/db],
// redis://user:password@host[:port][/db] (Redis 6 ACL user), host may be [ipv6]; the
// password may be percent-encoded. No TLS (hiredis 0.14 has none): rediss:// is refused.
// key_prefix is not used here; the stores built on this client put it in their keys.
//
// One connection. Start() connects in the background and reconnects forever with backoff
// (100 ms doubling to 5 s) until Stop(). After connecting, AUTH and SELECT (when the URL
// asks for them) and a PING run before any command is accepted: Connected() means the
// server has answered. While not connected, commands fail at once with ERR_DISCONNECTED:
// nothing queues up to be replayed against a recovered server minutes later.
//
// Commands are pipelined on the connection; each has `command_timeout` (hiredis has no
// timeouts of its own: a late reply to a timed-out command is read and dropped). A
// connection on which nothing at all has been answered for max(5 s, 5 x command_timeout)
// while commands wait is considered dead (half-open TCP) and replaced.
//
// Pub/sub (realtime fan-out): Subscribe() turns the client into a subscriber connection,
// on which Redis refuses ordinary commands, so fan-out uses one client to PUBLISH and a
// second one to Subscribe. Subscriptions are renewed after every reconnect; messages
// published while disconnected are lost (Redis pub/sub is at-most-once). An idle
// subscriber has no commands to time out: TCP keepalive (hiredis: 15 s) finds a dead peer.
//
// Threading: every method may be called from any thread. `done` callbacks and message
// handlers run on the client's strand, one at a time, never inside a call into the client,
// so they may issue commands, Stop() the client or drop the last reference to it.
// Lifetime: Stop() (or the destructor, which calls it) finishes the client synchronously:
// afterwards nothing touches the socket, and callbacks still owed are posted to the
// strand with ERR_DISCONNECTED. Stop or destroy the client before the io_context.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/component.hpp"
#include "nilecare/observability/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::storage {

// A decoded hiredis reply, or an error (from the server, or one of the kErr* texts below).
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type{Type::kNil};
  std::string text;  // kString (binary-safe), kStatus, kError
  long long integer{0};
  std::vector<RedisReply> elements;

  bool IsError() const { return type == Type::kError; }
  static RedisReply Error(std::string text);
};

// Error texts produced by the client itself (server errors carry the server's text).
inline constexpr std::string_view kErrDisconnected = "ERR_DISCONNECTED";
inline constexpr std::string_view kErrTimeout = "ERR_TIMEOUT";
inline constexpr std::string_view kErrOverloaded = "ERR_OVERLOADED";
// Empty command, (P)SUBSCRIBE/(P)UNSUBSCRIBE/MONITOR through Command(), or any command on a
// subscriber connection.
inline constexpr std::string_view kErrInvalidCommand = "ERR_INVALID_COMMAND";

struct RedisEndpoint {
  std::string host;
  std::uint16_t port{6379};
  std::string username;  // empty: AUTH <password> (requirepass); else AUTH <user> <password>
  std::string password;  // empty: no AUTH
  int db{0};             // non-zero: SELECT <db>
};

// Parses redis.url. Throws std::invalid_argument with a message that never contains the
// password.
RedisEndpoint ParseRedisUrl(std::string_view url);

class RedisClient {
 public:
  // Commands sent and not yet answered on the connection (timed-out ones included, since
  // Redis will still answer them); more -> ERR_OVERLOADED.
  static constexpr std::size_t kMaxInFlightCommands = 10000;

  using MessageHandler =
      std::function<void(const std::string& channel, const std::string& payload)>;

  // `name` labels this client's metrics and log lines (e.g. "main", "pubsub").
  // Throws std::invalid_argument on a malformed settings.url.
  RedisClient(boost::asio::io_context& io, const config::RedisSettings& settings,
              observability::MetricsRegistry& metrics, std::string name = "main");
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  void Start();  // non-blocking; a second call does nothing
  void Stop();   // synchronous, idempotent; the client cannot be started again
  bool Connected() const;
  core::ComponentHealth Health() const;  // starting / up / down with a reason / stopping

  // Runs on the client's strand; `done` is invoked exactly once, on the strand, with the
  // reply or an error reply (kError: ERR_DISCONNECTED, ERR_TIMEOUT, ERR_OVERLOADED,
  // ERR_INVALID_COMMAND or the server's error text). Arguments are binary-safe and never
  // logged. Do not send blocking commands (BLPOP...) or SELECT through it.
  void Command(std::vector<std::string> args, std::function<void(RedisReply)> done);

  // Subscriber mode (see above). `on_message` runs on the strand for each message on
  // `channel`; subscribing again to a channel replaces its handler.
  void Subscribe(std::string channel, MessageHandler on_message);
  void Unsubscribe(std::string channel);

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace nilecare::storage
