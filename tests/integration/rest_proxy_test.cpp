// The REST gateway against real processes: the gateway binary, a fault-injecting Node.js
// upstream (tests/node/fault_upstream.mjs) and the stack's real Redis.

#include <gtest/gtest.h>

#include <future>
#include <regex>
#include <thread>

#include "nilecare/auth/jwt_signer.hpp"
#include "support/gateway_process.hpp"
#include "support/raw_http_client.hpp"

namespace nilecare::testing {
namespace {

constexpr const char* kSecret = "rest-test-secret-0123456789abcdef0123";

std::string Token(const std::string& sub, const std::string& role, long ttl = 3600,
                  nlohmann::json extra = nlohmann::json::object()) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  nlohmann::json payload{{"sub", sub}, {"role", role}, {"iss", "nilecare-auth"},
                         {"aud", "nilecare"}, {"iat", now}, {"exp", now + ttl}};
  for (auto& [key, value] : extra.items()) payload[key] = value;
  return auth::SignHmac("HS256", kSecret, payload);
}

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers Bearer(const std::string& token, Headers more = {}) {
  more.emplace_back("Authorization", "Bearer " + token);
  return more;
}

class Upstream {
 public:
  Upstream()
      : process_({"/usr/bin/env", "node", std::string(NILECARE_SOURCE_DIR) +
                                             "/tests/node/fault_upstream.mjs", "--port", "0"}) {
    const auto port = process_.WaitForOutput(R"(listening (\d+))");
    if (port) port_ = static_cast<std::uint16_t>(std::stoi(*port));
  }
  std::uint16_t Port() const { return port_; }
  int Hits(const std::string& key) const {
    auto response = HttpRequest(port_, "GET", "/__hits?key=" + key);
    return response ? response->Json()["hits"].get<int>() : -1;
  }
  std::string Output() const { return process_.Output(); }

 private:
  ChildProcess process_;
  std::uint16_t port_{0};
};

std::string Config(std::uint16_t upstream_port, const std::string& redis_url,
                   const std::string& rate_limit = "rate_limit: { per_user: 10000, "
                                                   "per_user_burst: 10000, per_ip: 10000, "
                                                   "per_ip_burst: 10000 }") {
  const std::string up = "http://127.0.0.1:" + std::to_string(upstream_port);
  return R"(
service: { name: rest-test, threads: 2, shutdown_grace: 2s }
log: { level: info, format: text }
http: { listen: 127.0.0.1:0, max_body: 64KiB }
auth:
  jwt: { algorithms: [HS256], secret: ")" + std::string(kSecret) + R"(", issuer: nilecare-auth, audience: nilecare, leeway: 5s }
timeouts: { auth: 5s, database: 5s, external: 30s, reports: 120s, short: 1500ms }
retry: { retries: 3, base_delay: 20ms, max_delay: 200ms, on_status: [429, 503], budget_percent: 20, budget_min: 3 }
circuit_breaker: { timeout: 5s, error_threshold_percent: 50, volume_threshold: 4, window: 10s, reset_timeout: 1s }
upstreams:
  faulty: { url: )" + up + R"(, circuit_breaker: { volume_threshold: 100000 } }
  breaking: { url: )" + up + R"( }
  dead: { url: http://127.0.0.1:9, connect_timeout: 500ms, circuit_breaker: { volume_threshold: 100000 } }
routes:
  - { prefix: /api/v1/public, upstream: faulty, auth: none }
  - { prefix: /api/v1/staff, upstream: faulty }
  - { prefix: /api/v1/slow, upstream: faulty, timeout: short }
  - { prefix: /api/v1/admin, upstream: faulty, roles: [admin] }
  - { prefix: /api/v1/breaker, upstream: breaking }
  - { prefix: /api/v1/dead, upstream: dead }
)" + rate_limit + R"(
redis: { url: ")" + redis_url + R"(" }
idempotency: { ttl: 1h }
)";
}

std::string RedisUrl() {
  auto env = ReadStackEnv();
  return env.count("NILECARE_REDIS_URL") ? env["NILECARE_REDIS_URL"] : "redis://127.0.0.1:26379";
}

class RestProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    upstream_ = new Upstream();
    ASSERT_NE(upstream_->Port(), 0) << upstream_->Output();
    gateway_ = new GatewayProcess(Config(upstream_->Port(), RedisUrl()));
    ASSERT_TRUE(gateway_->Start()) << gateway_->Output();
    ASSERT_TRUE(gateway_->WaitReady()) << gateway_->Output();
    token_ = Token("USR-1", "doctor");
    suite_ready_ = true;
  }
  // gtest turns a failed SetUpTestSuite into skipped tests, which ctest would not count
  // as failures: fail every test of the suite instead.
  void SetUp() override { ASSERT_TRUE(suite_ready_) << "suite set-up failed (see above)"; }
  static void TearDownTestSuite() {
    delete gateway_;
    delete upstream_;
  }
  static std::optional<HttpResult> Get(const std::string& target, Headers headers = {}) {
    return HttpRequest(gateway_->Port(), "GET", target, Bearer(token_, std::move(headers)));
  }
  static std::optional<HttpResult> Send(const std::string& method, const std::string& target,
                                        const std::string& body, Headers headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    return HttpRequest(gateway_->Port(), method, target, Bearer(token_, std::move(headers)), body);
  }
  static double Metric(const std::string& line_prefix) {
    auto metrics = HttpRequest(gateway_->Port(), "GET", "/metrics");
    if (!metrics) return -1;
    const auto at = metrics->body.find(line_prefix + " ");
    if (at == std::string::npos) return 0;
    return std::stod(metrics->body.substr(at + line_prefix.size() + 1));
  }

  static Upstream* upstream_;
  static GatewayProcess* gateway_;
  static std::string token_;
  static bool suite_ready_;
};
bool RestProxyTest::suite_ready_ = false;

