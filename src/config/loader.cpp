#include "nilecare/config/loader.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <variant>

#include "event_rule_check.hpp"
#include "nilecare/config/env_subst.hpp"
#include "nilecare/config/units.hpp"
#include "problem_list.hpp"
#include "section_reader.hpp"

namespace nilecare::config {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
constexpr std::size_t kGiB = 1024 * kMiB;
// Timeouts must not be zero; the reader words this bound as "greater than 0s".
constexpr Duration kPositive{1};
// Width of the "  circuit_breaker: " column of Summary(), the longest section name.
constexpr std::size_t kSummaryIndent = 19;
constexpr std::size_t kSummaryWidth = 100;

// `timeouts.default` names the class used when neither the route nor its upstream names one.
// It shares the mapping with the classes, so no class can be called "default".
constexpr std::string_view kDefaultClassKey = "default";
// Each retry waits base_delay * 2^n; beyond this many the waits outlast any timeout class.
constexpr int kMaxRetries = 10;
// The breaker counts outcomes in 10 buckets of window/10; below 100ms a bucket is shorter
// than a typical upstream call and the error rate becomes noise.
constexpr Duration kMinBreakerWindow{100};
constexpr std::size_t kMaxUpstreamConnections = 10000;
constexpr std::size_t kMaxUpstreamPending = 100000;
// A leeway of minutes would accept tokens that expired long ago.
constexpr Duration kMaxJwtLeeway{std::chrono::minutes(5)};
constexpr std::size_t kMaxValidateCacheSize = 10'000'000;
// Fewer tracked clients than this evicts live buckets all the time, resetting their limits.
constexpr long long kMinTrackedKeys = 100;
// Redis refuses string values larger than this.
constexpr std::size_t kMaxRedisValue = 512 * kMiB;
constexpr int kMaxRedisDb = 1'000'000;

// ---- One parse function per section ------------------------------------------------------
// Each reads its keys into the settings (absent keys keep the defaults of settings.hpp);
// validation beyond a single key goes here too, reported through section.Fail().

bool IsServiceName(std::string_view name) {
  // It names log streams, metrics and Kafka client ids, where spaces or capitals bite.
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

void ParseService(SectionReader& section, GatewaySettings& settings) {
  ServiceSettings& service = settings.service;
  section.String("name", service.name, "a non-empty name of a-z, 0-9, '-', '_' and '.'",
                 IsServiceName);
  section.Int("threads", service.threads, 0, 256);
  section.Duration("shutdown_grace", service.shutdown_grace);
}

void ParseLog(SectionReader& section, GatewaySettings& settings) {
  LogSettings& log = settings.log;
  section.Enum<std::string>("level", log.level,
                            {{"trace", "trace"},
                             {"debug", "debug"},
                             {"info", "info"},
                             {"warn", "warn"},
                             {"error", "error"}});
  section.Enum("format", log.format, {{"json", LogFormat::kJson}, {"text", LogFormat::kText}});
}

void ParseHttp(SectionReader& section, GatewaySettings& settings) {
  HttpSettings& http = settings.http;
  section.Listen("listen", http.listen);
  section.Size("max_header", http.max_header, kKiB, kMiB);
  section.Size("max_body", http.max_body, 0, kGiB);
  section.Duration("header_timeout", http.header_timeout, kPositive);
  section.Duration("body_timeout", http.body_timeout, kPositive);
  section.Duration("idle_timeout", http.idle_timeout, kPositive);
  section.Int("max_connections", http.max_connections, 1);
  section.Unsupported("tls",
                      "TLS is not supported by this build yet (terminate TLS in front of "
                      "the gateway)");
}

// ---- Helpers shared by the REST sections ---------------------------------------------------

// Upstream names and timeout classes label metrics and log fields.
bool IsName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char p, char t) {
           return p == (t >= 'A' && t <= 'Z' ? static_cast<char>(t - 'A' + 'a') : t);
         });
}

std::string JoinWords(const std::vector<std::string>& words, std::string_view separator = ", ") {
  std::string joined;
  for (const std::string& word : words) {
    if (!joined.empty()) joined += separator;
    joined += word;
  }
  return joined;
}

// Shortest text that reads back as the same number: 0.5 -> "0.5", 100 -> "100".
std::string FormatNumber(double value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

// Why `path` cannot be a route prefix or an upstream base path, as the end of "a path ...",
// or "" when it can. The dispatcher refuses request paths with empty or dot segments, so a
// prefix containing one would never match anything.
std::string PathProblem(std::string_view path) {
  if (path.empty() || path.front() != '/') return "starting with '/'";
  if (path.size() > 1 && path.back() == '/') return "without a trailing '/'";
  for (char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f || c == '?' || c == '#' || c == '\\') {
      return "without spaces, control characters, '?', '#' or '\\'";
    }
  }
  if (path == "/") return "";
  for (std::size_t start = 1; start <= path.size();) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    if (segment.empty()) return "without empty segments (\"//\")";
    if (segment == "." || segment == "..") return "without \".\" or \"..\" segments";
    start = end + 1;
  }
  return "";
}

std::string UnknownClass(std::string_view name, const TimeoutSettings& timeouts) {
  std::vector<std::string> known;
  for (const auto& [class_name, deadline] : timeouts.classes) known.push_back(class_name);
  std::string message = "unknown timeout class \"" + std::string(name) + "\" (known: " +
                        JoinWords(known) + ")";
  // `timeout: 30s` is the natural first guess; say what the key wants instead.
  if (ParseDuration(name)) {
    message += "; this key names a class: add one under timeouts: to use another duration";
  }
  return message;
}

// Reads `key` as the name of a timeout class, which must exist by now (timeouts: is parsed
// before the sections that name classes).
void ReadTimeoutClass(SectionReader& section, std::string_view key, std::string& out,
                      const TimeoutSettings& timeouts) {
  if (section.String(key, out) && !timeouts.classes.contains(out)) {
    section.Fail(key, UnknownClass(out, timeouts));
  }
}

struct UpstreamAddress {
  std::string host;
  std::uint16_t port{80};
  std::string base_path;
};

// A URL's host[:port] (host may be [ipv6]) with the scheme's port when it has none; nullopt
// when it is not one, or names port 0.
std::optional<ListenAddress> ParseHostPort(std::string_view authority, std::uint16_t default_port) {
  // ParseListenAddress wants a port.
  std::optional<ListenAddress> address = ParseListenAddress(authority);
  if (!address) {
    address = ParseListenAddress(std::string(authority) + ":" + std::to_string(default_port));
  }
  if (!address || address->port == 0) return std::nullopt;
  return address;
}

// http://host[:port][/base] (host may be [ipv6]); no user info, query or fragment. For upstream
// URLs and auth.validate_url (whose "base" is the whole validation path).
std::optional<UpstreamAddress> ParseUpstreamUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!StartsWithNoCase(url, kScheme)) return std::nullopt;
  const std::string_view rest = url.substr(kScheme.size());
  const std::size_t slash = std::min(rest.find('/'), rest.size());
  const std::string_view authority = rest.substr(0, slash);
  std::string path(rest.substr(slash));
  // The host alphabet rules out '@' (credentials) and an unbracketed IPv6 address.
  const std::optional<ListenAddress> address = ParseHostPort(authority, 80);
  if (!address) return std::nullopt;
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (!path.empty() && !PathProblem(path).empty()) return std::nullopt;
  return UpstreamAddress{address->host, address->port, path};
}

// ---- auth -----------------------------------------------------------------------------------

struct JwtAlgorithm {
  std::string_view name;
  bool hmac;
  // HMAC keys shorter than the hash are refused by the verifier (RFC 7518 section 3.2);
  // checking here too lets --check-config catch a short secret before start-up does.
  std::size_t min_secret_bytes;
};

// The designed surface's algorithms. src/auth/jwt_verifier.cpp also verifies ES256; add it
// here (needing public_key_file, like RS*) when the auth service signs with it.
constexpr auto kJwtAlgorithms = std::to_array<JwtAlgorithm>({
    {"HS256", true, 32},
    {"HS384", true, 48},
    {"HS512", true, 64},
    {"RS256", false, 0},
    {"RS384", false, 0},
    {"RS512", false, 0},
});

const JwtAlgorithm* FindJwtAlgorithm(std::string_view name) {
  for (const JwtAlgorithm& algorithm : kJwtAlgorithms) {
    if (algorithm.name == name) return &algorithm;
  }
  return nullptr;
}

bool IsJwtAlgorithm(std::string_view name) { return FindJwtAlgorithm(name) != nullptr; }

std::string JwtAlgorithmChoices() {
  std::string choices = "one of ";
  for (std::size_t i = 0; i < kJwtAlgorithms.size(); ++i) {
    if (i > 0) choices += '|';
    choices += kJwtAlgorithms[i].name;
  }
  return choices;
}

void Warn(GatewaySettings& settings, int line, std::string_view message) {
  settings.warnings.push_back(settings.source + ":" + std::to_string(line) + ": " +
                              std::string(message));
}

void ParseJwt(SectionReader& section, JwtSettings& jwt, GatewaySettings& settings) {
  const bool listed =
      section.StringList("algorithms", jwt.algorithms, JwtAlgorithmChoices(), IsJwtAlgorithm);
  // A secret whose value is not a string has been reported; saying it is missing too would
  // be noise.
  const bool secret_read = section.String("secret", jwt.secret) || !section.Has("secret");
  section.String("public_key_file", jwt.public_key_file);
  section.String("issuer", jwt.issuer);
  section.String("audience", jwt.audience);
  section.Duration("leeway", jwt.leeway, Duration::zero(), kMaxJwtLeeway);

  // With a bad item the list keeps its default, which must not trigger checks of its own.
  if (!listed && section.Has("algorithms")) return;
  if (jwt.algorithms.empty()) {
    section.Fail("algorithms", "is empty: pin the algorithm the auth service signs with (" +
                                   JwtAlgorithmChoices() + ")");
    return;
  }
  const JwtAlgorithm* hmac = nullptr;  // the HS* algorithm needing the longest secret
  const JwtAlgorithm* rsa = nullptr;
  for (const std::string& name : jwt.algorithms) {
    const JwtAlgorithm* algorithm = FindJwtAlgorithm(name);
    if (algorithm->hmac) {
      if (hmac == nullptr || algorithm->min_secret_bytes > hmac->min_secret_bytes) {
        hmac = algorithm;
      }
    } else if (rsa == nullptr) {
      rsa = algorithm;
    }
  }
  if (hmac != nullptr && rsa != nullptr) {
    section.Fail("algorithms",
                 "mixes HMAC (HS*) and RSA (RS*) algorithms: accepting both lets a token "
                 "HMAC-signed with the public key pass (algorithm confusion), so pin one family");
    return;
  }
  if (hmac != nullptr) {
    const std::string need = "at least " + std::to_string(hmac->min_secret_bytes) + " bytes (" +
                             std::to_string(hmac->min_secret_bytes * 8) + " bits) for " +
                             std::string(hmac->name);
    // The secret itself never appears in a message, only its length.
    if (secret_read && jwt.secret.empty()) {
      section.Fail("secret", "expected " + need + ", got none (set secret: ${JWT_SECRET})");
    } else if (secret_read && jwt.secret.size() < hmac->min_secret_bytes) {
      section.Fail("secret",
                   "expected " + need + ", got " + std::to_string(jwt.secret.size()) + " bytes");
    }
    if (!jwt.public_key_file.empty()) {
      section.Fail("public_key_file", "is used only by RS* algorithms, and this list pins " +
                                          std::string(hmac->name) +
                                          ": remove it, or pin an RS* algorithm");
    }
  } else {
    if (jwt.public_key_file.empty()) {
      section.Fail("public_key_file", std::string(rsa->name) +
                                          " needs the auth service's PEM public key: set "
                                          "public_key_file");
    }
    if (!jwt.secret.empty()) {
      section.Fail("secret", "is used only by HS* algorithms, and this list pins " +
                                 std::string(rsa->name) +
                                 ": remove it (the gateway needs no signing secret)");
    }
  }
  if (jwt.issuer.empty()) {
    Warn(settings, section.Line("issuer"),
         "auth.jwt.issuer: not set, so tokens from any issuer are accepted");
  }
  if (jwt.audience.empty()) {
    Warn(settings, section.Line("audience"),
         "auth.jwt.audience: not set, so tokens for any audience are accepted");
  }
}

// auth.validate_url: the auth service's validation endpoint, http://host[:port]/path.
void ReadValidateUrl(SectionReader& section, AuthSettings& auth) {
  constexpr std::string_view kExample = "http://127.0.0.1:7020/api/v1/auth/validate";
  if (!section.String("validate_url", auth.validate_url)) {
    // Reported already. Marked as set all the same, so that routes are not reported as
    // lacking token verification too (the settings are not used once a problem is found).
    if (auth.validate_url.empty()) auth.validate_url = "(invalid)";
    return;
  }
  if (StartsWithNoCase(auth.validate_url, "https://")) {
    section.Fail("validate_url", "https is not supported: terminate TLS in a sidecar");
  } else if (std::optional<UpstreamAddress> address = ParseUpstreamUrl(auth.validate_url)) {
    if (address->base_path.empty()) {
      section.Fail("validate_url", "needs the validation path, e.g. " + std::string(kExample));
    } else {
      auth.validate_host = std::move(address->host);
      auth.validate_port = address->port;
      auth.validate_path = std::move(address->base_path);
    }
  } else {
    section.Reject("validate_url", "an http URL with the validation path, like " +
                                       std::string(kExample));
  }
}

