#include "nilecare/rest/response_mapper.hpp"

#include <boost/beast/core/string.hpp>
#include <nlohmann/json.hpp>

#include "nilecare/core/json_limits.hpp"

#include "nilecare/core/envelope.hpp"
#include "nilecare/core/errors.hpp"
#include "nilecare/http/responses.hpp"
#include "nilecare/rest/header_policy.hpp"

namespace nilecare::rest {
namespace {

namespace beast = boost::beast;
using Field = http::beast_http::field;

// Error bodies that are not JSON go into error.details as text, bounded: an upstream's
// HTML error page should not balloon the reply.
constexpr std::size_t kMaxTextDetails = 4096;

bool IsJsonContentType(std::string_view type) {
  const auto semicolon = type.find(';');
  std::string_view media = type.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  if (beast::iequals(media, "application/json")) return true;
  return media.size() > 5 && beast::iequals(media.substr(media.size() - 5), "+json");
}

bool IsEncoded(const http::Response& response) {
  const auto it = response.find(Field::content_encoding);
  return it != response.end() && !beast::iequals(it->value(), "identity");
}

// Beast maps status codes it has no name for (418, 520...) to status::unknown, which would
// go out as "000": keep the number, and the upstream's reason phrase for it.
void KeepStatus(const http::Response& upstream, http::Response& out) {
  out.result(upstream.result_int());
  if (!upstream.reason().empty()) out.reason(upstream.reason());
}

// Bodies nested deeper than this are treated as not JSON: serialising and copying JSON
// recurse per level, and an upstream's 100k-deep array would otherwise overflow the stack
// (found by reading after tests/fuzz/response_mapper_fuzz).
constexpr std::size_t kMaxJsonDepth = 128;

http::Response WithHeadersFrom(const http::Response& upstream, http::Response&& reply) {
  http::Response out{reply.result(), reply.version()};
  KeepStatus(upstream, out);
  CopyResponseHeaders(upstream, out);
  out.set(Field::content_type, reply[Field::content_type]);
  out.body() = std::move(reply.body());
  return out;
}

}  // namespace

std::string_view ErrorCodeForStatus(unsigned status) {
  switch (status) {
    case 400: return core::error_code::kBadRequest;
    case 401: return core::error_code::kUnauthorized;
    case 403: return core::error_code::kForbidden;
    case 404: return core::error_code::kNotFound;
    case 405: return core::error_code::kMethodNotAllowed;
    case 409: return core::error_code::kConflict;
    case 413: return core::error_code::kPayloadTooLarge;
    case 422: return core::error_code::kUnprocessableEntity;
    case 429: return core::error_code::kRateLimited;
    default:
      return status >= 500 ? core::error_code::kUpstreamError : core::error_code::kUpstreamRejected;
  }
}

http::Response MapUpstreamResponse(http::Response&& upstream, const http::RequestContext& context) {
  const unsigned status = upstream.result_int();
  const auto content_type = upstream[Field::content_type];
  const bool error = status >= 400;
  const bool empty = upstream.body().empty();

  const auto code = static_cast<http::Status>(status);
  if (!IsEncoded(upstream) && !empty && IsJsonContentType(content_type) &&
      core::JsonNestingWithin(upstream.body(), kMaxJsonDepth)) {
    auto body = nlohmann::json::parse(upstream.body(), nullptr, false);
    if (!body.is_discarded()) {
      if (core::IsEnvelope(body)) {
        body["request_id"] = context.request_id;
        http::Response reply = http::JsonResponse(code, body);
        return WithHeadersFrom(upstream, std::move(reply));
      }
      if (!error) {
        return WithHeadersFrom(upstream,
                               http::SuccessResponse(context, code,
                                                     core::DefaultMessage(static_cast<int>(status)),
                                                     std::move(body)));
      }
      std::string message = core::DefaultMessage(static_cast<int>(status)).data();
      if (body.is_object() && body.contains("message") && body["message"].is_string()) {
        message = body["message"].get<std::string>();
      }
      return WithHeadersFrom(upstream,
                             http::ErrorResponse(context, code,
                                                 ErrorCodeForStatus(status), message,
                                                 std::move(body)));
    }
  }
  if (error && !IsEncoded(upstream)) {
    nlohmann::json details = nullptr;
    if (!empty) {
      details = upstream.body().size() > kMaxTextDetails
                    ? upstream.body().substr(0, kMaxTextDetails)
                    : upstream.body();
    }
    return WithHeadersFrom(upstream,
                           http::ErrorResponse(context, code,
                                               ErrorCodeForStatus(status),
                                               core::DefaultMessage(static_cast<int>(status)),
                                               std::move(details)));
  }
  // Success with a non-JSON (or empty, or compressed) body: untouched.
  http::Response out{code, 11};
  KeepStatus(upstream, out);
  CopyResponseHeaders(upstream, out);
  out.body() = std::move(upstream.body());
  return out;
}

}  // namespace nilecare::rest