Upstream* RestProxyTest::upstream_ = nullptr;
GatewayProcess* RestProxyTest::gateway_ = nullptr;
std::string RestProxyTest::token_;

TEST_F(RestProxyTest, PlainJsonIsWrappedAsData) {
  const auto response = Get("/api/v1/staff/7");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  const auto body = response->Json();
  EXPECT_EQ(body["success"], true);
  EXPECT_EQ(body["data"]["path"], "/api/v1/staff/7");
  EXPECT_EQ(body["request_id"], response->Header("X-Request-ID"));
}

TEST_F(RestProxyTest, HeadersAreForwardedAndIdentityComesFromTheToken) {
  const auto response = Get("/api/v1/staff/echo?q=1",
                            {{"X-User-ID", "forged"}, {"X-User-Role", "admin"},
                             {"X-Request-ID", "fwd-1"}, {"X-Correlation-ID", "corr-9"},
                             {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                             {"Accept", "application/json"}, {"X-Custom", "kept"},
                             {"Connection", "X-Secret"}, {"X-Secret", "hop"},
                             {"Proxy-Authorization", "Basic eA=="}});
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200) << response->body;
  const auto echoed = response->Json()["data"];
  const auto& headers = echoed["headers"];
  EXPECT_EQ(echoed["path"], "/api/v1/staff/echo?q=1");
  EXPECT_EQ(headers["x-user-id"], "USR-1");
  EXPECT_EQ(headers["x-user-role"], "doctor");
  EXPECT_EQ(headers["x-request-id"], "fwd-1");
  EXPECT_EQ(headers["x-correlation-id"], "corr-9");
  EXPECT_EQ(headers["x-service-name"], "rest-test");
  EXPECT_EQ(headers["x-forwarded-for"], "127.0.0.1");
  EXPECT_EQ(headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(headers["authorization"], "Bearer " + token_);
  EXPECT_EQ(headers["accept"], "application/json");
  EXPECT_EQ(headers["x-custom"], "kept");
  EXPECT_FALSE(headers.contains("x-secret"));
  EXPECT_FALSE(headers.contains("proxy-authorization"));
  EXPECT_EQ(response->Header("X-Request-ID"), "fwd-1");
}

TEST_F(RestProxyTest, RetriesA503ThenSucceeds) {
  const auto response = Get("/api/v1/staff/flaky?key=retry-ok&fail=2&status=503");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->Json()["data"]["attempts"], 3);
  EXPECT_EQ(upstream_->Hits("retry-ok"), 3);
}

TEST_F(RestProxyTest, GivesUpAfterThreeRetries) {
  const auto response = Get("/api/v1/staff/flaky?key=retry-exhaust&fail=10&status=503");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->Json()["error"]["code"], "UPSTREAM_ERROR");
  EXPECT_EQ(upstream_->Hits("retry-exhaust"), 4);
}

