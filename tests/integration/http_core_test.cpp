// The REST core against the real binary: envelopes for every error path, limits,
// timeouts, keep-alive, request ids, health/ready/metrics, and what must not be logged.

#include <gtest/gtest.h>

#include <regex>

#include "support/gateway_process.hpp"
#include "support/raw_http_client.hpp"

namespace nilecare::testing {
namespace {

const std::regex kIsoUtc(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
const std::regex kUuid(R"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");

constexpr const char* kConfig = R"(
service: { name: nilecare-gateway-test, threads: 2, shutdown_grace: 5s }
log: { level: info, format: text }
http:
  listen: 127.0.0.1:0
  max_header: 4KiB
  max_body: 64KiB
  header_timeout: 1s
  body_timeout: 2s
  idle_timeout: 2s
)";

class HttpCoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gateway_ = new GatewayProcess(kConfig);
    ASSERT_TRUE(gateway_->Start()) << gateway_->Output();
    ASSERT_TRUE(gateway_->WaitReady()) << gateway_->Output();
    suite_ready_ = true;
  }
  // gtest turns a failed SetUpTestSuite into skipped tests, which ctest would not count
  // as failures: fail every test of the suite instead.
  void SetUp() override { ASSERT_TRUE(suite_ready_) << "suite set-up failed (see above)"; }
  static void TearDownTestSuite() {
    delete gateway_;
    gateway_ = nullptr;
  }
  static std::uint16_t Port() { return gateway_->Port(); }

  // Checks the NileCareResponse error shape and returns the body.
  static nlohmann::json ExpectErrorEnvelope(const std::optional<HttpResult>& response,
                                            int status, const std::string& code) {
    EXPECT_TRUE(response.has_value());
    if (!response) return {};
    EXPECT_EQ(response->status, status) << response->body;
    EXPECT_EQ(response->Header("Content-Type"), "application/json; charset=utf-8");
    const auto body = response->Json();
    EXPECT_EQ(body["status"], status);
    EXPECT_EQ(body["success"], false);
    EXPECT_TRUE(body["message"].is_string());
    EXPECT_EQ(body["error"]["code"], code);
    EXPECT_TRUE(std::regex_match(body["timestamp"].get<std::string>(), kIsoUtc));
    EXPECT_FALSE(body["request_id"].get<std::string>().empty());
    EXPECT_EQ(body["request_id"], response->Header("X-Request-ID"));
    return body;
  }

  static GatewayProcess* gateway_;
  static bool suite_ready_;
};
bool HttpCoreTest::suite_ready_ = false;

GatewayProcess* HttpCoreTest::gateway_ = nullptr;

TEST_F(HttpCoreTest, HealthAnswersInTheEnvelopeWithComponentStates) {
  const auto response = HttpRequest(Port(), "GET", "/health");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  const auto body = response->Json();
  EXPECT_EQ(body["status"], 200);
  EXPECT_EQ(body["success"], true);
  EXPECT_EQ(body["data"]["service"], "nilecare-gateway-test");
  EXPECT_EQ(body["data"]["version"], NILECARE_VERSION);
  EXPECT_EQ(body["data"]["status"], "ok");
  EXPECT_EQ(body["data"]["components"]["http"]["state"], "up");
  EXPECT_GE(body["data"]["uptime_seconds"].get<int>(), 0);
  EXPECT_TRUE(std::regex_match(body["timestamp"].get<std::string>(), kIsoUtc));
  EXPECT_TRUE(std::regex_match(body["request_id"].get<std::string>(), kUuid));
}

TEST_F(HttpCoreTest, ReadyIs200WhenEveryComponentIsUp) {
  const auto response = HttpRequest(Port(), "GET", "/ready");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Json()["data"]["ready"], true);
}

