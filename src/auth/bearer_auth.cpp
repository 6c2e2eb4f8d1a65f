#include "nilecare/auth/bearer_auth.hpp"

#include <algorithm>

#include "nilecare/core/errors.hpp"

namespace nilecare::auth {

std::variant<Claims, AuthFailure> AuthenticateBearer(const JwtVerifier& verifier,
                                                     std::optional<std::string_view> token,
                                                     const std::vector<std::string>& roles) {
  namespace ec = core::error_code;
  if (!token) return AuthFailure{401, ec::kUnauthorized, "Authentication required", "missing_token"};
  auto verified = verifier.Verify(*token);
  if (auto* error = std::get_if<JwtError>(&verified)) {
    return AuthFailure{401, ec::kUnauthorized, Describe(*error), ToString(*error)};
  }
  auto& claims = std::get<Claims>(verified);
  const bool allowed =
      roles.empty() || std::any_of(claims.roles.begin(), claims.roles.end(), [&](const auto& r) {
        return std::find(roles.begin(), roles.end(), r) != roles.end();
      });
  if (!allowed) {
    return AuthFailure{403, ec::kForbidden, "Your role may not use this endpoint", "role"};
  }
  return std::move(claims);
}

}  // namespace nilecare::auth