TEST_F(RestProxyTest, HonoursRetryAfter) {
  const auto start = std::chrono::steady_clock::now();
  const auto response = Get("/api/v1/staff/flaky?key=retry-after&fail=1&status=429&retry_after=1");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(950));
}

TEST_F(RestProxyTest, PostIsNotRetried) {
  const auto response = Send("POST", "/api/v1/staff/flaky?key=post-once&fail=1&status=503", "{}");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(upstream_->Hits("post-once"), 1);
}

TEST_F(RestProxyTest, PostWithIdempotencyKeyIsRetried) {
  const auto response = Send("POST", "/api/v1/staff/flaky?key=post-key&fail=1&status=503", "{}",
                             {{"Idempotency-Key", "retry-key-1"}});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(upstream_->Hits("post-key"), 2);
}

TEST_F(RestProxyTest, ResetConnectionsAreRetriedForGetThen502) {
  const auto response = Get("/api/v1/staff/reset?key=reset-get");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 502);
  EXPECT_EQ(response->Json()["error"]["code"], "UPSTREAM_UNAVAILABLE");
  EXPECT_EQ(upstream_->Hits("reset-get"), 4);
}

TEST_F(RestProxyTest, SlowUpstreamTimesOutAtTheClassDeadline) {
  const auto start = std::chrono::steady_clock::now();
  const auto response = Get("/api/v1/slow/slow?ms=5000&key=slow-1");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 504);
  EXPECT_EQ(response->Json()["error"]["code"], "UPSTREAM_TIMEOUT");
  EXPECT_GE(elapsed, std::chrono::milliseconds(1400));
  EXPECT_LT(elapsed, std::chrono::milliseconds(3000));
}

TEST_F(RestProxyTest, UnreachableUpstreamIs502) {
  const auto response = Get("/api/v1/dead/x");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 502);
  EXPECT_EQ(response->Json()["error"]["code"], "UPSTREAM_UNAVAILABLE");
}

TEST_F(RestProxyTest, UpstreamClientErrorGoesIntoErrorDetails) {
  const auto response = Get("/api/v1/staff/status?code=400");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  const auto body = response->Json();
  EXPECT_EQ(body["success"], false);
  EXPECT_EQ(body["error"]["code"], "BAD_REQUEST");
  EXPECT_EQ(body["message"], "upstream said 400");
  EXPECT_EQ(body["error"]["details"]["reason"], "test");
}

TEST_F(RestProxyTest, UpstreamTextErrorIsEnveloped) {
  const auto response = Get("/api/v1/staff/text-error?code=500");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->Json()["error"]["code"], "UPSTREAM_ERROR");
  EXPECT_EQ(response->Json()["error"]["details"], "<html><body>Internal trouble</body></html>");
}

TEST_F(RestProxyTest, NonJsonBodiesPassThroughUntouched) {
  const auto response = Get("/api/v1/staff/pdf");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("Content-Type"), "application/pdf");
  EXPECT_EQ(response->Header("Content-Disposition"), "attachment; filename=\"r.pdf\"");
  EXPECT_EQ(response->body, std::string("%PDF-1.4\n\x00\x01\x02" "binary\n%%EOF", 24));
}

TEST_F(RestProxyTest, EnvelopedRepliesPassThroughWithOurRequestId) {
  const auto response = Get("/api/v1/staff/enveloped", {{"X-Request-ID", "ours-1"}});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 201);
  const auto body = response->Json();
  EXPECT_EQ(body["message"], "Appointment created");
  EXPECT_EQ(body["data"]["appointment_id"], "APT-1");
  EXPECT_EQ(body["request_id"], "ours-1");
  EXPECT_FALSE(body["data"].contains("data")) << "not wrapped twice";
}

TEST_F(RestProxyTest, NoContentPassesThrough) {
  const auto response = Get("/api/v1/staff/no-content");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 204);
  EXPECT_TRUE(response->body.empty());
}

TEST_F(RestProxyTest, LargeBodyIs413) {
  const auto response = Send("POST", "/api/v1/staff/echo", std::string(100 * 1024, 'x'));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->Json()["error"]["code"], "PAYLOAD_TOO_LARGE");
}

TEST_F(RestProxyTest, PublicRoutesNeedNoToken) {
  const auto response = HttpRequest(gateway_->Port(), "GET", "/api/v1/public/echo",
                                    {{"X-User-ID", "forged"}});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_FALSE(response->Json()["data"]["headers"].contains("x-user-id"));
}

