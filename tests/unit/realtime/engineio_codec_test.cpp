#include "nilecare/realtime/engineio_codec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nilecare::realtime::eio {
namespace {

using namespace std::string_literals;
using std::chrono::milliseconds;

TEST(EngineIoParsePacketTest, ReadsEveryTypeDigit) {
  const std::vector<std::pair<std::string, PacketType>> cases = {
      {"0", PacketType::kOpen},    {"1", PacketType::kClose},   {"2", PacketType::kPing},
      {"3", PacketType::kPong},    {"4", PacketType::kMessage}, {"5", PacketType::kUpgrade},
      {"6", PacketType::kNoop},
  };
  for (const auto& [text, type] : cases) {
    const auto packet = ParsePacket(text);
    ASSERT_TRUE(packet.has_value()) << text;
    EXPECT_EQ(packet->type, type);
    EXPECT_TRUE(packet->data.empty());
  }
}

TEST(EngineIoParsePacketTest, DataIsTheRestAndViewsTheInput) {
  const std::string text = "42[\"vitals:update\",{\"hr\":80}]";
  const auto packet = ParsePacket(text);
  ASSERT_TRUE(packet.has_value());
  EXPECT_EQ(packet->type, PacketType::kMessage);
  EXPECT_EQ(packet->data, "2[\"vitals:update\",{\"hr\":80}]");
  EXPECT_EQ(packet->data.data(), text.data() + 1);
  EXPECT_EQ(ParsePacket("2probe")->data, "probe");
}

TEST(EngineIoParsePacketTest, RefusesEmptyUnknownAndBinary) {
  EXPECT_FALSE(ParsePacket(""));
  EXPECT_FALSE(ParsePacket("7"));
  EXPECT_FALSE(ParsePacket("9hello"));
  EXPECT_FALSE(ParsePacket("/"));  // the character just below '0'
  EXPECT_FALSE(ParsePacket("bAQID"));
  EXPECT_FALSE(ParsePacket(" 4hello"));
  EXPECT_FALSE(ParsePacket("\x1e" "4"));
  EXPECT_FALSE(ParsePacket("\0"s + "4"));
}

TEST(EngineIoPayloadTest, NamesErrors) {
  EXPECT_EQ(ToString(PayloadError::kNone), "none");
  EXPECT_EQ(ToString(PayloadError::kEmpty), "empty");
  EXPECT_EQ(ToString(PayloadError::kMalformed), "malformed");
  EXPECT_EQ(ToString(PayloadError::kBinary), "binary");
  EXPECT_EQ(ToString(PayloadError::kTooMany), "too_many");
}

TEST(EngineIoPayloadTest, SplitsOnRecordSeparators) {
  const std::string body = "4hello\x1e" "2\x1e" "40{\"token\":\"x\"}";
  std::vector<Packet> packets;
  ASSERT_EQ(SplitPayload(body, 16, packets), PayloadError::kNone);
  ASSERT_EQ(packets.size(), 3u);
  EXPECT_EQ(packets[0].type, PacketType::kMessage);
  EXPECT_EQ(packets[0].data, "hello");
  EXPECT_EQ(packets[1].type, PacketType::kPing);
  EXPECT_EQ(packets[1].data, "");
  EXPECT_EQ(packets[2].type, PacketType::kMessage);
  EXPECT_EQ(packets[2].data, "0{\"token\":\"x\"}");
}

TEST(EngineIoPayloadTest, OnePacketWithoutSeparator) {
  std::vector<Packet> packets;
  ASSERT_EQ(SplitPayload("1", 1, packets), PayloadError::kNone);
  ASSERT_EQ(packets.size(), 1u);
  EXPECT_EQ(packets[0].type, PacketType::kClose);
}

TEST(EngineIoPayloadTest, ClearsStaleOutput) {
  std::vector<Packet> packets(5);
  ASSERT_EQ(SplitPayload("6", 4, packets), PayloadError::kNone);
  EXPECT_EQ(packets.size(), 1u);
}

TEST(EngineIoPayloadTest, EmptyBody) {
  std::vector<Packet> packets;
  EXPECT_EQ(SplitPayload("", 16, packets), PayloadError::kEmpty);
}

TEST(EngineIoPayloadTest, SeparatorsAtTheEndsOrDoubledAreMalformed) {
  std::vector<Packet> packets;
  EXPECT_EQ(SplitPayload("\x1e", 16, packets), PayloadError::kMalformed);
  EXPECT_EQ(SplitPayload("4a\x1e", 16, packets), PayloadError::kMalformed);
  EXPECT_EQ(SplitPayload("\x1e" "4a", 16, packets), PayloadError::kMalformed);
  EXPECT_EQ(SplitPayload("4a\x1e\x1e" "4b", 16, packets), PayloadError::kMalformed);
}

TEST(EngineIoPayloadTest, UnknownTypeIsMalformed) {
  std::vector<Packet> packets;
  EXPECT_EQ(SplitPayload("4a\x1e" "8b", 16, packets), PayloadError::kMalformed);
  EXPECT_EQ(SplitPayload("hello", 16, packets), PayloadError::kMalformed);
}

TEST(EngineIoPayloadTest, BinaryPacketIsReported) {
  std::vector<Packet> packets;
  EXPECT_EQ(SplitPayload("bAQIDBA==", 16, packets), PayloadError::kBinary);
  EXPECT_EQ(SplitPayload("4a\x1e" "bAQIDBA==", 16, packets), PayloadError::kBinary);
  // "b" alone is still a (empty) binary packet, not an unknown type.
  EXPECT_EQ(SplitPayload("b", 16, packets), PayloadError::kBinary);
}

TEST(EngineIoPayloadTest, TooManyPackets) {
  std::vector<Packet> packets;
  EXPECT_EQ(SplitPayload("2\x1e" "2\x1e" "2", 3, packets), PayloadError::kNone);
  EXPECT_EQ(SplitPayload("2\x1e" "2\x1e" "2\x1e" "2", 3, packets), PayloadError::kTooMany);
  EXPECT_EQ(SplitPayload("2", 0, packets), PayloadError::kTooMany);
}

TEST(EngineIoPayloadTest, TooManyIsFoundWithoutReadingTheWholeBody) {
  // A body of separators only: refused as too many after max_packets pieces, whatever
  // the rest holds.
  std::string body = "2";
  for (int i = 0; i < 100000; ++i) body += "\x1e" "2";
  std::vector<Packet> packets;
  EXPECT_EQ(SplitPayload(body, 8, packets), PayloadError::kTooMany);
  EXPECT_LE(packets.size(), 8u);
}

TEST(EngineIoAppendTest, AppendsTypeAndData) {
  std::string out;
  AppendPacket(out, PacketType::kMessage, "2[\"x\"]");
  out += kRecordSeparator;
  AppendPacket(out, PacketType::kPing, "");
  EXPECT_EQ(out, "42[\"x\"]\x1e" "2");

  std::vector<Packet> packets;
  ASSERT_EQ(SplitPayload(out, 2, packets), PayloadError::kNone);
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(packets[0].data, "2[\"x\"]");
  EXPECT_EQ(packets[1].type, PacketType::kPing);
}

TEST(EngineIoOpenPacketTest, DefaultsMatchEngineIo) {
  OpenSettings settings;
  settings.sid = "lv_VI97HAXpY6yYWAAAC";
  EXPECT_EQ(OpenPacket(settings),
            "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],"
            "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}");
}

TEST(EngineIoOpenPacketTest, NoUpgradeAndCustomTimings) {
  OpenSettings settings;
  settings.sid = "abc";
  settings.websocket_upgrade = false;
  settings.ping_interval = milliseconds(10000);
  settings.ping_timeout = milliseconds(5000);
  settings.max_payload = 65536;
  EXPECT_EQ(OpenPacket(settings),
            "0{\"sid\":\"abc\",\"upgrades\":[],\"pingInterval\":10000,\"pingTimeout\":5000,"
            "\"maxPayload\":65536}");
}

TEST(EngineIoOpenPacketTest, SidIsEscapedAndInvalidUtf8DoesNotThrow) {
  OpenSettings settings;
  settings.sid = "a\"b\xff";
  std::string packet;
  ASSERT_NO_THROW(packet = OpenPacket(settings));
  const auto open = ParsePacket(packet);
  ASSERT_TRUE(open.has_value());
  EXPECT_EQ(open->type, PacketType::kOpen);
  const auto json = nlohmann::json::parse(open->data, nullptr, false);
  ASSERT_FALSE(json.is_discarded());
  EXPECT_EQ(json["sid"], "a\"b\xEF\xBF\xBD");
}

TEST(EngineIoErrorBodyTest, MatchesEngineIoMessages) {
  EXPECT_EQ(ErrorBody(TransportError::kUnknownTransport),
            "{\"code\":0,\"message\":\"Transport unknown\"}");
  EXPECT_EQ(ErrorBody(TransportError::kUnknownSid),
            "{\"code\":1,\"message\":\"Session ID unknown\"}");
  EXPECT_EQ(ErrorBody(TransportError::kBadHandshakeMethod),
            "{\"code\":2,\"message\":\"Bad handshake method\"}");
  EXPECT_EQ(ErrorBody(TransportError::kBadRequest), "{\"code\":3,\"message\":\"Bad request\"}");
  EXPECT_EQ(ErrorBody(TransportError::kForbidden), "{\"code\":4,\"message\":\"Forbidden\"}");
  EXPECT_EQ(ErrorBody(TransportError::kUnsupportedProtocolVersion),
            "{\"code\":5,\"message\":\"Unsupported protocol version\"}");
}

}  // namespace
}  // namespace nilecare::realtime::eio