void ParseAuth(SectionReader& section, GatewaySettings& settings) {
  AuthSettings& auth = settings.auth.emplace();
  if (section.Has("jwt")) {
    // Present even when its value is bad, so that routes are not reported as lacking it too.
    JwtSettings& jwt = auth.jwt.emplace();
    if (SectionReader* reader = section.Map("jwt")) ParseJwt(*reader, jwt, settings);
  }
  if (section.Has("validate_url")) {
    ReadValidateUrl(section, auth);
    // Which one decides would be a guess; the gateway verifies tokens one way.
    if (auth.jwt) {
      section.Fail("validate_url",
                   "set either auth.jwt (local verification) or auth.validate_url (remote "
                   "validation), not both");
    }
  }
  section.Duration("validate_cache_ttl", auth.validate_cache_ttl, kPositive);
  section.Int("validate_cache_size", auth.validate_cache_size, 1, kMaxValidateCacheSize);
  // One validation call, its wait for a connection included.
  section.Duration("validate_timeout", auth.validate_timeout, kPositive);
}

// ---- timeouts, retry, circuit_breaker --------------------------------------------------------

void ParseTimeouts(SectionReader& section, GatewaySettings& settings) {
  TimeoutSettings& timeouts = settings.timeouts;
  for (const std::string& name : section.Keys()) {
    if (name == kDefaultClassKey) continue;
    // A new class whose value is bad is still known, so routes naming it are not reported too.
    Duration& deadline = timeouts.classes[name];
    section.Duration(name, deadline, kPositive);
    if (!IsName(name)) section.Fail(name, "class names are a-z, 0-9, '_' and '-'");
  }
  ReadTimeoutClass(section, kDefaultClassKey, timeouts.default_class, timeouts);
}

void ParseRetry(SectionReader& section, GatewaySettings& settings) {
  RetrySettings& retry = settings.retry;
  section.Int("retries", retry.retries, 0, kMaxRetries);
  section.Duration("base_delay", retry.base_delay, kPositive);
  section.Duration("max_delay", retry.max_delay, kPositive);
  section.IntList("on_status", retry.on_status, 400, 599);
  section.Int("budget_percent", retry.budget_percent, 0, 100);
  section.Int("budget_min", retry.budget_min, 0, 1000);
  if (retry.max_delay < retry.base_delay) {
    section.Fail("max_delay", "is " + FormatDuration(retry.max_delay) + ", less than base_delay (" +
                                  FormatDuration(retry.base_delay) + ")");
  }
}

// The global section and the per-upstream override share these keys.
void ReadCircuitBreaker(SectionReader& section, CircuitBreakerSettings& breaker) {
  section.Duration("timeout", breaker.timeout, kPositive);
  section.Int("error_threshold_percent", breaker.error_threshold_percent, 1, 100);
  section.Int("volume_threshold", breaker.volume_threshold, 1);
  section.Duration("window", breaker.window, kMinBreakerWindow);
  section.Duration("reset_timeout", breaker.reset_timeout, kPositive);
}

void ParseCircuitBreaker(SectionReader& section, GatewaySettings& settings) {
  ReadCircuitBreaker(section, settings.circuit_breaker);
}

// ---- upstreams ------------------------------------------------------------------------------

void ParseUpstream(SectionReader& section, UpstreamSettings& upstream,
                   const GatewaySettings& settings) {
  if (section.Require("url") && section.String("url", upstream.url)) {
    if (StartsWithNoCase(upstream.url, "https://")) {
      section.Fail("url", "https upstreams are not supported: terminate TLS in a sidecar");
    } else if (std::optional<UpstreamAddress> address = ParseUpstreamUrl(upstream.url)) {
      upstream.host = std::move(address->host);
      upstream.port = address->port;
      upstream.base_path = std::move(address->base_path);
    } else {
      section.Reject("url", "a URL like http://host:port or http://host:port/base");
    }
  }
  ReadTimeoutClass(section, "timeout", upstream.timeout_class, settings.timeouts);
  section.Int("max_connections", upstream.max_connections, 1, kMaxUpstreamConnections);
  section.Int("max_pending", upstream.max_pending, 0, kMaxUpstreamPending);
  section.Duration("connect_timeout", upstream.connect_timeout, kPositive);
  section.Duration("idle_timeout", upstream.idle_timeout, kPositive);
  section.Size("max_response_body", upstream.max_response_body, 0, kGiB);
  if (section.Has("circuit_breaker")) {
    // Keys left out of the override keep the global section's values, not the built-in ones
    // (circuit_breaker: is parsed before upstreams:).
    upstream.circuit_breaker = settings.circuit_breaker;
    if (SectionReader* breaker = section.Map("circuit_breaker")) {
      ReadCircuitBreaker(*breaker, *upstream.circuit_breaker);
    }
  }
}

void ParseUpstreams(SectionReader& section, GatewaySettings& settings) {
  for (const std::string& name : section.Keys()) {
    UpstreamSettings upstream;
    upstream.name = name;
    if (!IsName(name)) {
      section.Fail(name, "upstream names are a-z, 0-9, '_' and '-' (they label metrics and logs)");
    }
    if (SectionReader* reader = section.Map(name)) ParseUpstream(*reader, upstream, settings);
    // Kept even when invalid, so that routes naming it are not reported as well.
    settings.upstreams.push_back(std::move(upstream));
  }
}

// ---- routes -----------------------------------------------------------------------------------

std::vector<std::string> UpstreamNames(const GatewaySettings& settings) {
  std::vector<std::string> names;
  for (const UpstreamSettings& upstream : settings.upstreams) names.push_back(upstream.name);
  return names;
}

// `name` (read from `key`) must be under upstreams:, which is parsed before the sections that
// name upstreams (routes:, events:).
void CheckUpstreamName(SectionReader& section, std::string_view key, const std::string& name,
                       const GatewaySettings& settings) {
  const std::vector<std::string> names = UpstreamNames(settings);
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    section.Fail(key, UnknownUpstreamProblem(name, names));
  }
}

constexpr auto kHttpMethods =
    std::to_array<std::string_view>({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"});

bool IsHttpMethod(std::string_view name) {
  return std::find(kHttpMethods.begin(), kHttpMethods.end(), name) != kHttpMethods.end();
}

std::string HttpMethodChoices() {
  std::string choices = "one of ";
  for (std::size_t i = 0; i < kHttpMethods.size(); ++i) {
    if (i > 0) choices += '|';
    choices += kHttpMethods[i];
  }
  return choices;
}

bool IsRoleName(std::string_view role) {
  return !role.empty() && std::none_of(role.begin(), role.end(), [](char c) {
    return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
  });
}

void ParseRoute(SectionReader& section, RouteSettings& route, GatewaySettings& settings,
                std::map<std::string, int>& prefix_lines) {
  if (section.Require("prefix") && section.String("prefix", route.prefix)) {
    const std::string problem = PathProblem(route.prefix);
    if (!problem.empty()) {
      section.Reject("prefix", "a path " + problem);
    } else if (const auto [first, inserted] =
                   prefix_lines.emplace(route.prefix, section.Line("prefix"));
               !inserted) {
      section.Fail("prefix", "duplicate prefix \"" + route.prefix + "\" (first on line " +
                                 std::to_string(first->second) + ")");
    }
  }
  if (section.Require("upstream") && section.String("upstream", route.upstream)) {
    CheckUpstreamName(section, "upstream", route.upstream, settings);
  }
  const bool auth_read =
      section.Enum("auth", route.auth,
                   {{"required", RouteAuth::kRequired}, {"none", RouteAuth::kNone}}) ||
      !section.Has("auth");
  ReadTimeoutClass(section, "timeout", route.timeout_class, settings.timeouts);
  // An empty list reads as "nothing allowed" to some and "anything" to others: neither is
  // guessed.
  if (section.StringList("methods", route.methods, HttpMethodChoices(), IsHttpMethod) &&
      route.methods.empty()) {
    section.Fail("methods", "is empty: leave methods out to allow every method");
  }
  if (section.StringList("roles", route.roles, "a role name without spaces", IsRoleName) &&
      route.roles.empty()) {
    section.Fail("roles", "is empty: leave roles out to allow any authenticated caller");
  }
  if (!auth_read) return;
  if (route.auth == RouteAuth::kNone && !route.roles.empty()) {
    section.Fail("roles", "need an authenticated caller, but this route has auth: none");
  }
  const bool verifies_tokens =
      settings.auth && (settings.auth->jwt || !settings.auth->validate_url.empty());
  if (route.auth == RouteAuth::kRequired && !verifies_tokens) {
    section.Fail("auth", "requires auth.jwt or auth.validate_url (or mark the route auth: none)");
  }
}

void ParseRoutes(const std::vector<SectionReader*>& items, GatewaySettings& settings) {
  std::map<std::string, int> prefix_lines;  // for duplicates: each prefix and its line
  for (SectionReader* item : items) {
    RouteSettings route;
    ParseRoute(*item, route, settings, prefix_lines);
    settings.routes.push_back(std::move(route));
  }
}

// ---- rate_limit, redis, idempotency -------------------------------------------------------

void ParseRateLimit(SectionReader& section, GatewaySettings& settings) {
  RateLimitSettings& limits = settings.rate_limit.emplace();
  // A bucket smaller than one token could never admit a request.
  section.Number("per_user", limits.per_user, 0, /*above_min=*/true);
  section.Number("per_user_burst", limits.per_user_burst, 1);
  section.Number("per_ip", limits.per_ip, 0, /*above_min=*/true);
  section.Number("per_ip_burst", limits.per_ip_burst, 1);
  section.Int("max_tracked_keys", limits.max_tracked_keys, kMinTrackedKeys);
}

struct RedisAddress {
  bool has_password{false};
  std::string host;
  std::uint16_t port{0};
  int db{0};
};

// redis://[:password@]host:port[/db]
std::optional<RedisAddress> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!StartsWithNoCase(url, kScheme)) return std::nullopt;
  std::string_view rest = url.substr(kScheme.size());
  RedisAddress address;
  if (!rest.empty() && rest.front() == ':') {
    // The password may contain '@' or '/' (unencoded, as operators paste it): it ends at the
    // last '@'.
    const std::size_t at = rest.rfind('@');
    if (at == std::string_view::npos || at == 1) return std::nullopt;
    address.has_password = true;
    rest.remove_prefix(at + 1);
  }
  const std::size_t slash = std::min(rest.find('/'), rest.size());
  const std::optional<ListenAddress> host_port =
      ParseListenAddress(std::string(rest.substr(0, slash)));
  if (!host_port || host_port->port == 0) return std::nullopt;
  address.host = host_port->host;
  address.port = host_port->port;
  if (slash + 1 < rest.size()) {
    const std::string_view db = rest.substr(slash + 1);
    const auto [ptr, error] = std::from_chars(db.data(), db.data() + db.size(), address.db);
    if (error != std::errc() || ptr != db.data() + db.size() || address.db < 0 ||
        address.db > kMaxRedisDb) {
      return std::nullopt;
    }
  }
  return address;
}

// The URL with its user info (the password) replaced, for messages and the summary.
std::string RedactUrl(std::string_view url) {
  const std::size_t at = url.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const std::size_t scheme_end = url.find("://");
  const std::size_t start = scheme_end == std::string_view::npos || scheme_end > at
                                ? 0
                                : scheme_end + 3;
  const bool colon = start < at && url[start] == ':';
  return std::string(url.substr(0, start)) + (colon ? ":(set)" : "(set)") +
         std::string(url.substr(at));
}

void ParseRedis(SectionReader& section, GatewaySettings& settings) {
  RedisSettings& redis = settings.redis.emplace();
  if (section.String("url", redis.url)) {
    if (StartsWithNoCase(redis.url, "rediss://")) {
      section.Fail("url", "TLS to Redis (rediss://) is not supported by this build yet");
    } else if (!ParseRedisUrl(redis.url)) {
      // Reject() would quote the value, password included.
      section.Fail("url", "expected redis://[:password@]host:port[/db], got \"" +
                              RedactUrl(redis.url) + "\"");
    }
  }
  section.Duration("connect_timeout", redis.connect_timeout, kPositive);
  section.Duration("command_timeout", redis.command_timeout, kPositive);
  section.String("key_prefix", redis.key_prefix);
}

void ParseIdempotency(SectionReader& section, GatewaySettings& settings) {
  IdempotencySettings& idempotency = settings.idempotency.emplace();
  section.Duration("ttl", idempotency.ttl, kPositive);
  section.Size("max_stored_body", idempotency.max_stored_body, 0, kMaxRedisValue);
  // redis: comes earlier in kSections, so its absence is known here.
  if (!settings.redis) {
    section.FailHere("requires the redis section (stored replies are kept in Redis)");
  }
}

// ---- realtime ---------------------------------------------------------------------------------

bool IsRealtimePath(std::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);  // "/socket.io/"
  return path.size() > 1 && path.front() == '/' && PathProblem(path).empty() &&
         path.find('?') == std::string_view::npos;
}

bool IsOrigin(std::string_view origin) {
  if (origin == "*") return true;
  const bool scheme = StartsWithNoCase(origin, "http://") || StartsWithNoCase(origin, "https://");
  return scheme && origin.back() != '/' &&
         std::none_of(origin.begin(), origin.end(),
                      [](char c) { return static_cast<unsigned char>(c) <= 0x20; });
}

void ParsePatientAccess(SectionReader& section, PatientAccessSettings& access) {
  section.StringList("roles", access.roles, "a role name", IsRoleName);
  if (section.String("care_team_url", access.care_team_url) && !access.care_team_url.empty()) {
    constexpr std::string_view kExample = "http://127.0.0.1:7010/api/v1/care-team/check";
    std::optional<UpstreamAddress> address = ParseUpstreamUrl(access.care_team_url);
    if (!address || address->base_path.empty()) {
      section.Reject("care_team_url",
                     "an http URL with the check's path, like " + std::string(kExample));
    } else {
      access.care_team_host = std::move(address->host);
      access.care_team_port = address->port;
      access.care_team_path = std::move(address->base_path);
    }
  }
  section.Duration("cache_ttl", access.cache_ttl);
  section.Size("cache_size", access.cache_size, 0, 10'000'000);
  section.Duration("timeout", access.timeout, kPositive);
}

