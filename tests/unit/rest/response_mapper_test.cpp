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

namespace nilecare::rest {
namespace {

// Found by tests/fuzz/response_mapper_fuzz: Beast names no status 520, and a reply built
// from result() went out as "HTTP/1.1 000".
TEST(ResponseMapperTest, UnnamedStatusCodesAreKept) {
  auto upstream = Upstream(520, "application/json", R"({"message":"origin down"})");
  upstream.reason("Web Server Returned an Unknown Error");
  const auto out = MapUpstreamResponse(std::move(upstream), kContext);
  EXPECT_EQ(out.result_int(), 520u);
  EXPECT_EQ(out.reason(), "Web Server Returned an Unknown Error");
  EXPECT_EQ(nlohmann::json::parse(out.body())["status"], 520);

  const auto teapot = MapUpstreamResponse(Upstream(418, "text/plain", ""), kContext);
  EXPECT_EQ(teapot.result_int(), 418u);
}

TEST(ResponseMapperTest, DeeplyNestedJsonIsNotRewritten) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const auto ok = MapUpstreamResponse(Upstream(200, "application/json", deep), kContext);
  EXPECT_EQ(ok.body(), deep) << "passed through untouched, not re-serialised";
  const auto error = MapUpstreamResponse(Upstream(409, "application/json", deep), kContext);
  EXPECT_EQ(error.result_int(), 409u);
  EXPECT_EQ(nlohmann::json::parse(error.body())["error"]["code"], "CONFLICT");

  const std::string shallow = R"({"a":[[{"b":"]]]]"}]]})";
  const auto wrapped = MapUpstreamResponse(Upstream(200, "application/json", shallow), kContext);
  EXPECT_EQ(nlohmann::json::parse(wrapped.body())["data"]["a"][0][0]["b"], "]]]]");
}

}  // namespace
}  // namespace nilecare::rest
