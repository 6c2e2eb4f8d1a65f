// Fuzzes the realtime packet codecs with what a WebSocket frame or a long-polling body can
// carry: nilecare::realtime::eio::ParsePacket and SplitPayload, and sio::Parse, which reads
// the namespace, the ack id and depth-checked JSON from unauthenticated clients.
//
// Invariants (trap on violation):
//   - ParsePacket takes exactly the texts starting with a type digit, and its data is the
//     rest of the text;
//   - a polling body that splits is rebuilt byte for byte by AppendPacket and separators,
//     within the packet limit;
//   - every error has a name;
//   - a parsed Socket.IO packet has the shape its type promises (ack id only on EVENT/ACK,
//     at most 2^53 - 1; a namespace starting with "/"; nesting within the limit);
//   - a lower depth limit changes a result only into kTooDeep;
//   - an EVENT or ACK re-encoded with the encoders parses back to an equal packet, and the
//     recovery offset arrives as one more string argument;
//   - the encoders accept any bytes (invalid UTF-8 included) and produce packets that parse.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "nilecare/realtime/engineio_codec.hpp"
#include "nilecare/realtime/socketio_codec.hpp"

namespace {

namespace eio = nilecare::realtime::eio;
namespace sio = nilecare::realtime::sio;
using nlohmann::json;

constexpr std::size_t kMaxPackets = 16;
constexpr std::size_t kLowDepth = 2;
constexpr std::uint64_t kMaxAckId = (std::uint64_t{1} << 53) - 1;

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

// Without recursion: a bug letting a deep value through must show up as a failed check,
// not as a stack overflow somewhere else.
std::size_t Depth(const json& root) {
  std::size_t deepest = 0;
  std::vector<std::pair<const json*, std::size_t>> pending{{&root, 0}};
  while (!pending.empty()) {
    const auto [value, depth] = pending.back();
    pending.pop_back();
    if (!value->is_structured()) continue;
    deepest = std::max(deepest, depth + 1);
    for (const json& child : *value) pending.emplace_back(&child, depth + 1);
  }
  return deepest;
}

bool Same(const sio::Packet& a, const sio::Packet& b) {
  return a.type == b.type && a.nsp == b.nsp && a.id == b.id && a.data == b.data;
}

const sio::Packet& ParsedOrTrap(const std::variant<sio::Packet, sio::ParseError>& result) {
  Check(std::holds_alternative<sio::Packet>(result));
  return std::get<sio::Packet>(result);
}

void CheckEngineIo(std::string_view text) {
  const std::optional<eio::Packet> packet = eio::ParsePacket(text);
  Check(packet.has_value() == (!text.empty() && text.front() >= '0' && text.front() <= '6'));
  if (packet) {
    Check(static_cast<char>(packet->type) == text.front());
    Check(packet->data.data() == text.data() + 1 && packet->data.size() == text.size() - 1);
  }

  std::vector<eio::Packet> packets;
  const eio::PayloadError error = eio::SplitPayload(text, kMaxPackets, packets);
  Check(eio::ToString(error) != "unknown");
  Check((error == eio::PayloadError::kEmpty) == text.empty());
  if (error != eio::PayloadError::kNone) return;
  Check(!packets.empty() && packets.size() <= kMaxPackets);
  std::string rebuilt;
  for (const eio::Packet& part : packets) {
    if (!rebuilt.empty()) rebuilt += eio::kRecordSeparator;
    eio::AppendPacket(rebuilt, part.type, part.data);
  }
  Check(rebuilt == text);
}

void CheckShape(const sio::Packet& packet) {
  Check(!packet.nsp.empty() && packet.nsp.front() == '/');
  Check(Depth(packet.data) <= sio::kDefaultMaxDepth);
  if (packet.id) Check(*packet.id <= kMaxAckId);
  switch (packet.type) {
    case sio::PacketType::kConnect:
      Check(!packet.id && (packet.data.is_null() || packet.data.is_object()));
      break;
    case sio::PacketType::kDisconnect:
      Check(!packet.id && packet.data.is_null());
      break;
    case sio::PacketType::kEvent:
      Check(packet.data.is_array() && !packet.data.empty() && packet.data.front().is_string());
      break;
    case sio::PacketType::kAck:
      Check(packet.id && packet.data.is_array());
      break;
    case sio::PacketType::kConnectError:
      Check(!packet.id && (packet.data.is_object() || packet.data.is_string()));
      break;
    case sio::PacketType::kBinaryEvent:
    case sio::PacketType::kBinaryAck:
      Check(false);
      break;
  }
}

void CheckReencoding(const sio::Packet& packet) {
  // The encoders speak for the main namespace only.
  if (packet.nsp != "/") return;
  if (packet.type == sio::PacketType::kAck) {
    Check(Same(ParsedOrTrap(sio::Parse(sio::EncodeAck(*packet.id, packet.data))), packet));
    return;
  }
  if (packet.type == sio::PacketType::kConnectError && packet.data.is_string()) {
    const std::string message = packet.data.get<std::string>();
    const sio::Packet again = ParsedOrTrap(sio::Parse(sio::EncodeConnectError(message)));
    Check(again.type == sio::PacketType::kConnectError &&
          again.data.value("message", json()) == message);
    return;
  }
  if (packet.type != sio::PacketType::kEvent) return;
  const json& args = packet.data;
  // EventArgsPrefix carries the name and at most one argument, and leaves out a null one.
  if (args.size() > 2 || (args.size() == 2 && args[1].is_null())) return;
  const std::string name = args[0].get<std::string>();
  const std::string prefix = sio::EventArgsPrefix(name, args.size() == 2 ? args[1] : json());
  Check(Same(ParsedOrTrap(sio::Parse(sio::FinishEvent(prefix, packet.id, ""))), packet));

  const sio::Packet with_offset =
      ParsedOrTrap(sio::Parse(sio::FinishEvent(prefix, packet.id, "o-17")));
  json expected = args;
  expected.push_back("o-17");
  Check(with_offset.id == packet.id && with_offset.data == expected);
}

void CheckSocketIo(std::string_view text) {
  const auto result = sio::Parse(text);
  const auto low = sio::Parse(text, kLowDepth);
  if (const auto* error = std::get_if<sio::ParseError>(&result)) {
    Check(sio::ToString(*error) != "unknown");
    Check(std::holds_alternative<sio::ParseError>(low));
    const sio::ParseError low_error = std::get<sio::ParseError>(low);
    Check(low_error == *error || low_error == sio::ParseError::kTooDeep);
    return;
  }
  const sio::Packet& packet = std::get<sio::Packet>(result);
  if (const auto* low_packet = std::get_if<sio::Packet>(&low)) {
    Check(Same(*low_packet, packet));
    Check(Depth(packet.data) <= kLowDepth);
  } else {
    Check(std::get<sio::ParseError>(low) == sio::ParseError::kTooDeep);
  }
  CheckShape(packet);
  CheckReencoding(packet);
}

// The raw input as encoder arguments: nothing a caller passes may throw or produce a
// packet the parser refuses.
void CheckEncodersTakeAnyBytes(std::string_view text) {
  const sio::Packet error = ParsedOrTrap(sio::Parse(sio::EncodeConnectError(text)));
  Check(error.type == sio::PacketType::kConnectError &&
        error.data.value("message", json()).is_string());

  // An empty pid is left out.
  const sio::Packet connect = ParsedOrTrap(sio::Parse(sio::EncodeConnect(text, text)));
  Check(connect.data.value("sid", json()).is_string());
  Check(connect.data.contains("pid") == !text.empty());

  const std::string event =
      sio::FinishEvent(sio::EventArgsPrefix(text, json(std::string(text))), 1, text);
  const sio::Packet parsed = ParsedOrTrap(sio::Parse(event));
  Check(parsed.id == 1u && parsed.data.size() == (text.empty() ? 2u : 3u));

  eio::OpenSettings settings;
  settings.sid = std::string(text);
  const std::string open = eio::OpenPacket(settings);
  const std::optional<eio::Packet> open_packet = eio::ParsePacket(open);
  Check(open_packet && open_packet->type == eio::PacketType::kOpen);
  Check(!json::parse(open_packet->data, nullptr, false).is_discarded());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckEngineIo(text);
  CheckSocketIo(text);
  // A WebSocket frame as the session sees it: "4" then the Socket.IO packet.
  if (const auto packet = eio::ParsePacket(text);
      packet && packet->type == eio::PacketType::kMessage) {
    CheckSocketIo(packet->data);
  }
  CheckEncodersTakeAnyBytes(text);
  return 0;
}