void ParseRealtime(SectionReader& section, GatewaySettings& settings) {
  RealtimeSettings& realtime = settings.realtime.emplace();
  if (section.String("path", realtime.path, "an absolute path such as /socket.io/",
                     IsRealtimePath)) {
    if (realtime.path.back() != '/') realtime.path.push_back('/');
  }
  section.Duration("ping_interval", realtime.ping_interval, kPositive);
  section.Duration("ping_timeout", realtime.ping_timeout, kPositive);
  section.Duration("connect_timeout", realtime.connect_timeout, kPositive);
  section.Duration("upgrade_timeout", realtime.upgrade_timeout, kPositive);
  section.Size("max_payload", realtime.max_payload, 1024, 64 * 1024 * 1024);
  section.Size("max_packets_per_poll", realtime.max_packets_per_poll, 1, 100000);
  section.Size("send_queue_packets", realtime.send_queue_packets, 16, 10'000'000);
  section.Size("send_queue_bytes", realtime.send_queue_bytes, 64 * 1024,
               std::size_t{1} << 32);
  section.Size("max_rooms_per_client", realtime.max_rooms_per_client, 1, 100000);
  section.Size("max_sessions", realtime.max_sessions, 1, 10'000'000);
  section.StringList("cors_origins", realtime.cors_origins,
                     "an origin such as https://app.nilecare.example (or *)", IsOrigin);
  section.Duration("recovery_window", realtime.recovery_window);
  section.Size("recovery_max_packets", realtime.recovery_max_packets, 1, 100'000'000);
  if (SectionReader* access = section.Map("patient_access")) {
    ParsePatientAccess(*access, realtime.patient_access);
  }
  section.String("internal_token", realtime.internal_token);
  section.Duration("alert_ack_timeout", realtime.alert_ack_timeout, kPositive);
  section.Int("alert_max_resends", realtime.alert_max_resends, 0, 100);
  section.Bool("redis_fanout", realtime.redis_fanout);
  section.String("redis_channel", realtime.redis_channel, "a channel name", IsName);
  // auth and redis come earlier in kSections, so their absence is known here.
  if (!settings.auth || !settings.auth->jwt) {
    section.FailHere("requires auth.jwt (Socket.IO clients send a JWT in their CONNECT packet)");
  }
  if (realtime.redis_fanout && !settings.redis) {
    section.Fail("redis_fanout", "requires the redis section (broadcasts go through Redis pub/sub)");
  }
  if (!realtime.internal_token.empty() && realtime.internal_token.size() < 32) {
    section.Fail("internal_token", "must be at least 32 characters (or empty: loopback only)");
  }
}

// ---- database, mqtt, thresholds -----------------------------------------------------------

constexpr int kMaxQueryConnections = 64;
constexpr long long kMaxPendingQueries = 100000;
// The keep-alive travels in the CONNECT packet as a 16-bit count of seconds.
constexpr Duration kMinMqttKeepAlive{std::chrono::seconds(1)};
constexpr Duration kMaxMqttKeepAlive{std::chrono::seconds(65535)};
constexpr std::size_t kMaxMqttClientId = 128;
constexpr long long kMaxBatchRows = 100000;
constexpr long long kMaxDevices = 10'000'000;

// A database URL for messages and the summary: the user info replaced as RedactUrl does, and
// a password given as a parameter (libpq also reads ?password=...) replaced too.
std::string RedactDatabaseUrl(std::string_view url) {
  std::string text = RedactUrl(url);
  constexpr std::string_view kKey = "password=";
  for (std::size_t at = 0; at < text.size(); ++at) {
    const bool starts_parameter =
        at == 0 || text[at - 1] == '?' || text[at - 1] == '&' || text[at - 1] == ' ';
    if (!starts_parameter || !StartsWithNoCase(std::string_view(text).substr(at), kKey)) continue;
    const std::size_t value = at + kKey.size();
    const std::size_t end = std::min(text.find_first_of("& ", value), text.size());
    text.replace(value, end - value, "(set)");
  }
  return text;
}

void ParseDatabase(SectionReader& section, GatewaySettings& settings) {
  DatabaseSettings& database = settings.database.emplace();
  if (section.Require("url") && section.String("url", database.url)) {
    const std::string_view url = database.url;
    if (!url.starts_with("postgres://") && !url.starts_with("postgresql://")) {
      // Reject() would quote the value, password included.
      section.Fail("url",
                   "expected a libpq URL like postgres://user:password@host:5432/db "
                   "(postgres:// or postgresql://), got \"" +
                       RedactDatabaseUrl(url) + "\"");
    }
  }
  section.Duration("connect_timeout", database.connect_timeout, kPositive);
  section.Duration("statement_timeout", database.statement_timeout, kPositive);
  section.Int("query_connections", database.query_connections, 1, kMaxQueryConnections);
  section.Int("max_pending_queries", database.max_pending_queries, 1, kMaxPendingQueries);
  section.Bool("timescale", database.timescale);
}

// tcp://host:port or ssl://host:port (host may be [ipv6]); nothing after the port.
bool IsMqttUrl(std::string_view url) {
  if (!url.starts_with("tcp://") && !url.starts_with("ssl://")) return false;
  const std::optional<ListenAddress> address = ParseListenAddress(url.substr(6));
  return address && address->port != 0;
}

bool IsMqttClientId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxMqttClientId &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

// "" (plain subscriptions) or the <group> of $share/<group>/<filter>.
bool IsSharedGroup(std::string_view group) {
  return std::all_of(group.begin(), group.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// The levels before {id}/vitals: no wildcards, no empty levels (so no leading or trailing '/').
bool IsTopicRoot(std::string_view root) {
  if (root.empty() || root.front() == '/' || root.back() == '/' ||
      root.find("//") != std::string_view::npos) {
    return false;
  }
  return std::none_of(root.begin(), root.end(),
                      [](char c) { return c == '+' || c == '#' || c == '\0'; });
}

bool IsNonEmpty(std::string_view text) { return !text.empty(); }

void ParseMqttTls(SectionReader& section, MqttTlsSettings& tls, GatewaySettings& settings) {
  section.String("ca_file", tls.ca_file);
  section.String("cert_file", tls.cert_file);
  section.String("key_file", tls.key_file);
  section.Bool("verify", tls.verify);
  // The private key may sit in the certificate's PEM file, so cert_file alone is fine.
  if (!tls.key_file.empty() && tls.cert_file.empty()) {
    section.Fail("key_file", "needs cert_file (the client certificate the key belongs to)");
  }
  if (!tls.verify) {
    Warn(settings, section.Line("verify"),
         "mqtt.tls.verify: false, so the broker's certificate is not checked");
  }
}

// mqtt.urls: read plainly first, so that a URL carrying credentials is never quoted.
void ReadMqttUrls(SectionReader& section, std::vector<std::string>& urls) {
  constexpr std::string_view kWhat = "tcp://host:port or ssl://host:port";
  std::vector<std::string> items;
  if (!section.StringList("urls", items)) return;  // absent, or reported
  for (const std::string& item : items) {
    if (item.find('@') != std::string::npos) {
      section.Fail("urls", "credentials do not belong in a broker URL (\"" + RedactUrl(item) +
                               "\"): set mqtt.username and mqtt.password");
      return;
    }
  }
  // Again with the per-item check, which reports each bad item with its own line.
  if (!section.StringList("urls", urls, kWhat, IsMqttUrl)) return;
  if (urls.empty()) {
    section.Fail("urls", "is empty: list at least one broker, like tcp://127.0.0.1:1883");
  }
}

// `max` must not be below `min`: "is 1s, less than reconnect_min (5s)".
void CheckOrder(SectionReader& section, std::string_view min_key, Duration min,
                std::string_view max_key, Duration max) {
  if (max < min) {
    section.Fail(max_key, "is " + FormatDuration(max) + ", less than " + std::string(min_key) +
                              " (" + FormatDuration(min) + ")");
  }
}

void ParseMqtt(SectionReader& section, GatewaySettings& settings) {
  MqttSettings& mqtt = settings.mqtt.emplace();
  ReadMqttUrls(section, mqtt.urls);
  section.String("client_id", mqtt.client_id,
                 "1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-'", IsMqttClientId);
  section.String("username", mqtt.username);
  // Never quoted: String() without a check reports only a value that is not a string.
  section.String("password", mqtt.password);
  if (section.Has("tls")) {
    MqttTlsSettings& tls = mqtt.tls.emplace();
    if (SectionReader* reader = section.Map("tls")) ParseMqttTls(*reader, tls, settings);
  }
  section.String("shared_group", mqtt.shared_group,
                 "\"\" or a group name of A-Z, a-z, 0-9, '_' and '-'", IsSharedGroup);
  section.String("topic_root", mqtt.topic_root,
                 "a topic prefix like devices or site-a/devices (no '+' or '#', no empty "
                 "levels, no leading or trailing '/')",
                 IsTopicRoot);
  if (section.Duration("keep_alive", mqtt.keep_alive, kMinMqttKeepAlive, kMaxMqttKeepAlive) &&
      mqtt.keep_alive % std::chrono::seconds(1) != Duration::zero()) {
    section.Fail("keep_alive", "must be whole seconds (MQTT sends it in seconds)");
  }
  section.Duration("connect_timeout", mqtt.connect_timeout, kPositive);
  section.Duration("reconnect_min", mqtt.reconnect_min, kPositive);
  section.Duration("reconnect_max", mqtt.reconnect_max, kPositive);
  section.Size("max_payload", mqtt.max_payload, 64, kMiB);
  section.String("journal_dir", mqtt.journal_dir, "a non-empty directory path", IsNonEmpty);
  section.Size("journal_max_bytes", mqtt.journal_max_bytes, kMiB);
  section.Size("journal_segment_bytes", mqtt.journal_segment_bytes, 64 * kKiB, kGiB);
  section.Bool("journal_fsync", mqtt.journal_fsync);
  section.Int("batch_max_rows", mqtt.batch_max_rows, 1, kMaxBatchRows);
  section.Duration("batch_max_delay", mqtt.batch_max_delay);
  section.Duration("db_retry_min", mqtt.db_retry_min, kPositive);
  section.Duration("db_retry_max", mqtt.db_retry_max, kPositive);
  section.Duration("device_refresh", mqtt.device_refresh, kPositive);
  section.Int("max_devices", mqtt.max_devices, 1, kMaxDevices);
  section.Duration("command_timeout", mqtt.command_timeout, kPositive);
  section.Size("max_command_bytes", mqtt.max_command_bytes, 64, kMiB);
  // As for routes, an empty list could mean "nobody" or "anybody": neither is guessed.
  if (section.StringList("read_roles", mqtt.read_roles, "a role name without spaces", IsRoleName) &&
      mqtt.read_roles.empty()) {
    section.Fail("read_roles", "is empty: list the roles that may read devices and vitals");
  }
  if (section.StringList("write_roles", mqtt.write_roles, "a role name without spaces",
                         IsRoleName) &&
      mqtt.write_roles.empty()) {
    section.Fail("write_roles",
                 "is empty: list the roles that may change devices and send commands");
  }

  CheckOrder(section, "reconnect_min", mqtt.reconnect_min, "reconnect_max", mqtt.reconnect_max);
  CheckOrder(section, "db_retry_min", mqtt.db_retry_min, "db_retry_max", mqtt.db_retry_max);
  if (mqtt.journal_segment_bytes > mqtt.journal_max_bytes) {
    section.Fail("journal_segment_bytes", "is " + FormatSize(mqtt.journal_segment_bytes) +
                                              ", more than journal_max_bytes (" +
                                              FormatSize(mqtt.journal_max_bytes) + ")");
  }
  if (!mqtt.password.empty() && mqtt.username.empty()) {
    section.Fail("password", "needs a username (MQTT 3.1.1 sends a password only with one)");
  }
  if (mqtt.tls && !std::any_of(mqtt.urls.begin(), mqtt.urls.end(),
                               [](const std::string& url) { return url.starts_with("ssl://"); })) {
    Warn(settings, section.Line("tls"), "mqtt.tls: set, but no url is ssl://, so it is not used");
  }

  // database, auth and realtime come earlier in kSections, so their absence is known here.
  if (!settings.database) {
    section.FailHere("requires the database section (readings are stored in PostgreSQL)");
  }
  if (!settings.auth || !settings.auth->jwt) {
    section.FailHere("requires auth.jwt (the device API verifies bearer tokens)");
  }
  if (!settings.realtime) {
    Warn(settings, section.Line(),
         "mqtt: no realtime section, so readings and alerts are stored but not pushed to "
         "clients live");
  }
}

// A vital's bound: a number, or `off` for no bound on that side.
bool IsBound(std::string_view text) {
  if (text == "off") return true;
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, error] = std::from_chars(text.data(), end, value);
  return error == std::errc() && ptr == end && std::isfinite(value) && value >= 0;
}

void ReadBound(SectionReader& section, std::string_view key, std::optional<double>& bound) {
  std::string text;
  if (!section.String(key, text, "a number of at least 0, or off", IsBound)) return;
  if (text == "off") {
    bound.reset();
    return;
  }
  double value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  bound = value;
}

void ReadRange(SectionReader& section, std::string_view key, ThresholdRange& range) {
  SectionReader* reader = section.Map(key);
  if (reader == nullptr) return;
  ReadBound(*reader, "low", range.low);
  ReadBound(*reader, "high", range.high);
  if (range.low && range.high && !(*range.low < *range.high)) {
    section.Fail(key, "low (" + FormatNumber(*range.low) + ") must be less than high (" +
                          FormatNumber(*range.high) + ")");
  }
}

void ParseThresholds(SectionReader& section, GatewaySettings& settings) {
  ThresholdSettings& thresholds = settings.thresholds;
  ReadRange(section, "hr", thresholds.hr);
  ReadRange(section, "spo2", thresholds.spo2);
  ReadRange(section, "temp", thresholds.temp);
  ReadRange(section, "bp_systolic", thresholds.bp_systolic);
  ReadRange(section, "bp_diastolic", thresholds.bp_diastolic);
  section.Duration("rearm", thresholds.rearm);
  // mqtt comes earlier in kSections. Thresholds without ingest would look enforced and not be.
  if (!settings.mqtt) {
    section.FailHere("requires the mqtt section (thresholds apply to MQTT vitals)");
  }
}

// ---- kafka, events ----------------------------------------------------------------------------

// Kafka's limit for a topic name, applied to client ids and group ids too (the broker uses
// them in quota and metric names).
constexpr std::size_t kMaxKafkaName = 249;
constexpr std::string_view kEmbeddedBrokers = "embedded";
constexpr Duration kMaxLinger{std::chrono::seconds(1)};
constexpr Duration kMinDeliveryTimeout{std::chrono::seconds(1)};
constexpr Duration kMaxDeliveryTimeout{std::chrono::minutes(5)};
constexpr long long kMaxQueueMessages = 10'000'000;
constexpr std::size_t kMaxProducedEvent = 16 * kMiB;
constexpr std::size_t kMaxConsumedEvent = 64 * kMiB;
// Brokers refuse a shorter session than their group.min.session.timeout.ms (6s by default):
// the consumer would never join its group.
constexpr Duration kMinSessionTimeout{std::chrono::seconds(6)};
constexpr Duration kMaxSessionTimeout{std::chrono::minutes(5)};
constexpr Duration kMinCommitInterval{std::chrono::milliseconds(10)};
constexpr Duration kMaxCommitInterval{std::chrono::minutes(1)};
constexpr int kMaxConsumerRetries = 20;
// A partition waits while one of its events is retried; longer back-offs stall it for minutes.
constexpr Duration kMaxConsumerRetryDelay{std::chrono::minutes(1)};
constexpr Duration kMinDedupeTtl{std::chrono::seconds(1)};
constexpr Duration kMaxDedupeTtl{std::chrono::hours(24 * 30)};
constexpr long long kMaxDedupeEntries = 10'000'000;

// librdkafka properties the gateway sets itself, from its own keys or because its guarantees
// depend on them (src/kafka sets them after kafka.properties, so they would be overridden
// anyway; refusing them here says so before start-up). librdkafka's aliases are listed too.
struct GatewayProperty {
  std::string_view name;
  std::string_view instead;
};

constexpr std::string_view kIdempotent =
    "the producer is always idempotent, so that a retried send is not stored twice";
constexpr std::string_view kAcksAll =
    "the producer always waits for every in-sync replica (acks=all), so that an acknowledged "
    "event is not lost";
constexpr std::string_view kCommitAfterHandling =
    "offsets are stored only once an event is handled; set kafka.consumer.commit_interval "
    "instead";

constexpr auto kGatewayProperties = std::to_array<GatewayProperty>({
    {"bootstrap.servers", "set kafka.brokers instead"},
    {"metadata.broker.list", "set kafka.brokers instead"},
    {"client.id", "set kafka.client_id instead"},
    {"enable.idempotence", kIdempotent},
    {"acks", kAcksAll},
    {"request.required.acks", kAcksAll},
    {"group.id", "set kafka.consumer.group instead"},
    {"enable.auto.commit", kCommitAfterHandling},
    {"enable.auto.offset.store", kCommitAfterHandling},
    {"auto.commit.interval.ms", "set kafka.consumer.commit_interval instead"},
    {"auto.offset.reset", "set kafka.consumer.auto_offset_reset instead"},
    {"session.timeout.ms", "set kafka.consumer.session_timeout instead"},
    {"compression.type", "set kafka.producer.compression instead"},
    {"compression.codec", "set kafka.producer.compression instead"},
    {"compression.level", "it follows kafka.producer.compression (gzip at level 1)"},
    {"linger.ms", "set kafka.producer.linger instead"},
    {"queue.buffering.max.ms", "set kafka.producer.linger instead"},
    {"message.timeout.ms", "set kafka.producer.delivery_timeout instead"},
    {"delivery.timeout.ms", "set kafka.producer.delivery_timeout instead"},
    {"queue.buffering.max.messages", "set kafka.producer.queue_max_messages instead"},
    {"message.max.bytes", "set kafka.producer.max_event_bytes instead"},
    {"heartbeat.interval.ms", "it follows kafka.consumer.session_timeout (a third of it)"},
    {"statistics.interval.ms", "the gateway reads the client's statistics every second (metrics)"},
    {"queued.max.messages.kbytes", "the gateway bounds the consumer's prefetch buffer itself"},
    {"fetch.wait.max.ms",
     "the gateway keeps fetches short (100ms), so that events reach clients without delay"},
});

// Property names holding these words have secret values (sasl.password, ssl.key.password,
// sasl.oauthbearer.client.secret): never printed.
constexpr auto kSecretPropertyWords =
    std::to_array<std::string_view>({"password", "secret", "key"});

const GatewayProperty* FindGatewayProperty(std::string_view name) {
  for (const GatewayProperty& property : kGatewayProperties) {
    if (property.name == name) return &property;
  }
  return nullptr;
}

// librdkafka's names: lower-case words joined by '.' (and a few '_').
bool IsPropertyName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_';
  });
}

