#include "amqp_connection.hpp"

#include <amqp_tcp_socket.h>

#include <algorithm>
#include <cstring>

namespace nilecare::amqp {
namespace {
// Most tables hold a few short headers: a small page keeps each Table cheap (rabbitmq-c
// allocates and zeroes a whole page on first use; larger values get blocks of their own).
constexpr std::size_t kPoolPage = 256;
constexpr int kFrameMax = 131072;
constexpr auto kCloseTimeout = std::chrono::seconds(1);

timeval ToTimeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

const amqp_field_value_t* Find(const amqp_table_t& table, std::string_view key) {
  for (int i = 0; i < table.num_entries; ++i) {
    if (View(table.entries[i].key) == key) return &table.entries[i].value;
  }
  return nullptr;
}

std::optional<std::int64_t> IntValue(const amqp_field_value_t& value) {
  switch (value.kind) {
    case AMQP_FIELD_KIND_I8: return value.value.i8;
    case AMQP_FIELD_KIND_U8: return value.value.u8;
    case AMQP_FIELD_KIND_I16: return value.value.i16;
    case AMQP_FIELD_KIND_U16: return value.value.u16;
    case AMQP_FIELD_KIND_I32: return value.value.i32;
    case AMQP_FIELD_KIND_U32: return value.value.u32;
    case AMQP_FIELD_KIND_I64: return value.value.i64;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: return static_cast<std::int64_t>(value.value.u64);
    default: return std::nullopt;
  }
}

std::optional<std::string> StringValue(const amqp_field_value_t& value) {
  if (value.kind != AMQP_FIELD_KIND_UTF8 && value.kind != AMQP_FIELD_KIND_BYTES) {
    return std::nullopt;
  }
  return std::string(View(value.value.bytes));
}
}  // namespace

std::string CloseReason(const amqp_method_t& method) {
  switch (method.id) {
    case AMQP_CONNECTION_CLOSE_METHOD: {
      const auto* close = static_cast<const amqp_connection_close_t*>(method.decoded);
      return "connection closed by the broker: " + std::to_string(close->reply_code) + " " +
             std::string(View(close->reply_text));
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
      const auto* close = static_cast<const amqp_channel_close_t*>(method.decoded);
      return "channel closed by the broker: " + std::to_string(close->reply_code) + " " +
             std::string(View(close->reply_text));
    }
    default: return "unexpected broker method " + std::to_string(method.id);
  }
}

bool TakeDelivery(amqp_connection_state_t state, amqp_envelope_t& envelope) {
  while (true) {
    amqp_maybe_release_buffers(state);
    envelope = amqp_envelope_t{};
    timeval no_wait = kNoWait;
    const auto reply = amqp_consume_message(state, &envelope, &no_wait, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return true;
    if (reply.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      throw AmqpError("consume: unexpected reply");
    }
    if (reply.library_error == AMQP_STATUS_TIMEOUT) return false;
    if (reply.library_error != AMQP_STATUS_UNEXPECTED_STATE) {
      throw AmqpError(std::string("consume: ") + amqp_error_string2(reply.library_error));
    }
    amqp_frame_t frame{};
    Connection::CheckStatus(amqp_simple_wait_frame(state, &frame), "read");
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    switch (frame.payload.method.id) {
      case AMQP_BASIC_CANCEL_METHOD: throw AmqpError("consumer cancelled by the broker");
      case AMQP_CHANNEL_CLOSE_METHOD:
      case AMQP_CONNECTION_CLOSE_METHOD: throw AmqpError(CloseReason(frame.payload.method));
      default: break;
    }
  }
}

Table::Table() { init_amqp_pool(&pool_, kPoolPage); }
Table::~Table() { empty_amqp_pool(&pool_); }

void Table::CopyFrom(const amqp_table_t& source) {
  // rabbitmq-c refuses to clone an entry with an empty key, which other clients may send:
  // such entries are left out rather than failing the whole table.
  std::vector<amqp_table_entry_t> kept;
  kept.reserve(static_cast<std::size_t>(std::max(source.num_entries, 0)));
  for (int i = 0; i < source.num_entries; ++i) {
    if (source.entries[i].key.len > 0) kept.push_back(source.entries[i]);
  }
  const amqp_table_t filtered{static_cast<int>(kept.size()), kept.empty() ? nullptr : kept.data()};
  amqp_table_t clone{};
  if (const int status = amqp_table_clone(&filtered, &clone, &pool_); status != AMQP_STATUS_OK) {
    throw AmqpError(std::string("unreadable headers: ") + amqp_error_string2(status));
  }
  for (int i = 0; i < clone.num_entries; ++i) {
    Remove(View(clone.entries[i].key));
    entries_.push_back(clone.entries[i]);
  }
}

void Table::Remove(std::string_view key) {
  std::erase_if(entries_,
                [key](const amqp_table_entry_t& entry) { return View(entry.key) == key; });
}

Table& Table::Set(std::string_view key, std::string_view value) {
  Remove(key);
  amqp_table_entry_t entry{};
  amqp_pool_alloc_bytes(&pool_, key.size(), &entry.key);
  amqp_pool_alloc_bytes(&pool_, value.size(), &entry.value.value.bytes);
  if ((key.size() > 0 && entry.key.bytes == nullptr) ||
      (value.size() > 0 && entry.value.value.bytes.bytes == nullptr)) {
    throw std::bad_alloc();
  }
  if (!key.empty()) std::memcpy(entry.key.bytes, key.data(), key.size());
  if (!value.empty()) std::memcpy(entry.value.value.bytes.bytes, value.data(), value.size());
  entry.value.kind = AMQP_FIELD_KIND_UTF8;
  entries_.push_back(entry);
  return *this;
}

Table& Table::Set(std::string_view key, std::int64_t value) {
  Remove(key);
  amqp_table_entry_t entry{};
  amqp_pool_alloc_bytes(&pool_, key.size(), &entry.key);
  if (key.size() > 0 && entry.key.bytes == nullptr) throw std::bad_alloc();
  if (!key.empty()) std::memcpy(entry.key.bytes, key.data(), key.size());
  entry.value.kind = AMQP_FIELD_KIND_I64;
  entry.value.value.i64 = value;
  entries_.push_back(entry);
  return *this;
}

amqp_table_t Table::Get() const {
  // rabbitmq-c's table type is not const-correct; nothing writes through it.
  return {static_cast<int>(entries_.size()),
          entries_.empty() ? nullptr : const_cast<amqp_table_entry_t*>(entries_.data())};
}

std::optional<std::int64_t> TableInt(const amqp_table_t& table, std::string_view key) {
  const auto* value = Find(table, key);
  return value != nullptr ? IntValue(*value) : std::nullopt;
}

std::optional<std::string> TableString(const amqp_table_t& table, std::string_view key) {
  const auto* value = Find(table, key);
  return value != nullptr ? StringValue(*value) : std::nullopt;
}

Connection::Connection(const config::RabbitMqSettings& settings, std::string_view name,
                       int channels) {
  state_ = amqp_new_connection();
  if (state_ == nullptr) throw AmqpError("out of memory");
  try {
    amqp_socket_t* socket = amqp_tcp_socket_new(state_);
    if (socket == nullptr) throw AmqpError("cannot create a socket");
    auto connect_timeout = ToTimeval(settings.connect_timeout);
    CheckStatus(
        amqp_socket_open_noblock(socket, settings.host.c_str(), settings.port, &connect_timeout),
        "connect to " + settings.host + ":" + std::to_string(settings.port));
    // Bounds every later RPC (declare, qos, close): a broker that stops answering must not
    // hold the thread.
    auto rpc_timeout = ToTimeval(settings.connect_timeout * 2);
    CheckStatus(amqp_set_rpc_timeout(state_, &rpc_timeout), "set rpc timeout");
    CheckStatus(amqp_set_handshake_timeout(state_, &connect_timeout), "set handshake timeout");

    // connection.blocked: told when a resource alarm stops the broker reading (instead of a
    // write that blocks); consumer_cancel_notify: told when a consumed queue goes away.
    amqp_table_entry_t capability_entries[2]{};
    capability_entries[0].key = amqp_cstring_bytes("connection.blocked");
    capability_entries[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability_entries[0].value.value.boolean = 1;
    capability_entries[1].key = amqp_cstring_bytes("consumer_cancel_notify");
    capability_entries[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability_entries[1].value.value.boolean = 1;
    amqp_table_entry_t property_entries[2]{};
    property_entries[0].key = amqp_cstring_bytes("connection_name");
    property_entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
    property_entries[0].value.value.bytes = Bytes(name);
    property_entries[1].key = amqp_cstring_bytes("capabilities");
    property_entries[1].value.kind = AMQP_FIELD_KIND_TABLE;
    property_entries[1].value.value.table = {2, capability_entries};
    amqp_table_t properties{2, property_entries};
    const int heartbeat = static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(settings.heartbeat).count());
    const auto login = amqp_login_with_properties(state_, settings.vhost.c_str(), 0, kFrameMax,
                                                  heartbeat, &properties, AMQP_SASL_METHOD_PLAIN,
                                                  settings.user.c_str(), settings.password.c_str());
    if (login.reply_type != AMQP_RESPONSE_NORMAL) {
      // Never the password; the broker's reason says whether it was the login or the vhost.
      throw AmqpError("login as " + settings.user + " on vhost " + settings.vhost + " failed: " +
                      (login.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION
                           ? CloseReason(login.reply)
                           : std::string(amqp_error_string2(login.library_error))));
    }
    open_ = true;
    for (int channel = 1; channel <= channels; ++channel) {
      amqp_channel_open(state_, static_cast<amqp_channel_t>(channel));
      CheckReply("channel.open");
    }
  } catch (...) {
    Close();
    throw;
  }
}

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (state_ == nullptr) return;
  if (open_) {
    auto timeout = ToTimeval(kCloseTimeout);
    amqp_set_rpc_timeout(state_, &timeout);
    amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    open_ = false;
  }
  amqp_destroy_connection(state_);
  state_ = nullptr;
}

int Connection::Fd() const { return amqp_get_sockfd(state_); }

void Connection::CheckStatus(int status, std::string_view what) {
  if (status >= 0) return;
  throw AmqpError(std::string(what) + ": " + amqp_error_string2(status));
}

void Connection::CheckReply(std::string_view what) {
  const auto reply = amqp_get_rpc_reply(state_);
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL: return;
    case AMQP_RESPONSE_NONE: throw AmqpError(std::string(what) + ": no reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      throw AmqpError(std::string(what) + ": " + amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      throw AmqpError(std::string(what) + ": " + CloseReason(reply.reply));
  }
  throw AmqpError(std::string(what) + ": unknown reply");
}

void Connection::DeclareExchange(amqp_channel_t channel, const ExchangeDeclaration& exchange) {
  amqp_exchange_declare(state_, channel, Bytes(exchange.name), Bytes(exchange.type),
                        /*passive=*/0, /*durable=*/1, /*auto_delete=*/0, /*internal=*/0,
                        amqp_empty_table);
  CheckReply("exchange.declare " + exchange.name);
}

void Connection::DeclareQueue(amqp_channel_t channel, const QueueDeclaration& queue) {
  Table arguments;
  if (queue.max_priority) arguments.Set("x-max-priority", *queue.max_priority);
  if (queue.dead_letter_exchange)
    arguments.Set("x-dead-letter-exchange", *queue.dead_letter_exchange);
  if (queue.dead_letter_routing_key) {
    arguments.Set("x-dead-letter-routing-key", *queue.dead_letter_routing_key);
  }
  if (queue.message_ttl_ms) arguments.Set("x-message-ttl", *queue.message_ttl_ms);
  if (queue.expires_ms) arguments.Set("x-expires", *queue.expires_ms);
  amqp_queue_declare(state_, channel, Bytes(queue.name), /*passive=*/0, /*durable=*/1,
                     /*exclusive=*/0, /*auto_delete=*/0, arguments.Get());
  CheckReply("queue.declare " + queue.name);
}

void Connection::Bind(amqp_channel_t channel, const BindingDeclaration& binding) {
  amqp_queue_bind(state_, channel, Bytes(binding.queue), Bytes(binding.exchange),
                  Bytes(binding.routing_key), amqp_empty_table);
  CheckReply("queue.bind " + binding.queue + " to " + binding.exchange);
}

void Connection::Qos(amqp_channel_t channel, std::uint16_t prefetch) {
  amqp_basic_qos(state_, channel, 0, prefetch, /*global=*/0);
  CheckReply("basic.qos");
}

void Connection::ConfirmSelect(amqp_channel_t channel) {
  amqp_confirm_select(state_, channel);
  CheckReply("confirm.select");
}

void Connection::Consume(amqp_channel_t channel, std::string_view queue,
                         std::string_view consumer_tag) {
  amqp_basic_consume(state_, channel, Bytes(queue), Bytes(consumer_tag), /*no_local=*/0,
                     /*no_ack=*/0, /*exclusive=*/0, amqp_empty_table);
  CheckReply("basic.consume " + std::string(queue));
}

}  // namespace nilecare::amqp