TEST_F(HttpCoreTest, MetricsCountRequestsByRouteMethodAndStatus) {
  const std::regex counter(
      R"re(nilecare_http_requests_total\{route="health",method="GET",status="200"\} (\d+))re");
  auto read_count = [&]() -> long {
    const auto response = HttpRequest(Port(), "GET", "/metrics");
    if (!response || response->status != 200) return -1;
    std::smatch match;
    if (!std::regex_search(response->body, match, counter)) return 0;
    return std::stol(match[1]);
  };
  const long before = read_count();
  ASSERT_GE(before, 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(HttpRequest(Port(), "GET", "/health"));
  EXPECT_EQ(read_count(), before + 3);

  const auto response = HttpRequest(Port(), "GET", "/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response->body.find("# TYPE nilecare_http_request_duration_seconds histogram"),
            std::string::npos);
  EXPECT_NE(response->body.find("nilecare_http_requests_in_flight"), std::string::npos);
  EXPECT_NE(response->body.find("nilecare_build_info{version=\"" NILECARE_VERSION "\""),
            std::string::npos);
  EXPECT_NE(response->body.find("nilecare_component_up{component=\"http\"} 1"),
            std::string::npos);
  EXPECT_NE(response->body.find("process_resident_memory_bytes"), std::string::npos);
}

TEST_F(HttpCoreTest, UnknownPathIs404Enveloped) {
  ExpectErrorEnvelope(HttpRequest(Port(), "GET", "/api/v1/nothing-here"), 404, "NOT_FOUND");
}

TEST_F(HttpCoreTest, WrongMethodIs405WithAllowHeader) {
  const auto response = HttpRequest(Port(), "DELETE", "/health");
  ExpectErrorEnvelope(response, 405, "METHOD_NOT_ALLOWED");
  EXPECT_EQ(response->Header("Allow"), "GET");
}

TEST_F(HttpCoreTest, OversizedBodyIs413BeforeTheBodyIsRead) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  ASSERT_TRUE(connection.Send("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n"
                              "Content-Type: application/json\r\n\r\n{\"a\":"));
  const auto response = connection.ReadResponse();
  ExpectErrorEnvelope(response, 413, "PAYLOAD_TOO_LARGE");
  EXPECT_FALSE(response->keep_alive);
}

TEST_F(HttpCoreTest, OversizedChunkedBodyIs413) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  std::string request = "POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(32 * 1024, 'x');
  for (int i = 0; i < 3; ++i) request += "8000\r\n" + chunk + "\r\n";
  ASSERT_TRUE(connection.Send(request));
  ExpectErrorEnvelope(connection.ReadResponse(), 413, "PAYLOAD_TOO_LARGE");
}

TEST_F(HttpCoreTest, OversizedHeadersAre431) {
  const std::string big(8 * 1024, 'a');
  ExpectErrorEnvelope(HttpRequest(Port(), "GET", "/health", {{"X-Big", big}}), 431,
                      "HEADERS_TOO_LARGE");
}

TEST_F(HttpCoreTest, MalformedRequestIs400AndClosed) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  ASSERT_TRUE(connection.Send("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n"));
  const auto response = connection.ReadResponse();
  ExpectErrorEnvelope(response, 400, "BAD_REQUEST");
  EXPECT_TRUE(connection.WaitClosed(3s));
}

TEST_F(HttpCoreTest, GarbageIs400) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  ASSERT_TRUE(connection.Send("\x01\x02 NOT HTTP AT ALL\r\n\r\n"));
  ExpectErrorEnvelope(connection.ReadResponse(), 400, "BAD_REQUEST");
}

TEST_F(HttpCoreTest, DotSegmentsAndEncodedSlashesAreRefused) {
  for (const char* target : {"/api/v1/auth/../staff", "/api/v1/auth/%2e%2E/staff",
                             "/api/v1/auth%2fstaff", "/health//x", "*"}) {
    SCOPED_TRACE(target);
    ExpectErrorEnvelope(HttpRequest(Port(), "GET", target), 400, "BAD_REQUEST");
  }
}

TEST_F(HttpCoreTest, RequestIdIsEchoedAndBecomesTheCorrelationId) {
  const auto response = HttpRequest(Port(), "GET", "/health", {{"X-Request-ID", "req_abc-123"}});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("X-Request-ID"), "req_abc-123");
  EXPECT_EQ(response->Header("X-Correlation-ID"), "req_abc-123");
  EXPECT_EQ(response->Json()["request_id"], "req_abc-123");
}