TEST_F(RestProxyTest, EveryJwtFailureIs401) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string good = Token("USR-2", "nurse");
  std::string tampered = good;
  tampered[tampered.find('.') + 3] ^= 1;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "missing_token"},
      {"not-a-jwt", "malformed"},
      {tampered, ""},
      {auth::SignHmac("HS256", "some-other-secret-0123456789abcdef01", {{"sub", "x"}, {"exp", now + 60}}),
       "bad_signature"},
      {Token("USR-2", "nurse", -120), "expired"},
      {Token("USR-2", "nurse", 3600, {{"nbf", now + 600}}), "not_yet_valid"},
      {Token("USR-2", "nurse", 3600, {{"iss", "someone-else"}}), "wrong_issuer"},
      {Token("USR-2", "nurse", 3600, {{"aud", "another-app"}}), "wrong_audience"},
      {auth::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
           auth::Base64UrlEncode(nlohmann::json{{"sub", "x"}, {"exp", now + 60}}.dump()) + ".",
       "unsupported_algorithm"},
  };
  for (const auto& [token, reason] : cases) {
    SCOPED_TRACE(reason.empty() ? "tampered" : reason);
    Headers headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    const auto response = HttpRequest(gateway_->Port(), "GET", "/api/v1/staff/echo", headers);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 401);
    const auto body = response->Json();
    EXPECT_EQ(body["error"]["code"], "UNAUTHORIZED");
    if (!reason.empty()) {
      EXPECT_EQ(body["error"]["details"]["reason"], reason);
    }
    EXPECT_NE(response->Header("WWW-Authenticate").find("Bearer"), std::string::npos);
  }
}

TEST_F(RestProxyTest, RolesAreEnforced) {
  auto response = Get("/api/v1/admin/echo");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 403);
  EXPECT_EQ(response->Json()["error"]["code"], "FORBIDDEN");
  response = HttpRequest(gateway_->Port(), "GET", "/api/v1/admin/echo",
                         Bearer(Token("ADM-1", "admin")));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(RestProxyTest, IdempotentReplay) {
  const std::string target = "/api/v1/staff/count?key=idem-replay";
  const Headers key{{"Idempotency-Key", "replay-1"}};
  const auto first = Send("POST", target, R"({"amount":10})", key);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(first->Json()["data"]["count"], 1);
  const auto second = Send("POST", target, R"({"amount":10})", key);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->Header("Idempotent-Replayed"), "true");
  EXPECT_EQ(second->Json()["data"]["count"], 1);
  EXPECT_EQ(upstream_->Hits("idem-replay"), 1);
}

TEST_F(RestProxyTest, IdempotencyKeyReusedWithAnotherBodyIs422) {
  const std::string target = "/api/v1/staff/count?key=idem-reuse";
  const Headers key{{"Idempotency-Key", "reuse-1"}};
  ASSERT_EQ(Send("POST", target, R"({"amount":10})", key)->status, 200);
  const auto reused = Send("POST", target, R"({"amount":99})", key);
  ASSERT_TRUE(reused);
  EXPECT_EQ(reused->status, 422);
  EXPECT_EQ(reused->Json()["error"]["code"], "IDEMPOTENCY_KEY_REUSED");
  EXPECT_EQ(upstream_->Hits("idem-reuse"), 1);
}

TEST_F(RestProxyTest, ConcurrentDuplicateIs409) {
  const Headers key{{"Idempotency-Key", "inflight-1"}};
  auto slow = std::async(std::launch::async, [&] {
    return Send("POST", "/api/v1/staff/slow?ms=1500&key=idem-slow", "{}", key);
  });
  ASSERT_TRUE(WaitFor([&] { return upstream_->Hits("idem-slow") == 1; }, 5s));
  const auto duplicate = Send("POST", "/api/v1/staff/slow?ms=1500&key=idem-slow", "{}", key);
  ASSERT_TRUE(duplicate);
  EXPECT_EQ(duplicate->status, 409);
  EXPECT_EQ(duplicate->Json()["error"]["code"], "IDEMPOTENCY_IN_PROGRESS");
  const auto original = slow.get();
  ASSERT_TRUE(original);
  EXPECT_EQ(original->status, 200);
  EXPECT_EQ(upstream_->Hits("idem-slow"), 1);
}

