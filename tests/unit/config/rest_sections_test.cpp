// The REST gateway's sections: auth, timeouts, retry, circuit_breaker, upstreams, routes,
// rate_limit, redis, idempotency — their defaults, every key, the messages for bad values and
// the rules across sections.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "config_test_support.hpp"
#include "nilecare/config/loader.hpp"

namespace {

using nilecare::config::ConfigError;
using nilecare::config::EnvLookup;
using nilecare::config::GatewaySettings;
using nilecare::config::LoadString;
using nilecare::config::RouteAuth;
using nilecare::config::Summary;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

using namespace nilecare::config::test_support;

// 32 bytes: the least HS256 accepts.
constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

// service: on line 1, then `body` from line 2.
std::string With(std::string_view body) { return "service: {}\n" + std::string(body); }

// A valid base with one upstream `api` (lines 1-3); tests append from line 4.
std::string WithUpstream(std::string_view body) {
  return "service: {}\nupstreams:\n  api: {url: http://127.0.0.1:7010}\n" + std::string(body);
}

TEST(RestSectionsTest, DefaultsWhenSectionsAbsent) {
  const GatewaySettings s = Load("service: {}\n");
  EXPECT_FALSE(s.auth.has_value());
  EXPECT_EQ(s.timeouts.classes,
            (std::map<std::string, nilecare::config::Duration>{{"auth", seconds(5)},
                                                               {"database", seconds(10)},
                                                               {"external", seconds(30)},
                                                               {"reports", seconds(120)}}));
  EXPECT_EQ(s.timeouts.default_class, "database");
  EXPECT_EQ(s.retry.retries, 3);
  EXPECT_EQ(s.retry.base_delay, milliseconds(100));
  EXPECT_EQ(s.retry.max_delay, seconds(2));
  EXPECT_EQ(s.retry.on_status, (std::vector<int>{429, 503}));
  EXPECT_EQ(s.retry.budget_percent, 20);
  EXPECT_EQ(s.retry.budget_min, 3);
  EXPECT_EQ(s.circuit_breaker.timeout, seconds(5));
  EXPECT_EQ(s.circuit_breaker.error_threshold_percent, 50);
  EXPECT_EQ(s.circuit_breaker.volume_threshold, 10);
  EXPECT_EQ(s.circuit_breaker.window, seconds(10));
  EXPECT_EQ(s.circuit_breaker.reset_timeout, seconds(30));
  EXPECT_TRUE(s.upstreams.empty());
  EXPECT_TRUE(s.routes.empty());
  EXPECT_FALSE(s.rate_limit.has_value());
  EXPECT_FALSE(s.redis.has_value());
  EXPECT_FALSE(s.idempotency.has_value());
  EXPECT_TRUE(s.warnings.empty());
}

TEST(RestSectionsTest, EmptySectionsTakeTheirDefaults) {
  const GatewaySettings s = Load(R"(service: {}
auth:
  jwt:
    secret: 0123456789abcdef0123456789abcdef
    issuer: a
    audience: b
timeouts: {}
retry:
circuit_breaker: {}
upstreams: {}
routes: []
rate_limit: {}
redis: {}
idempotency:
)");
  ASSERT_TRUE(s.auth && s.auth->jwt);
  EXPECT_EQ(s.auth->jwt->algorithms, (std::vector<std::string>{"HS256"}));
  EXPECT_EQ(s.auth->jwt->leeway, seconds(30));
  EXPECT_EQ(s.auth->validate_url, "");
  EXPECT_EQ(s.timeouts.classes.size(), 4u);
  EXPECT_TRUE(s.upstreams.empty());
  EXPECT_TRUE(s.routes.empty());
  ASSERT_TRUE(s.rate_limit);
  EXPECT_EQ(s.rate_limit->per_user, 50.0);
  EXPECT_EQ(s.rate_limit->per_user_burst, 100.0);
  EXPECT_EQ(s.rate_limit->per_ip, 20.0);
  EXPECT_EQ(s.rate_limit->per_ip_burst, 40.0);
  EXPECT_EQ(s.rate_limit->max_tracked_keys, 100000u);
  ASSERT_TRUE(s.redis);
  EXPECT_EQ(s.redis->url, "redis://127.0.0.1:6379");
  EXPECT_EQ(s.redis->connect_timeout, seconds(2));
  EXPECT_EQ(s.redis->command_timeout, seconds(1));
  EXPECT_EQ(s.redis->key_prefix, "nilecare:");
  ASSERT_TRUE(s.idempotency);
  EXPECT_EQ(s.idempotency->ttl, std::chrono::hours(24));
  EXPECT_EQ(s.idempotency->max_stored_body, kMiB);
  // A null routes: (every route commented out) is an empty list too.
  EXPECT_TRUE(Load("service: {}\nroutes:\n  # - {prefix: /a, upstream: a}\n").routes.empty());
}

TEST(RestSectionsTest, ReadsEveryKey) {
  const GatewaySettings s = Load(R"(service: {}
auth:
  jwt:
    algorithms: [HS512, HS256]
    secret: ${JWT_SECRET}
    issuer: nilecare-auth
    audience: nilecare
    leeway: 5s
  validate_cache_ttl: 10s
  validate_cache_size: 500
  validate_timeout: 2s
timeouts: {auth: 3s, bulk: 5m, default: bulk}
retry:
  retries: 5
  base_delay: 50ms
  max_delay: 1s
  on_status: [502, 503, 504]
  budget_percent: 10
  budget_min: 1
circuit_breaker:
  timeout: 2s
  error_threshold_percent: 25
  volume_threshold: 4
  window: 500ms
  reset_timeout: 1s
upstreams:
  auth:
    url: http://auth.internal/api/
    timeout: auth
    max_connections: 8
    max_pending: 0
    connect_timeout: 250ms
    idle_timeout: 3s
    max_response_body: 2MiB
    circuit_breaker: {volume_threshold: 20}
  v6: {url: "http://[::1]:7040/"}
routes:
  - prefix: /
    upstream: v6
  - {prefix: /api/v1/auth, upstream: auth, auth: none, timeout: reports, methods: [POST, GET]}
  - {prefix: /api/v1/admin, upstream: v6, auth: required, roles: [admin, chief-nurse]}
rate_limit: {per_user: 0.5, per_user_burst: 1, per_ip: 1000, per_ip_burst: 2000.5,
             max_tracked_keys: 100}
redis:
  url: redis://:p@ss/w0rd@10.0.0.5:6380/2
  connect_timeout: 500ms
  command_timeout: 100ms
  key_prefix: ""
idempotency: {ttl: 1h, max_stored_body: 64KiB}
)",
                                 {{"JWT_SECRET", std::string(64, 'k')}});
  ASSERT_TRUE(s.auth && s.auth->jwt);
  const auto& jwt = *s.auth->jwt;
  EXPECT_EQ(jwt.algorithms, (std::vector<std::string>{"HS512", "HS256"}));
  EXPECT_EQ(jwt.secret, std::string(64, 'k'));
  EXPECT_EQ(jwt.public_key_file, "");
  EXPECT_EQ(jwt.issuer, "nilecare-auth");
  EXPECT_EQ(jwt.audience, "nilecare");
  EXPECT_EQ(jwt.leeway, seconds(5));
  EXPECT_EQ(s.auth->validate_cache_ttl, seconds(10));
  EXPECT_EQ(s.auth->validate_cache_size, 500u);
  EXPECT_EQ(s.auth->validate_timeout, seconds(2));

