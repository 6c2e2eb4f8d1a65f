#include "nilecare/config/units.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace {

using nilecare::config::FormatDuration;
using nilecare::config::FormatListenAddress;
using nilecare::config::FormatSize;
using nilecare::config::ListenAddress;
using nilecare::config::ParseDuration;
using nilecare::config::ParseListenAddress;
using nilecare::config::ParseSize;
using std::chrono::milliseconds;

TEST(UnitsTest, DurationUnits) {
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("5s"), milliseconds(5000));
  EXPECT_EQ(ParseDuration("2m"), milliseconds(120000));
  EXPECT_EQ(ParseDuration("24h"), milliseconds(24 * 3600 * 1000));
  EXPECT_EQ(ParseDuration("0s"), milliseconds(0));
  EXPECT_EQ(ParseDuration("0ms"), milliseconds(0));
}

TEST(UnitsTest, DurationFractions) {
  EXPECT_EQ(ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(ParseDuration("0.25s"), milliseconds(250));
  EXPECT_EQ(ParseDuration("1.5m"), milliseconds(90000));
  EXPECT_EQ(ParseDuration("0.001s"), milliseconds(1));
  // Below a millisecond cannot be represented: rejected rather than rounded.
  EXPECT_EQ(ParseDuration("1.5ms"), std::nullopt);
  EXPECT_EQ(ParseDuration("0.0001s"), std::nullopt);
}

TEST(UnitsTest, DurationRejectsBareNumbers) {
  EXPECT_EQ(ParseDuration("30"), std::nullopt);
  EXPECT_EQ(ParseDuration("0"), std::nullopt);
  EXPECT_EQ(ParseDuration("1.5"), std::nullopt);
}

TEST(UnitsTest, DurationRejectsJunk) {
  for (const char* text : {"", "s", "-5s", "+5s", ".5s", "5.s", "5 s", " 5s", "5s ", "5S", "5sec",
                           "5d", "5us", "1h30m", "lots", "5ms5", "0x10s"}) {
    EXPECT_EQ(ParseDuration(text), std::nullopt) << text;
  }
}

TEST(UnitsTest, DurationRejectsOverflow) {
  EXPECT_EQ(ParseDuration("99999999999999999999ms"), std::nullopt);
  EXPECT_EQ(ParseDuration("9223372036854775807h"), std::nullopt);
  EXPECT_EQ(ParseDuration("9223372036854775807ms"), milliseconds(INT64_MAX));
  EXPECT_EQ(ParseDuration("9223372036854775808ms"), std::nullopt);
}

TEST(UnitsTest, SizeUnits) {
  EXPECT_EQ(ParseSize("512"), 512u);
  EXPECT_EQ(ParseSize("0"), 0u);
  EXPECT_EQ(ParseSize("512B"), 512u);
  EXPECT_EQ(ParseSize("16KiB"), 16u * 1024);
  EXPECT_EQ(ParseSize("1MiB"), 1024u * 1024);
  EXPECT_EQ(ParseSize("1GiB"), 1024u * 1024 * 1024);
  EXPECT_EQ(ParseSize("16KB"), 16000u);
  EXPECT_EQ(ParseSize("1MB"), 1000000u);  // Socket.IO's maxPayload "1MB"
  EXPECT_EQ(ParseSize("1GB"), 1000000000u);
  EXPECT_EQ(ParseSize("1.5KiB"), 1536u);
  EXPECT_EQ(ParseSize("0.5MB"), 500000u);
}

TEST(UnitsTest, SizeRejectsJunk) {
  for (const char* text : {"", "-1", "+1", "1k", "1K", "1kb", "1kib", "1 KiB", "KiB", "1.5", "0.3B",
                           "lots", "1MiB ", "1TiB", "1e6", "1,000"}) {
    EXPECT_EQ(ParseSize(text), std::nullopt) << text;
  }
}

TEST(UnitsTest, SizeRejectsOverflow) {
  EXPECT_EQ(ParseSize("18446744073709551615"), SIZE_MAX);
  EXPECT_EQ(ParseSize("18446744073709551616"), std::nullopt);
  EXPECT_EQ(ParseSize("17179869184GiB"), std::nullopt);
}

TEST(UnitsTest, FormatRoundTrips) {
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(65000)), "65s");
  EXPECT_EQ(FormatDuration(milliseconds(120000)), "2m");
  EXPECT_EQ(FormatDuration(milliseconds(86400000)), "24h");
  EXPECT_EQ(FormatSize(0), "0");
  EXPECT_EQ(FormatSize(1500), "1500");
  EXPECT_EQ(FormatSize(std::size_t{16} * 1024), "16KiB");
  EXPECT_EQ(FormatSize(1000000), "1MB");
  EXPECT_EQ(FormatSize(1024000), "1000KiB");
  for (std::int64_t ms : {1, 999, 1000, 1500, 60000, 3600000, 5400000}) {
    EXPECT_EQ(ParseDuration(FormatDuration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
  for (std::size_t bytes : {1ul, 1000ul, 1024ul, 1536ul, 1ul << 30, 123456789ul}) {
    EXPECT_EQ(ParseSize(FormatSize(bytes)), bytes) << bytes;
  }
}

TEST(UnitsTest, ListenAddress) {
  auto v4 = ParseListenAddress("0.0.0.0:7000");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "0.0.0.0");
  EXPECT_EQ(v4->port, 7000);
  auto v6 = ParseListenAddress("[::1]:8080");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 8080);
  auto name = ParseListenAddress("localhost:0");  // 0 = ephemeral, used by tests
  ASSERT_TRUE(name);
  EXPECT_EQ(name->host, "localhost");
  EXPECT_EQ(name->port, 0);
  EXPECT_TRUE(ParseListenAddress("127.0.0.1:65535"));
  EXPECT_EQ(FormatListenAddress(*v6), "[::1]:8080");
  EXPECT_EQ(FormatListenAddress(ListenAddress{"127.0.0.1", 7000}), "127.0.0.1:7000");
}

TEST(UnitsTest, ListenAddressRejectsJunk) {
  for (const char* text : {"", "7000", ":7000", "host:", "host:65536", "host:-1", "host:70a",
                           "::1:7000", "[::1]", "[::1]7000", "[]:7000", "[127.0.0.1]:7000",
                           "ho st:7000", "host:123456", "http://host:7000"}) {
    EXPECT_EQ(ParseListenAddress(text), std::nullopt) << text;
  }
}

}  // namespace
