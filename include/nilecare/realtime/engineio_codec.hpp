#pragma once
// Engine.IO v4 packets (https://socket.io/docs/v4/engine-io-protocol/): one packet per
// WebSocket text frame, or several in a long-polling body separated by \x1e. Pure text in,
// text out; no I/O, so the parser can be fuzzed (tests/fuzz/realtime_packet_fuzz.cpp).
//
// Binary packets (a WebSocket binary frame, or "b<base64>" in a polling body) are not part
// of this gateway's protocol surface: the parser reports them so the session can close
// the connection with a clear reason instead of misreading them.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nilecare::realtime::eio {

enum class PacketType : char {
  kOpen = '0',
  kClose = '1',
  kPing = '2',
  kPong = '3',
  kMessage = '4',
  kUpgrade = '5',
  kNoop = '6',
};

inline constexpr char kRecordSeparator = '\x1e';

struct Packet {
  PacketType type{PacketType::kNoop};
  std::string_view data;  // a view into the parsed text
};

// One text packet: a type digit 0-6 then its data. nullopt for empty text or another
// first character.
std::optional<Packet> ParsePacket(std::string_view text);

enum class PayloadError {
  kNone,
  kEmpty,      // no packet at all
  kMalformed,  // an empty or unknown packet between separators
  kBinary,     // a "b..." (base64 binary) packet
  kTooMany,    // more than max_packets
};
std::string_view ToString(PayloadError error);

// Splits a long-polling POST body. `out` receives views into `body`; on an error its
// contents are unspecified.
PayloadError SplitPayload(std::string_view body, std::size_t max_packets,
                          std::vector<Packet>& out);

// Appends one packet (type digit + data) to `out`; for polling bodies the caller puts
// kRecordSeparator between packets.
void AppendPacket(std::string& out, PacketType type, std::string_view data);

struct OpenSettings {
  std::string sid;
  bool websocket_upgrade{true};  // "upgrades": ["websocket"] (polling sessions only)
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  std::size_t max_payload{1000000};
};
// The open packet: 0{"sid":...,"upgrades":[...],"pingInterval":..,"pingTimeout":..,
// "maxPayload":..}.
std::string OpenPacket(const OpenSettings& settings);

// The JSON error body Engine.IO servers answer bad polling requests with, e.g.
// {"code":1,"message":"Session ID unknown"}.
enum class TransportError {
  kUnknownTransport = 0,
  kUnknownSid = 1,
  kBadHandshakeMethod = 2,
  kBadRequest = 3,
  kForbidden = 4,
  kUnsupportedProtocolVersion = 5,
};
std::string ErrorBody(TransportError error);

}  // namespace nilecare::realtime::eio
