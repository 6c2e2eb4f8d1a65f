#include "nilecare/auth/bearer_auth.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "nilecare/auth/jwt_signer.hpp"
#include "nilecare/core/errors.hpp"

namespace nilecare::auth {
namespace {

using nlohmann::json;

// Exactly 32 bytes: the shortest secret HS256 accepts.
const std::string kSecret = "nilecare-test-secret-0123456789a";
const std::string kOtherSecret = "another-secret-of-32-bytes-xxxxx";

config::JwtSettings Settings() {
  config::JwtSettings settings;
  settings.algorithms = {"HS256"};
  settings.secret = kSecret;
  settings.issuer = "nilecare-auth";
  settings.audience = "nilecare";
  return settings;
}

// AuthenticateBearer verifies at the current time.
std::int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json Payload(const json& changes = json::object()) {
  json payload = {{"sub", "USR-1"},
                  {"role", "doctor"},
                  {"iss", "nilecare-auth"},
                  {"aud", "nilecare"},
                  {"iat", NowSeconds() - 60},
                  {"exp", NowSeconds() + 3600}};
  for (const auto& [key, value] : changes.items()) {
    if (value.is_null()) {
      payload.erase(key);
    } else {
      payload[key] = value;
    }
  }
  return payload;
}

std::string Token(const json& payload = Payload(), const std::string& secret = kSecret) {
  return SignHmac("HS256", secret, payload);
}

class BearerAuthTest : public ::testing::Test {
 protected:
  std::variant<Claims, AuthFailure> Authenticate(std::optional<std::string_view> token,
                                                 const std::vector<std::string>& roles) {
    return AuthenticateBearer(verifier_, token, roles);
  }

  AuthFailure Failure(std::optional<std::string_view> token,
                      const std::vector<std::string>& roles) {
    auto result = Authenticate(token, roles);
    if (const auto* failure = std::get_if<AuthFailure>(&result)) return *failure;
    ADD_FAILURE() << "authenticated";
    return {};
  }

  Claims Pass(std::optional<std::string_view> token, const std::vector<std::string>& roles) {
    auto result = Authenticate(token, roles);
    if (const auto* failure = std::get_if<AuthFailure>(&result)) {
      ADD_FAILURE() << "refused: " << failure->status << " " << failure->reason;
      return {};
    }
    return std::get<Claims>(std::move(result));
  }

  JwtVerifier verifier_{Settings()};
};

TEST_F(BearerAuthTest, MissingTokenIs401) {
  const auto failure = Failure(std::nullopt, {"doctor"});
  EXPECT_EQ(failure.status, 401);
  EXPECT_EQ(failure.code, core::error_code::kUnauthorized);
  EXPECT_EQ(failure.reason, "missing_token");
  EXPECT_FALSE(failure.message.empty());
  // Also when any role would do.
  EXPECT_EQ(Failure(std::nullopt, {}).reason, "missing_token");
}

TEST_F(BearerAuthTest, BadTokensAre401WithTheJwtErrorName) {
  struct Case {
    std::string token;
    JwtError error;
  };
  const std::vector<Case> cases = {
      {"", JwtError::kMalformed},
      {"not-a-jwt", JwtError::kMalformed},
      {Token(Payload(), kOtherSecret), JwtError::kBadSignature},
      {Token(Payload({{"exp", NowSeconds() - 3600}})), JwtError::kExpired},
      {Token(Payload({{"iss", "someone-else"}})), JwtError::kWrongIssuer},
      {Token(Payload({{"aud", "other"}})), JwtError::kWrongAudience},
      {Token(Payload({{"sub", nullptr}})), JwtError::kMissingSubject},
      {SignHmac("HS512", std::string(64, 'k'), Payload()), JwtError::kUnsupportedAlgorithm},
  };
  for (const auto& c : cases) {
    for (const std::vector<std::string>& roles :
         {std::vector<std::string>{}, std::vector<std::string>{"doctor"}}) {
      const auto failure = Failure(c.token, roles);
      EXPECT_EQ(failure.status, 401) << c.token;
      EXPECT_EQ(failure.code, core::error_code::kUnauthorized) << c.token;
      EXPECT_EQ(failure.reason, ToString(c.error)) << c.token;
      EXPECT_EQ(failure.message, Describe(c.error)) << c.token;
    }
  }
}

TEST_F(BearerAuthTest, RoleNotAllowedIs403) {
  const std::string token = Token(Payload({{"role", "patient"}}));
  const auto failure = Failure(token, {"doctor", "admin"});
  EXPECT_EQ(failure.status, 403);
  EXPECT_EQ(failure.code, core::error_code::kForbidden);
  EXPECT_EQ(failure.reason, "role");
  EXPECT_FALSE(failure.message.empty());
  // No role at all is not allowed either.
  EXPECT_EQ(Failure(Token(Payload({{"role", nullptr}})), {"doctor"}).reason, "role");
  // Roles compare exactly.
  EXPECT_EQ(Failure(Token(Payload({{"role", "Doctor"}})), {"doctor"}).reason, "role");
}

TEST_F(BearerAuthTest, EmptyRolesAcceptAnyValidToken) {
  EXPECT_EQ(Pass(Token(Payload({{"role", "patient"}})), {}).subject, "USR-1");
  EXPECT_EQ(Pass(Token(Payload({{"role", nullptr}})), {}).subject, "USR-1");
}

TEST_F(BearerAuthTest, AllowedRolePassesWithTheClaims) {
  const std::string token = Token(Payload({{"sub", "USR-7"}, {"role", "nurse"}}));
  const auto claims = Pass(token, {"doctor", "nurse"});
  EXPECT_EQ(claims.subject, "USR-7");
  EXPECT_EQ(claims.role, "nurse");
  EXPECT_EQ(claims.payload["sub"], "USR-7");
  EXPECT_GT(claims.expires_at, std::chrono::system_clock::now());
}

TEST_F(BearerAuthTest, AnyOfSeveralRolesIsEnough) {
  const std::string token =
      Token(Payload({{"role", nullptr}, {"roles", json::array({"patient", "admin"})}}));
  const auto claims = Pass(token, {"admin"});
  EXPECT_EQ(claims.subject, "USR-1");
  EXPECT_EQ(claims.roles, (std::vector<std::string>{"patient", "admin"}));
  EXPECT_EQ(Failure(token, {"doctor"}).reason, "role");
}

}  // namespace
}  // namespace nilecare::auth
