// Fuzzes nilecare::rest::MapUpstreamResponse, which rewrites upstream replies (JSON bodies
// into the NileCareResponse envelope, error bodies into error.details).
//
// Input layout:
//   byte 0      status, from kStatuses
//   byte 1      bits 0-3: Content-Type, from kContentTypes (one of them: none at all)
//               bits 4-5: Content-Encoding: none, gzip, identity, br
//               bit 6:    extra upstream headers (Connection-named and id headers)
//   the rest    the body (dropped for 204 and 304, as Beast's parser delivers those)
//
// Invariants (trap on violation):
//   - the status is kept;
//   - a reply whose Content-Type is JSON and that is not the upstream reply passed through
//     untouched parses with nlohmann::json::parse, is an envelope and carries our request_id;
//   - hop-by-hop headers and those named in Connection do not reach the client;
//   - the reply can be serialised: prepare_payload(), which the session calls, does not
//     throw (it does for a 204/304 with a body).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/core/string.hpp>
#include <nlohmann/json.hpp>

#include "nilecare/core/envelope.hpp"
#include "nilecare/rest/response_mapper.hpp"

namespace {

namespace beast = boost::beast;
using nilecare::http::Response;
using Field = nilecare::http::beast_http::field;

constexpr std::array<unsigned, 24> kStatuses = {200, 201, 202, 204, 206, 299, 301, 302,
                                                 304, 400, 401, 403, 404, 405, 409, 413,
                                                 418, 422, 429, 500, 502, 503, 504, 599};

// "" = no Content-Type header at all.
constexpr std::array<std::string_view, 16> kContentTypes = {
    "application/json",
    "application/json; charset=utf-8",
    "application/problem+json",
    "APPLICATION/JSON",
    "text/plain; charset=utf-8",
    "text/html",
    "application/pdf",
    "text/csv",
    "application/octet-stream",
    "",
    "application/vnd.api+json",
    "application/json  ;charset=utf-8",
    "application/xml",
    "application/jsonl",
    "+json",
    "text/json",
};

constexpr std::array<std::string_view, 4> kEncodings = {"", "gzip", "identity", "br"};

bool IsJson(std::string_view type) {
  std::string_view media = type.substr(0, type.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  if (beast::iequals(media, "application/json")) return true;
  return media.size() > 5 && beast::iequals(media.substr(media.size() - 5), "+json");
}

bool SameHeader(const Response& a, const Response& b, Field field) {
  const auto ia = a.find(field);
  const auto ib = b.find(field);
  if ((ia == a.end()) != (ib == b.end())) return false;
  return ia == a.end() || ia->value() == ib->value();
}

const nilecare::http::RequestContext& Context() {
  static const nilecare::http::RequestContext context{
      "fuzz-request-id", "fuzz-correlation-id", "127.0.0.1", "fuzz", {}};
  return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned status = kStatuses[data[0] % kStatuses.size()];
  const std::string_view content_type = kContentTypes[data[1] & 0x0f];
  const std::string_view encoding = kEncodings[(data[1] >> 4) & 0x03];
  const bool extra_headers = (data[1] & 0x40) != 0;

  Response upstream;
  upstream.version(11);
  upstream.result(status);
  if (!content_type.empty()) upstream.set(Field::content_type, content_type);
  if (!encoding.empty()) upstream.set(Field::content_encoding, encoding);
  if (extra_headers) {
    upstream.set(Field::connection, "keep-alive, X-Upstream-Internal");
    upstream.set("X-Upstream-Internal", "secret-topology");
    upstream.set(Field::keep_alive, "timeout=5");
    upstream.set("X-Request-ID", "upstream-request-id");
    upstream.set(Field::cache_control, "no-cache");
  }
  if (status != 204 && status != 304) {
    upstream.body().assign(reinterpret_cast<const char*>(data) + 2, size - 2);
  }
  const Response input = upstream;  // MapUpstreamResponse consumes its argument

  Response out = nilecare::rest::MapUpstreamResponse(std::move(upstream), Context());

  if (out.result_int() != status) __builtin_trap();

  const auto out_type = out.find(Field::content_type);
  const bool untouched =
      out.body() == input.body() && SameHeader(out, input, Field::content_type);
  if (out_type != out.end() && IsJson(out_type->value()) && !untouched) {
    const auto body = nlohmann::json::parse(out.body(), nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) __builtin_trap();
    if (!nilecare::core::IsEnvelope(body)) __builtin_trap();
    const auto id = body.find("request_id");
    if (id == body.end() || *id != Context().request_id) __builtin_trap();
  }

  for (const std::string_view name :
       {"Connection", "Keep-Alive", "X-Upstream-Internal", "X-Request-ID"}) {
    if (out.find(name) != out.end()) __builtin_trap();
  }

  out.prepare_payload();  // throws std::invalid_argument for a 204/304 with a body
  return 0;
}
