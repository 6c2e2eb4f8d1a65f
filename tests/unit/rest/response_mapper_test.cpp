#include "nilecare/rest/response_mapper.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace nilecare::rest {
namespace {

http::Response Upstream(unsigned status, std::string content_type, std::string body) {
  http::Response response{static_cast<http::Status>(status), 11};
  if (!content_type.empty()) response.set("Content-Type", content_type);
  response.body() = std::move(body);
  return response;
}

const http::RequestContext kContext{"req-9", "corr-9", "127.0.0.1", "staff", {}};

TEST(ResponseMapperTest, JsonIsWrappedAsData) {
  const auto out = MapUpstreamResponse(Upstream(201, "application/json; charset=utf-8",
                                                R"({"id":"APT-1"})"),
                                       kContext);
  EXPECT_EQ(out.result_int(), 201u);
  const auto body = nlohmann::json::parse(out.body());
  EXPECT_EQ(body["success"], true);
  EXPECT_EQ(body["status"], 201);
  EXPECT_EQ(body["data"]["id"], "APT-1");
  EXPECT_EQ(body["request_id"], "req-9");
}

TEST(ResponseMapperTest, EnvelopesPassThroughWithTheRequestIdAligned) {
  const auto out = MapUpstreamResponse(
      Upstream(200, "application/json",
               R"({"status":200,"success":true,"message":"m","data":{"a":1},"timestamp":"t","request_id":"theirs"})"),
      kContext);
  const auto body = nlohmann::json::parse(out.body());
  EXPECT_EQ(body["request_id"], "req-9");
  EXPECT_EQ(body["message"], "m");
  EXPECT_EQ(body["data"]["a"], 1);
  EXPECT_EQ(body["timestamp"], "t");
}

TEST(ResponseMapperTest, JsonErrorsGoIntoDetailsWithAStatusCode) {
  const auto out = MapUpstreamResponse(
      Upstream(409, "application/problem+json", R"({"message":"Slot taken","slot":"14:00"})"),
      kContext);
  EXPECT_EQ(out.result_int(), 409u);
  const auto body = nlohmann::json::parse(out.body());
  EXPECT_EQ(body["success"], false);
  EXPECT_EQ(body["message"], "Slot taken");
  EXPECT_EQ(body["error"]["code"], "CONFLICT");
  EXPECT_EQ(body["error"]["details"]["slot"], "14:00");
}

TEST(ResponseMapperTest, ServerErrorsAreUpstreamErrors) {
  const auto out = MapUpstreamResponse(Upstream(502, "text/plain", std::string(10000, 'e')), kContext);
  const auto body = nlohmann::json::parse(out.body());
  EXPECT_EQ(body["error"]["code"], "UPSTREAM_ERROR");
  EXPECT_EQ(body["error"]["details"].get<std::string>().size(), 4096u) << "bounded";
}

TEST(ResponseMapperTest, BinaryAndCompressedBodiesAreUntouched) {
  auto pdf = MapUpstreamResponse(Upstream(200, "application/pdf", std::string("%PDF\0\1", 6)), kContext);
  EXPECT_EQ(pdf.body(), std::string("%PDF\0\1", 6));
  EXPECT_EQ(pdf["Content-Type"], "application/pdf");

  auto gz = Upstream(200, "application/json", std::string("\x1f\x8b\x08", 3));
  gz.set("Content-Encoding", "gzip");
  const auto out = MapUpstreamResponse(std::move(gz), kContext);
  EXPECT_EQ(out.body(), std::string("\x1f\x8b\x08", 3));
  EXPECT_EQ(out["Content-Encoding"], "gzip");
}

TEST(ResponseMapperTest, MalformedJsonPassesThrough) {
  const auto out = MapUpstreamResponse(Upstream(200, "application/json", "{oops"), kContext);
  EXPECT_EQ(out.body(), "{oops");
}

TEST(ResponseMapperTest, ErrorCodesForStatuses) {
  EXPECT_EQ(ErrorCodeForStatus(401), "UNAUTHORIZED");
  EXPECT_EQ(ErrorCodeForStatus(404), "NOT_FOUND");
  EXPECT_EQ(ErrorCodeForStatus(422), "UNPROCESSABLE_ENTITY");
  EXPECT_EQ(ErrorCodeForStatus(429), "RATE_LIMITED");
  EXPECT_EQ(ErrorCodeForStatus(418), "UPSTREAM_REJECTED");
  EXPECT_EQ(ErrorCodeForStatus(503), "UPSTREAM_ERROR");
}

}  // namespace
}  // namespace nilecare::rest
