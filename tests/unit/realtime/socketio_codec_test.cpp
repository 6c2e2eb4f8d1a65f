#include "nilecare/realtime/socketio_codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nilecare::realtime::sio {
namespace {

using nlohmann::json;
using namespace std::string_literals;

Packet Parsed(std::string_view text, std::size_t max_depth = kDefaultMaxDepth) {
  auto result = Parse(text, max_depth);
  if (const auto* error = std::get_if<ParseError>(&result)) {
    ADD_FAILURE() << "Parse(" << text << ") failed: " << ToString(*error);
    return Packet{};
  }
  return std::get<Packet>(std::move(result));
}

std::optional<ParseError> ErrorOf(std::string_view text,
                                  std::size_t max_depth = kDefaultMaxDepth) {
  const auto result = Parse(text, max_depth);
  if (const auto* error = std::get_if<ParseError>(&result)) return *error;
  return std::nullopt;
}

// An event whose payload is n levels deep: ["x",[[...[1]...]]].
std::string Nested(std::size_t n) {
  return "[\"x\"," + std::string(n - 1, '[') + "1" + std::string(n - 1, ']') + "]";
}

TEST(SocketIoParseTest, NamesErrors) {
  EXPECT_EQ(ToString(ParseError::kEmpty), "empty");
  EXPECT_EQ(ToString(ParseError::kUnknownType), "unknown_type");
  EXPECT_EQ(ToString(ParseError::kBinaryUnsupported), "binary_unsupported");
  EXPECT_EQ(ToString(ParseError::kBadNamespace), "bad_namespace");
  EXPECT_EQ(ToString(ParseError::kBadAckId), "bad_ack_id");
  EXPECT_EQ(ToString(ParseError::kBadJson), "bad_json");
  EXPECT_EQ(ToString(ParseError::kTooDeep), "too_deep");
  EXPECT_EQ(ToString(ParseError::kBadPayload), "bad_payload");
}

TEST(SocketIoParseTest, EmptyAndUnknownType) {
  EXPECT_EQ(ErrorOf(""), ParseError::kEmpty);
  EXPECT_EQ(ErrorOf("7"), ParseError::kUnknownType);
  EXPECT_EQ(ErrorOf("9[\"x\"]"), ParseError::kUnknownType);
  EXPECT_EQ(ErrorOf("[\"x\"]"), ParseError::kUnknownType);
  EXPECT_EQ(ErrorOf("/"), ParseError::kUnknownType);
  EXPECT_EQ(ErrorOf(" 2[\"x\"]"), ParseError::kUnknownType);
}

TEST(SocketIoParseTest, ConnectWithoutAuth) {
  const Packet packet = Parsed("0");
  EXPECT_EQ(packet.type, PacketType::kConnect);
  EXPECT_EQ(packet.nsp, "/");
  EXPECT_FALSE(packet.id);
  EXPECT_TRUE(packet.data.is_null());
}

TEST(SocketIoParseTest, ConnectWithAuth) {
  const Packet packet = Parsed("0{\"token\":\"eyJ.x.y\",\"pid\":\"p1\",\"offset\":\"42\"}");
  EXPECT_EQ(packet.type, PacketType::kConnect);
  EXPECT_EQ(packet.nsp, "/");
  EXPECT_EQ(packet.data["token"], "eyJ.x.y");
  EXPECT_EQ(packet.data["offset"], "42");
}

TEST(SocketIoParseTest, ConnectPayloadMustBeAnObject) {
  EXPECT_EQ(ErrorOf("0[]"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("0\"token\""), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("0null"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("0true"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("0{"), ParseError::kBadJson);
  EXPECT_EQ(ErrorOf("0{}x"), ParseError::kBadJson);
  EXPECT_EQ(ErrorOf("0 "), ParseError::kBadJson);
}

TEST(SocketIoParseTest, ConnectRefusesAnAckId) {
  EXPECT_EQ(ErrorOf("01{}"), ParseError::kBadAckId);
  EXPECT_EQ(ErrorOf("01"), ParseError::kBadAckId);
}

TEST(SocketIoParseTest, Disconnect) {
  const Packet packet = Parsed("1");
  EXPECT_EQ(packet.type, PacketType::kDisconnect);
  EXPECT_TRUE(packet.data.is_null());
  EXPECT_EQ(Parsed("1/admin,").nsp, "/admin");
  EXPECT_EQ(ErrorOf("1{}"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("1null"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("15"), ParseError::kBadAckId);
}

TEST(SocketIoParseTest, Event) {
  const Packet packet = Parsed("2[\"vitals:subscribe\",{\"patientId\":\"p-17\"}]");
  EXPECT_EQ(packet.type, PacketType::kEvent);
  EXPECT_EQ(packet.nsp, "/");
  EXPECT_FALSE(packet.id);
  ASSERT_TRUE(packet.data.is_array());
  ASSERT_EQ(packet.data.size(), 2u);
  EXPECT_EQ(packet.data[0], "vitals:subscribe");
  EXPECT_EQ(packet.data[1]["patientId"], "p-17");
}

TEST(SocketIoParseTest, EventWithoutArguments) {
  const Packet packet = Parsed("2[\"ping\"]");
  EXPECT_EQ(packet.data, json::array({"ping"}));
}

TEST(SocketIoParseTest, EventRequestingAnAck) {
  const Packet packet = Parsed("212[\"alerts:ack\",\"a-1\"]");
  EXPECT_EQ(packet.type, PacketType::kEvent);
  ASSERT_TRUE(packet.id);
  EXPECT_EQ(*packet.id, 12u);
  EXPECT_EQ(packet.data, json::array({"alerts:ack", "a-1"}));
}

TEST(SocketIoParseTest, EventShapeIsChecked) {
  EXPECT_EQ(ErrorOf("2"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("2[]"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("2[1,2]"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("2[null]"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("2[[\"x\"]]"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("2{\"event\":\"x\"}"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("2\"x\""), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("212"), ParseError::kBadPayload);  // an id and no arguments
  EXPECT_EQ(ErrorOf("2[\"x\""), ParseError::kBadJson);
  EXPECT_EQ(ErrorOf("2[\"x\"]]"), ParseError::kBadJson);
  EXPECT_EQ(ErrorOf("2['x']"), ParseError::kBadJson);
}

TEST(SocketIoParseTest, ReservedEventNamesAreNotTheCodecsConcern) {
  EXPECT_EQ(Parsed("2[\"disconnect\"]").data[0], "disconnect");
}

TEST(SocketIoParseTest, InvalidUtf8InJsonIsBadJson) {
  EXPECT_EQ(ErrorOf("2[\"\xff\"]"), ParseError::kBadJson);
  EXPECT_EQ(ErrorOf("2[\"\xc0\xaf\"]"), ParseError::kBadJson);
}

TEST(SocketIoParseTest, WhitespaceAroundJsonIsJson) {
  // JSON.parse takes it too.
  EXPECT_EQ(Parsed("2 [\"x\"] ").data, json::array({"x"}));
}

TEST(SocketIoParseTest, Ack) {
  const Packet packet = Parsed("37[{\"ok\":true}]");
  EXPECT_EQ(packet.type, PacketType::kAck);
  ASSERT_TRUE(packet.id);
  EXPECT_EQ(*packet.id, 7u);
  EXPECT_EQ(packet.data, json::parse("[{\"ok\":true}]"));
  EXPECT_EQ(Parsed("30[]").data, json::array());
  EXPECT_EQ(*Parsed("30[]").id, 0u);
}

TEST(SocketIoParseTest, AckNeedsAnIdAndAnArray) {
  EXPECT_EQ(ErrorOf("3[]"), ParseError::kBadAckId);
  EXPECT_EQ(ErrorOf("3"), ParseError::kBadAckId);
  EXPECT_EQ(ErrorOf("37"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("37{}"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("37\"ok\""), ParseError::kBadPayload);
}

TEST(SocketIoParseTest, ConnectErrorIsAnObjectOrAString) {
  const Packet object = Parsed("4{\"message\":\"Not authorized\"}");
  EXPECT_EQ(object.type, PacketType::kConnectError);
  EXPECT_EQ(object.data["message"], "Not authorized");
  EXPECT_EQ(Parsed("4\"Not authorized\"").data, "Not authorized");
  EXPECT_EQ(ErrorOf("4"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("4[]"), ParseError::kBadPayload);
  EXPECT_EQ(ErrorOf("41{}"), ParseError::kBadAckId);
}

TEST(SocketIoParseTest, BinaryPacketsAreRefused) {
  EXPECT_EQ(ErrorOf("51-[\"upload\",{\"_placeholder\":true,\"num\":0}]"),
            ParseError::kBinaryUnsupported);
  EXPECT_EQ(ErrorOf("61-3[{\"_placeholder\":true,\"num\":0}]"), ParseError::kBinaryUnsupported);
  EXPECT_EQ(ErrorOf("5"), ParseError::kBinaryUnsupported);
  EXPECT_EQ(ErrorOf("6"), ParseError::kBinaryUnsupported);
  // An attachment count under a non-binary type digit.
  EXPECT_EQ(ErrorOf("21-[\"x\"]"), ParseError::kBinaryUnsupported);
  EXPECT_EQ(ErrorOf("312-[]"), ParseError::kBinaryUnsupported);
}

TEST(SocketIoParseTest, Namespaces) {
  const Packet connect = Parsed("0/admin,{\"token\":\"t\"}");
  EXPECT_EQ(connect.type, PacketType::kConnect);
  EXPECT_EQ(connect.nsp, "/admin");
  EXPECT_EQ(connect.data["token"], "t");

  const Packet event = Parsed("2/admin,5[\"x\",1]");
  EXPECT_EQ(event.nsp, "/admin");
  EXPECT_EQ(*event.id, 5u);
  EXPECT_EQ(event.data, json::array({"x", 1}));

  EXPECT_EQ(Parsed("0/admin,").nsp, "/admin");
  EXPECT_EQ(Parsed("0/,").nsp, "/");
  EXPECT_EQ(Parsed("0/ward/4b,").nsp, "/ward/4b");
  EXPECT_EQ(Parsed("0/sal\xc3\xa9,").nsp, "/sal\xc3\xa9");
}

TEST(SocketIoParseTest, NamespaceWithoutCommaRunsToTheEnd) {
  // socket.io-parser's reading: everything after the type is the namespace.
  EXPECT_EQ(Parsed("0/admin").nsp, "/admin");
  EXPECT_TRUE(Parsed("0/admin").data.is_null());
  EXPECT_EQ(Parsed("1/admin").nsp, "/admin");
  // So an event cannot follow it.
  EXPECT_EQ(ErrorOf("2/admin[\"x\"]"), ParseError::kBadPayload);
}

TEST(SocketIoParseTest, NamespaceIsPrintableUtf8) {
  EXPECT_EQ(ErrorOf("0/ad\nmin,"), ParseError::kBadNamespace);
  EXPECT_EQ(ErrorOf("0/ad\rmin,{}"), ParseError::kBadNamespace);
  EXPECT_EQ(ErrorOf("0/a\x7f,"), ParseError::kBadNamespace);
  EXPECT_EQ(ErrorOf("0/a\0b,"s), ParseError::kBadNamespace);
  EXPECT_EQ(ErrorOf("0/a\x1e"), ParseError::kBadNamespace);
  EXPECT_EQ(ErrorOf("0/\xff,"), ParseError::kBadNamespace);
  EXPECT_EQ(ErrorOf("0/\xc3,"), ParseError::kBadNamespace);          // truncated sequence
  EXPECT_EQ(ErrorOf("0/\xc0\xaf,"), ParseError::kBadNamespace);      // overlong '/'
  EXPECT_EQ(ErrorOf("0/\xed\xa0\x80,"), ParseError::kBadNamespace);  // a surrogate
  EXPECT_EQ(ErrorOf("0/\xf4\x90\x80\x80,"), ParseError::kBadNamespace);  // above U+10FFFF
  EXPECT_EQ(Parsed("0/\xf0\x9f\x8f\xa5,").nsp, "/\xf0\x9f\x8f\xa5");     // U+1F3E5
}

TEST(SocketIoParseTest, LargestAckId) {
  // 2^53 - 1, Number.MAX_SAFE_INTEGER.
  const Packet packet = Parsed("29007199254740991[\"x\"]");
  EXPECT_EQ(*packet.id, 9007199254740991u);
  EXPECT_EQ(*Parsed("30009[]").id, 9u);  // leading zeros, as Number("0009")
}

TEST(SocketIoParseTest, AckIdOverflow) {
  EXPECT_EQ(ErrorOf("29007199254740992[\"x\"]"), ParseError::kBadAckId);
  EXPECT_EQ(ErrorOf("318446744073709551615[]"), ParseError::kBadAckId);   // 2^64 - 1
  EXPECT_EQ(ErrorOf("318446744073709551616[]"), ParseError::kBadAckId);   // wraps to 0
  EXPECT_EQ(ErrorOf("3184467440737095516150[]"), ParseError::kBadAckId);  // wraps to a small id
  EXPECT_EQ(ErrorOf("3" + std::string(1000, '9') + "[]"), ParseError::kBadAckId);
}

TEST(SocketIoParseTest, DepthLimit) {
  // The event array is one level itself.
  EXPECT_EQ(Parsed("2" + Nested(kDefaultMaxDepth)).type, PacketType::kEvent);
  EXPECT_EQ(ErrorOf("2" + Nested(kDefaultMaxDepth + 1)), ParseError::kTooDeep);
  EXPECT_EQ(ErrorOf("2[\"x\"," + std::string(kDefaultMaxDepth, '{') + "]"),
            ParseError::kTooDeep);
  EXPECT_EQ(Parsed("2[\"x\",{\"a\":[1]}]", 3).data[1]["a"][0], 1);
  EXPECT_EQ(ErrorOf("2[\"x\",{\"a\":[1]}]", 2), ParseError::kTooDeep);
  EXPECT_EQ(ErrorOf("2[\"x\"]", 0), ParseError::kTooDeep);
}

TEST(SocketIoParseTest, DepthLimitIgnoresBracketsInStrings) {
  const std::string brackets(100, '[');
  const Packet packet = Parsed("2[\"x\",\"" + brackets + "\",\"\\\"[[[[\"]", 2);
  EXPECT_EQ(packet.data[1], brackets);
  EXPECT_EQ(packet.data[2], "\"[[[[");
  // An escaped backslash ends before the quote: the quote closes the string.
  EXPECT_EQ(ErrorOf("2[\"x\\\\\",[[[1]]]]", 3), ParseError::kTooDeep);
}

TEST(SocketIoParseTest, HugeNestingIsRefusedWithoutRecursing) {
  const std::string deep = "2[\"x\"," + std::string(1000000, '[') + std::string(1000000, ']') + "]";
  EXPECT_EQ(ErrorOf(deep), ParseError::kTooDeep);
  EXPECT_EQ(ErrorOf("2" + std::string(1000000, '[')), ParseError::kTooDeep);
}

TEST(SocketIoEncodeTest, Connect) {
  EXPECT_EQ(EncodeConnect("abc", ""), "0{\"sid\":\"abc\"}");
  EXPECT_EQ(EncodeConnect("abc", "p"), "0{\"sid\":\"abc\",\"pid\":\"p\"}");
  const Packet packet = Parsed(EncodeConnect("a\"b", "c\\d"));
  EXPECT_EQ(packet.data["sid"], "a\"b");
  EXPECT_EQ(packet.data["pid"], "c\\d");
}

TEST(SocketIoEncodeTest, ConnectError) {
  EXPECT_EQ(EncodeConnectError("Authentication failed"),
            "4{\"message\":\"Authentication failed\"}");
  EXPECT_EQ(Parsed(EncodeConnectError("line\nbreak \"quoted\"")).data["message"],
            "line\nbreak \"quoted\"");
  EXPECT_EQ(EncodeConnectError("Authentication failed", {{"reason", "expired"}}),
            "4{\"data\":{\"reason\":\"expired\"},\"message\":\"Authentication failed\"}");
  EXPECT_EQ(EncodeConnectError("Invalid namespace", nullptr, "/admin"),
            "4/admin,{\"message\":\"Invalid namespace\"}");
  const Packet other = Parsed(EncodeConnectError("Invalid namespace", nullptr, "/admin"));
  EXPECT_EQ(other.nsp, "/admin");
}

TEST(SocketIoEncodeTest, Ack) {
  EXPECT_EQ(EncodeAck(7, json::array({1})), "37[1]");
  EXPECT_EQ(EncodeAck(0, json::array()), "30[]");
  EXPECT_EQ(EncodeAck(9007199254740991u, json::array({"ok"})), "39007199254740991[\"ok\"]");
  // Not an array: sent as the only argument, so the client's decoder accepts the packet.
  EXPECT_EQ(EncodeAck(3, json{{"ok", true}}), "33[{\"ok\":true}]");
  EXPECT_EQ(EncodeAck(3, json()), "33[]");
}

TEST(SocketIoEncodeTest, AckRoundTrip) {
  const json args = json::array({json{{"status", "acknowledged"}, {"alertId", "a-9"}}, 3.5});
  const Packet packet = Parsed(EncodeAck(42, args));
  EXPECT_EQ(packet.type, PacketType::kAck);
  EXPECT_EQ(*packet.id, 42u);
  EXPECT_EQ(packet.data, args);
}

TEST(SocketIoEncodeTest, EventArgsPrefix) {
  EXPECT_EQ(EventArgsPrefix("vitals:update", json{{"hr", 80}}), "[\"vitals:update\",{\"hr\":80}");
  EXPECT_EQ(EventArgsPrefix("x", json()), "[\"x\"");
  EXPECT_EQ(EventArgsPrefix("x", json::array({1, 2})), "[\"x\",[1,2]");
  EXPECT_EQ(EventArgsPrefix("x", "s"), "[\"x\",\"s\"");
}

TEST(SocketIoEncodeTest, FinishEvent) {
  const std::string prefix = EventArgsPrefix("vitals:update", json{{"hr", 80}});
  EXPECT_EQ(FinishEvent(prefix, std::nullopt, ""), "2" + prefix + "]");
  EXPECT_EQ(FinishEvent(prefix, 12, ""), "212" + prefix + "]");
  EXPECT_EQ(FinishEvent(prefix, std::nullopt, "o-5"), "2" + prefix + ",\"o-5\"]");
  EXPECT_EQ(FinishEvent(prefix, 0, "7"), "20" + prefix + ",\"7\"]");
}

TEST(SocketIoEncodeTest, EventRoundTrip) {
  const json data = {{"patientId", "p-17"}, {"hr", 80}, {"spo2", 97.5}, {"tags", {"icu", "bed 4"}}};
  const std::string prefix = EventArgsPrefix("vitals:update", data);

  const Packet plain = Parsed(FinishEvent(prefix, std::nullopt, ""));
  EXPECT_EQ(plain.type, PacketType::kEvent);
  EXPECT_FALSE(plain.id);
  EXPECT_EQ(plain.data, json::array({"vitals:update", data}));

  const Packet with_ack = Parsed(FinishEvent(prefix, 31, "1234"));
  EXPECT_EQ(*with_ack.id, 31u);
  EXPECT_EQ(with_ack.data, json::array({"vitals:update", data, "1234"}));

  const Packet no_data = Parsed(FinishEvent(EventArgsPrefix("ping", json()), std::nullopt, ""));
  EXPECT_EQ(no_data.data, json::array({"ping"}));
}

TEST(SocketIoEncodeTest, InvalidUtf8DoesNotThrowAndStillParses) {
  std::string connect;
  ASSERT_NO_THROW(connect = EncodeConnect("s\xff", "p\xc3"));
  EXPECT_EQ(Parsed(connect).data["sid"], "s\xEF\xBF\xBD");

  std::string error;
  ASSERT_NO_THROW(error = EncodeConnectError("bad \xfe byte"));
  EXPECT_EQ(Parsed(error).data["message"], "bad \xEF\xBF\xBD byte");

  const json data = {{"note", "\xff\xfe"}};
  std::string event;
  ASSERT_NO_THROW(event = FinishEvent(EventArgsPrefix("x\x80", data), 1, "o\xff"));
  const Packet packet = Parsed(event);
  EXPECT_EQ(packet.data[0], "x\xEF\xBF\xBD");
  EXPECT_EQ(packet.data[1]["note"], "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(packet.data[2], "o\xEF\xBF\xBD");

  std::string ack;
  ASSERT_NO_THROW(ack = EncodeAck(1, json::array({"\xc0"})));
  EXPECT_EQ(Parsed(ack).data[0], "\xEF\xBF\xBD");
}

TEST(SocketIoEncodeTest, ControlCharactersAreEscaped) {
  const std::string prefix = EventArgsPrefix("a\x1e" "b", json("\x01"));
  EXPECT_EQ(prefix.find('\x1e'), std::string::npos);
  EXPECT_EQ(prefix.find('\x01'), std::string::npos);
  EXPECT_EQ(Parsed(FinishEvent(prefix, std::nullopt, "")).data,
            json::array({"a\x1e" "b", "\x01"}));
}

}  // namespace
}  // namespace nilecare::realtime::sio
