#pragma once
// One rabbitmq-c connection (private to src/amqp). rabbitmq-c is blocking and not thread
// safe: a Connection belongs to the one thread that opened it (the publisher's or the
// workers'). Errors become AmqpError; the owner drops the connection and reconnects.

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "nilecare/config/settings.hpp"

namespace nilecare::amqp {

class AmqpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline amqp_bytes_t Bytes(std::string_view text) {
  return {text.size(), const_cast<char*>(text.data())};
}
inline std::string_view View(amqp_bytes_t bytes) {
  return {static_cast<const char*>(bytes.bytes), bytes.len};
}

// AMQP field table with owned storage: string and integer values, plus entries copied from
// a received table (whatever the task's publisher set), which a republish keeps.
class Table {
 public:
  Table();
  ~Table();
  Table(const Table&) = delete;
  Table& operator=(const Table&) = delete;

  // Copies `source` except the keys that are Set() later.
  void CopyFrom(const amqp_table_t& source);
  Table& Set(std::string_view key, std::string_view value);
  Table& Set(std::string_view key, std::int64_t value);
  bool Empty() const { return entries_.empty(); }
  // Valid until this Table changes or dies. A Table nobody changes any more may be read from
  // any thread (the publisher's, for shared header tables).
  amqp_table_t Get() const;

 private:
  void Remove(std::string_view key);
  amqp_pool_t pool_;
  std::vector<amqp_table_entry_t> entries_;
};

// Reading received tables.
std::optional<std::int64_t> TableInt(const amqp_table_t& table, std::string_view key);
std::optional<std::string> TableString(const amqp_table_t& table, std::string_view key);

struct ExchangeDeclaration {
  std::string name;
  std::string type;  // direct | fanout
};
struct QueueDeclaration {
  std::string name;
  std::optional<std::int64_t> max_priority{};
  std::optional<std::string> dead_letter_exchange{};
  std::optional<std::string> dead_letter_routing_key{};
  std::optional<std::int64_t> message_ttl_ms{};
  std::optional<std::int64_t> expires_ms{};
};
struct BindingDeclaration {
  std::string queue;
  std::string exchange;
  std::string routing_key;
};

// "Do not wait" for rabbitmq-c's reads. Not {0, 0}: rabbitmq-c treats that as "immediately"
// and then never reports a missed heartbeat, so a dead broker would go unnoticed until TCP
// gives up (~15 min).
inline constexpr timeval kNoWait{0, 1};

// The next delivery on any channel of `state`, without waiting: true with `envelope` filled
// (the caller destroys it), false when none has arrived. Frames between deliveries that
// rabbitmq-c does not consume itself are read past; a basic.cancel (the queue went away) or a
// channel/connection.close throws AmqpError.
bool TakeDelivery(amqp_connection_state_t state, amqp_envelope_t& envelope);

// "channel|connection closed by the broker: <code> <text>" for a channel.close or
// connection.close method, whether it answered an RPC or arrived on its own.
std::string CloseReason(const amqp_method_t& method);

class Connection {
 public:
  // Connects, logs in, opens `channels` channels (1..n). Throws AmqpError.
  Connection(const config::RabbitMqSettings& settings, std::string_view name, int channels);
  ~Connection();  // connection.close with a short timeout, then the socket is gone
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  amqp_connection_state_t State() { return state_; }
  int Fd() const;

  void DeclareExchange(amqp_channel_t channel, const ExchangeDeclaration& exchange);
  void DeclareQueue(amqp_channel_t channel, const QueueDeclaration& queue);
  void Bind(amqp_channel_t channel, const BindingDeclaration& binding);
  void Qos(amqp_channel_t channel, std::uint16_t prefetch);
  void ConfirmSelect(amqp_channel_t channel);
  void Consume(amqp_channel_t channel, std::string_view queue, std::string_view consumer_tag);

  // Checks the last RPC's reply; throws AmqpError naming `what` and the broker's reason.
  void CheckReply(std::string_view what);
  // Throws for a negative rabbitmq-c status.
  static void CheckStatus(int status, std::string_view what);

 private:
  void Close();

  amqp_connection_state_t state_{nullptr};
  bool open_{false};
};

}  // namespace nilecare::amqp
