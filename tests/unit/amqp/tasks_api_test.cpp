#include "amqp/tasks_api.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include <nlohmann/json.hpp>

namespace nilecare::amqp {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Delay = std::optional<milliseconds>;

TEST(ParseTaskDelayTest, ReadsDurationStrings) {
  EXPECT_EQ(ParseTaskDelay(json("30s")), Delay(milliseconds(30000)));
  EXPECT_EQ(ParseTaskDelay(json("5m")), Delay(milliseconds(300000)));
  EXPECT_EQ(ParseTaskDelay(json("24h")), Delay(milliseconds(86400000)));
  EXPECT_EQ(ParseTaskDelay(json("2000ms")), Delay(milliseconds(2000)));
  EXPECT_EQ(ParseTaskDelay(json("0s")), Delay(milliseconds(0)));
}

// Each distinct delay is a queue on the broker: whole seconds keep their number down.
TEST(ParseTaskDelayTest, RoundsUpToWholeSeconds) {
  EXPECT_EQ(ParseTaskDelay(json("1500ms")), Delay(milliseconds(2000)));
  EXPECT_EQ(ParseTaskDelay(json("250ms")), Delay(milliseconds(1000)));
  EXPECT_EQ(ParseTaskDelay(json("1ms")), Delay(milliseconds(1000)));
  EXPECT_EQ(ParseTaskDelay(json("1001ms")), Delay(milliseconds(2000)));
  EXPECT_EQ(ParseTaskDelay(json("1000ms")), Delay(milliseconds(1000)));
  EXPECT_EQ(ParseTaskDelay(json("1.5s")), Delay(milliseconds(2000)));
}

// Parsed from the request body, as the endpoint gets them: non-negative integers are unsigned.
TEST(ParseTaskDelayTest, ReadsUnsignedIntegersAsMilliseconds) {
  EXPECT_EQ(ParseTaskDelay(json::parse("0")), Delay(milliseconds(0)));
  EXPECT_EQ(ParseTaskDelay(json::parse("1500")), Delay(milliseconds(2000)));
  EXPECT_EQ(ParseTaskDelay(json::parse("1")), Delay(milliseconds(1000)));
  EXPECT_EQ(ParseTaskDelay(json::parse("30000")), Delay(milliseconds(30000)));
  EXPECT_EQ(ParseTaskDelay(json(1500u)), Delay(milliseconds(2000)));
}

TEST(ParseTaskDelayTest, RefusesNegativeNumbers) {
  EXPECT_EQ(ParseTaskDelay(json::parse("-1000")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json::parse("-1")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json("-5s")), std::nullopt);
}

TEST(ParseTaskDelayTest, RefusesFloats) {
  EXPECT_EQ(ParseTaskDelay(json::parse("1500.0")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json::parse("1.5")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json::parse("1e3")), std::nullopt);
}

TEST(ParseTaskDelayTest, RefusesMalformedStrings) {
  EXPECT_EQ(ParseTaskDelay(json("")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json("soon")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json("30x")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json("s")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json("30 s")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json("1.5ms")), std::nullopt);
}

// "30" could mean seconds or milliseconds.
TEST(ParseTaskDelayTest, RefusesABareNumberString) {
  EXPECT_EQ(ParseTaskDelay(json("30")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json("0")), std::nullopt);
}

TEST(ParseTaskDelayTest, RefusesOtherJsonTypes) {
  EXPECT_EQ(ParseTaskDelay(json::object()), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json::parse(R"({"ms": 1500})")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json::parse(R"(["30s"])")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json(true)), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(json(nullptr)), std::nullopt);
}

}  // namespace
}  // namespace nilecare::amqp

namespace nilecare::amqp {
namespace {

TEST(ParseTaskDelayTest, RefusesValuesWhoseRoundingWouldOverflow) {
  EXPECT_EQ(ParseTaskDelay(nlohmann::json::parse("9223372036854775807")), std::nullopt);
  EXPECT_EQ(ParseTaskDelay(nlohmann::json("9223372036854775807ms")), std::nullopt);
}

}  // namespace
}  // namespace nilecare::amqp

namespace nilecare::amqp {
namespace {

TEST(ParseTaskDelayTest, LongerDelaysRoundUpToCoarserSteps) {
  using std::chrono::milliseconds;
  const auto parse = [](const char* text) { return ParseTaskDelay(nlohmann::json(text)); };
  EXPECT_EQ(parse("60s"), milliseconds(60'000));
  EXPECT_EQ(parse("61s"), milliseconds(70'000));     // 10 s steps up to 10 min
  EXPECT_EQ(parse("10m"), milliseconds(600'000));
  EXPECT_EQ(parse("601s"), milliseconds(660'000));   // 1 min steps up to 2 h
  EXPECT_EQ(parse("2h"), milliseconds(7'200'000));
  EXPECT_EQ(parse("121m"), milliseconds(7'800'000)); // 10 min steps beyond
  EXPECT_EQ(parse("24h"), milliseconds(86'400'000));
}

}  // namespace
}  // namespace nilecare::amqp