bool IsKafkaName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxKafkaName &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
         });
}

// Kafka refuses "." and ".." as topic names.
bool IsTopicName(std::string_view name) { return IsKafkaName(name) && name != "." && name != ".."; }

constexpr std::string_view kTopicWhat =
    "a Kafka topic name of 1 to 249 characters of A-Z, a-z, 0-9, '.', '_' and '-'";

// The first part of an event type: "lab" in lab.result.critical.
bool IsEntityName(std::string_view name) {
  return !name.empty() && name.front() >= 'a' && name.front() <= 'z' &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

bool IsBroker(std::string_view text) {
  const std::optional<ListenAddress> address = ParseListenAddress(text);
  return address && address->port != 0;
}

bool IsOff(std::string_view word) { return word == "off" || word == "false"; }

constexpr std::string_view kNoBrokers =
    "is empty: list at least one broker, like [127.0.0.1:9092], or write brokers: embedded";
constexpr std::string_view kBrokerCredentials =
    "credentials do not belong in a broker address: set kafka.properties sasl.username and "
    "sasl.password";

// kafka.brokers: a list of host:port, a comma-separated string of them (what the local
// stack's NILECARE_KAFKA_BROKERS holds), or `embedded`.
void ReadKafkaBrokers(SectionReader& section, KafkaSettings& kafka) {
  if (!section.IsScalar("brokers")) {
    std::vector<std::string> items;
    if (!section.StringList("brokers", items)) return;  // absent, or reported
    // Before the per-item check, which would quote a password.
    if (std::any_of(items.begin(), items.end(),
                    [](const std::string& item) { return item.find('@') != std::string::npos; })) {
      section.Fail("brokers", kBrokerCredentials);
      return;
    }
    if (!section.StringList("brokers", kafka.brokers,
                            "host:port like 127.0.0.1:9092 (or brokers: embedded, not in a list)",
                            IsBroker)) {
      return;
    }
    if (kafka.brokers.empty()) section.Fail("brokers", kNoBrokers);
    return;
  }
  std::string text;
  if (!section.String("brokers", text)) return;
  if (text == kEmbeddedBrokers) {
    kafka.embedded = true;
    kafka.brokers.clear();
    return;
  }
  if (text.find('@') != std::string::npos) {
    section.Fail("brokers", kBrokerCredentials);
    return;
  }
  std::vector<std::string> brokers;
  bool valid = true;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    valid = valid && IsBroker(item);
    brokers.push_back(std::move(item));
    start = comma + 1;
  }
  if (brokers.size() == 1 && brokers.front().empty()) {
    section.Fail("brokers", kNoBrokers);
  } else if (!valid) {
    section.Reject("brokers",
                   "host:port like 127.0.0.1:9092, a list of them, a comma-separated "
                   "\"host:port,host:port\" or embedded");
  } else {
    kafka.brokers = std::move(brokers);
  }
}

// kafka.topics: replaces the built-in map as a whole, so that the file shows every topic used.
void ReadKafkaTopics(SectionReader& section, std::map<std::string, std::string>& topics) {
  SectionReader* reader = section.Map("topics");
  if (reader == nullptr) return;
  std::map<std::string, std::string> read;
  for (const std::string& entity : reader->Keys()) {
    if (!IsEntityName(entity)) {
      reader->Fail(entity,
                   "entity names are a-z, 0-9 and '_', starting with a letter (the first part "
                   "of an event type: lab in lab.result.critical)");
    }
    std::string topic;
    if (reader->String(entity, topic, kTopicWhat, IsTopicName)) read[entity] = std::move(topic);
  }
  if (reader->Keys().empty()) {
    section.Fail("topics",
                 "is empty: map each entity to its topic, or leave topics out for the built-in "
                 "map");
  }
  topics = std::move(read);
}

// kafka.properties: passed to librdkafka as they are. Values are never quoted in messages:
// they hold SASL passwords and key passphrases.
void ReadKafkaProperties(SectionReader& section, std::map<std::string, std::string>& properties) {
  SectionReader* reader = section.Map("properties");
  if (reader == nullptr) return;
  for (const std::string& name : reader->Keys()) {
    std::string value;
    // A number or a boolean is taken as written (linger: 5 -> "5"): librdkafka reads text.
    const bool read = reader->String(name, value);
    if (const GatewayProperty* own = FindGatewayProperty(name)) {
      reader->Fail(name, "is set by the gateway; " + std::string(own->instead));
    } else if (!IsPropertyName(name)) {
      reader->Fail(name,
                   "is not a librdkafka property name (a-z, 0-9, '.' and '_', like "
                   "security.protocol)");
    } else if (read) {
      properties[name] = std::move(value);
    }
  }
}

void ParseKafkaProducer(SectionReader& section, KafkaProducerSettings& producer) {
  section.Enum<std::string>(
      "compression", producer.compression,
      {{"none", "none"}, {"gzip", "gzip"}, {"snappy", "snappy"}, {"lz4", "lz4"}, {"zstd", "zstd"}});
  section.Duration("linger", producer.linger, Duration::zero(), kMaxLinger);
  section.Duration("delivery_timeout", producer.delivery_timeout, kMinDeliveryTimeout,
                   kMaxDeliveryTimeout);
  section.Int("queue_max_messages", producer.queue_max_messages, 1, kMaxQueueMessages);
  section.Size("max_event_bytes", producer.max_event_bytes, kKiB, kMaxProducedEvent);
}

void ParseKafkaConsumer(SectionReader& section, KafkaConsumerSettings& consumer,
                        const KafkaSettings& kafka) {
  section.String("group", consumer.group,
                 "a group id of 1 to 249 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
                 IsKafkaName);
  if (section.StringList("topics", consumer.topics, kTopicWhat, IsTopicName) &&
      consumer.topics.empty()) {
    section.Fail("topics", "is empty: list the topics whose events the rules act on");
  }
  section.Enum<std::string>("auto_offset_reset", consumer.auto_offset_reset,
                            {{"earliest", "earliest"}, {"latest", "latest"}});
  section.Duration("session_timeout", consumer.session_timeout, kMinSessionTimeout,
                   kMaxSessionTimeout);
  section.Duration("commit_interval", consumer.commit_interval, kMinCommitInterval,
                   kMaxCommitInterval);
  section.Int("retries", consumer.retries, 0, kMaxConsumerRetries);
  section.Duration("retry_min", consumer.retry_min, kPositive, kMaxConsumerRetryDelay);
  section.Duration("retry_max", consumer.retry_max, kPositive, kMaxConsumerRetryDelay);
  section.Size("max_event_bytes", consumer.max_event_bytes, kKiB, kMaxConsumedEvent);
  section.Duration("dedupe_ttl", consumer.dedupe_ttl, kMinDedupeTtl, kMaxDedupeTtl);
  section.Int("dedupe_max_entries", consumer.dedupe_max_entries, 1, kMaxDedupeEntries);

  CheckOrder(section, "retry_min", consumer.retry_min, "retry_max", consumer.retry_max);
  // Events that fail are dead-lettered; consuming that topic would retry them for ever.
  if (std::find(consumer.topics.begin(), consumer.topics.end(), kafka.dead_letter_topic) !=
      consumer.topics.end()) {
    section.Fail("topics", "lists the dead-letter topic (" + kafka.dead_letter_topic +
                               "): its events would be consumed and dead-lettered again");
  }
}

void ParseKafka(SectionReader& section, GatewaySettings& settings) {
  KafkaSettings& kafka = settings.kafka.emplace();
  ReadKafkaBrokers(section, kafka);
  section.String("client_id", kafka.client_id,
                 "a client id of 1 to 249 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
                 IsKafkaName);
  section.String("source_service", kafka.source_service,
                 "a non-empty name of a-z, 0-9, '-', '_' and '.'", IsServiceName);
  ReadKafkaTopics(section, kafka.topics);
  section.String("dead_letter_topic", kafka.dead_letter_topic, kTopicWhat, IsTopicName);
  ReadKafkaProperties(section, kafka.properties);
  // As for routes, an empty list could mean "nobody" or "anybody": neither is guessed.
  if (section.StringList("publish_roles", kafka.publish_roles, "a role name without spaces",
                         IsRoleName) &&
      kafka.publish_roles.empty()) {
    section.Fail("publish_roles",
                 "is empty: leave publish_roles out to let any authenticated caller publish");
  }
  if (SectionReader* producer = section.Map("producer")) {
    ParseKafkaProducer(*producer, kafka.producer);
  }
  // `consumer: off` turns the consumer group off (a producer-only gateway); an absent key
  // keeps it on with the defaults.
  if (section.IsScalar("consumer")) {
    std::string word;
    if (section.String("consumer", word, "a mapping of settings, or off", IsOff)) {
      kafka.consumer.reset();
    }
  } else if (SectionReader* consumer = section.Map("consumer")) {
    ParseKafkaConsumer(*consumer, *kafka.consumer, kafka);
  }
}