  EXPECT_EQ(s.timeouts.classes.at("auth"), seconds(3));
  EXPECT_EQ(s.timeouts.classes.at("database"), seconds(10));  // built in, kept
  EXPECT_EQ(s.timeouts.classes.at("bulk"), minutes(5));
  EXPECT_EQ(s.timeouts.classes.size(), 5u);
  EXPECT_EQ(s.timeouts.default_class, "bulk");

  EXPECT_EQ(s.retry.retries, 5);
  EXPECT_EQ(s.retry.base_delay, milliseconds(50));
  EXPECT_EQ(s.retry.max_delay, seconds(1));
  EXPECT_EQ(s.retry.on_status, (std::vector<int>{502, 503, 504}));
  EXPECT_EQ(s.retry.budget_percent, 10);
  EXPECT_EQ(s.retry.budget_min, 1);

  EXPECT_EQ(s.circuit_breaker.timeout, seconds(2));
  EXPECT_EQ(s.circuit_breaker.error_threshold_percent, 25);
  EXPECT_EQ(s.circuit_breaker.volume_threshold, 4);
  EXPECT_EQ(s.circuit_breaker.window, milliseconds(500));
  EXPECT_EQ(s.circuit_breaker.reset_timeout, seconds(1));

  ASSERT_EQ(s.upstreams.size(), 2u);
  const auto& auth = s.upstreams[0];
  EXPECT_EQ(auth.name, "auth");
  EXPECT_EQ(auth.url, "http://auth.internal/api/");
  EXPECT_EQ(auth.host, "auth.internal");
  EXPECT_EQ(auth.port, 80);
  EXPECT_EQ(auth.base_path, "/api");
  EXPECT_EQ(auth.timeout_class, "auth");
  EXPECT_EQ(auth.max_connections, 8u);
  EXPECT_EQ(auth.max_pending, 0u);
  EXPECT_EQ(auth.connect_timeout, milliseconds(250));
  EXPECT_EQ(auth.idle_timeout, seconds(3));
  EXPECT_EQ(auth.max_response_body, 2 * kMiB);
  ASSERT_TRUE(auth.circuit_breaker);
  // The override's other keys come from the global section, not from the built-in defaults.
  EXPECT_EQ(auth.circuit_breaker->volume_threshold, 20);
  EXPECT_EQ(auth.circuit_breaker->timeout, seconds(2));
  EXPECT_EQ(auth.circuit_breaker->error_threshold_percent, 25);
  EXPECT_EQ(auth.circuit_breaker->window, milliseconds(500));
  const auto& v6 = s.upstreams[1];
  EXPECT_EQ(v6.name, "v6");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 7040);
  EXPECT_EQ(v6.base_path, "");
  EXPECT_EQ(v6.timeout_class, "");
  EXPECT_EQ(v6.max_connections, 64u);
  EXPECT_EQ(v6.max_pending, 256u);
  EXPECT_EQ(v6.idle_timeout, seconds(4));
  EXPECT_EQ(v6.max_response_body, 16 * kMiB);
  EXPECT_FALSE(v6.circuit_breaker);

  ASSERT_EQ(s.routes.size(), 3u);
  EXPECT_EQ(s.routes[0].prefix, "/");
  EXPECT_EQ(s.routes[0].upstream, "v6");
  EXPECT_EQ(s.routes[0].auth, RouteAuth::kRequired);
  EXPECT_EQ(s.routes[0].timeout_class, "");
  EXPECT_TRUE(s.routes[0].methods.empty());
  EXPECT_TRUE(s.routes[0].roles.empty());
  EXPECT_EQ(s.routes[1].prefix, "/api/v1/auth");
  EXPECT_EQ(s.routes[1].auth, RouteAuth::kNone);
  EXPECT_EQ(s.routes[1].timeout_class, "reports");
  EXPECT_EQ(s.routes[1].methods, (std::vector<std::string>{"POST", "GET"}));
  EXPECT_EQ(s.routes[2].roles, (std::vector<std::string>{"admin", "chief-nurse"}));

  ASSERT_TRUE(s.rate_limit);
  EXPECT_EQ(s.rate_limit->per_user, 0.5);
  EXPECT_EQ(s.rate_limit->per_user_burst, 1.0);
  EXPECT_EQ(s.rate_limit->per_ip, 1000.0);
  EXPECT_EQ(s.rate_limit->per_ip_burst, 2000.5);
  EXPECT_EQ(s.rate_limit->max_tracked_keys, 100u);

  ASSERT_TRUE(s.redis);
  EXPECT_EQ(s.redis->url, "redis://:p@ss/w0rd@10.0.0.5:6380/2");
  EXPECT_EQ(s.redis->connect_timeout, milliseconds(500));
  EXPECT_EQ(s.redis->command_timeout, milliseconds(100));
  EXPECT_EQ(s.redis->key_prefix, "");
  ASSERT_TRUE(s.idempotency);
  EXPECT_EQ(s.idempotency->ttl, std::chrono::hours(1));
  EXPECT_EQ(s.idempotency->max_stored_body, 64 * kKiB);
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
}

// ---- timeouts --------------------------------------------------------------------------------

