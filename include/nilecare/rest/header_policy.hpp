#pragma once
// Which headers cross the gateway, in each direction.
//
// To the upstream: every end-to-end header of the client's request except hop-by-hop ones
// (RFC 9110 §7.6.1, plus any named in Connection), Host, Content-Length, Expect, and the
// identity headers the gateway owns: X-User-ID / X-User-Role come only from the verified
// token (a client sending its own is ignored), X-Service-Name names the gateway,
// X-Request-ID / X-Correlation-ID carry the ids of this request, and X-Forwarded-For gets
// the client's address appended.
//
// To the client: every end-to-end header of the upstream's reply except hop-by-hop ones,
// Content-Length (recomputed) and the ids (the gateway sets its own).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nilecare/http/types.hpp"

namespace nilecare::rest {

struct Identity {
  std::string user_id;
  std::string role;
  std::vector<std::string> roles;  // every role, for route.roles checks
};

struct UpstreamTarget {
  std::string base_path;  // "" or "/base"
  std::string service_name;  // X-Service-Name
};

bool IsHopByHop(std::string_view name);

// The request to send upstream, built from the client's.
http::Request BuildUpstreamRequest(const http::Request& client, const http::RequestContext& context,
                                   const std::optional<Identity>& identity,
                                   const UpstreamTarget& target);

// Copies end-to-end headers of `from` (an upstream reply) onto `to`.
void CopyResponseHeaders(const http::Response& from, http::Response& to);

}  // namespace nilecare::rest