void ParseEmitAction(SectionReader& section, EventEmitAction& emit) {
  if (section.Require("event") && section.String("event", emit.event)) {
    if (const std::string problem = EmitEventProblem(emit.event); !problem.empty()) {
      section.Fail("event", problem);
    }
  }
  if (section.Require("rooms") && section.StringList("rooms", emit.rooms, RoomProblem) &&
      emit.rooms.empty()) {
    section.Fail("rooms", kNoRoomsProblem);
  }
  if (section.Bool("critical", emit.critical)) {
    if (const std::string problem = CriticalProblem(emit); !problem.empty()) {
      section.Fail("critical", problem);
    }
  }
}

void ParseHttpAction(SectionReader& section, EventHttpAction& http,
                     const GatewaySettings& settings) {
  if (section.Require("upstream") && section.String("upstream", http.upstream)) {
    CheckUpstreamName(section, "upstream", http.upstream, settings);
  }
  if (section.String("method", http.method)) {
    if (const std::string problem = HttpMethodProblem(http.method); !problem.empty()) {
      section.Fail("method", problem);
    }
  }
  if (section.Require("path") && section.String("path", http.path)) {
    if (const std::string problem = HttpPathProblem(http.path); !problem.empty()) {
      section.Fail("path", problem);
    }
  }
}

// `rabbitmq` is absent when the file has no rabbitmq: section; the task is then read for its
// keys only (the action itself has been refused).
void ParseTaskAction(SectionReader& section, EventTaskAction& task,
                     const std::optional<RabbitMqSettings>& rabbitmq) {
  if (section.Require("queue") && section.String("queue", task.queue) && rabbitmq) {
    if (const std::string problem = TaskQueueProblem(task.queue, *rabbitmq); !problem.empty()) {
      section.Fail("queue", problem);
    }
  }
  // Absent: -1, the queue's own priority.
  if (section.Int("priority", task.priority, 0) && rabbitmq) {
    if (const std::string problem = TaskPriorityProblem(task.priority, *rabbitmq);
        !problem.empty()) {
      section.Fail("priority", problem);
    }
  }
}

constexpr auto kActionKinds = std::to_array<std::string_view>({"emit", "task", "http"});

void ParseEventAction(SectionReader& section, EventAction& action,
                      const GatewaySettings& settings) {
  std::vector<std::string_view> kinds;
  for (std::string_view kind : kActionKinds) {
    if (section.Has(kind)) kinds.push_back(kind);
  }
  if (kinds.empty()) {
    section.FailHere("expected one of emit, task or http");
  } else if (kinds.size() > 1) {
    section.Fail(kinds[1], "an action is one of emit, task or http, and this one is " +
                               std::string(kinds[0]) + " already: give each its own list item");
  }
  if (SectionReader* emit = section.Map("emit")) {
    action.kind = EventAction::Kind::kEmit;
    ParseEmitAction(*emit, action.emit);
  }
  if (SectionReader* http = section.Map("http")) {
    action.kind = EventAction::Kind::kHttp;
    ParseHttpAction(*http, action.http, settings);
  }
  if (SectionReader* task = section.Map("task")) {
    action.kind = EventAction::Kind::kTask;
    // rabbitmq: comes earlier in kSections, so its absence is known here.
    if (const std::string problem = TaskProblem(settings.rabbitmq); !problem.empty()) {
      section.Fail("task", problem);
    }
    ParseTaskAction(*task, action.task, settings.rabbitmq);
  }
}

void ParseEventRule(SectionReader& section, EventRule& rule, const GatewaySettings& settings) {
  rule.origin = settings.source + ":" + std::to_string(section.Line());
  if (section.Require("match") && section.String("match", rule.match)) {
    if (const std::string problem = MatchProblem(rule.match); !problem.empty()) {
      section.Fail("match", problem);
    }
  }
  if (!section.Require("actions")) return;
  const std::optional<std::vector<SectionReader*>> items = section.MapList("actions");
  if (!items) return;
  // Only a list with no items is empty; one whose items were all refused has been reported.
  if (section.ListSize("actions") == 0) section.Fail("actions", kNoActionsProblem);
  for (SectionReader* item : *items) {
    EventAction action;
    ParseEventAction(*item, action, settings);
    rule.actions.push_back(std::move(action));
  }
}

void ParseEvents(SectionReader& section, GatewaySettings& settings) {
  // kafka, upstreams and rabbitmq come earlier in kSections, so what they hold is known here.
  if (!settings.kafka) {
    section.FailHere("requires the kafka section with a consumer (rules act on consumed events)");
  } else if (!settings.kafka->consumer) {
    section.FailHere("requires kafka.consumer, which is off (rules act on consumed events)");
  }
  // Without the rules key the built-in rules apply, as without the section; `rules: []` (or
  // every rule commented out) means none.
  if (!section.Has("rules")) return;
  EventsSettings& events = settings.events.emplace();
  const std::optional<std::vector<SectionReader*>> items = section.MapList("rules");
  if (!items) return;
  for (SectionReader* item : *items) {
    EventRule rule;
    ParseEventRule(*item, rule, settings);
    events.rules.push_back(std::move(rule));
  }
}

// ---- rabbitmq ---------------------------------------------------------------------------------

constexpr std::string_view kAmqpScheme = "amqp://";
constexpr std::uint16_t kAmqpPort = 5672;
// AMQP 0-9-1 sends names as short strings (255 bytes); 200 leaves room for the delay queues
// the gateway derives from a work queue's name ("nilecare.delay.<queue>.<ms>").
constexpr std::size_t kMaxAmqpName = 200;
// The broker keeps x-max-priority in one byte.
constexpr long long kMaxQueuePriority = 255;
// RabbitMQ refuses a longer TTL (x-message-ttl, which carries retry_after, the delays of
// POST /api/v1/tasks and the workers' retry back-offs) with a channel error at declaration.
constexpr Duration kMaxAmqpTtl{(std::int64_t{1} << 32) - 1};
// Delays (POST /api/v1/tasks, retry back-offs) become delay queues whose x-expires is the
// delay plus a margin, which must stay under the same limit: 30 days is far below it.
constexpr Duration kMaxAmqpDelay{std::chrono::hours(24 * 30)};
// The heartbeat is negotiated as a 16-bit count of seconds.
constexpr Duration kMaxAmqpHeartbeat{std::chrono::seconds(65535)};
constexpr std::size_t kMaxTaskBytes = 128 * kMiB;
// basic.qos sends prefetch-count as a 16-bit number.
constexpr long long kMaxPrefetch = 65535;
constexpr int kMaxWorkerRetries = 100;

constexpr std::string_view kAmqpNameWhat =
    "a name of 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-', not starting with "
    "amq. (reserved by RabbitMQ) or nilecare.delay. (the gateway's delay queues)";
constexpr std::string_view kAmqpUrlForm = "amqp://user:password@host:port/vhost";

// Queue names are also the {queue} of POST /api/v1/tasks/{queue}, metric labels and log fields,
// so they keep to characters that need no escaping there; exchange names follow suit.
bool IsAmqpName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxAmqpName && !name.starts_with("amq.") &&
         !name.starts_with("nilecare.delay.") &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
         });
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct AmqpAddress {
  std::string host;
  std::uint16_t port{kAmqpPort};
  std::string vhost{"/"};
  std::string user{"guest"};
  std::string password{"guest"};
};

// RFC 3986 percent-decoding, or nullopt for a malformed escape. An encoded NUL is refused too:
// rabbitmq-c takes the user, password and vhost as C strings.
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      decoded += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    unsigned int byte = 0;
    const char* end = text.data() + i + 3;
    const auto [ptr, error] = std::from_chars(text.data() + i + 1, end, byte, 16);
    if (error != std::errc() || ptr != end || byte == 0) return std::nullopt;
    decoded += static_cast<char>(byte);
    i += 2;
  }
  return decoded;
}

constexpr std::string_view kBadEscape =
    "a '%' is not followed by two hex digits (write a literal '%' as %25; %00 is refused)";

// amqp://[user[:password]@]host[:port][/vhost], RabbitMQ's URI spec without its query
// parameters (heartbeat and connect_timeout are keys of their own). Absent parts are guest,
// guest, 5672 and "/". Sets `problem` (never quoting the URL, which holds the password) and
// returns nullopt when the URL is not one.
std::optional<AmqpAddress> ParseAmqpUrl(std::string_view url, std::string& problem) {
  if (!StartsWithNoCase(url, kAmqpScheme)) {
    problem = "it does not start with amqp://";
    return std::nullopt;
  }
  const std::string_view rest = url.substr(kAmqpScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    problem =
        "query parameters are not supported (heartbeat and connect_timeout are keys of "
        "rabbitmq:)";
    return std::nullopt;
  }
  const std::size_t slash = std::min(rest.find('/'), rest.size());
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = rest.substr(slash);
  AmqpAddress address;
  // The last '@': a password pasted with a raw '@' still splits where it should.
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view user_info = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    const std::size_t colon = user_info.find(':');
    std::optional<std::string> user = PercentDecode(user_info.substr(0, colon));
    if (!user) {
      problem = kBadEscape;
      return std::nullopt;
    }
    if (user->empty()) {
      problem = "the user name before ':' is empty (leave out user:password@ for guest)";
      return std::nullopt;
    }
    address.user = std::move(*user);
    if (colon != std::string_view::npos) {
      std::optional<std::string> password = PercentDecode(user_info.substr(colon + 1));
      if (!password) {
        problem = kBadEscape;
        return std::nullopt;
      }
      address.password = std::move(*password);
    }
  }
  std::optional<ListenAddress> host = ParseHostPort(authority, kAmqpPort);
  if (!host) {
    problem =
        "the part after user:password@ is not host[:port] (a name, an IPv4 address or "
        "[IPv6], port 1..65535); percent-encode '/', '@' and ':' in the user and password";
    return std::nullopt;
  }
  address.host = std::move(host->host);
  address.port = host->port;
  // "" and "/" are the default vhost; RabbitMQ's URI spec would read "/" as the vhost "", which
  // no broker has.
  if (path.size() > 1) {
    const std::string_view encoded = path.substr(1);
    if (encoded.find('/') != std::string_view::npos) {
      problem = "the vhost contains '/' (percent-encode it: %2f)";
      return std::nullopt;
    }
    std::optional<std::string> vhost = PercentDecode(encoded);
    if (!vhost) {
      problem = kBadEscape;
      return std::nullopt;
    }
    address.vhost = std::move(*vhost);
  }
  return address;
}

void ReadAmqpUrl(SectionReader& section, RabbitMqSettings& rabbitmq) {
  if (!section.String("url", rabbitmq.url)) return;
  if (StartsWithNoCase(rabbitmq.url, "amqps://")) {
    section.Fail("url",
                 "amqps:// (TLS) is not supported by this build: run a TLS sidecar such as "
                 "stunnel next to the gateway and point an amqp:// URL at it");
    return;
  }
  std::string problem;
  std::optional<AmqpAddress> address = ParseAmqpUrl(rabbitmq.url, problem);
  if (!address) {
    section.Fail("url", "is not " + std::string(kAmqpUrlForm) + ": " + problem);
    return;
  }
  rabbitmq.host = std::move(address->host);
  rabbitmq.port = address->port;
  rabbitmq.vhost = std::move(address->vhost);
  rabbitmq.user = std::move(address->user);
  rabbitmq.password = std::move(address->password);
}

bool IsDurationOrOff(std::string_view text) { return IsOff(text) || ParseDuration(text); }

// dead_letter.retry_after: a duration, or off (as 0s): failed tasks stay until an operator acts.
void ReadRetryAfter(SectionReader& section, Duration& out) {
  std::string text;
  if (!section.String("retry_after", text, "a duration like 5m, or off", IsDurationOrOff)) return;
  const Duration value = IsOff(text) ? Duration::zero() : *ParseDuration(text);
  if (value > kMaxAmqpTtl) {
    section.Reject("retry_after", "a duration of at most " + FormatDuration(kMaxAmqpTtl) +
                                      " (RabbitMQ's limit for x-message-ttl), or off");
    return;
  }
  out = value;
}

void ParseDeadLetter(SectionReader& section, DeadLetterSettings& dead_letter) {
  section.String("exchange", dead_letter.exchange, kAmqpNameWhat, IsAmqpName);
  section.String("queue", dead_letter.queue, kAmqpNameWhat, IsAmqpName);
  ReadRetryAfter(section, dead_letter.retry_after);
  section.Int("max_rounds", dead_letter.max_rounds, 1);
  section.String("parking_queue", dead_letter.parking_queue, kAmqpNameWhat, IsAmqpName);
  if (dead_letter.parking_queue == dead_letter.queue) {
    section.Fail(section.Has("parking_queue") ? "parking_queue" : "queue",
                 "parking_queue and queue are both " + dead_letter.queue +
                     ": parked tasks would go back to work after retry_after");
  }
}

