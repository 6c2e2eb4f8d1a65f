#pragma once
// The gateway's own endpoints (device API, event publishing) authenticate the same way: a
// bearer JWT verified locally, then a role check. One place decides the outcome; the
// caller turns a failure into its envelope.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nilecare/auth/jwt_verifier.hpp"

namespace nilecare::auth {

struct AuthFailure {
  int status{401};              // 401 (no or bad token) or 403 (role)
  std::string_view code;        // core::error_code::kUnauthorized / kForbidden
  std::string_view message;     // safe to show the client
  std::string_view reason;      // "missing_token", a JwtError name, or "role"
};

// `token` from http::BearerToken; `roles` empty = any valid token will do.
std::variant<Claims, AuthFailure> AuthenticateBearer(const JwtVerifier& verifier,
                                                     std::optional<std::string_view> token,
                                                     const std::vector<std::string>& roles);

}  // namespace nilecare::auth