TEST_F(RestProxyTest, BreakerOpensShortCircuitsHalfOpensAndCloses) {
  for (int i = 0; i < 4; ++i) {
    const auto response = Get("/api/v1/breaker/status?code=500");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 500);
  }
  const auto rejected = Get("/api/v1/breaker/count?key=breaker-probe");
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->status, 503);
  EXPECT_EQ(rejected->Json()["error"]["code"], "CIRCUIT_OPEN");
  EXPECT_GT(rejected->Json()["error"]["retry_after"].get<int>(), 0);
  EXPECT_FALSE(rejected->Header("Retry-After").empty());
  EXPECT_EQ(upstream_->Hits("breaker-probe"), 0) << "short-circuited, not sent";
  EXPECT_EQ(Metric("nilecare_circuit_breaker_state{upstream=\"breaking\"}"), 1);
  const auto health = HttpRequest(gateway_->Port(), "GET", "/health");
  EXPECT_EQ(health->Json()["data"]["components"]["rest"]["state"], "degraded");

  // After reset_timeout (1s) one probe goes through; success closes the breaker.
  ASSERT_TRUE(WaitFor([&] {
    auto probe = Get("/api/v1/breaker/count?key=breaker-probe");
    return probe && probe->status == 200;
  }, 5s, 100ms));
  EXPECT_EQ(Metric("nilecare_circuit_breaker_state{upstream=\"breaking\"}"), 0);
  EXPECT_EQ(Get("/api/v1/breaker/count?key=breaker-probe")->status, 200);
  EXPECT_GE(Metric("nilecare_circuit_breaker_transitions_total{upstream=\"breaking\",to=\"open\"}"), 1);
  EXPECT_GE(Metric("nilecare_circuit_breaker_transitions_total{upstream=\"breaking\",to=\"half_open\"}"), 1);
  EXPECT_GE(Metric("nilecare_circuit_breaker_transitions_total{upstream=\"breaking\",to=\"closed\"}"), 1);
}

TEST_F(RestProxyTest, RetryBudgetCapsRetriesDuringAnOutage) {
  constexpr int kCalls = 20;
  std::vector<std::future<std::optional<HttpResult>>> calls;
  for (int i = 0; i < kCalls; ++i) {
    calls.push_back(std::async(std::launch::async, [] {
      return Get("/api/v1/staff/flaky?key=outage&fail=100000&status=503");
    }));
  }
  for (auto& call : calls) {
    const auto response = call.get();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 503);
  }
  // Without a budget every call would be tried 4 times.
  EXPECT_LT(upstream_->Hits("outage"), kCalls * 4);
  EXPECT_GT(Metric("nilecare_upstream_retry_budget_exhausted_total{upstream=\"faulty\"}"), 0);
}

TEST(RestRateLimitTest, TooManyRequestsGet429WithRetryAfter) {
  Upstream upstream;
  ASSERT_NE(upstream.Port(), 0);
  GatewayProcess gateway(Config(upstream.Port(), RedisUrl(),
                                "rate_limit: { per_user: 1, per_user_burst: 2, per_ip: 1, per_ip_burst: 2 }"));
  ASSERT_TRUE(gateway.Start()) << gateway.Output();
  ASSERT_TRUE(gateway.WaitReady()) << gateway.Output();
  const auto token = Token("USR-RL", "doctor");
  int limited = 0;
  for (int i = 0; i < 4; ++i) {
    const auto response = HttpRequest(gateway.Port(), "GET", "/api/v1/staff/x", Bearer(token));
    ASSERT_TRUE(response);
    if (response->status == 429) {
      ++limited;
      EXPECT_EQ(response->Json()["error"]["code"], "RATE_LIMITED");
      EXPECT_FALSE(response->Header("Retry-After").empty());
    }
  }
  EXPECT_GE(limited, 2);
}

std::string RemoteAuthConfig(std::uint16_t upstream_port, std::uint16_t auth_port) {
  const std::string up = "http://127.0.0.1:" + std::to_string(upstream_port);
  return R"(
service: { name: remote-auth-test, threads: 2, shutdown_grace: 2s }
log: { level: info, format: text }
http: { listen: 127.0.0.1:0 }
auth:
  validate_url: http://127.0.0.1:)" + std::to_string(auth_port) + R"(/api/v1/auth/validate
  validate_cache_ttl: 30s
  validate_timeout: 2s
upstreams:
  faulty: { url: )" + up + R"( }
routes:
  - { prefix: /api/v1/staff, upstream: faulty }
  - { prefix: /api/v1/admin, upstream: faulty, roles: [admin] }
)";
}

