#include "nilecare/realtime/engineio_codec.hpp"

#include <nlohmann/json.hpp>

namespace nilecare::realtime::eio {
namespace {

// Key order matters to nobody's parser, but engine.io servers send this order and
// byte-identical packets keep captures and tests comparable.
using OrderedJson = nlohmann::ordered_json;

// The sid comes from our own generator, but a replacement character beats an exception
// escaping from a packet encoder should that ever change.
std::string Dump(const OrderedJson& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool IsTypeDigit(char c) { return c >= '0' && c <= '6'; }

std::string_view Message(TransportError error) {
  // engine.io's Server.errorMessages, so clients that match on the text keep working.
  switch (error) {
    case TransportError::kUnknownTransport:
      return "Transport unknown";
    case TransportError::kUnknownSid:
      return "Session ID unknown";
    case TransportError::kBadHandshakeMethod:
      return "Bad handshake method";
    case TransportError::kBadRequest:
      return "Bad request";
    case TransportError::kForbidden:
      return "Forbidden";
    case TransportError::kUnsupportedProtocolVersion:
      return "Unsupported protocol version";
  }
  return "Bad request";
}

}  // namespace

std::optional<Packet> ParsePacket(std::string_view text) {
  if (text.empty() || !IsTypeDigit(text.front())) return std::nullopt;
  return Packet{static_cast<PacketType>(text.front()), text.substr(1)};
}

std::string_view ToString(PayloadError error) {
  switch (error) {
    case PayloadError::kNone:
      return "none";
    case PayloadError::kEmpty:
      return "empty";
    case PayloadError::kMalformed:
      return "malformed";
    case PayloadError::kBinary:
      return "binary";
    case PayloadError::kTooMany:
      return "too_many";
  }
  return "unknown";
}

PayloadError SplitPayload(std::string_view body, std::size_t max_packets,
                          std::vector<Packet>& out) {
  out.clear();
  if (body.empty()) return PayloadError::kEmpty;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = body.find(kRecordSeparator, start);
    const std::string_view piece =
        body.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    // Counted before the piece is looked at, so a body of a million separators costs no
    // more than max_packets pieces.
    if (out.size() == max_packets) return PayloadError::kTooMany;
    if (!piece.empty() && piece.front() == 'b') return PayloadError::kBinary;
    // An empty piece (a separator at either end, or two in a row) is what engine.io-parser
    // decodes to its error packet too.
    const std::optional<Packet> packet = ParsePacket(piece);
    if (!packet) return PayloadError::kMalformed;
    out.push_back(*packet);
    if (end == std::string_view::npos) return PayloadError::kNone;
    start = end + 1;
  }
}

void AppendPacket(std::string& out, PacketType type, std::string_view data) {
  out.reserve(out.size() + 1 + data.size());
  out.push_back(static_cast<char>(type));
  out.append(data);
}

std::string OpenPacket(const OpenSettings& settings) {
  OrderedJson open;
  open["sid"] = settings.sid;
  open["upgrades"] = settings.websocket_upgrade ? OrderedJson::array({"websocket"})
                                                : OrderedJson::array();
  open["pingInterval"] = settings.ping_interval.count();
  open["pingTimeout"] = settings.ping_timeout.count();
  open["maxPayload"] = settings.max_payload;
  std::string packet(1, static_cast<char>(PacketType::kOpen));
  packet += Dump(open);
  return packet;
}

std::string ErrorBody(TransportError error) {
  OrderedJson body;
  body["code"] = static_cast<int>(error);
  body["message"] = Message(error);
  return Dump(body);
}

}  // namespace nilecare::realtime::eio