TEST(RestSectionsTest, TimeoutErrors) {
  EXPECT_EQ(ProblemOf(With("timeouts:\n  auth: 5\n")),
            "gw.yaml:3: timeouts.auth: expected a duration with a unit like 10s or 250ms (a bare "
            "number is ambiguous: seconds or milliseconds?), got \"5\"");
  EXPECT_EQ(ProblemOf(With("timeouts: {auth: 0s}\n")),
            "gw.yaml:2: timeouts.auth: expected a duration greater than 0s, got \"0s\"");
  EXPECT_EQ(ProblemOf(With("timeouts:\n  Bulk: 5m\n")),
            "gw.yaml:3: timeouts.Bulk: class names are a-z, 0-9, '_' and '-'");
  EXPECT_EQ(ProblemOf(With("timeouts:\n  default: slow\n")),
            "gw.yaml:3: timeouts.default: unknown timeout class \"slow\" (known: auth, database, "
            "external, reports)");
  EXPECT_EQ(ProblemOf(With("timeouts:\n  default: 30s\n")),
            "gw.yaml:3: timeouts.default: unknown timeout class \"30s\" (known: auth, database, "
            "external, reports); this key names a class: add one under timeouts: to use another "
            "duration");
  EXPECT_EQ(ProblemOf(With("timeouts: [5s]\n")),
            "gw.yaml:2: timeouts: expected a mapping of settings, got a list");
}

TEST(RestSectionsTest, DefaultClassMayBeANewClass) {
  const GatewaySettings s = Load(With("timeouts:\n  default: slow\n  slow: 1m\n"));
  EXPECT_EQ(s.timeouts.default_class, "slow");
  EXPECT_EQ(s.timeouts.classes.at("slow"), minutes(1));
}

// ---- retry, circuit_breaker ------------------------------------------------------------------

TEST(RestSectionsTest, RetryErrors) {
  EXPECT_EQ(ProblemOf(With("retry:\n  retries: 11\n")),
            "gw.yaml:3: retry.retries: expected an integer between 0 and 10, got \"11\"");
  EXPECT_EQ(ProblemOf(With("retry:\n  on_status: [429,\n    200]\n")),
            "gw.yaml:4: retry.on_status[1]: expected an integer between 400 and 599, got \"200\"");
  EXPECT_EQ(ProblemOf(With("retry:\n  on_status: 503\n")),
            "gw.yaml:3: retry.on_status: expected a list of integers like [400, 599], got \"503\"");
  EXPECT_EQ(ProblemOf(With("retry:\n  budget_percent: 101\n")),
            "gw.yaml:3: retry.budget_percent: expected an integer between 0 and 100, got \"101\"");
  EXPECT_EQ(ProblemOf(With("retry:\n  budget_min: 1001\n")),
            "gw.yaml:3: retry.budget_min: expected an integer between 0 and 1000, got \"1001\"");
  EXPECT_EQ(ProblemOf(With("retry:\n  base_delay: 1s\n  max_delay: 500ms\n")),
            "gw.yaml:4: retry.max_delay: is 500ms, less than base_delay (1s)");
  // An absent max_delay keeps its default, which is reported at the section.
  EXPECT_EQ(ProblemOf(With("retry:\n  base_delay: 5s\n")),
            "gw.yaml:2: retry.max_delay: is 2s, less than base_delay (5s)");
  EXPECT_TRUE(Load(With("retry: {on_status: [], retries: 0}\n")).retry.on_status.empty());
}

TEST(RestSectionsTest, CircuitBreakerErrors) {
  EXPECT_EQ(ProblemOf(With("circuit_breaker:\n  window: 50ms\n")),
            "gw.yaml:3: circuit_breaker.window: expected a duration of at least 100ms, got "
            "\"50ms\"");
  EXPECT_EQ(ProblemOf(With("circuit_breaker:\n  error_threshold_percent: 0\n")),
            "gw.yaml:3: circuit_breaker.error_threshold_percent: expected an integer between 1 "
            "and 100, got \"0\"");
  EXPECT_EQ(ProblemOf(With("circuit_breaker:\n  volume_threshold: 0\n")),
            "gw.yaml:3: circuit_breaker.volume_threshold: expected an integer of at least 1, got "
            "\"0\"");
  EXPECT_EQ(ProblemOf(With("circuit_breaker:\n  reset_timout: 1s\n")),
            "gw.yaml:3: circuit_breaker.reset_timout: unknown key (did you mean "
            "\"reset_timeout\"?)");
}

// ---- upstreams -------------------------------------------------------------------------------

TEST(RestSectionsTest, UpstreamUrls) {
  const auto upstream = [](const std::string& url) {
    return Load(With("upstreams:\n  a: {url: '" + url + "'}\n")).upstreams.at(0);
  };
  EXPECT_EQ(upstream("http://127.0.0.1:7010").host, "127.0.0.1");
  EXPECT_EQ(upstream("http://127.0.0.1:7010").port, 7010);
  EXPECT_EQ(upstream("http://127.0.0.1:7010").base_path, "");
  EXPECT_EQ(upstream("http://127.0.0.1:7010/").base_path, "");
  EXPECT_EQ(upstream("http://svc").port, 80);
  EXPECT_EQ(upstream("HTTP://svc:8080/v2/api//").base_path, "/v2/api");
  EXPECT_EQ(upstream("http://[::1]").host, "::1");
  EXPECT_EQ(upstream("http://[::1]").port, 80);
}

TEST(RestSectionsTest, UpstreamUrlErrors) {
  EXPECT_EQ(ProblemOf(With("upstreams:\n  auth:\n    url: https://auth.internal\n")),
            "gw.yaml:4: upstreams.auth.url: https upstreams are not supported: terminate TLS in "
            "a sidecar");
  for (const char* url :
       {"ftp://h:1", "127.0.0.1:7010", "http://", "http://h:0", "http://h:65536", "http://h:",
        "http://user:pw@h:1", "http://h:1/a?b=c", "http://h:1/a/../b", "http://::1:80",
        "http://h:1/a b"}) {
    EXPECT_EQ(ProblemOf(With("upstreams:\n  a: {url: '" + std::string(url) + "'}\n")),
              "gw.yaml:3: upstreams.a.url: expected a URL like http://host:port or "
              "http://host:port/base, got \"" +
                  std::string(url) + "\"");
  }
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a: {timeout: auth}\n")),
            "gw.yaml:3: upstreams.a.url: required key is missing");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a:\n")),
            "gw.yaml:3: upstreams.a.url: required key is missing");
}

