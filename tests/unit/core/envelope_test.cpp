#include "nilecare/core/envelope.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace nilecare::core {
namespace {

const std::regex kIsoUtc(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");

TEST(EnvelopeTest, SuccessHasTheSpecFields) {
  const auto body = SuccessEnvelope(201, "Appointment created", {{"appointment_id", "APT-1"}},
                                    "req_abc");
  EXPECT_EQ(body["status"], 201);
  EXPECT_EQ(body["success"], true);
  EXPECT_EQ(body["message"], "Appointment created");
  EXPECT_EQ(body["data"]["appointment_id"], "APT-1");
  EXPECT_EQ(body["request_id"], "req_abc");
  EXPECT_TRUE(std::regex_match(body["timestamp"].get<std::string>(), kIsoUtc));
  EXPECT_FALSE(body.contains("error"));
  EXPECT_EQ(body.size(), 6u);
}

TEST(EnvelopeTest, ErrorCarriesCodeDetailsAndRetryAfterInMilliseconds) {
  ErrorInfo info{"DATABASE_CONNECTION_ERROR", "Unable to connect", std::chrono::seconds(5)};
  const auto body = ErrorEnvelope(500, "Internal server error", info, "req_1");
  EXPECT_EQ(body["status"], 500);
  EXPECT_EQ(body["success"], false);
  EXPECT_EQ(body["error"]["code"], "DATABASE_CONNECTION_ERROR");
  EXPECT_EQ(body["error"]["details"], "Unable to connect");
  EXPECT_EQ(body["error"]["retry_after"], 5000);
  EXPECT_FALSE(body.contains("data"));
}

TEST(EnvelopeTest, ErrorWithoutDetailsOmitsThem) {
  const auto body = ErrorEnvelope(404, "Not found", ErrorInfo{"NOT_FOUND"}, "r");
  EXPECT_FALSE(body["error"].contains("details"));
  EXPECT_FALSE(body["error"].contains("retry_after"));
}

TEST(EnvelopeTest, RecognisesEnvelopes) {
  EXPECT_TRUE(IsEnvelope(SuccessEnvelope(200, "OK", nullptr, "r")));
  EXPECT_TRUE(IsEnvelope(ErrorEnvelope(400, "Bad", ErrorInfo{"X"}, "r")));
  EXPECT_FALSE(IsEnvelope(nlohmann::json{{"status", 200}, {"data", 1}}));
  EXPECT_FALSE(IsEnvelope(nlohmann::json{{"status", "200"}, {"success", true},
                                         {"timestamp", "t"}, {"data", 1}}));
  EXPECT_FALSE(IsEnvelope(nlohmann::json{{"status", 200}, {"success", false},
                                         {"timestamp", "t"}, {"data", 1}}));
  EXPECT_FALSE(IsEnvelope(nlohmann::json::array({1, 2})));
}

TEST(EnvelopeTest, DefaultMessages) {
  EXPECT_EQ(DefaultMessage(404), "Not found");
  EXPECT_EQ(DefaultMessage(503), "Service unavailable");
  EXPECT_EQ(DefaultMessage(299), "OK");
  EXPECT_EQ(DefaultMessage(599), "Error");
}

}  // namespace
}  // namespace nilecare::core