TEST(RestRemoteAuthTest, ValidTokensAreValidatedOnceThenCached) {
  Upstream upstream;
  ASSERT_NE(upstream.Port(), 0);
  GatewayProcess gateway(RemoteAuthConfig(upstream.Port(), upstream.Port()));
  ASSERT_TRUE(gateway.Start()) << gateway.Output();
  ASSERT_TRUE(gateway.WaitReady()) << gateway.Output();
  for (int i = 0; i < 3; ++i) {
    const auto response = HttpRequest(gateway.Port(), "GET", "/api/v1/staff/echo",
                                      Bearer("good:USR-77:nurse", {{"X-User-ID", "forged"}}));
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
    const auto headers = response->Json()["data"]["headers"];
    EXPECT_EQ(headers["x-user-id"], "USR-77");
    EXPECT_EQ(headers["x-user-role"], "nurse");
  }
  EXPECT_EQ(upstream.Hits("validate"), 1) << "answers are cached";
  const auto forbidden = HttpRequest(gateway.Port(), "GET", "/api/v1/admin/x",
                                     Bearer("good:USR-77:nurse"));
  ASSERT_TRUE(forbidden);
  EXPECT_EQ(forbidden->status, 403);
}

TEST(RestRemoteAuthTest, RejectedTokensAre401) {
  Upstream upstream;
  ASSERT_NE(upstream.Port(), 0);
  GatewayProcess gateway(RemoteAuthConfig(upstream.Port(), upstream.Port()));
  ASSERT_TRUE(gateway.Start()) << gateway.Output();
  ASSERT_TRUE(gateway.WaitReady()) << gateway.Output();
  const auto response = HttpRequest(gateway.Port(), "GET", "/api/v1/staff/x", Bearer("forged-token"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(response->Json()["error"]["details"]["reason"], "rejected_by_auth_service");
}

TEST(RestRemoteAuthTest, AuthServiceTroubleFailsClosed) {
  Upstream upstream;
  ASSERT_NE(upstream.Port(), 0);
  {
    GatewayProcess gateway(RemoteAuthConfig(upstream.Port(), upstream.Port()));
    ASSERT_TRUE(gateway.Start()) << gateway.Output();
    ASSERT_TRUE(gateway.WaitReady()) << gateway.Output();
    const auto response = HttpRequest(gateway.Port(), "GET", "/api/v1/staff/count?key=closed-auth",
                                      Bearer("down"));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 503);
    EXPECT_EQ(response->Json()["error"]["code"], "AUTH_UNAVAILABLE");
  }
  {
    GatewayProcess gateway(RemoteAuthConfig(upstream.Port(), 9));  // nothing listens on 9
    ASSERT_TRUE(gateway.Start()) << gateway.Output();
    ASSERT_TRUE(gateway.WaitReady()) << gateway.Output();
    const auto response = HttpRequest(gateway.Port(), "GET", "/api/v1/staff/count?key=closed-auth",
                                      Bearer("good:USR-1:doctor"));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 503);
    EXPECT_EQ(response->Json()["error"]["code"], "AUTH_UNAVAILABLE");
  }
  EXPECT_EQ(upstream.Hits("closed-auth"), 0) << "nothing reaches a service unauthenticated";
}

TEST(RestIdempotencyTest, RedisDownFailsClosed) {
  Upstream upstream;
  ASSERT_NE(upstream.Port(), 0);
  GatewayProcess gateway(Config(upstream.Port(), "redis://127.0.0.1:9"));
  ASSERT_TRUE(gateway.Start()) << gateway.Output();
  const auto ready = HttpRequest(gateway.Port(), "GET", "/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503) << "not ready without the idempotency store";
  const auto response =
      HttpRequest(gateway.Port(), "POST", "/api/v1/staff/count?key=closed",
                  Bearer(Token("USR-3", "doctor"), {{"Idempotency-Key", "k"}}), "{}");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->Json()["error"]["code"], "IDEMPOTENCY_UNAVAILABLE");
  EXPECT_EQ(upstream.Hits("closed"), 0);
}

}  // namespace
}  // namespace nilecare::testing
