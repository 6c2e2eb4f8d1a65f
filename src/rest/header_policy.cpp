#include "nilecare/rest/header_policy.hpp"

#include <array>
#include <vector>

#include <boost/beast/core/string.hpp>

namespace nilecare::rest {
namespace {

namespace beast = boost::beast;

constexpr std::array<std::string_view, 9> kHopByHop = {
    "connection", "keep-alive",        "proxy-authenticate", "proxy-authorization", "te",
    "trailer",    "transfer-encoding", "upgrade",            "proxy-connection"};

// Headers the gateway sets itself; a client's copy must never reach the upstream.
constexpr std::array<std::string_view, 8> kGatewayOwned = {
    "host",           "content-length",   "expect",          "x-user-id",
    "x-user-role",    "x-service-name",   "x-request-id",    "x-correlation-id"};

bool InList(std::string_view name, const auto& list) {
  for (std::string_view entry : list) {
    if (beast::iequals(name, entry)) return true;
  }
  return false;
}

// Header names listed in a Connection header are hop-by-hop for this message too.
std::vector<std::string> ConnectionTokens(const auto& message) {
  std::vector<std::string> tokens;
  for (const auto& field : message) {
    if (!beast::iequals(field.name_string(), "connection")) continue;
    std::string_view value = field.value();
    while (!value.empty()) {
      const auto comma = value.find(',');
      std::string_view token = value.substr(0, comma);
      while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
      while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
      if (!token.empty()) tokens.emplace_back(token);
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  return tokens;
}

bool Named(std::string_view name, const std::vector<std::string>& tokens) {
  for (const auto& token : tokens) {
    if (beast::iequals(name, token)) return true;
  }
  return false;
}

}  // namespace

bool IsHopByHop(std::string_view name) { return InList(name, kHopByHop); }

http::Request BuildUpstreamRequest(const http::Request& client, const http::RequestContext& context,
                                   const std::optional<Identity>& identity,
                                   const UpstreamTarget& target) {
  http::Request upstream;
  upstream.method(client.method());
  if (client.method() == http::Verb::unknown) upstream.method_string(client.method_string());
  upstream.version(11);
  std::string path = target.base_path;
  path += client.target();
  upstream.target(path);

  const auto tokens = ConnectionTokens(client);
  std::string forwarded_for;
  for (const auto& field : client) {
    const std::string_view name = field.name_string();
    if (IsHopByHop(name) || InList(name, kGatewayOwned) || Named(name, tokens)) continue;
    if (beast::iequals(name, "x-forwarded-for")) {
      forwarded_for = std::string(field.value());
      continue;
    }
    upstream.insert(name, field.value());
  }
  if (!context.remote_address.empty()) {
    if (!forwarded_for.empty()) forwarded_for += ", ";
    forwarded_for += context.remote_address;
  }
  if (!forwarded_for.empty()) upstream.set("X-Forwarded-For", forwarded_for);
  upstream.set("X-Request-ID", context.request_id);
  upstream.set("X-Correlation-ID", context.correlation_id);
  upstream.set("X-Service-Name", target.service_name);
  if (identity) {
    upstream.set("X-User-ID", identity->user_id);
    if (!identity->role.empty()) upstream.set("X-User-Role", identity->role);
  }
  upstream.body() = client.body();
  return upstream;
}

void CopyResponseHeaders(const http::Response& from, http::Response& to) {
  const auto tokens = ConnectionTokens(from);
  for (const auto& field : from) {
    const std::string_view name = field.name_string();
    if (IsHopByHop(name) || Named(name, tokens) || beast::iequals(name, "content-length") ||
        beast::iequals(name, "x-request-id") || beast::iequals(name, "x-correlation-id")) {
      continue;
    }
    to.insert(name, field.value());
  }
}

}  // namespace nilecare::rest
