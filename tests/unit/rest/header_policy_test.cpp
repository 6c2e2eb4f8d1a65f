#include "nilecare/rest/header_policy.hpp"

#include <gtest/gtest.h>

namespace nilecare::rest {
namespace {

http::Request ClientRequest() {
  http::Request request{http::Verb::post, "/api/v1/payments?x=1", 11};
  request.set("Authorization", "Bearer t");
  request.set("Content-Type", "application/json");
  request.set("X-User-ID", "forged");
  request.set("X-User-Role", "admin");
  request.set("X-Service-Name", "forged");
  request.set("X-Request-ID", "client-id");
  request.set("Connection", "keep-alive, X-Hop");
  request.set("X-Hop", "1");
  request.set("Keep-Alive", "timeout=5");
  request.set("Transfer-Encoding", "chunked");
  request.set("Host", "gateway");
  request.set("X-Forwarded-For", "10.0.0.1");
  request.set("Idempotency-Key", "k1");
  request.body() = "{}";
  return request;
}

TEST(HeaderPolicyTest, IdentityComesOnlyFromTheVerifiedToken) {
  http::RequestContext context{"req-1", "corr-1", "192.0.2.7", "payments", {}};
  const auto upstream = BuildUpstreamRequest(ClientRequest(), context, Identity{"USR-1", "doctor", {"doctor"}},
                                             UpstreamTarget{"/base", "nilecare-gateway"});
  EXPECT_EQ(upstream.target(), "/base/api/v1/payments?x=1");
  EXPECT_EQ(upstream["X-User-ID"], "USR-1");
  EXPECT_EQ(upstream["X-User-Role"], "doctor");
  EXPECT_EQ(upstream["X-Service-Name"], "nilecare-gateway");
  EXPECT_EQ(upstream["X-Request-ID"], "req-1");
  EXPECT_EQ(upstream["X-Correlation-ID"], "corr-1");
  EXPECT_EQ(upstream["X-Forwarded-For"], "10.0.0.1, 192.0.2.7");
  EXPECT_EQ(upstream["Authorization"], "Bearer t");
  EXPECT_EQ(upstream["Idempotency-Key"], "k1");
  EXPECT_EQ(upstream.body(), "{}");
  for (const char* hop : {"Connection", "X-Hop", "Keep-Alive", "Transfer-Encoding", "Host"}) {
    EXPECT_EQ(upstream.find(hop), upstream.end()) << hop;
  }
}

TEST(HeaderPolicyTest, AnonymousCallsCarryNoIdentity) {
  http::RequestContext context{"r", "c", "127.0.0.1", "x", {}};
  const auto upstream = BuildUpstreamRequest(ClientRequest(), context, std::nullopt,
                                             UpstreamTarget{"", "gw"});
  EXPECT_EQ(upstream.find("X-User-ID"), upstream.end());
  EXPECT_EQ(upstream.find("X-User-Role"), upstream.end());
}

TEST(HeaderPolicyTest, ResponseHopByHopHeadersAreDropped) {
  http::Response from{http::Status::ok, 11};
  from.set("Connection", "close, X-Private");
  from.set("X-Private", "1");
  from.set("Transfer-Encoding", "chunked");
  from.set("Content-Length", "5");
  from.set("X-Request-ID", "upstream-id");
  from.set("ETag", "\"v1\"");
  from.set("Location", "/api/v1/appointments/APT-1");
  http::Response to{http::Status::ok, 11};
  CopyResponseHeaders(from, to);
  EXPECT_EQ(to["ETag"], "\"v1\"");
  EXPECT_EQ(to["Location"], "/api/v1/appointments/APT-1");
  for (const char* dropped : {"Connection", "X-Private", "Transfer-Encoding", "Content-Length",
                              "X-Request-ID"}) {
    EXPECT_EQ(to.find(dropped), to.end()) << dropped;
  }
}

}  // namespace
}  // namespace nilecare::rest
