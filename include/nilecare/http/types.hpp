#pragma once
// The request/response types handlers see. Beast's message types only (no Asio), so this
// header stays cheap to include.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace nilecare::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;
using Verb = beast_http::verb;
using Status = beast_http::status;

// The value of header `name`, or "" when absent (a view into `message`).
template <typename Message>
std::string_view HeaderValue(const Message& message, std::string_view name) {
  const auto it = message.find(name);
  return it == message.end() ? std::string_view() : std::string_view(it->value());
}

// The token of an "Authorization: Bearer <token>" header (the scheme in any case), or nullopt
// when the header is absent, another scheme, or empty. A view into `request`.
std::optional<std::string_view> BearerToken(const Request& request);

// Per-request facts every handler and log line needs.
struct RequestContext {
  std::string request_id;
  std::string correlation_id;
  std::string remote_address;
  // Metrics and log label: the matched route, never the raw path. A view of the
  // dispatcher's own label (stable while the dispatcher lives), so no copy per request.
  std::string_view route{"unmatched"};
  std::chrono::steady_clock::time_point received_at{};
};

// Hands the response back to the connection. May be called from any thread, exactly once.
using Responder = std::function<void(Response&&)>;

using Handler = std::function<void(RequestContext&, Request&, Responder)>;

}  // namespace nilecare::http
