#pragma once
// Header-only glue for the adapters that answer bearer-authenticated endpoints themselves
// (device API, events, tasks): a refused token as its enveloped reply. Here rather than in
// `auth`, which knows nothing of HTTP replies.

#include "nilecare/auth/bearer_auth.hpp"
#include "nilecare/http/responses.hpp"

namespace nilecare::http {

inline Response AuthFailureResponse(const RequestContext& context,
                                    const auth::AuthFailure& failure) {
  return ErrorResponse(context, static_cast<Status>(failure.status), failure.code, failure.message,
                       {{"reason", failure.reason}});
}

}  // namespace nilecare::http
