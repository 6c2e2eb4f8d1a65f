#include "nilecare/realtime/socketio_codec.hpp"

#include "nilecare/core/json_limits.hpp"

namespace nilecare::realtime::sio {
namespace {

using nlohmann::json;

// Number.MAX_SAFE_INTEGER: the clients are JavaScript, and an id above it cannot come back
// in the ACK unchanged.
constexpr std::uint64_t kMaxAckId = (std::uint64_t{1} << 53) - 1;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Callers pass event names, offsets and payloads they did not all produce; a replacement
// character is better than an exception out of an encoder for a stray byte.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void AppendString(std::string& out, std::string_view text) {
  out += Dump(json(std::string(text)));
}

// Well-formed UTF-8 (Unicode 15, table 3-7): no overlong forms, surrogates or code points
// above U+10FFFF.
bool IsUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return false;
    }
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      // Only the first continuation byte has the narrowed range.
      if (next < (k == 1 ? low : 0x80) || next > (k == 1 ? high : 0xBF)) return false;
    }
    i += length;
  }
  return true;
}

// The session echoes the name back in CONNECT_ERROR and logs it, so it must be printable
// text: no control characters (a log line or a header stays one line) and valid UTF-8
// (a WebSocket text frame must be).
bool IsValidNamespace(std::string_view nsp) {
  for (const char c : nsp) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return false;
  }
  return IsUtf8(nsp);
}

// `present`: whether the packet had a payload at all, since a literal null is not the
// absent payload CONNECT and DISCONNECT allow (socket.io-parser refuses "0null" too).
bool HasValidShape(PacketType type, bool present, const json& data) {
  switch (type) {
    case PacketType::kConnect:
      return !present || data.is_object();
    case PacketType::kDisconnect:
      return !present;
    case PacketType::kEvent:
      // socket.io-parser also takes a number as the event name; socket.io-client never
      // sends one and our handlers are looked up by string.
      return data.is_array() && !data.empty() && data.front().is_string();
    case PacketType::kAck:
      return data.is_array();
    case PacketType::kConnectError:
      return data.is_object() || data.is_string();
    case PacketType::kBinaryEvent:
    case PacketType::kBinaryAck:
      break;
  }
  return false;
}

bool TakesAckId(PacketType type) {
  return type == PacketType::kEvent || type == PacketType::kAck;
}

}  // namespace

std::string_view ToString(ParseError error) {
  switch (error) {
    case ParseError::kEmpty:
      return "empty";
    case ParseError::kUnknownType:
      return "unknown_type";
    case ParseError::kBinaryUnsupported:
      return "binary_unsupported";
    case ParseError::kBadNamespace:
      return "bad_namespace";
    case ParseError::kBadAckId:
      return "bad_ack_id";
    case ParseError::kBadJson:
      return "bad_json";
    case ParseError::kTooDeep:
      return "too_deep";
    case ParseError::kBadPayload:
      return "bad_payload";
  }
  return "unknown";
}

std::variant<Packet, ParseError> Parse(std::string_view text, std::size_t max_depth) {
  if (text.empty()) return ParseError::kEmpty;
  if (text.front() < '0' || text.front() > '6') return ParseError::kUnknownType;
  Packet packet;
  packet.type = static_cast<PacketType>(text.front() - '0');
  if (packet.type == PacketType::kBinaryEvent || packet.type == PacketType::kBinaryAck) {
    return ParseError::kBinaryUnsupported;
  }
  std::size_t i = 1;

  // An attachment count ("<digits>-") on another type: a binary packet under the wrong
  // type digit, which no JSON payload can start like once digits are taken as the ack id.
  std::size_t digits_end = i;
  while (digits_end < text.size() && IsDigit(text[digits_end])) ++digits_end;
  if (digits_end > i && digits_end < text.size() && text[digits_end] == '-') {
    return ParseError::kBinaryUnsupported;
  }

  if (i < text.size() && text[i] == '/') {
    // As socket.io-parser: the namespace runs to the first comma, or to the end of the
    // packet when there is none (then nothing follows it).
    const std::size_t comma = text.find(',', i);
    const std::string_view nsp =
        text.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
    if (!IsValidNamespace(nsp)) return ParseError::kBadNamespace;
    packet.nsp = std::string(nsp);
    i = comma == std::string_view::npos ? text.size() : comma + 1;
  }

  if (i < text.size() && IsDigit(text[i])) {
    std::uint64_t id = 0;
    for (; i < text.size() && IsDigit(text[i]); ++i) {
      const auto digit = static_cast<std::uint64_t>(text[i] - '0');
      // Checked before the multiplication, so it can neither wrap nor pass kMaxAckId.
      if (id > (kMaxAckId - digit) / 10) return ParseError::kBadAckId;
      id = id * 10 + digit;
    }
    packet.id = id;
  }
  if (packet.id && !TakesAckId(packet.type)) return ParseError::kBadAckId;
  if (packet.type == PacketType::kAck && !packet.id) return ParseError::kBadAckId;

  const std::string_view payload = text.substr(i);
  if (!payload.empty()) {
    // Before parsing: the parser would not recurse, but dumping or destroying the value
    // later could, and the limit is cheaper to enforce on text.
    if (!core::JsonNestingWithin(payload, max_depth)) return ParseError::kTooDeep;
    packet.data = json::parse(payload, nullptr, false);
    if (packet.data.is_discarded()) return ParseError::kBadJson;
  }
  if (!HasValidShape(packet.type, !payload.empty(), packet.data)) return ParseError::kBadPayload;
  return packet;
}

std::string EncodeConnect(std::string_view sid, std::string_view pid) {
  std::string out = "0{\"sid\":";
  AppendString(out, sid);
  if (!pid.empty()) {
    out += ",\"pid\":";
    AppendString(out, pid);
  }
  out += '}';
  return out;
}

std::string EncodeConnectError(std::string_view message, const json& data,
                               std::string_view nsp) {
  std::string out = "4";
  if (nsp != "/") {
    out += nsp;
    out += ',';
  }
  json body = {{"message", std::string(message)}};
  if (!data.is_null()) body["data"] = data;
  return out + Dump(body);
}

std::string EncodeAck(std::uint64_t id, const nlohmann::json& args) {
  std::string out = "3";
  out += std::to_string(id);
  // The client's decoder refuses an ACK whose payload is not an array; a lone value is
  // sent as the only argument rather than as a packet that would kill the connection.
  out += args.is_array() ? Dump(args) : Dump(args.is_null() ? json::array() : json::array({args}));
  return out;
}

std::string EventArgsPrefix(std::string_view event, const nlohmann::json& data) {
  std::string out = "[";
  AppendString(out, event);
  if (!data.is_null()) {
    out += ',';
    out += Dump(data);
  }
  return out;
}

std::string FinishEvent(std::string_view prefix, std::optional<std::uint64_t> ack_id,
                        std::string_view offset) {
  std::string out = "2";
  if (ack_id) out += std::to_string(*ack_id);
  out.reserve(out.size() + prefix.size() + offset.size() + 4);
  out += prefix;
  if (!offset.empty()) {
    out += ',';
    AppendString(out, offset);
  }
  out += ']';
  return out;
}

}  // namespace nilecare::realtime::sio