// rabbitmq.queues: replaces the built-in list as a whole, so that the file shows every queue.
// Returns a reader per queue (in the order of rabbitmq.queues), or none when the built-in list
// stays.
std::vector<SectionReader*> ReadTaskQueues(SectionReader& section, RabbitMqSettings& rabbitmq) {
  if (!section.Has("queues")) return {};
  const std::optional<std::vector<SectionReader*>> items = section.MapList("queues");
  if (!items) return {};
  if (section.ListSize("queues") == 0) {
    section.Fail("queues",
                 "is empty: list the work queues, or leave queues out for the built-in "
                 "ones");
  }
  std::vector<TaskQueueSettings> queues;
  std::map<std::string, int> name_lines;  // for duplicates: each name and its line
  for (SectionReader* item : *items) {
    TaskQueueSettings queue;
    if (item->Require("name") && item->String("name", queue.name, kAmqpNameWhat, IsAmqpName)) {
      if (const auto [first, inserted] = name_lines.emplace(queue.name, item->Line("name"));
          !inserted) {
        item->Fail("name", "duplicate queue \"" + queue.name + "\" (first on line " +
                               std::to_string(first->second) + ")");
      }
    }
    if (item->Require("exchange")) {
      item->String("exchange", queue.exchange, kAmqpNameWhat, IsAmqpName);
    }
    // Against max_priority in CheckTaskQueues, which says which bound it passed.
    item->Int("priority", queue.priority, 0, kMaxQueuePriority);
    queues.push_back(std::move(queue));
  }
  rabbitmq.queues = std::move(queues);
  return *items;
}

// The work queues against dead_letter: and max_priority. A queue written in the file is
// reported at its own key; a clash of the built-in queues with another key, at that key
// (`dead_letter`: the rabbitmq.dead_letter reader, nullptr when absent or invalid).
void CheckTaskQueues(SectionReader& section, const std::vector<SectionReader*>& items,
                     SectionReader* dead_letter, const RabbitMqSettings& rabbitmq) {
  const DeadLetterSettings& dead = rabbitmq.dead_letter;
  bool priority_reported = false;
  for (std::size_t i = 0; i < rabbitmq.queues.size(); ++i) {
    const TaskQueueSettings& queue = rabbitmq.queues[i];
    SectionReader* item = items.empty() ? nullptr : items[i];
    for (const auto& [key, name] :
         {std::pair<std::string_view, const std::string&>{"queue", dead.queue},
          {"parking_queue", dead.parking_queue}}) {
      if (queue.name.empty() || queue.name != name) continue;
      if (item != nullptr) {
        item->Fail("name", "is dead_letter." + std::string(key) +
                               " too: a work queue cannot also hold failed tasks");
      } else if (dead_letter != nullptr) {
        dead_letter->Fail(key, "is " + name + ", a work queue (rabbitmq.queues)");
      }
    }
    // Bound to the fanout dead-letter exchange, the queue would get every failed task.
    if (!queue.exchange.empty() && queue.exchange == dead.exchange) {
      if (item != nullptr) {
        item->Fail("exchange", "is dead_letter.exchange too (" + dead.exchange +
                                   "): give the work queues an exchange of their own");
      } else if (dead_letter != nullptr) {
        dead_letter->Fail("exchange", "is " + dead.exchange + ", the exchange of the work queue " +
                                          queue.name + " (rabbitmq.queues)");
      }
    }
    // The broker would cap it at x-max-priority without a word.
    if (queue.priority > rabbitmq.max_priority) {
      if (item != nullptr) {
        item->Fail("priority", "is " + std::to_string(queue.priority) +
                                   ", more than max_priority (" +
                                   std::to_string(rabbitmq.max_priority) + ")");
      } else if (!priority_reported) {
        section.Fail("max_priority", "is " + std::to_string(rabbitmq.max_priority) +
                                         ", less than the priority of the built-in queue " +
                                         queue.name + " (" + std::to_string(queue.priority) +
                                         "): list the queues under queues:");
        priority_reported = true;
      }
    }
  }
}

bool IsQueryString(std::string_view query) {
  return std::all_of(query.begin(), query.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7f && c != '#';
  });
}

// workers[i].handler_url: the handler is called through an upstream (its pool, timeouts and
// circuit breaker), so the URL must lie under one: the same host and port, and a path under
// its base path (whole segments). The longest base path wins; among equals, the first listed.
void ResolveHandlerUrl(SectionReader& section, TaskWorkerSettings& worker,
                       const GatewaySettings& settings) {
  const std::string& url = worker.handler_url;
  if (StartsWithNoCase(url, "https://")) {
    section.Fail("handler_url",
                 "https is not supported: terminate TLS in a sidecar and point an upstream at it");
    return;
  }
  const std::size_t query_start = std::min(url.find('?'), url.size());
  const std::string_view query = std::string_view(url).substr(query_start);
  const std::optional<UpstreamAddress> address =
      ParseUpstreamUrl(std::string_view(url).substr(0, query_start));
  if (!address || !IsQueryString(query)) {
    section.Reject("handler_url", "an http URL like http://notifications:7060/tasks/email");
    return;
  }
  const std::string& path = address->base_path;
  const UpstreamSettings* best = nullptr;
  for (const UpstreamSettings& upstream : settings.upstreams) {
    // An upstream whose url was refused has no host; it has been reported.
    if (upstream.host.empty() || !EqualsNoCase(upstream.host, address->host) ||
        upstream.port != address->port) {
      continue;
    }
    const std::string& base = upstream.base_path;
    const bool under = path == base || (path.starts_with(base) && path[base.size()] == '/');
    if (under && (best == nullptr || base.size() > best->base_path.size())) best = &upstream;
  }
  if (best == nullptr) {
    section.Fail("handler_url", "no upstream in upstreams: serves " + url +
                                    "; add one (its pool, timeouts and circuit breaker apply to "
                                    "the handler)");
    return;
  }
  worker.upstream = best->name;
  worker.path = path.substr(best->base_path.size());
  if (worker.path.empty()) worker.path = "/";
  worker.path += query;
}

void ParseTaskWorker(SectionReader& section, TaskWorkerSettings& worker,
                     const GatewaySettings& settings, std::map<std::string, int>& queue_lines) {
  const RabbitMqSettings& rabbitmq = *settings.rabbitmq;
  if (section.Require("queue") && section.String("queue", worker.queue)) {
    if (const std::string problem = TaskQueueProblem(worker.queue, rabbitmq); !problem.empty()) {
      section.Fail("queue", problem);
    } else if (const auto [first, inserted] =
                   queue_lines.emplace(worker.queue, section.Line("queue"));
               !inserted) {
      // Two consumers of one queue would split its tasks between two sets of settings.
      section.Fail("queue", "has a worker already (line " + std::to_string(first->second) +
                                "): one worker per queue; raise its concurrency instead");
    }
  }
  if (section.Require("handler_url") && section.String("handler_url", worker.handler_url)) {
    ResolveHandlerUrl(section, worker, settings);
  }
  section.Int("prefetch", worker.prefetch, 1, kMaxPrefetch);
  if (!section.Has("concurrency")) {
    worker.concurrency = std::min(worker.concurrency, worker.prefetch);
  } else if (section.Int("concurrency", worker.concurrency, 1, kMaxPrefetch) &&
             worker.concurrency > worker.prefetch) {
    section.Fail("concurrency", "is " + std::to_string(worker.concurrency) +
                                    ", more than prefetch (" + std::to_string(worker.prefetch) +
                                    "): the broker never hands this worker more tasks at once");
  }
  section.Int("max_retries", worker.max_retries, 0, kMaxWorkerRetries);
  // The back-offs are TTL queues, so RabbitMQ's TTL limit applies.
  section.Duration("retry_min", worker.retry_min, kPositive, kMaxAmqpDelay);
  section.Duration("retry_max", worker.retry_max, kPositive, kMaxAmqpDelay);
  section.Duration("timeout", worker.timeout);
  section.Duration("pause_on_open", worker.pause_on_open, kPositive);
  CheckOrder(section, "retry_min", worker.retry_min, "retry_max", worker.retry_max);
}

void ParseRabbitMq(SectionReader& section, GatewaySettings& settings) {
  RabbitMqSettings& rabbitmq = settings.rabbitmq.emplace();
  ReadAmqpUrl(section, rabbitmq);
  if (section.Duration("heartbeat", rabbitmq.heartbeat, Duration::zero(), kMaxAmqpHeartbeat) &&
      rabbitmq.heartbeat % std::chrono::seconds(1) != Duration::zero()) {
    section.Fail("heartbeat",
                 "must be whole seconds (AMQP negotiates it in seconds); 0s turns "
                 "heartbeats off");
  }
  section.Duration("connect_timeout", rabbitmq.connect_timeout, kPositive);
  section.Duration("reconnect_min", rabbitmq.reconnect_min, kPositive);
  section.Duration("reconnect_max", rabbitmq.reconnect_max, kPositive);
  CheckOrder(section, "reconnect_min", rabbitmq.reconnect_min, "reconnect_max",
             rabbitmq.reconnect_max);
  section.Int("max_priority", rabbitmq.max_priority, 1, kMaxQueuePriority);
  SectionReader* dead_letter = section.Map("dead_letter");
  if (dead_letter != nullptr) ParseDeadLetter(*dead_letter, rabbitmq.dead_letter);
  const std::vector<SectionReader*> queue_items = ReadTaskQueues(section, rabbitmq);
  CheckTaskQueues(section, queue_items, dead_letter, rabbitmq);

  section.Duration("confirm_timeout", rabbitmq.confirm_timeout, kPositive);
  section.Int("max_in_flight", rabbitmq.max_in_flight, 1);
  section.Size("max_task_bytes", rabbitmq.max_task_bytes, 1, kMaxTaskBytes);
  // A delay is a TTL queue, so RabbitMQ's TTL limit applies.
  section.Duration("max_delay", rabbitmq.max_delay, kPositive, kMaxAmqpDelay);
  // As for kafka.publish_roles, an empty list could mean "nobody" or "anybody".
  if (section.StringList("publish_roles", rabbitmq.publish_roles, "a role name without spaces",
                         IsRoleName) &&
      rabbitmq.publish_roles.empty()) {
    section.Fail("publish_roles",
                 "is empty: leave publish_roles out to let any authenticated caller publish");
  }

  if (!section.Has("workers")) return;
  const std::optional<std::vector<SectionReader*>> items = section.MapList("workers");
  if (!items) return;
  std::map<std::string, int> queue_lines;  // one worker per queue: each queue and its line
  for (SectionReader* item : *items) {
    TaskWorkerSettings worker;
    ParseTaskWorker(*item, worker, settings, queue_lines);
    rabbitmq.workers.push_back(std::move(worker));
  }
  // routes: comes earlier in kSections. Without routes there is no REST adapter, whose
  // upstream pools the workers call handlers through, and start-up would fail.
  if (!rabbitmq.workers.empty() && settings.routes.empty()) {
    section.Fail("workers",
                 "need the REST adapter, which runs only with routes: (handlers are called "
                 "through its upstreams); add a route");
  }
}

// ---- One summary function per section (for --check-config; never print secrets) ---------

std::string SummarizeService(const GatewaySettings& settings) {
  const ServiceSettings& service = settings.service;
  return "name=" + service.name + " threads=" +
         (service.threads == 0 ? std::string("0 (one per core)")
                               : std::to_string(service.threads)) +
         " shutdown_grace=" + FormatDuration(service.shutdown_grace);
}

std::string SummarizeLog(const GatewaySettings& settings) {
  return "level=" + settings.log.level +
         " format=" + (settings.log.format == LogFormat::kJson ? "json" : "text");
}

std::string SummarizeHttp(const GatewaySettings& settings) {
  const HttpSettings& http = settings.http;
  return "listen=" + FormatListenAddress(http.listen) +
         " max_header=" + FormatSize(http.max_header) + " max_body=" + FormatSize(http.max_body) +
         " max_connections=" + std::to_string(http.max_connections) +
         "\nheader_timeout=" + FormatDuration(http.header_timeout) +
         " body_timeout=" + FormatDuration(http.body_timeout) +
         " idle_timeout=" + FormatDuration(http.idle_timeout);
}

std::string SummarizeAuth(const GatewaySettings& settings) {
  if (!settings.auth) return "off (no auth: section; every route is auth: none)";
  const AuthSettings& auth = *settings.auth;
  if (!auth.validate_url.empty()) {
    return "remote validation via http://" +
           FormatListenAddress({auth.validate_host, auth.validate_port}) + auth.validate_path +
           " (cache " + FormatDuration(auth.validate_cache_ttl) + ", " +
           std::to_string(auth.validate_cache_size) + " entries, timeout " +
           FormatDuration(auth.validate_timeout) + ")";
  }
  if (!auth.jwt) return "no token verification (no auth.jwt or auth.validate_url)";
  const JwtSettings& jwt = *auth.jwt;
  std::string text = "jwt algorithms=" + JoinWords(jwt.algorithms, ",");
  // Secrets are never printed, not even in part.
  if (!jwt.secret.empty()) text += " secret=(set)";
  if (!jwt.public_key_file.empty()) text += " public_key_file=" + jwt.public_key_file;
  text += "\nissuer=" + (jwt.issuer.empty() ? std::string("(any)") : jwt.issuer);
  text += " audience=" + (jwt.audience.empty() ? std::string("(any)") : jwt.audience);
  return text + " leeway=" + FormatDuration(jwt.leeway);
}

std::string SummarizeTimeouts(const GatewaySettings& settings) {
  std::string text;
  for (const auto& [name, deadline] : settings.timeouts.classes) {
    text += name + "=" + FormatDuration(deadline) + " ";
  }
  return text + "default=" + settings.timeouts.default_class;
}