TEST(RestSectionsTest, UpstreamErrors) {
  EXPECT_EQ(ProblemOf(With("upstreams:\n  Auth: {url: http://h:1}\n")),
            "gw.yaml:3: upstreams.Auth: upstream names are a-z, 0-9, '_' and '-' (they label "
            "metrics and logs)");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a: {url: http://h:1, max_connections: 0}\n")),
            "gw.yaml:3: upstreams.a.max_connections: expected an integer between 1 and 10000, "
            "got \"0\"");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a: {url: http://h:1, max_pending: 100001}\n")),
            "gw.yaml:3: upstreams.a.max_pending: expected an integer between 0 and 100000, got "
            "\"100001\"");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a: {url: http://h:1, connect_timeout: 0s}\n")),
            "gw.yaml:3: upstreams.a.connect_timeout: expected a duration greater than 0s, got "
            "\"0s\"");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a: {url: http://h:1, max_response_body: 2GiB}\n")),
            "gw.yaml:3: upstreams.a.max_response_body: expected a size of at most 1GiB, got "
            "\"2GiB\"");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a:\n    url: http://h:1\n    timeout: slow\n")),
            "gw.yaml:5: upstreams.a.timeout: unknown timeout class \"slow\" (known: auth, "
            "database, external, reports)");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a:\n    url: http://h:1\n    circuit_breaker:\n"
                           "      window: 10ms\n")),
            "gw.yaml:6: upstreams.a.circuit_breaker.window: expected a duration of at least "
            "100ms, got \"10ms\"");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a:\n    url: http://h:1\n    timout: auth\n")),
            "gw.yaml:5: upstreams.a.timout: unknown key (did you mean \"timeout\"?)");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a: http://h:1\n")),
            "gw.yaml:3: upstreams.a: expected a mapping of settings, got \"http://h:1\"");
  EXPECT_EQ(ProblemOf(With("upstreams:\n  a: {url: http://h:1}\n  a: {url: http://h:2}\n")),
            "gw.yaml:4: upstreams.a: duplicate key (first set on line 3)");
}

TEST(RestSectionsTest, UpstreamTimeoutMayNameANewClass) {
  const GatewaySettings s =
      Load(With("upstreams:\n  a: {url: http://h:1, timeout: bulk}\ntimeouts: {bulk: 10m}\n"));
  EXPECT_EQ(s.upstreams.at(0).timeout_class, "bulk");
}

// ---- routes ----------------------------------------------------------------------------------

TEST(RestSectionsTest, RouteUpstreamMustExist) {
  // The index in the key path is 0-based and the line is the item's.
  EXPECT_EQ(ProblemOf(R"(service: {}
upstreams:
  auth: {url: http://127.0.0.1:7020}
  business: {url: http://127.0.0.1:7010}
routes:
  - {prefix: /a, upstream: auth, auth: none}
  - {prefix: /b, upstream: auth, auth: none}
  - {prefix: /c, upstream: business, auth: none}
  - {prefix: /d, upstream: x, auth: none}
)"),
            "gw.yaml:9: routes[3].upstream: unknown upstream \"x\" (known: auth, business)");
  EXPECT_EQ(ProblemOf(With("routes:\n  - {prefix: /a, upstream: x, auth: none}\n")),
            "gw.yaml:3: routes[0].upstream: unknown upstream \"x\" (no upstreams: section)");
}

TEST(RestSectionsTest, RouteRequiredKeys) {
  EXPECT_EQ(ProblemsOf(WithUpstream("routes:\n  - {auth: none}\n")),
            (std::vector<std::string>{"gw.yaml:5: routes[0].prefix: required key is missing",
                                      "gw.yaml:5: routes[0].upstream: required key is missing"}));
  // Block style: the item's line is the line of its first key.
  EXPECT_EQ(ProblemOf(WithUpstream("routes:\n  - auth: none\n    prefix: /a\n")),
            "gw.yaml:5: routes[0].upstream: required key is missing");
}

TEST(RestSectionsTest, RoutePrefixErrors) {
  const auto prefix_problem = [](const std::string& prefix) {
    return ProblemOf(
        WithUpstream("routes:\n  - {upstream: api, auth: none, prefix: '" + prefix + "'}\n"));
  };
  EXPECT_EQ(prefix_problem("api/v1"),
            "gw.yaml:5: routes[0].prefix: expected a path starting with '/', got \"api/v1\"");
  EXPECT_EQ(prefix_problem(""),
            "gw.yaml:5: routes[0].prefix: expected a path starting with '/', got \"\"");
  EXPECT_EQ(prefix_problem("/api/v1/"),
            "gw.yaml:5: routes[0].prefix: expected a path without a trailing '/', got "
            "\"/api/v1/\"");
  EXPECT_EQ(prefix_problem("/api//v1"),
            "gw.yaml:5: routes[0].prefix: expected a path without empty segments (\"//\"), got "
            "\"/api//v1\"");
  EXPECT_EQ(prefix_problem("/api/../admin"),
            "gw.yaml:5: routes[0].prefix: expected a path without \".\" or \"..\" segments, got "
            "\"/api/../admin\"");
  EXPECT_EQ(prefix_problem("/api/./v1"),
            "gw.yaml:5: routes[0].prefix: expected a path without \".\" or \"..\" segments, got "
            "\"/api/./v1\"");
  EXPECT_EQ(prefix_problem("/api?x=1"),
            "gw.yaml:5: routes[0].prefix: expected a path without spaces, control characters, "
            "'?', '#' or '\\', got \"/api?x=1\"");
  // Dots inside a segment are fine.
  EXPECT_EQ(Load(WithUpstream("routes:\n  - {upstream: api, auth: none, prefix: /v1.2/..a}\n"))
                .routes.at(0)
                .prefix,
            "/v1.2/..a");
}

TEST(RestSectionsTest, DuplicatePrefixNamesBothLines) {
  EXPECT_EQ(ProblemOf(WithUpstream(R"(routes:
  - {prefix: /api/v1/staff, upstream: api, auth: none}
  - {prefix: /api/v1/staffing, upstream: api, auth: none}
  - {prefix: /api/v1/staff, upstream: api, auth: none, methods: [GET]}
)")),
            "gw.yaml:7: routes[2].prefix: duplicate prefix \"/api/v1/staff\" (first on line 5)");
}

TEST(RestSectionsTest, RouteMethodsAndRoles) {
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: none, methods: [GET, post]}\n")),
            "gw.yaml:5: routes[0].methods[1]: expected one of "
            "GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS, got \"post\"");
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: none, methods: [CONNECT]}\n")),
            "gw.yaml:5: routes[0].methods[0]: expected one of "
            "GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS, got \"CONNECT\"");
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: none, methods: []}\n")),
            "gw.yaml:5: routes[0].methods: is empty: leave methods out to allow every method");
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: none, methods: GET}\n")),
            "gw.yaml:5: routes[0].methods: expected a list of strings like [a, b], got \"GET\"");
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: none, roles: [admin]}\n")),
            "gw.yaml:5: routes[0].roles: need an authenticated caller, but this route has auth: "
            "none");
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: none, roles: ['']}\n")),
            "gw.yaml:5: routes[0].roles[0]: expected a role name without spaces, got \"\"");
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: optional}\n")),
            "gw.yaml:5: routes[0].auth: expected one of required|none, got \"optional\"");
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: none, timeout: 30s}\n")),
            "gw.yaml:5: routes[0].timeout: unknown timeout class \"30s\" (known: auth, database, "
            "external, reports); this key names a class: add one under timeouts: to use another "
            "duration");
  EXPECT_EQ(ProblemOf(WithUpstream(
                "routes:\n  - {prefix: /a, upstream: api, auth: none, prefx: /b}\n")),
            "gw.yaml:5: routes[0].prefx: unknown key (did you mean \"prefix\"?)");
}

