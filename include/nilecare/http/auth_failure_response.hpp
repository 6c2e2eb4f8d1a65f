#pragma once
// Header-only glue for the adapters that answer bearer-authenticated endpoints themselves
// (device API, events, tasks): a refused token as its enveloped reply. Here rather than in
// `auth`, which knows nothing of HTTP replies.

#include <optional>
#include <string>
#include <vector>

#include "nilecare/auth/bearer_auth.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/http/types.hpp"

namespace nilecare::http {

inline Response AuthFailureResponse(const RequestContext& context,
                                    const auth::AuthFailure& failure) {
  return ErrorResponse(context, static_cast<Status>(failure.status), failure.code, failure.message,
                       {{"reason", failure.reason}});
}

// The caller's claims from the request's bearer token, given one of `roles` (empty: any);
// otherwise nullopt, and `reply` (a Responder, or one that also counts the refusal) has had
// the 401/403.
template <typename Reply>
std::optional<auth::Claims> AuthenticateOrReply(const auth::JwtVerifier& verifier,
                                                const RequestContext& context,
                                                const Request& request,
                                                const std::vector<std::string>& roles,
                                                Reply&& reply) {
  auto result = auth::AuthenticateBearer(verifier, BearerToken(request), roles);
  if (auto* failure = std::get_if<auth::AuthFailure>(&result)) {
    reply(AuthFailureResponse(context, *failure));
    return std::nullopt;
  }
  return std::get<auth::Claims>(std::move(result));
}

}  // namespace nilecare::http
