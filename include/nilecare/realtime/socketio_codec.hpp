#pragma once
// Socket.IO v5 packets (https://socket.io/docs/v4/socket-io-protocol/), carried in
// Engine.IO message packets:
//
//   <type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//
// Only the main namespace "/" is served; packets for another namespace are parsed (so the
// server can answer CONNECT_ERROR "Invalid namespace") but carry their name. Binary
// packets (types 5 and 6) are recognised and refused with kBinaryUnsupported rather than
// half-parsed. JSON nested deeper than `max_depth` is refused before it is parsed, since
// serialising such a value again would recurse that deep.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace nilecare::realtime::sio {

enum class PacketType : int {
  kConnect = 0,
  kDisconnect = 1,
  kEvent = 2,
  kAck = 3,
  kConnectError = 4,
  kBinaryEvent = 5,
  kBinaryAck = 6,
};

struct Packet {
  PacketType type{PacketType::kEvent};
  std::string nsp{"/"};
  std::optional<std::uint64_t> id;  // ack id
  // CONNECT: an object or null (no auth payload); EVENT: a non-empty array whose first
  // element is the event name (a string); ACK: an array; DISCONNECT: null; CONNECT_ERROR
  // (which only servers send; parsed for symmetry): an object or a string.
  nlohmann::json data;
};

enum class ParseError {
  kEmpty,
  kUnknownType,
  kBinaryUnsupported,  // types 5/6, or an attachment count
  // A namespace runs from "/" to the first comma, or like socket.io-parser to the end of
  // the packet when there is none; refused for a control character or invalid UTF-8.
  kBadNamespace,
  kBadAckId,  // above 2^53 - 1, an ack id where none belongs, or none on an ACK
  kBadJson,
  kTooDeep,
  kBadPayload,  // valid JSON of the wrong shape for the packet type
};
std::string_view ToString(ParseError error);

inline constexpr std::size_t kDefaultMaxDepth = 32;

std::variant<Packet, ParseError> Parse(std::string_view text,
                                       std::size_t max_depth = kDefaultMaxDepth);

// Encoders. They return Socket.IO packets; the Engine.IO "4" prefix is the caller's.
// 0{"sid":"..."} or, with connection state recovery, 0{"sid":"...","pid":"..."}.
std::string EncodeConnect(std::string_view sid, std::string_view pid);
// 4[<nsp>,]{"message":"..."[,"data":<data>]} (the namespace only when not "/"; `data`
// left out when null; socket.io-client shows it as err.data).
std::string EncodeConnectError(std::string_view message, const nlohmann::json& data = nullptr,
                               std::string_view nsp = "/");
// 3<id><args array>.
std::string EncodeAck(std::uint64_t id, const nlohmann::json& args);

// EVENT packets are encoded in two steps so one serialisation of the data serves every
// recipient: the shared prefix `["<event>",<data>` (the data left out when null), then per
// recipient the ack id and the recovery offset, which socket.io-client reads as the last
// string argument of the event.
std::string EventArgsPrefix(std::string_view event, const nlohmann::json& data);
// 2[<ack id>]<prefix>[,"<offset>"]]
std::string FinishEvent(std::string_view prefix, std::optional<std::uint64_t> ack_id,
                        std::string_view offset);

}  // namespace nilecare::realtime::sio