TEST(RestSectionsTest, RoutesMustBeAListOfMappings) {
  EXPECT_EQ(ProblemOf(WithUpstream("routes:\n  /a: api\n")),
            "gw.yaml:4: routes: expected a list of mappings (one \"- { ... }\" per item), got a "
            "mapping");
  EXPECT_EQ(ProblemOf(WithUpstream("routes:\n  - {prefix: /a, upstream: api, auth: none}\n"
                                   "  - /b\n")),
            "gw.yaml:6: routes[1]: expected a mapping of settings, got \"/b\"");
}

TEST(RestSectionsTest, RequiredAuthNeedsTokenVerification) {
  EXPECT_EQ(ProblemsOf(WithUpstream(R"(routes:
  - {prefix: /public, upstream: api, auth: none}
  - {prefix: /a, upstream: api}
  - {prefix: /b, upstream: api, auth: required}
)")),
            (std::vector<std::string>{
                "gw.yaml:6: routes[1].auth: requires auth.jwt or auth.validate_url (or mark the route auth: none)",
                "gw.yaml:7: routes[2].auth: requires auth.jwt or auth.validate_url (or mark the route auth: none)",
            }));
  // auth: without jwt or validate_url is no better.
  EXPECT_EQ(ProblemOf(WithUpstream("auth: {}\nroutes:\n  - {prefix: /a, upstream: api}\n")),
            "gw.yaml:6: routes[0].auth: requires auth.jwt or auth.validate_url (or mark the route auth: none)");
  // A broken jwt: is reported once, not again at every route.
  EXPECT_EQ(ProblemOf(WithUpstream("auth: {jwt: HS256}\nroutes:\n  - {prefix: /a, upstream: api}\n")),
            "gw.yaml:4: auth.jwt: expected a mapping of settings, got \"HS256\"");
}

// ---- auth ------------------------------------------------------------------------------------

// auth.jwt with `keys` (one per line) from line 4; issuer and audience set.
std::string Jwt(std::string_view keys) {
  return "service: {}\nauth:\n  jwt:\n" + std::string(keys) +
         "    issuer: i\n    audience: a\n";
}

TEST(RestSectionsTest, JwtSecretRules) {
  EXPECT_EQ(ProblemOf(Jwt("    secret: short-secret\n")),
            "gw.yaml:4: auth.jwt.secret: expected at least 32 bytes (256 bits) for HS256, got 12 "
            "bytes");
  EXPECT_EQ(ProblemOf(Jwt("    algorithms: [HS256, HS512]\n    secret: " + std::string(kSecret) +
                          "\n")),
            "gw.yaml:5: auth.jwt.secret: expected at least 64 bytes (512 bits) for HS512, got 32 "
            "bytes");
  EXPECT_EQ(ProblemOf(Jwt("    algorithms: [HS256]\n")),
            "gw.yaml:3: auth.jwt.secret: expected at least 32 bytes (256 bits) for HS256, got "
            "none (set secret: ${JWT_SECRET})");
  // An empty variable is no secret either; unquoted it is no string at all.
  EXPECT_EQ(ProblemOf(Jwt("    secret: '${JWT_SECRET}'\n"), {{"JWT_SECRET", ""}}),
            "gw.yaml:4: auth.jwt.secret: expected at least 32 bytes (256 bits) for HS256, got "
            "none (set secret: ${JWT_SECRET})");
  EXPECT_EQ(ProblemOf(Jwt("    secret: ${JWT_SECRET}\n"), {{"JWT_SECRET", ""}}),
            "gw.yaml:4: auth.jwt.secret: expected a string, got nothing");
  EXPECT_EQ(ProblemOf(Jwt("    secret: " + std::string(kSecret) +
                          "\n    public_key_file: /etc/jwt.pub\n")),
            "gw.yaml:5: auth.jwt.public_key_file: is used only by RS* algorithms, and this list "
            "pins HS256: remove it, or pin an RS* algorithm");
  EXPECT_EQ(Load(Jwt("    secret: " + std::string(kSecret) + "\n")).auth->jwt->secret, kSecret);
}

TEST(RestSectionsTest, JwtAlgorithmRules) {
  EXPECT_EQ(ProblemOf(Jwt("    algorithms: [HS256, none]\n")),
            "gw.yaml:4: auth.jwt.algorithms[1]: expected one of "
            "HS256|HS384|HS512|RS256|RS384|RS512, got \"none\"");
  EXPECT_EQ(ProblemOf(Jwt("    algorithms: [hs256]\n")),
            "gw.yaml:4: auth.jwt.algorithms[0]: expected one of "
            "HS256|HS384|HS512|RS256|RS384|RS512, got \"hs256\"");
  EXPECT_EQ(ProblemOf(Jwt("    algorithms: []\n")),
            "gw.yaml:4: auth.jwt.algorithms: is empty: pin the algorithm the auth service signs "
            "with (one of HS256|HS384|HS512|RS256|RS384|RS512)");
  EXPECT_EQ(ProblemOf(Jwt("    algorithms: [HS256, RS256]\n    secret: " + std::string(kSecret) +
                          "\n    public_key_file: /k.pem\n")),
            "gw.yaml:4: auth.jwt.algorithms: mixes HMAC (HS*) and RSA (RS*) algorithms: accepting "
            "both lets a token HMAC-signed with the public key pass (algorithm confusion), so pin "
            "one family");
  EXPECT_EQ(ProblemOf(Jwt("    algorithms: [RS256]\n")),
            "gw.yaml:3: auth.jwt.public_key_file: RS256 needs the auth service's PEM public key: "
            "set public_key_file");
  EXPECT_EQ(ProblemOf(Jwt("    algorithms: [RS512]\n    public_key_file: /k.pem\n    secret: x\n")),
            "gw.yaml:6: auth.jwt.secret: is used only by HS* algorithms, and this list pins "
            "RS512: remove it (the gateway needs no signing secret)");
  const GatewaySettings rs = Load(Jwt("    algorithms: [RS256, RS384]\n    public_key_file: /k.pem\n"));
  EXPECT_EQ(rs.auth->jwt->algorithms, (std::vector<std::string>{"RS256", "RS384"}));
  EXPECT_EQ(rs.auth->jwt->public_key_file, "/k.pem");
  EXPECT_EQ(ProblemOf(Jwt("    secret: " + std::string(kSecret) + "\n    leeway: 10m\n")),
            "gw.yaml:5: auth.jwt.leeway: expected a duration of at most 5m, got \"10m\"");
}

// auth: with `keys` (one per line) from line 3.
std::string Auth(std::string_view keys) { return "service: {}\nauth:\n" + std::string(keys); }

TEST(RestSectionsTest, RemoteValidationUrl) {
  const GatewaySettings s =
      Load(Auth("  validate_url: http://127.0.0.1:7020/api/v1/auth/validate\n"));
  ASSERT_TRUE(s.auth);
  EXPECT_FALSE(s.auth->jwt.has_value());
  EXPECT_EQ(s.auth->validate_url, "http://127.0.0.1:7020/api/v1/auth/validate");
  EXPECT_EQ(s.auth->validate_host, "127.0.0.1");
  EXPECT_EQ(s.auth->validate_port, 7020);
  EXPECT_EQ(s.auth->validate_path, "/api/v1/auth/validate");
  EXPECT_EQ(s.auth->validate_cache_ttl, seconds(30));
  EXPECT_EQ(s.auth->validate_cache_size, 10000u);
  EXPECT_EQ(s.auth->validate_timeout, seconds(5));
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);

  // Without a port: HTTP's; the path is the whole path, base included; a trailing '/' goes.
  const GatewaySettings named = Load(Auth("  validate_url: http://auth.internal/base/validate/\n"));
  EXPECT_EQ(named.auth->validate_host, "auth.internal");
  EXPECT_EQ(named.auth->validate_port, 80);
  EXPECT_EQ(named.auth->validate_path, "/base/validate");
  const GatewaySettings ipv6 = Load(Auth("  validate_url: 'http://[::1]:7020/v'\n"));
  EXPECT_EQ(ipv6.auth->validate_host, "::1");
  EXPECT_EQ(ipv6.auth->validate_path, "/v");
}

