#include "nilecare/http/dispatcher.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "nilecare/core/errors.hpp"
#include "nilecare/http/responses.hpp"

namespace nilecare::http {
namespace {

bool IsDotSegment(std::string_view segment) {
  // Decodes only what matters here: %2e / %2E as '.'.
  std::string decoded;
  for (std::size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] == '%' && i + 2 < segment.size() && segment[i + 1] == '2' &&
        (segment[i + 2] == 'e' || segment[i + 2] == 'E')) {
      decoded.push_back('.');
      i += 2;
    } else {
      decoded.push_back(segment[i]);
    }
  }
  return decoded == "." || decoded == "..";
}

bool ContainsEncoded(std::string_view path, std::string_view lower_hex) {
  for (std::size_t i = 0; i + 2 < path.size(); ++i) {
    if (path[i] != '%') continue;
    const char a = static_cast<char>(std::tolower(static_cast<unsigned char>(path[i + 1])));
    const char b = static_cast<char>(std::tolower(static_cast<unsigned char>(path[i + 2])));
    if (a == lower_hex[0] && b == lower_hex[1]) return true;
  }
  return false;
}

bool MethodAllowed(const std::vector<Verb>& methods, Verb method) {
  if (methods.empty()) return true;
  if (std::find(methods.begin(), methods.end(), method) != methods.end()) return true;
  // HEAD is GET without a body (RFC 9110 §9.3.2).
  return method == Verb::head &&
         std::find(methods.begin(), methods.end(), Verb::get) != methods.end();
}

std::string AllowHeader(const std::vector<Verb>& methods) {
  std::string allow;
  for (Verb method : methods) {
    if (!allow.empty()) allow += ", ";
    allow += std::string(beast_http::to_string(method));
  }
  return allow;
}

}  // namespace

void Dispatcher::AddExact(std::string path, std::vector<Verb> methods, std::string label,
                          Handler handler) {
  Route route{path, std::move(methods), std::move(label), std::move(handler)};
  exact_.insert_or_assign(std::move(path), std::move(route));
}

void Dispatcher::AddPrefix(std::string prefix, std::vector<Verb> methods, std::string label,
                           Handler handler) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  prefixes_.push_back(Route{std::move(prefix), std::move(methods), std::move(label),
                            std::move(handler)});
  std::stable_sort(prefixes_.begin(), prefixes_.end(), [](const Route& a, const Route& b) {
    return a.pattern.size() > b.pattern.size();
  });
}

void Dispatcher::AddPattern(std::string pattern, std::vector<Verb> methods, std::string label,
                            Handler handler) {
  while (pattern.size() > 1 && pattern.back() == '/') pattern.pop_back();
  patterns_.push_back(Route{std::move(pattern), std::move(methods), std::move(label),
                            std::move(handler)});
}

namespace {
// The next non-empty segment of `path` from `pos` ("" at the end), advancing `pos`. Pattern
// routes are tried for every request that is not an exact path, so matching splits nothing
// into containers.
std::string_view NextSegment(std::string_view path, std::size_t& pos) {
  while (pos < path.size() && path[pos] == '/') ++pos;
  const std::size_t end = std::min(path.find('/', pos), path.size());
  const std::string_view segment = path.substr(pos, end - pos);
  pos = end;
  return segment;
}
}  // namespace

std::vector<std::string_view> PathSegments(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t pos = 0;
  for (auto segment = NextSegment(path, pos); !segment.empty(); segment = NextSegment(path, pos)) {
    segments.push_back(segment);
  }
  return segments;
}

std::optional<std::string_view> Dispatcher::SafePath(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  const std::string_view path = target.substr(0, target.find('?'));
  for (char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x21 || byte == 0x7f || c == '\\' || c == '#') return std::nullopt;
  }
  if (ContainsEncoded(path, "2f") || ContainsEncoded(path, "5c") || ContainsEncoded(path, "00")) {
    return std::nullopt;
  }
  // Split on '/', skipping the leading one; a trailing slash is allowed ("/api/v1/staff/").
  std::size_t start = 1;
  while (start < path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    if (segment.empty() || IsDotSegment(segment)) return std::nullopt;
    start = end + 1;
  }
  return path;
}

namespace {
bool PrefixMatches(std::string_view path, std::string_view prefix) {
  if (path.size() < prefix.size()) return false;
  if (path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/' || prefix == "/";
}

bool PatternMatches(std::string_view path, std::string_view pattern) {
  std::size_t at_path = 0;
  std::size_t at_pattern = 0;
  while (true) {
    const std::string_view want = NextSegment(pattern, at_pattern);
    const std::string_view got = NextSegment(path, at_path);
    if (want.empty() || got.empty()) return want.empty() && got.empty();
    if (want != "*" && want != got) return false;
  }
}
}  // namespace

const Dispatcher::Route* Dispatcher::Find(std::string_view path) const {
  if (auto it = exact_.find(path); it != exact_.end()) return &it->second;
  for (const Route& route : patterns_) {
    if (PatternMatches(path, route.pattern)) return &route;
  }
  for (const Route& route : prefixes_) {
    if (PrefixMatches(path, route.pattern)) return &route;
  }
  return nullptr;
}

void Dispatcher::AddUpgrade(std::string prefix, std::string label, UpgradeHandler handler) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  upgrades_.push_back(Upgrade{std::move(prefix), std::move(label), std::move(handler)});
}

const UpgradeHandler* Dispatcher::FindUpgrade(std::string_view path,
                                              std::string_view& label) const {
  for (const Upgrade& upgrade : upgrades_) {
    if (PrefixMatches(path, upgrade.prefix)) {
      label = upgrade.label;
      return &upgrade.handler;
    }
  }
  return nullptr;
}

void Dispatcher::Dispatch(RequestContext& context, Request& request, Responder respond) const {
  const auto path = SafePath(request.target());
  if (!path) {
    respond(ErrorResponse(context, Status::bad_request, core::error_code::kBadRequest,
                          "Request target is not an acceptable path"));
    return;
  }
  const Route* route = Find(*path);
  if (route == nullptr) {
    respond(ErrorResponse(context, Status::not_found, core::error_code::kNotFound,
                          "No route for this path"));
    return;
  }
  context.route = route->label;
  if (!MethodAllowed(route->methods, request.method())) {
    auto response = ErrorResponse(context, Status::method_not_allowed,
                                  core::error_code::kMethodNotAllowed,
                                  "Method not allowed on this path",
                                  {{"allow", AllowHeader(route->methods)}});
    response.set(beast_http::field::allow, AllowHeader(route->methods));
    respond(std::move(response));
    return;
  }
  route->handler(context, request, std::move(respond));
}

}  // namespace nilecare::http