std::string SummarizeRetry(const GatewaySettings& settings) {
  const RetrySettings& retry = settings.retry;
  std::vector<std::string> statuses;
  for (int status : retry.on_status) statuses.push_back(std::to_string(status));
  return "retries=" + std::to_string(retry.retries) +
         " base_delay=" + FormatDuration(retry.base_delay) +
         " max_delay=" + FormatDuration(retry.max_delay) +
         " on_status=" + (statuses.empty() ? std::string("none") : JoinWords(statuses, ",")) +
         "\nbudget_percent=" + std::to_string(retry.budget_percent) +
         " budget_min=" + std::to_string(retry.budget_min);
}

std::string DescribeBreaker(const CircuitBreakerSettings& breaker) {
  return "timeout=" + FormatDuration(breaker.timeout) +
         " error_threshold_percent=" + std::to_string(breaker.error_threshold_percent) +
         " volume_threshold=" + std::to_string(breaker.volume_threshold) +
         "\nwindow=" + FormatDuration(breaker.window) +
         " reset_timeout=" + FormatDuration(breaker.reset_timeout);
}

std::string SummarizeCircuitBreaker(const GatewaySettings& settings) {
  return DescribeBreaker(settings.circuit_breaker);
}

// An upstream's override, as the keys that differ from the global section.
std::string DescribeBreakerOverride(const CircuitBreakerSettings& breaker,
                                    const CircuitBreakerSettings& global) {
  std::string text;
  const auto add = [&text](bool differs, const std::string& key_value) {
    if (differs) text += " " + key_value;
  };
  add(breaker.timeout != global.timeout, "timeout=" + FormatDuration(breaker.timeout));
  add(breaker.error_threshold_percent != global.error_threshold_percent,
      "error_threshold_percent=" + std::to_string(breaker.error_threshold_percent));
  add(breaker.volume_threshold != global.volume_threshold,
      "volume_threshold=" + std::to_string(breaker.volume_threshold));
  add(breaker.window != global.window, "window=" + FormatDuration(breaker.window));
  add(breaker.reset_timeout != global.reset_timeout,
      "reset_timeout=" + FormatDuration(breaker.reset_timeout));
  return "circuit_breaker:" + (text.empty() ? std::string(" as the global one") : text);
}

std::string SummarizeUpstreams(const GatewaySettings& settings) {
  if (settings.upstreams.empty()) return "none";
  std::size_t width = 0;
  for (const UpstreamSettings& upstream : settings.upstreams) {
    width = std::max(width, upstream.name.size());
  }
  const std::string continuation = "\n" + std::string(width + 3, ' ');
  std::string text;
  for (const UpstreamSettings& upstream : settings.upstreams) {
    if (!text.empty()) text += '\n';
    std::string name = upstream.name;
    name.resize(width, ' ');
    text += name + "   " + upstream.url;
    if (!upstream.timeout_class.empty()) text += " timeout=" + upstream.timeout_class;
    text += " max_connections=" + std::to_string(upstream.max_connections) +
            " max_pending=" + std::to_string(upstream.max_pending) + continuation +
            "connect_timeout=" + FormatDuration(upstream.connect_timeout) +
            " idle_timeout=" + FormatDuration(upstream.idle_timeout) +
            " max_response_body=" + FormatSize(upstream.max_response_body);
    if (upstream.circuit_breaker) {
      text += continuation +
              DescribeBreakerOverride(*upstream.circuit_breaker, settings.circuit_breaker);
    }
  }
  return text;
}

// The class that decides a route's deadline: the route's, else its upstream's, else the
// default (the order src/rest applies).
std::string EffectiveClass(const GatewaySettings& settings, const RouteSettings& route) {
  if (!route.timeout_class.empty()) return route.timeout_class;
  for (const UpstreamSettings& upstream : settings.upstreams) {
    if (upstream.name == route.upstream && !upstream.timeout_class.empty()) {
      return upstream.timeout_class;
    }
  }
  return settings.timeouts.default_class;
}

std::string SummarizeRoutes(const GatewaySettings& settings) {
  if (settings.routes.empty()) return "none (no REST routing)";
  std::size_t width = 0;
  for (const RouteSettings& route : settings.routes) width = std::max(width, route.prefix.size());
  std::string text;
  for (const RouteSettings& route : settings.routes) {
    if (!text.empty()) text += '\n';
    std::string prefix = route.prefix;
    prefix.resize(width, ' ');
    const std::string klass = EffectiveClass(settings, route);
    const auto deadline = settings.timeouts.classes.find(klass);
    text += prefix + " -> " + route.upstream +
            " auth=" + (route.auth == RouteAuth::kRequired ? "required" : "none") +
            " timeout=" + klass;
    if (deadline != settings.timeouts.classes.end()) {
      text += " (" + FormatDuration(deadline->second) + ")";
    }
    if (!route.methods.empty()) text += " methods=" + JoinWords(route.methods, ",");
    if (!route.roles.empty()) text += " roles=" + JoinWords(route.roles, ",");
  }
  return text;
}

std::string SummarizeRateLimit(const GatewaySettings& settings) {
  if (!settings.rate_limit) return "off";
  const RateLimitSettings& limits = *settings.rate_limit;
  return "per_user=" + FormatNumber(limits.per_user) + "/s" +
         " per_user_burst=" + FormatNumber(limits.per_user_burst) +
         " per_ip=" + FormatNumber(limits.per_ip) + "/s" +
         " per_ip_burst=" + FormatNumber(limits.per_ip_burst) +
         "\nmax_tracked_keys=" + std::to_string(limits.max_tracked_keys);
}

std::string SummarizeRedis(const GatewaySettings& settings) {
  if (!settings.redis) return "off";
  const RedisSettings& redis = *settings.redis;
  return "url=" + RedactUrl(redis.url) + " key_prefix=" + redis.key_prefix +
         "\nconnect_timeout=" + FormatDuration(redis.connect_timeout) +
         " command_timeout=" + FormatDuration(redis.command_timeout);
}

std::string SummarizeIdempotency(const GatewaySettings& settings) {
  if (!settings.idempotency) return "off";
  return "ttl=" + FormatDuration(settings.idempotency->ttl) +
         " max_stored_body=" + FormatSize(settings.idempotency->max_stored_body);
}

std::string SummarizeRealtime(const GatewaySettings& settings) {
  if (!settings.realtime) return "off";
  const RealtimeSettings& realtime = *settings.realtime;
  const PatientAccessSettings& access = realtime.patient_access;
  return "path=" + realtime.path + " ping_interval=" + FormatDuration(realtime.ping_interval) +
         " ping_timeout=" + FormatDuration(realtime.ping_timeout) +
         " max_payload=" + FormatSize(realtime.max_payload) +
         "\nsend_queue=" + std::to_string(realtime.send_queue_packets) + " packets/" +
         FormatSize(realtime.send_queue_bytes) +
         " recovery_window=" + FormatDuration(realtime.recovery_window) +
         " redis_fanout=" + (realtime.redis_fanout ? "on" : "off") +
         "\npatient_access roles=" + JoinWords(access.roles, ",") + " care_team=" +
         (access.care_team_url.empty() ? std::string("off") : access.care_team_url) +
         "\ninternal API: " +
         (realtime.internal_token.empty() ? "loopback only" : "service token (set)") +
         " alerts: ack_timeout=" + FormatDuration(realtime.alert_ack_timeout) +
         " max_resends=" + std::to_string(realtime.alert_max_resends);
}

std::string SummarizeDatabase(const GatewaySettings& settings) {
  if (!settings.database) return "off";
  const DatabaseSettings& database = *settings.database;
  return "url=" + RedactDatabaseUrl(database.url) +
         " timescale=" + (database.timescale ? "on" : "off") +
         "\nconnect_timeout=" + FormatDuration(database.connect_timeout) +
         " statement_timeout=" + FormatDuration(database.statement_timeout) +
         " queries: " + std::to_string(database.query_connections) + " connections, " +
         std::to_string(database.max_pending_queries) + " pending";
}

std::string SummarizeMqtt(const GatewaySettings& settings) {
  if (!settings.mqtt) return "off";
  const MqttSettings& mqtt = *settings.mqtt;
  std::string text = "urls=" + JoinWords(mqtt.urls, ",") + " client_id=" + mqtt.client_id +
                     "\ntopic_root=" + mqtt.topic_root;
  if (!mqtt.shared_group.empty()) text += " shared_group=" + mqtt.shared_group;
  // The user name is not a secret; the password is never printed, not even in part.
  text += " username=" + (mqtt.username.empty() ? std::string("(none)") : mqtt.username) +
          " password=" + (mqtt.password.empty() ? "(none)" : "(set)");
  if (!mqtt.tls) {
    text += " tls=off";
  } else {
    text += " tls=on ca_file=" +
            (mqtt.tls->ca_file.empty() ? std::string("(system CAs)") : mqtt.tls->ca_file);
    if (!mqtt.tls->cert_file.empty()) text += " cert_file=" + mqtt.tls->cert_file;
    text += std::string(" verify=") + (mqtt.tls->verify ? "on" : "off");
  }
  return text + "\nkeep_alive=" + FormatDuration(mqtt.keep_alive) +
         " connect_timeout=" + FormatDuration(mqtt.connect_timeout) +
         " reconnect=" + FormatDuration(mqtt.reconnect_min) + ".." +
         FormatDuration(mqtt.reconnect_max) + " max_payload=" + FormatSize(mqtt.max_payload) +
         "\njournal=" + mqtt.journal_dir + " (max " + FormatSize(mqtt.journal_max_bytes) +
         ", segments " + FormatSize(mqtt.journal_segment_bytes) + ", fsync " +
         (mqtt.journal_fsync ? "on" : "off") + ")" +
         "\nbatch_max_rows=" + std::to_string(mqtt.batch_max_rows) +
         " batch_max_delay=" + FormatDuration(mqtt.batch_max_delay) +
         " db_retry=" + FormatDuration(mqtt.db_retry_min) + ".." +
         FormatDuration(mqtt.db_retry_max) +
         "\ndevice_refresh=" + FormatDuration(mqtt.device_refresh) +
         " max_devices=" + std::to_string(mqtt.max_devices) +
         " command_timeout=" + FormatDuration(mqtt.command_timeout) +
         " max_command_bytes=" + FormatSize(mqtt.max_command_bytes) +
         "\nread_roles=" + JoinWords(mqtt.read_roles, ",") +
         " write_roles=" + JoinWords(mqtt.write_roles, ",");
}

// "hr<40|>120": a reading below low or above high alerts; "off" without either bound.
std::string DescribeThreshold(std::string_view vital, const ThresholdRange& range) {
  std::string text(vital);
  if (!range.low && !range.high) return text + "=off";
  if (range.low) text += "<" + FormatNumber(*range.low);
  if (range.low && range.high) text += "|";
  if (range.high) text += ">" + FormatNumber(*range.high);
  return text;
}

std::string SummarizeThresholds(const GatewaySettings& settings) {
  if (!settings.mqtt) return "off (no mqtt: section)";
  const ThresholdSettings& thresholds = settings.thresholds;
  return "alert on " + DescribeThreshold("hr", thresholds.hr) + " " +
         DescribeThreshold("spo2", thresholds.spo2) + " " +
         DescribeThreshold("temp", thresholds.temp) + " " +
         DescribeThreshold("bp_systolic", thresholds.bp_systolic) + " " +
         DescribeThreshold("bp_diastolic", thresholds.bp_diastolic) +
         "\nrearm=" + FormatDuration(thresholds.rearm);
}

// Words joined by ' ', broken with '\n' before a word that would pass the summary's width (a
// single long word stays whole). Continuation lines are indented, so that they read as part
// of the first word's group ("producer: ...").
std::string WrapWords(const std::vector<std::string>& words) {
  constexpr std::size_t kWidth = kSummaryWidth - kSummaryIndent;
  constexpr std::string_view kContinuation = "  ";
  std::string text;
  std::size_t line = 0;
  for (const std::string& word : words) {
    if (line > 0 && line + 1 + word.size() > kWidth) {
      text += '\n';
      text += kContinuation;
      line = kContinuation.size();
    } else if (line > 0) {
      text += ' ';
      ++line;
    }
    text += word;
    line += word.size();
  }
  return text;
}

// The summary shows the values of these properties as "***".
bool IsSecretProperty(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::any_of(
      kSecretPropertyWords.begin(), kSecretPropertyWords.end(),
      [&lower](std::string_view word) { return lower.find(word) != std::string::npos; });
}

std::string SummarizeKafka(const GatewaySettings& settings) {
  if (!settings.kafka) return "off";
  const KafkaSettings& kafka = *settings.kafka;
  std::vector<std::string> lines;
  lines.push_back(
      WrapWords({"brokers=" + (kafka.embedded ? std::string("embedded (in-process, local use only)")
                                              : JoinWords(kafka.brokers, ",")),
                 "client_id=" + kafka.client_id, "source_service=" + kafka.source_service}));
  std::vector<std::string> topics{"topics:"};
  for (const auto& [entity, topic] : kafka.topics) topics.push_back(entity + "=" + topic);
  topics.push_back("dead_letter_topic=" + kafka.dead_letter_topic);
  lines.push_back(WrapWords(topics));
  std::vector<std::string> properties{"properties:"};
  for (const auto& [name, value] : kafka.properties) {
    properties.push_back(name + "=" + (IsSecretProperty(name) ? std::string("***") : value));
  }
  if (kafka.properties.empty()) properties.push_back("(none)");
  lines.push_back(WrapWords(properties));
  lines.push_back("publish_roles=" + (kafka.publish_roles.empty()
                                          ? std::string("(any authenticated caller)")
                                          : JoinWords(kafka.publish_roles, ",")));
  const KafkaProducerSettings& producer = kafka.producer;
  lines.push_back(WrapWords({"producer:", "compression=" + producer.compression,
                             "linger=" + FormatDuration(producer.linger),
                             "delivery_timeout=" + FormatDuration(producer.delivery_timeout),
                             "queue_max_messages=" + std::to_string(producer.queue_max_messages),
                             "max_event_bytes=" + FormatSize(producer.max_event_bytes)}));
  if (!kafka.consumer) {
    lines.push_back("consumer: off");
  } else {
    const KafkaConsumerSettings& consumer = *kafka.consumer;
    lines.push_back(WrapWords(
        {"consumer:", "group=" + consumer.group, "topics=" + JoinWords(consumer.topics, ","),
         "auto_offset_reset=" + consumer.auto_offset_reset,
         "session_timeout=" + FormatDuration(consumer.session_timeout),
         "commit_interval=" + FormatDuration(consumer.commit_interval),
         "retries=" + std::to_string(consumer.retries),
         "retry=" + FormatDuration(consumer.retry_min) + ".." + FormatDuration(consumer.retry_max),
         "max_event_bytes=" + FormatSize(consumer.max_event_bytes),
         "dedupe_ttl=" + FormatDuration(consumer.dedupe_ttl),
         "dedupe_max_entries=" + std::to_string(consumer.dedupe_max_entries)}));
  }
  return JoinWords(lines, "\n");
}