TEST(RestSectionsTest, RemoteValidationUrlErrors) {
  EXPECT_EQ(ProblemOf(Auth("  validate_url: https://127.0.0.1:7020/api/v1/auth/validate\n")),
            "gw.yaml:3: auth.validate_url: https is not supported: terminate TLS in a sidecar");
  for (const char* url : {"http://127.0.0.1:7020", "http://127.0.0.1:7020/", "http://auth"}) {
    EXPECT_EQ(ProblemOf(Auth("  validate_url: " + std::string(url) + "\n")),
              "gw.yaml:3: auth.validate_url: needs the validation path, e.g. "
              "http://127.0.0.1:7020/api/v1/auth/validate")
        << url;
  }
  for (const char* url : {"127.0.0.1:7020/validate", "http://h:0/v", "http://u:p@h:1/v",
                          "http://h:1/v?x=1", "http://h:1//v", "ftp://h/v"}) {
    EXPECT_EQ(ProblemOf(Auth("  validate_url: '" + std::string(url) + "'\n")),
              "gw.yaml:3: auth.validate_url: expected an http URL with the validation path, like "
              "http://127.0.0.1:7020/api/v1/auth/validate, got \"" +
                  std::string(url) + "\"");
  }
  // Not a string: reported once, and routes are not reported as lacking verification too.
  EXPECT_EQ(ProblemOf(WithUpstream("auth:\n  validate_url: {host: h}\n"
                                   "routes:\n  - {prefix: /a, upstream: api}\n")),
            "gw.yaml:5: auth.validate_url: expected a string, got a mapping");
}

TEST(RestSectionsTest, JwtAndRemoteValidationExcludeEachOther) {
  EXPECT_EQ(ProblemOf(Auth("  jwt: {secret: " + std::string(kSecret) +
                           ", issuer: i, audience: a}\n"
                           "  validate_url: http://127.0.0.1:7020/api/v1/auth/validate\n")),
            "gw.yaml:4: auth.validate_url: set either auth.jwt (local verification) or "
            "auth.validate_url (remote validation), not both");
  // Whichever comes first in the file.
  EXPECT_EQ(ProblemOf(Auth("  validate_url: http://127.0.0.1:7020/api/v1/auth/validate\n"
                           "  jwt: {secret: " +
                           std::string(kSecret) + ", issuer: i, audience: a}\n")),
            "gw.yaml:3: auth.validate_url: set either auth.jwt (local verification) or "
            "auth.validate_url (remote validation), not both");
}