TEST_F(HttpCoreTest, CorrelationIdIsPropagated) {
  const auto response = HttpRequest(Port(), "GET", "/nowhere",
                                    {{"X-Request-ID", "r1"}, {"X-Correlation-ID", "corr_xyz789"}});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->Header("X-Request-ID"), "r1");
  EXPECT_EQ(response->Header("X-Correlation-ID"), "corr_xyz789");
}

TEST_F(HttpCoreTest, UnsafeOrOverlongRequestIdsAreReplaced) {
  for (const std::string& bad : {std::string("has space"), std::string("quote\"d"),
                                std::string(200, 'a')}) {
    const auto response = HttpRequest(Port(), "GET", "/health", {{"X-Request-ID", bad}});
    ASSERT_TRUE(response);
    EXPECT_TRUE(std::regex_match(response->Header("X-Request-ID"), kUuid))
        << response->Header("X-Request-ID");
  }
}

TEST_F(HttpCoreTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(connection.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto response = connection.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_TRUE(response->keep_alive);
  }
}

TEST_F(HttpCoreTest, PipelinedRequestsAreAnsweredInOrder) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  ASSERT_TRUE(connection.Send(
      "GET /health HTTP/1.1\r\nHost: x\r\nX-Request-ID: first\r\n\r\n"
      "GET /nowhere HTTP/1.1\r\nHost: x\r\nX-Request-ID: second\r\n\r\n"));
  const auto first = connection.ReadResponse();
  const auto second = connection.ReadResponse();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->Header("X-Request-ID"), "first");
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->Header("X-Request-ID"), "second");
  EXPECT_EQ(second->status, 404);
}

TEST_F(HttpCoreTest, Http10WithoutKeepAliveIsClosedAfterTheReply) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  ASSERT_TRUE(connection.Send("GET /health HTTP/1.0\r\n\r\n"));
  const auto response = connection.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(connection.WaitClosed(3s));
}

TEST_F(HttpCoreTest, SlowHeadersGet408) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  ASSERT_TRUE(connection.Send("GET /health HTTP/1.1\r\nHost: x\r\n"));  // never finished
  ExpectErrorEnvelope(connection.ReadResponse(5s), 408, "REQUEST_TIMEOUT");
  EXPECT_TRUE(connection.WaitClosed(5s));
}

TEST_F(HttpCoreTest, IdleKeepAliveConnectionIsClosedQuietly) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  EXPECT_TRUE(connection.WaitClosed(6s));  // idle_timeout is 2s
}

TEST_F(HttpCoreTest, HeadReturnsHeadersWithoutBody) {
  const auto response = HttpRequest(Port(), "HEAD", "/health");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->body.empty());
  EXPECT_GT(std::stoi(response->Header("Content-Length")), 0);
}

TEST_F(HttpCoreTest, ExpectContinueIsHonoured) {
  RawConnection connection(Port());
  ASSERT_TRUE(connection.Connected());
  ASSERT_TRUE(connection.Send("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                              "Expect: 100-continue\r\n\r\n"));
  const auto interim = connection.ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(connection.Send("hello"));
  ExpectErrorEnvelope(connection.ReadResponse(), 404, "NOT_FOUND");
}

TEST_F(HttpCoreTest, BodiesAndTokensNeverReachTheLog) {
  const auto response =
      HttpRequest(Port(), "POST", "/api/v1/patients/PAT-SECRET-ID",
                  {{"Authorization", "Bearer SECRET-TOKEN-XYZ"}, {"X-Request-ID", "log-probe-1"}},
                  R"({"diagnosis":"SECRET-BODY-123"})");
  ASSERT_TRUE(response);
  ASSERT_TRUE(WaitFor([&] { return gateway_->Output().find("log-probe-1") != std::string::npos; },
                      5s));
  const std::string output = gateway_->Output();
  EXPECT_EQ(output.find("SECRET-BODY-123"), std::string::npos);
  EXPECT_EQ(output.find("SECRET-TOKEN-XYZ"), std::string::npos);
  EXPECT_EQ(output.find("PAT-SECRET-ID"), std::string::npos);
}

}  // namespace
}  // namespace nilecare::testing