// "appointment.* -> emit appointment:updated to user:{data.patient_id},user:{data.doctor_id}"
std::string DescribeEventActions(const EventRule& rule) {
  std::string text;
  for (const EventAction& action : rule.actions) {
    if (!text.empty()) text += "; ";
    switch (action.kind) {
      case EventAction::Kind::kEmit:
        text += "emit " + action.emit.event + (action.emit.critical ? " (critical)" : "") + " to " +
                JoinWords(action.emit.rooms, ",");
        break;
      case EventAction::Kind::kHttp:
        text += "http " + action.http.method + " " + action.http.upstream + action.http.path;
        break;
      case EventAction::Kind::kTask:
        text += "task " + action.task.queue;
        if (action.task.priority >= 0) text += " priority=" + std::to_string(action.task.priority);
        break;
    }
  }
  return text;
}

std::string SummarizeEvents(const GatewaySettings& settings) {
  if (!settings.kafka || !settings.kafka->consumer) return "off (no kafka consumer)";
  if (settings.events && settings.events->rules.empty()) {
    return "no rules (consumed events are not acted on)";
  }
  // The built-in rules send tasks only when rabbitmq: has the queues they name.
  const std::vector<EventRule> rules =
      settings.events ? settings.events->rules
                      : DefaultEventRules(DefaultEventRulesHaveTasks(settings.rabbitmq));
  std::size_t width = 0;
  for (const EventRule& rule : rules) width = std::max(width, rule.match.size());
  std::string text = settings.events ? std::to_string(rules.size()) + " rules:"
                                     : "built-in rules (no events: section):";
  for (const EventRule& rule : rules) {
    std::string match = rule.match;
    match.resize(width, ' ');
    text += "\n" + match + " -> " + DescribeEventActions(rule);
  }
  return text;
}

std::string SummarizeRabbitMq(const GatewaySettings& settings) {
  if (!settings.rabbitmq) return "off";
  const RabbitMqSettings& rabbitmq = *settings.rabbitmq;
  std::vector<std::string> lines;
  // The user name is not a secret; the password is never printed, not even in part.
  lines.push_back(WrapWords(
      {"amqp://" + FormatListenAddress({rabbitmq.host, rabbitmq.port}), "vhost=" + rabbitmq.vhost,
       "user=" + rabbitmq.user,
       "password=" + std::string(rabbitmq.password.empty() ? "(none)" : "(set)"),
       "heartbeat=" + (rabbitmq.heartbeat == Duration::zero() ? std::string("off")
                                                              : FormatDuration(rabbitmq.heartbeat)),
       "connect_timeout=" + FormatDuration(rabbitmq.connect_timeout),
       "reconnect=" + FormatDuration(rabbitmq.reconnect_min) + ".." +
           FormatDuration(rabbitmq.reconnect_max)}));
  // exchange->queue(default priority)
  std::vector<std::string> queues{std::to_string(rabbitmq.queues.size()) +
                                  " queues (max_priority=" + std::to_string(rabbitmq.max_priority) +
                                  "):"};
  for (const TaskQueueSettings& queue : rabbitmq.queues) {
    queues.push_back(queue.exchange + "->" + queue.name + "(" + std::to_string(queue.priority) +
                     ")");
  }
  lines.push_back(WrapWords(queues));
  const DeadLetterSettings& dead = rabbitmq.dead_letter;
  lines.push_back(WrapWords(
      {"dead_letter:", "exchange=" + dead.exchange, "queue=" + dead.queue,
       "retry_after=" + (dead.retry_after == Duration::zero() ? std::string("off (kept)")
                                                              : FormatDuration(dead.retry_after)),
       "max_rounds=" + std::to_string(dead.max_rounds), "parking_queue=" + dead.parking_queue}));
  lines.push_back(
      WrapWords({"publish:", "confirm_timeout=" + FormatDuration(rabbitmq.confirm_timeout),
                 "max_in_flight=" + std::to_string(rabbitmq.max_in_flight),
                 "max_task_bytes=" + FormatSize(rabbitmq.max_task_bytes),
                 "max_delay=" + FormatDuration(rabbitmq.max_delay),
                 "publish_roles=" + (rabbitmq.publish_roles.empty()
                                         ? std::string("(any authenticated caller)")
                                         : JoinWords(rabbitmq.publish_roles, ","))}));
  if (rabbitmq.workers.empty()) lines.push_back("workers: none (this gateway only publishes)");
  for (const TaskWorkerSettings& worker : rabbitmq.workers) {
    lines.push_back(WrapWords(
        {"worker", worker.queue, "->", worker.upstream + worker.path,
         "prefetch=" + std::to_string(worker.prefetch),
         "concurrency=" + std::to_string(worker.concurrency),
         "max_retries=" + std::to_string(worker.max_retries),
         "retry=" + FormatDuration(worker.retry_min) + ".." + FormatDuration(worker.retry_max),
         "timeout=" + (worker.timeout == Duration::zero() ? std::string("(the upstream's)")
                                                          : FormatDuration(worker.timeout)),
         "pause_on_open=" + FormatDuration(worker.pause_on_open)}));
  }
  return JoinWords(lines, "\n");
}

// ---- The section table: adding a section is one parse function and one row here ----------

using MappingParser = void (*)(SectionReader&, GatewaySettings&);
// For a section whose value is a list of mappings (routes:).
using ListParser = void (*)(const std::vector<SectionReader*>&, GatewaySettings&);

struct SectionSpec {
  std::string_view name;
  bool required;
  std::variant<MappingParser, ListParser> parse;
  std::string (*summarize)(const GatewaySettings&);
};

// Parsed in this order, whatever the file's order, and the cross-section checks rely on it:
// a section may look at the settings of those above it (routes: at auth:, upstreams: and
// timeouts:; upstreams: at timeouts: and circuit_breaker:; idempotency: at redis:; mqtt: at
// auth:, realtime: and database:; thresholds: at mqtt:; rabbitmq: at upstreams: and routes:;
// events: at upstreams:, kafka: and rabbitmq:).
constexpr auto kSections = std::to_array<SectionSpec>({
    {"service", true, ParseService, SummarizeService},
    {"log", false, ParseLog, SummarizeLog},
    {"http", false, ParseHttp, SummarizeHttp},
    {"auth", false, ParseAuth, SummarizeAuth},
    {"timeouts", false, ParseTimeouts, SummarizeTimeouts},
    {"retry", false, ParseRetry, SummarizeRetry},
    {"circuit_breaker", false, ParseCircuitBreaker, SummarizeCircuitBreaker},
    {"upstreams", false, ParseUpstreams, SummarizeUpstreams},
    {"routes", false, ParseRoutes, SummarizeRoutes},
    {"rate_limit", false, ParseRateLimit, SummarizeRateLimit},
    {"redis", false, ParseRedis, SummarizeRedis},
    {"idempotency", false, ParseIdempotency, SummarizeIdempotency},
    {"realtime", false, ParseRealtime, SummarizeRealtime},
    {"database", false, ParseDatabase, SummarizeDatabase},
    {"mqtt", false, ParseMqtt, SummarizeMqtt},
    {"thresholds", false, ParseThresholds, SummarizeThresholds},
    {"kafka", false, ParseKafka, SummarizeKafka},
    {"rabbitmq", false, ParseRabbitMq, SummarizeRabbitMq},
    {"events", false, ParseEvents, SummarizeEvents},
});

std::string Join(const std::vector<std::string>& lines) {
  std::string joined;
  for (const std::string& line : lines) {
    if (!joined.empty()) joined += '\n';
    joined += line;
  }
  return joined;
}

// Once every section is parsed: whether the built-in event rules apply (the consumer is on and
// no events.rules are written) is known only after events:, and they send their tasks only when
// rabbitmq.queues has the queues they name.
void WarnIfDefaultEventRulesLoseTasks(const SectionReader& top, GatewaySettings& settings) {
  const bool default_rules = settings.kafka && settings.kafka->consumer && !settings.events;
  if (!default_rules || !settings.rabbitmq || DefaultEventRulesHaveTasks(settings.rabbitmq)) {
    return;
  }
  const std::vector<std::string> missing = MissingDefaultTaskQueues(*settings.rabbitmq);
  Warn(settings, top.Line("rabbitmq"),
       "rabbitmq: the built-in event rules run without their tasks, as rabbitmq.queues lacks " +
           JoinWords(missing, " and ") + " (add " + (missing.size() == 1 ? "it" : "them") +
           ", or write events.rules)");
}

void ParseDocument(const YAML::Node& root, GatewaySettings& settings, ProblemList& problems) {
  if (!root.IsMap() && !root.IsNull()) {
    problems.Add(root.Mark().line + 1,
                 "expected a mapping of sections (service:, log:, http:) at the top level");
    return;
  }
  SectionReader top(root, "", problems);
  for (const SectionSpec& spec : kSections) {
    if (!top.Has(spec.name)) {
      if (spec.required) problems.Add(0, std::string(spec.name) + ": required section is missing");
      continue;
    }
    if (const auto* parse = std::get_if<MappingParser>(&spec.parse)) {
      if (SectionReader* section = top.Map(spec.name)) (*parse)(*section, settings);
    } else if (std::optional<std::vector<SectionReader*>> items = top.MapList(spec.name)) {
      std::get<ListParser>(spec.parse)(*items, settings);
    }
  }
  WarnIfDefaultEventRulesLoseTasks(top, settings);
  top.ReportUnknownKeys();
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(Join(problems)), problems_(std::move(problems)) {}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

GatewaySettings LoadFile(const std::string& path, const EnvLookup& env) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw ConfigError({path + ": cannot read the file: " + std::strerror(errno)});
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    throw ConfigError({path + ": cannot read the file: " + std::strerror(errno)});
  }
  return LoadString(text.str(), path, env);
}

namespace {

// Sees documents go by without building them.
class DocumentCounter final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  std::vector<YAML::Mark> starts;
};

// Where a second document starts, if there is one. At most two documents are read:
// yaml-cpp 0.7's LoadAll never ends on some inputs (a stray leading ',' yields empty
// documents forever, yaml-cpp issue 1040), which the fuzzer found as an OOM.
std::optional<YAML::Mark> SecondDocument(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentCounter counter;
  for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
  }
  if (counter.starts.size() < 2) return std::nullopt;
  return counter.starts[1];
}

}  // namespace

GatewaySettings LoadString(std::string_view yaml, std::string_view source_name,
                           const EnvLookup& env) {
  ProblemList problems{std::string(source_name)};

  const EnvSubstResult substituted = SubstituteEnv(yaml, env);
  for (const EnvSubstProblem& problem : substituted.problems) {
    problems.Add(problem.line, problem.message);
  }
  // Parsing text with holes in it would only add confusing follow-on errors.
  if (!problems.Empty()) throw ConfigError(problems.Sorted());

  YAML::Node document;
  std::optional<YAML::Mark> second_document;
  try {
    document = YAML::Load(substituted.text);
    second_document = SecondDocument(substituted.text);
  } catch (const YAML::Exception& error) {
    const int line = error.mark.line + 1;
    problems.AddFormatted(line, problems.File() + ":" + std::to_string(line) + ":" +
                                    std::to_string(error.mark.column + 1) +
                                    ": YAML syntax error: " + error.msg);
    throw ConfigError(problems.Sorted());
  }
  if (second_document) {
    // A second document would be silently ignored by a plain Load().
    problems.Add(second_document->line + 1,
                 "expected one YAML document, found more than one (remove the extra '---')");
  }

  GatewaySettings settings;
  settings.source = std::string(source_name);
  ParseDocument(document, settings, problems);
  if (!problems.Empty()) throw ConfigError(problems.Sorted());
  return settings;
}

std::string Summary(const GatewaySettings& settings) {
  std::string summary =
      "configuration: " + (settings.source.empty() ? std::string("(defaults)") : settings.source) +
      "\n";
  for (const SectionSpec& spec : kSections) {
    std::string label = "  " + std::string(spec.name) + ":";
    label.resize(std::max<std::size_t>(label.size() + 1, kSummaryIndent), ' ');
    summary += label;
    // A summarizer breaks a long line with '\n'; continuations line up under the values.
    for (char c : spec.summarize(settings)) {
      summary += c;
      if (c == '\n') summary.append(kSummaryIndent, ' ');
    }
    summary += '\n';
  }
  if (!settings.warnings.empty()) {
    summary += "  warnings:\n";
    for (const std::string& warning : settings.warnings) summary += "    " + warning + "\n";
  }
  return summary;
}

}  // namespace nilecare::config