TEST(RestSectionsTest, RemoteValidationSettings) {
  const GatewaySettings s = Load(Auth(R"(  validate_url: http://127.0.0.1:7020/api/v1/auth/validate
  validate_cache_ttl: 10s
  validate_cache_size: 500
  validate_timeout: 1500ms
)"));
  EXPECT_EQ(s.auth->validate_cache_ttl, seconds(10));
  EXPECT_EQ(s.auth->validate_cache_size, 500u);
  EXPECT_EQ(s.auth->validate_timeout, milliseconds(1500));
  EXPECT_EQ(Load(Auth("  validate_timeout: 2m\n")).auth->validate_timeout, minutes(2));
  EXPECT_EQ(ProblemOf(Auth("  validate_timeout: 0s\n")),
            "gw.yaml:3: auth.validate_timeout: expected a duration greater than 0s, got \"0s\"");
  EXPECT_EQ(ProblemOf(Auth("  validate_timeout: 5\n")),
            "gw.yaml:3: auth.validate_timeout: expected a duration with a unit like 10s or 250ms "
            "(a bare number is ambiguous: seconds or milliseconds?), got \"5\"");
  EXPECT_EQ(ProblemOf(Auth("  validate_timout: 5s\n")),
            "gw.yaml:3: auth.validate_timout: unknown key (did you mean \"validate_timeout\"?)");
  EXPECT_EQ(ProblemOf(Auth("  validate_cache_ttl: 0s\n")),
            "gw.yaml:3: auth.validate_cache_ttl: expected a duration greater than 0s, got \"0s\"");
  EXPECT_EQ(ProblemOf(Auth("  validate_cache_size: 0\n")),
            "gw.yaml:3: auth.validate_cache_size: expected an integer between 1 and 10000000, got "
            "\"0\"");
}

TEST(RestSectionsTest, RequiredAuthAcceptsRemoteValidation) {
  const GatewaySettings s = Load(WithUpstream(R"(auth:
  validate_url: http://127.0.0.1:7020/api/v1/auth/validate
routes:
  - {prefix: /a, upstream: api}
  - {prefix: /b, upstream: api, auth: required, roles: [admin]}
)"));
  ASSERT_EQ(s.routes.size(), 2u);
  EXPECT_EQ(s.routes[0].auth, RouteAuth::kRequired);
  EXPECT_EQ(s.routes[1].auth, RouteAuth::kRequired);
  EXPECT_NE(Summary(s).find("  auth:            remote validation via "
                            "http://127.0.0.1:7020/api/v1/auth/validate (cache 30s, 10000 entries, "
                            "timeout 5s)\n"),
            std::string::npos)
      << Summary(s);
  // A bad URL is reported once, not again at every route.
  EXPECT_EQ(ProblemOf(WithUpstream("auth:\n  validate_url: https://a:1/v\n"
                                   "routes:\n  - {prefix: /a, upstream: api}\n")),
            "gw.yaml:5: auth.validate_url: https is not supported: terminate TLS in a sidecar");
}

TEST(RestSectionsTest, SummaryOfRemoteValidation) {
  const std::string summary = Summary(Load(Auth(R"(  validate_url: 'http://[::1]:7020/v1/validate'
  validate_cache_ttl: 1m
  validate_cache_size: 250
  validate_timeout: 750ms
)")));
  EXPECT_NE(summary.find("  auth:            remote validation via http://[::1]:7020/v1/validate "
                         "(cache 1m, 250 entries, timeout 750ms)\n"),
            std::string::npos)
      << summary;
  EXPECT_NE(Summary(Load(Auth("  validate_cache_ttl: 1m\n")))
                .find("  auth:            no token verification (no auth.jwt or "
                      "auth.validate_url)\n"),
            std::string::npos);
}

TEST(RestSectionsTest, UncheckedIssuerAndAudienceAreWarnings) {
  const GatewaySettings s =
      Load("service: {}\nauth:\n  jwt:\n    secret: " + std::string(kSecret) + "\n");
  EXPECT_EQ(s.warnings,
            (std::vector<std::string>{
                "gw.yaml:3: auth.jwt.issuer: not set, so tokens from any issuer are accepted",
                "gw.yaml:3: auth.jwt.audience: not set, so tokens for any audience are accepted",
            }));
  const std::string summary = Summary(s);
  EXPECT_NE(summary.find("  warnings:\n    gw.yaml:3: auth.jwt.issuer: not set"),
            std::string::npos)
      << summary;
  EXPECT_NE(summary.find("issuer=(any) audience=(any)"), std::string::npos) << summary;
}

// ---- rate_limit, redis, idempotency -------------------------------------------------------

TEST(RestSectionsTest, RateLimitErrors) {
  EXPECT_EQ(ProblemOf(With("rate_limit:\n  per_user: 0\n")),
            "gw.yaml:3: rate_limit.per_user: expected a number greater than 0, got \"0\"");
  EXPECT_EQ(ProblemOf(With("rate_limit:\n  per_ip: -5\n")),
            "gw.yaml:3: rate_limit.per_ip: expected a number greater than 0, got \"-5\"");
  EXPECT_EQ(ProblemOf(With("rate_limit:\n  per_ip: inf\n")),
            "gw.yaml:3: rate_limit.per_ip: expected a number greater than 0, got \"inf\"");
  EXPECT_EQ(ProblemOf(With("rate_limit:\n  per_ip: 10/s\n")),
            "gw.yaml:3: rate_limit.per_ip: expected a number greater than 0, got \"10/s\"");
  EXPECT_EQ(ProblemOf(With("rate_limit:\n  per_user_burst: 0.5\n")),
            "gw.yaml:3: rate_limit.per_user_burst: expected a number of at least 1, got \"0.5\"");
  EXPECT_EQ(ProblemOf(With("rate_limit:\n  max_tracked_keys: 99\n")),
            "gw.yaml:3: rate_limit.max_tracked_keys: expected an integer of at least 100, got "
            "\"99\"");
}

TEST(RestSectionsTest, RedisUrls) {
  const auto url_ok = [](const std::string& url) {
    return Load(With("redis: {url: '" + url + "'}\n")).redis->url == url;
  };
  EXPECT_TRUE(url_ok("redis://127.0.0.1:6379"));
  EXPECT_TRUE(url_ok("redis://localhost:6379/0"));
  EXPECT_TRUE(url_ok("redis://[::1]:6379/15"));
  EXPECT_TRUE(url_ok("redis://:secret@redis.internal:6380/3"));
  for (const char* url : {"http://127.0.0.1:6379", "redis://127.0.0.1", "redis://127.0.0.1:0",
                          "redis://127.0.0.1:70000", "redis://h:1/db", "redis://h:1/-1",
                          "127.0.0.1:6379"}) {
    EXPECT_EQ(ProblemOf(With("redis:\n  url: '" + std::string(url) + "'\n")),
              "gw.yaml:3: redis.url: expected redis://[:password@]host:port[/db], got \"" +
                  std::string(url) + "\"");
  }
  EXPECT_EQ(ProblemOf(With("redis:\n  url: rediss://h:6380\n")),
            "gw.yaml:3: redis.url: TLS to Redis (rediss://) is not supported by this build yet");
}

TEST(RestSectionsTest, RedisPasswordIsNeverShown) {
  // Not in a message about the URL...
  EXPECT_EQ(ProblemOf(With("redis:\n  url: ${REDIS_URL}\n"),
                      {{"REDIS_URL", "redis://:hunter2@127.0.0.1"}}),
            "gw.yaml:3: redis.url: expected redis://[:password@]host:port[/db], got "
            "\"redis://:(set)@127.0.0.1\"");
  EXPECT_EQ(ProblemOf(With("redis:\n  url: redis://admin:hunter2@h:1\n")),
            "gw.yaml:3: redis.url: expected redis://[:password@]host:port[/db], got "
            "\"redis://(set)@h:1\"");
  // ...nor in the summary.
  const std::string summary =
      Summary(Load(With("redis: {url: 'redis://:hunter2@127.0.0.1:6379/1'}\n")));
  EXPECT_EQ(summary.find("hunter2"), std::string::npos) << summary;
  EXPECT_NE(summary.find("url=redis://:(set)@127.0.0.1:6379/1"), std::string::npos) << summary;
}

TEST(RestSectionsTest, IdempotencyNeedsRedis) {
  EXPECT_EQ(ProblemOf(With("\nidempotency:\n  ttl: 24h\n")),
            "gw.yaml:3: idempotency: requires the redis section (stored replies are kept in "
            "Redis)");
  EXPECT_EQ(ProblemOf(With("idempotency: {ttl: 0s}\nredis: {}\n")),
            "gw.yaml:2: idempotency.ttl: expected a duration greater than 0s, got \"0s\"");
  EXPECT_EQ(ProblemOf(With("idempotency: {max_stored_body: 1GiB}\nredis: {}\n")),
            "gw.yaml:2: idempotency.max_stored_body: expected a size of at most 512MiB, got "
            "\"1GiB\"");
  // Order in the file does not matter.
  EXPECT_TRUE(Load(With("idempotency: {ttl: 1h}\nredis: {}\n")).idempotency.has_value());
}

// ---- across the file -------------------------------------------------------------------------

TEST(RestSectionsTest, CollectsProblemsAcrossSectionsInFileOrder) {
  EXPECT_EQ(ProblemsOf(R"(service: {}
routes:
  - {prefix: /api/v1/staff/, upstream: business}
  - {prefix: /api/v1/pay, upstream: payment, timeout: externl}
upstreams:
  business: {url: https://business:7010}
  payment: {url: http://127.0.0.1:7030, max_pending: -1}
idempotency: {ttl: 24h}
)"),
            (std::vector<std::string>{
                "gw.yaml:3: routes[0].prefix: expected a path without a trailing '/', got "
                "\"/api/v1/staff/\"",
                "gw.yaml:3: routes[0].auth: requires auth.jwt or auth.validate_url (or mark the route auth: none)",
                "gw.yaml:4: routes[1].timeout: unknown timeout class \"externl\" (known: auth, "
                "database, external, reports)",
                "gw.yaml:4: routes[1].auth: requires auth.jwt or auth.validate_url (or mark the route auth: none)",
                "gw.yaml:6: upstreams.business.url: https upstreams are not supported: terminate "
                "TLS in a sidecar",
                "gw.yaml:7: upstreams.payment.max_pending: expected an integer between 0 and "
                "100000, got \"-1\"",
                "gw.yaml:8: idempotency: requires the redis section (stored replies are kept in "
                "Redis)",
            }));
}

TEST(RestSectionsTest, SummaryShowsTheRestSections) {
  const GatewaySettings s = Load(R"(service: {}
auth:
  jwt: {secret: ${JWT_SECRET}, issuer: nilecare-auth, audience: nilecare}
timeouts: {bulk: 3m}
upstreams:
  auth: {url: http://127.0.0.1:7020, timeout: auth}
  payment: {url: http://127.0.0.1:7030/v1, circuit_breaker: {reset_timeout: 1m}}
routes:
  - {prefix: /api/v1/auth, upstream: auth, auth: none}
  - {prefix: /api/v1/payments, upstream: payment, methods: [GET, POST], roles: [admin]}
  - {prefix: /api/v1/reports, upstream: payment, timeout: bulk}
rate_limit: {per_user: 2.5}
redis: {url: 'redis://:pw-123@127.0.0.1:6379'}
idempotency: {}
)",
                                 {{"JWT_SECRET", "a-very-secret-value-of-32-bytes!!"}});
  const std::string summary = Summary(s);
  EXPECT_EQ(summary, R"(configuration: gw.yaml
  service:         name=nilecare-gateway threads=0 (one per core) shutdown_grace=10s
  log:             level=info format=json
  http:            listen=0.0.0.0:7000 max_header=16KiB max_body=1MiB max_connections=10000
                   header_timeout=10s body_timeout=30s idle_timeout=65s
  auth:            jwt algorithms=HS256 secret=(set)
                   issuer=nilecare-auth audience=nilecare leeway=30s
  timeouts:        auth=5s bulk=3m database=10s external=30s reports=2m default=database
  retry:           retries=3 base_delay=100ms max_delay=2s on_status=429,503
                   budget_percent=20 budget_min=3
  circuit_breaker: timeout=5s error_threshold_percent=50 volume_threshold=10
                   window=10s reset_timeout=30s
  upstreams:       auth      http://127.0.0.1:7020 timeout=auth max_connections=64 max_pending=256
                             connect_timeout=2s idle_timeout=4s max_response_body=16MiB
                   payment   http://127.0.0.1:7030/v1 max_connections=64 max_pending=256
                             connect_timeout=2s idle_timeout=4s max_response_body=16MiB
                             circuit_breaker: reset_timeout=1m
  routes:          /api/v1/auth     -> auth auth=none timeout=auth (5s)
                   /api/v1/payments -> payment auth=required timeout=database (10s) methods=GET,POST roles=admin
                   /api/v1/reports  -> payment auth=required timeout=bulk (3m)
  rate_limit:      per_user=2.5/s per_user_burst=100 per_ip=20/s per_ip_burst=40
                   max_tracked_keys=100000
  redis:           url=redis://:(set)@127.0.0.1:6379 key_prefix=nilecare:
                   connect_timeout=2s command_timeout=1s
  idempotency:     ttl=24h max_stored_body=1MiB
  realtime:        off
  database:        off
  mqtt:            off
  thresholds:      off (no mqtt: section)
  kafka:           off
  rabbitmq:        off
  events:          off (no kafka consumer)
)");
  EXPECT_EQ(summary.find("a-very-secret"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("pw-123"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("warnings"), std::string::npos) << summary;
}

TEST(RestSectionsTest, SummaryOfAbsentSections) {
  const std::string summary = Summary(Load("service: {}\n"));
  for (const char* expected : {
           "  auth:            off (no auth: section; every route is auth: none)\n",
           "  upstreams:       none\n",
           "  routes:          none (no REST routing)\n",
           "  rate_limit:      off\n",
           "  redis:           off\n",
           "  idempotency:     off\n",
           "  realtime:        off\n",
           "  database:        off\n",
           "  mqtt:            off\n",
           "  thresholds:      off (no mqtt: section)\n",
           "  kafka:           off\n",
           "  rabbitmq:        off\n",
           "  events:          off (no kafka consumer)\n",
       }) {
    EXPECT_NE(summary.find(expected), std::string::npos) << expected << "\nin:\n" << summary;
  }
}

}  // namespace
