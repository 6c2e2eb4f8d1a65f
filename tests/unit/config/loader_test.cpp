#include "nilecare/config/loader.hpp"

#include "config_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace {

using nilecare::config::ConfigError;
using nilecare::config::EnvLookup;
using nilecare::config::GatewaySettings;
using nilecare::config::LoadFile;
using nilecare::config::LoadString;
using nilecare::config::LogFormat;
using nilecare::config::Summary;
using std::chrono::milliseconds;
using std::chrono::seconds;

using namespace nilecare::config::test_support;

std::filesystem::path RepoConfig(const char* name) {
  return std::filesystem::path(__FILE__).parent_path() / "../../../config" / name;
}

TEST(LoaderTest, DefaultsWhenSectionsAbsent) {
  const GatewaySettings defaults;
  for (const char* yaml : {"service: {}\n", "service:\n", "service:\n  # all commented out\n"}) {
    const GatewaySettings s = Load(yaml);
    EXPECT_EQ(s.source, "gw.yaml");
    EXPECT_EQ(s.service.name, defaults.service.name);
    EXPECT_EQ(s.service.threads, 0);
    EXPECT_EQ(s.service.shutdown_grace, seconds(10));
    EXPECT_EQ(s.log.level, "info");
    EXPECT_EQ(s.log.format, LogFormat::kJson);
    EXPECT_EQ(s.http.listen.host, "0.0.0.0");
    EXPECT_EQ(s.http.listen.port, 7000);
    EXPECT_EQ(s.http.max_header, 16 * kKiB);
    EXPECT_EQ(s.http.max_body, kMiB);
    EXPECT_EQ(s.http.header_timeout, seconds(10));
    EXPECT_EQ(s.http.body_timeout, seconds(30));
    EXPECT_EQ(s.http.idle_timeout, seconds(65));
    EXPECT_EQ(s.http.max_connections, 10000u);
  }
}

TEST(LoaderTest, ReadsEveryKey) {
  const GatewaySettings s = Load(R"(
service:
  name: gw-test.1
  threads: 4
  shutdown_grace: 1.5s
log:
  level: debug
  format: text
http:
  listen: "[::1]:0"
  max_header: 8KiB
  max_body: 1MB
  header_timeout: 250ms
  body_timeout: 2m
  idle_timeout: 1h
  max_connections: 5
)");
  EXPECT_EQ(s.service.name, "gw-test.1");
  EXPECT_EQ(s.service.threads, 4);
  EXPECT_EQ(s.service.shutdown_grace, milliseconds(1500));
  EXPECT_EQ(s.log.level, "debug");
  EXPECT_EQ(s.log.format, LogFormat::kText);
  EXPECT_EQ(s.http.listen.host, "::1");
  EXPECT_EQ(s.http.listen.port, 0);
  EXPECT_EQ(s.http.max_header, 8 * kKiB);
  EXPECT_EQ(s.http.max_body, 1000000u);
  EXPECT_EQ(s.http.header_timeout, milliseconds(250));
  EXPECT_EQ(s.http.body_timeout, seconds(120));
  EXPECT_EQ(s.http.idle_timeout, seconds(3600));
  EXPECT_EQ(s.http.max_connections, 5u);
}

TEST(LoaderTest, MissingServiceSection) {
  EXPECT_EQ(ProblemOf("log: {level: info}\n"), "gw.yaml: service: required section is missing");
  EXPECT_EQ(ProblemOf(""), "gw.yaml: service: required section is missing");
  EXPECT_EQ(ProblemOf("# nothing but a comment\n"),
            "gw.yaml: service: required section is missing");
}

TEST(LoaderTest, TopLevelMustBeAMapping) {
  EXPECT_EQ(ProblemOf("- service\n- http\n"),
            "gw.yaml:1: expected a mapping of sections (service:, log:, http:) at the top level");
}

TEST(LoaderTest, SizeError) {
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  max_body: lots\n"),
            "gw.yaml:3: http.max_body: expected a size like 1MiB, got \"lots\"");
}

TEST(LoaderTest, SizeRangeErrors) {
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  max_header: 512\n"),
            "gw.yaml:3: http.max_header: expected a size between 1KiB and 1MiB, got \"512\"");
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  max_header: 2MiB\n"),
            "gw.yaml:3: http.max_header: expected a size between 1KiB and 1MiB, got \"2MiB\"");
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  max_body: 2GB\n"),
            "gw.yaml:3: http.max_body: expected a size of at most 1GiB, got \"2GB\"");
}

TEST(LoaderTest, IntErrors) {
  EXPECT_EQ(ProblemOf("service:\n  threads: many\n"),
            "gw.yaml:2: service.threads: expected an integer between 0 and 256, got \"many\"");
  EXPECT_EQ(ProblemOf("service:\n  threads: 257\n"),
            "gw.yaml:2: service.threads: expected an integer between 0 and 256, got \"257\"");
  EXPECT_EQ(ProblemOf("service:\n  threads: -1\n"),
            "gw.yaml:2: service.threads: expected an integer between 0 and 256, got \"-1\"");
  EXPECT_EQ(ProblemOf("service:\n  threads: 2.5\n"),
            "gw.yaml:2: service.threads: expected an integer between 0 and 256, got \"2.5\"");
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  max_connections: 0\n"),
            "gw.yaml:3: http.max_connections: expected an integer of at least 1, got \"0\"");
}

TEST(LoaderTest, DurationErrors) {
  EXPECT_EQ(ProblemOf("service:\n  shutdown_grace: soon\n"),
            "gw.yaml:2: service.shutdown_grace: expected a duration like 10s or 250ms, got "
            "\"soon\"");
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  idle_timeout: 65\n"),
            "gw.yaml:3: http.idle_timeout: expected a duration with a unit like 10s or 250ms (a "
            "bare number is ambiguous: seconds or milliseconds?), got \"65\"");
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  header_timeout: 0s\n"),
            "gw.yaml:3: http.header_timeout: expected a duration greater than 0s, got \"0s\"");
}

TEST(LoaderTest, EnumErrors) {
  EXPECT_EQ(ProblemOf("service: {}\nlog:\n  level: verbose\n"),
            "gw.yaml:3: log.level: expected one of trace|debug|info|warn|error, got \"verbose\"");
  EXPECT_EQ(ProblemOf("service: {}\nlog:\n  level: INFO\n"),
            "gw.yaml:3: log.level: expected one of trace|debug|info|warn|error, got \"INFO\"");
  EXPECT_EQ(ProblemOf("service: {}\nlog: {format: [json]}\n"),
            "gw.yaml:2: log.format: expected one of json|text, got a list");
}

TEST(LoaderTest, StringErrors) {
  EXPECT_EQ(ProblemOf("service:\n  name: Nile Care\n"),
            "gw.yaml:2: service.name: expected a non-empty name of a-z, 0-9, '-', '_' and '.', "
            "got \"Nile Care\"");
  EXPECT_EQ(ProblemOf("service:\n  name: ''\n"),
            "gw.yaml:2: service.name: expected a non-empty name of a-z, 0-9, '-', '_' and '.', "
            "got \"\"");
}

TEST(LoaderTest, ListenErrors) {
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  listen: 7000\n"),
            "gw.yaml:3: http.listen: expected host:port like 0.0.0.0:7000 or [::1]:7000, got "
            "\"7000\"");
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  listen: 0.0.0.0:70000\n"),
            "gw.yaml:3: http.listen: expected host:port like 0.0.0.0:7000 or [::1]:7000, got "
            "\"0.0.0.0:70000\"");
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  listen:\n    host: 0.0.0.0\n    port: 7000\n"),
            "gw.yaml:3: http.listen: expected host:port like 0.0.0.0:7000 or [::1]:7000, got a "
            "mapping");
}

TEST(LoaderTest, EmptyValueIsReportedAtItsKey) {
  EXPECT_EQ(ProblemOf("service:\n  shutdown_grace:\nlog: {}\n"),
            "gw.yaml:2: service.shutdown_grace: expected a duration like 10s or 250ms, got "
            "nothing");
}

TEST(LoaderTest, SectionMustBeAMapping) {
  EXPECT_EQ(ProblemOf("service: {}\nhttp: 7000\n"),
            "gw.yaml:2: http: expected a mapping of settings, got \"7000\"");
  EXPECT_EQ(ProblemOf("service: [a]\n"),
            "gw.yaml:1: service: expected a mapping of settings, got a list");
}

TEST(LoaderTest, UnknownKeySuggestsNearest) {
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  listen: 127.0.0.1:0\n  max_bdy: 2MiB\n"),
            "gw.yaml:4: http.max_bdy: unknown key (did you mean \"max_body\"?)");
  EXPECT_EQ(ProblemOf("service: {}\nhtpp:\n  listen: 127.0.0.1:0\n"),
            "gw.yaml:2: htpp: unknown key (did you mean \"http\"?)");
  EXPECT_EQ(ProblemOf("service: {}\nkafak: {}\n"),
            "gw.yaml:2: kafak: unknown key (did you mean \"kafka\"?)");
  EXPECT_EQ(ProblemOf("service:\n  Threads: 2\n"),
            "gw.yaml:2: service.Threads: unknown key (did you mean \"threads\"?)");
}

TEST(LoaderTest, UnknownKeyWithoutSuggestion) {
  EXPECT_EQ(ProblemOf("service: {}\nlog:\n  colour: blue\n"), "gw.yaml:3: log.colour: unknown key");
  EXPECT_EQ(ProblemOf("service: {}\nfeatures: {}\n"), "gw.yaml:2: features: unknown key");
}

TEST(LoaderTest, UnsupportedKeyIsAnError) {
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  tls: {cert: a, key: b}\n"),
            "gw.yaml:3: http.tls: TLS is not supported by this build yet (terminate TLS in front "
            "of the gateway)");
}

TEST(LoaderTest, DuplicateKey) {
  EXPECT_EQ(ProblemOf("service:\n  threads: 2\n  threads: 4\n"),
            "gw.yaml:3: service.threads: duplicate key (first set on line 2)");
}

TEST(LoaderTest, EnvSubstitutionWithDefault) {
  const char* yaml =
      "service: {}\nhttp:\n  listen: \"${LISTEN:-127.0.0.1:7001}\"\nlog:\n  level: ${LEVEL}\n";
  const GatewaySettings defaulted = Load(yaml, {{"LEVEL", "warn"}});
  EXPECT_EQ(defaulted.http.listen.host, "127.0.0.1");
  EXPECT_EQ(defaulted.http.listen.port, 7001);
  EXPECT_EQ(defaulted.log.level, "warn");
  const GatewaySettings set = Load(yaml, {{"LEVEL", "error"}, {"LISTEN", "[::]:8443"}});
  EXPECT_EQ(set.http.listen.host, "::");
  EXPECT_EQ(set.http.listen.port, 8443);
}

TEST(LoaderTest, EnvSubstitutionMissingVariable) {
  EXPECT_EQ(ProblemOf("service:\n  name: gw\n\nlog:\n  level: ${LOG_LEVEL}\n"),
            "gw.yaml:5: ${LOG_LEVEL}: environment variable LOG_LEVEL is not set and has no "
            "default (write ${LOG_LEVEL:-default} to give one)");
}

TEST(LoaderTest, EnvSubstitutionValueIsCheckedLikeText) {
  // A substituted value gets the same checks and the same line as a literal one.
  EXPECT_EQ(ProblemOf("service: {}\nhttp:\n  max_body: ${MAX_BODY}\n", {{"MAX_BODY", "huge"}}),
            "gw.yaml:3: http.max_body: expected a size like 1MiB, got \"huge\"");
}

TEST(LoaderTest, EnvSubstitutionDoubleDollar) {
  // The name check rejects '$', which shows what reached the parser: one '$', and the
  // reference in the comment was not looked up.
  EXPECT_EQ(ProblemOf("service:\n  name: 'a$$b'  # ${NOT_SET}\n"),
            "gw.yaml:2: service.name: expected a non-empty name of a-z, 0-9, '-', '_' and '.', "
            "got \"a$b\"");
}

TEST(LoaderTest, SyntaxErrorHasLineAndColumn) {
  EXPECT_EQ(ProblemOf("service:\n  name: gw\n    threads: 2\n"),
            "gw.yaml:3:12: YAML syntax error: illegal map value");
  EXPECT_EQ(ProblemOf("service: {}\nlog:\n  level: info\n format: json\n"),
            "gw.yaml:4:2: YAML syntax error: end of map not found");
}

TEST(LoaderTest, SyntaxErrorLinesSurviveSubstitution) {
  // The substituted values are longer than the references, yet the line is the file's line.
  EXPECT_EQ(ProblemOf("service:\n  name: ${A}\n  threads: ${B}\nlog: {level: [}\n",
                      {{"A", "a-much-longer-name"}, {"B", "2"}})
                .rfind("gw.yaml:4:", 0),
            0u);
}

TEST(LoaderTest, MoreThanOneDocument) {
  EXPECT_EQ(ProblemOf("service: {}\n---\nservice: {threads: 2}\n"),
            "gw.yaml:2: expected one YAML document, found more than one (remove the extra "
            "'---')");
}

// Found by tests/fuzz/config_loader_fuzz: yaml-cpp 0.7's LoadAll loops forever on these.
TEST(LoaderTest, StrayLeadingCommaIsAnErrorNotAHang) {
  for (const char* yaml : {",", " ,", "# c\n, x", "service: {name: gw}\n---\n, x"}) {
    SCOPED_TRACE(yaml);
    EXPECT_FALSE(ProblemsOf(yaml).empty());
  }
}

TEST(LoaderTest, CollectsAllProblemsInFileOrder) {
  const char* yaml = R"(http:
  listen: nowhere
  max_body: lots
  idle_timeout: 65
log:
  level: loud
  fromat: text
rabbitmq: {heartbeat: 1.5s}
)";
  try {
    Load(yaml);
    FAIL() << "loaded";
  } catch (const ConfigError& error) {
    const std::vector<std::string> expected{
        "gw.yaml:2: http.listen: expected host:port like 0.0.0.0:7000 or [::1]:7000, got "
        "\"nowhere\"",
        "gw.yaml:3: http.max_body: expected a size like 1MiB, got \"lots\"",
        "gw.yaml:4: http.idle_timeout: expected a duration with a unit like 10s or 250ms (a bare "
        "number is ambiguous: seconds or milliseconds?), got \"65\"",
        "gw.yaml:6: log.level: expected one of trace|debug|info|warn|error, got \"loud\"",
        "gw.yaml:7: log.fromat: unknown key (did you mean \"format\"?)",
        "gw.yaml:8: rabbitmq.heartbeat: must be whole seconds (AMQP negotiates it in seconds); "
        "0s turns heartbeats off",
        "gw.yaml: service: required section is missing",
    };
    EXPECT_EQ(error.Problems(), expected);
    std::string joined;
    for (const std::string& line : expected) joined += (joined.empty() ? "" : "\n") + line;
    EXPECT_EQ(std::string(error.what()), joined);
  }
}

TEST(LoaderTest, LoadFileReportsUnreadableFile) {
  try {
    LoadFile("/nonexistent/gateway.yaml", FakeEnv());
    FAIL() << "loaded";
  } catch (const ConfigError& error) {
    ASSERT_EQ(error.Problems().size(), 1u);
    EXPECT_EQ(error.Problems()[0].rfind("/nonexistent/gateway.yaml: cannot read the file: ", 0), 0u)
        << error.Problems()[0];
  }
}

// The routes both shipped files declare (the spec's services), as "prefix upstream auth class".
const std::vector<std::string> kShippedRoutes{
    "/api/v1/auth auth none -",          "/api/v1/staff business required -",
    "/api/v1/departments business required -", "/api/v1/working-hours business required -",
    "/api/v1/appointments appointment required -", "/api/v1/invoices billing required -",
    "/api/v1/claims billing required -", "/api/v1/payments payment required external",
    "/api/v1/webhooks payment none -",
};

std::vector<std::string> RoutesOf(const GatewaySettings& s) {
  std::vector<std::string> routes;
  for (const auto& route : s.routes) {
    routes.push_back(route.prefix + " " + route.upstream + " " +
                     (route.auth == nilecare::config::RouteAuth::kRequired ? "required" : "none") +
                     " " + (route.timeout_class.empty() ? "-" : route.timeout_class));
  }
  return routes;
}

// "name host:port class" for each upstream.
std::vector<std::string> UpstreamsOf(const GatewaySettings& s) {
  std::vector<std::string> upstreams;
  for (const auto& upstream : s.upstreams) {
    upstreams.push_back(upstream.name + " " + upstream.host + ":" + std::to_string(upstream.port) +
                        " " + (upstream.timeout_class.empty() ? "-" : upstream.timeout_class));
  }
  return upstreams;
}

const std::vector<std::string> kShippedUpstreams{
    "auth 127.0.0.1:7020 auth",       "business 127.0.0.1:7010 -", "appointment 127.0.0.1:7040 -",
    "billing 127.0.0.1:7050 -",       "payment 127.0.0.1:7030 external",
};

const std::string kTestSecret = "a-test-secret-of-at-least-32-bytes!";

void ExpectDefaultThresholds(const nilecare::config::ThresholdSettings& t) {
  const nilecare::config::ThresholdSettings built_in;
  for (const auto& [name, range, expected] :
       {std::tuple{"hr", t.hr, built_in.hr}, std::tuple{"spo2", t.spo2, built_in.spo2},
        std::tuple{"temp", t.temp, built_in.temp},
        std::tuple{"bp_systolic", t.bp_systolic, built_in.bp_systolic},
        std::tuple{"bp_diastolic", t.bp_diastolic, built_in.bp_diastolic}}) {
    EXPECT_EQ(range.low, expected.low) << name;
    EXPECT_EQ(range.high, expected.high) << name;
  }
  EXPECT_EQ(t.rearm, built_in.rearm);
}

TEST(LoaderTest, ShippedGatewayConfigLoads) {
  const std::filesystem::path path = RepoConfig("gateway.yaml");
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  // Unset variables take the defaults written in the file; JWT_SECRET has none.
  const GatewaySettings defaults = LoadFile(path.string(), FakeEnv({{"JWT_SECRET", kTestSecret}}));
  EXPECT_EQ(defaults.source, path.string());
  EXPECT_EQ(defaults.service.name, "nilecare-gateway");
  EXPECT_EQ(defaults.log.level, "info");
  EXPECT_EQ(defaults.log.format, LogFormat::kJson);
  EXPECT_EQ(defaults.http.listen.host, "0.0.0.0");
  EXPECT_EQ(defaults.http.listen.port, 7000);
  EXPECT_TRUE(defaults.warnings.empty()) << ::testing::PrintToString(defaults.warnings);
  // ...and the file's values are the documented defaults of settings.hpp.
  const GatewaySettings built_in;
  EXPECT_EQ(defaults.service.threads, built_in.service.threads);
  EXPECT_EQ(defaults.service.shutdown_grace, built_in.service.shutdown_grace);
  EXPECT_EQ(defaults.http.max_header, built_in.http.max_header);
  EXPECT_EQ(defaults.http.max_body, built_in.http.max_body);
  EXPECT_EQ(defaults.http.header_timeout, built_in.http.header_timeout);
  EXPECT_EQ(defaults.http.body_timeout, built_in.http.body_timeout);
  EXPECT_EQ(defaults.http.idle_timeout, built_in.http.idle_timeout);
  EXPECT_EQ(defaults.http.max_connections, built_in.http.max_connections);

  ASSERT_TRUE(defaults.auth && defaults.auth->jwt);
  const nilecare::config::JwtSettings built_in_jwt;
  EXPECT_EQ(defaults.auth->jwt->algorithms, built_in_jwt.algorithms);
  EXPECT_EQ(defaults.auth->jwt->secret, kTestSecret);
  EXPECT_EQ(defaults.auth->jwt->issuer, "nilecare-auth");
  EXPECT_EQ(defaults.auth->jwt->audience, "nilecare");
  EXPECT_EQ(defaults.auth->jwt->leeway, built_in_jwt.leeway);
  EXPECT_EQ(defaults.auth->validate_url, "");
  const nilecare::config::AuthSettings built_in_auth;
  EXPECT_EQ(defaults.auth->validate_cache_ttl, built_in_auth.validate_cache_ttl);
  EXPECT_EQ(defaults.auth->validate_cache_size, built_in_auth.validate_cache_size);
  EXPECT_EQ(defaults.auth->validate_timeout, built_in_auth.validate_timeout);
  EXPECT_EQ(defaults.timeouts.classes, built_in.timeouts.classes);
  EXPECT_EQ(defaults.timeouts.default_class, built_in.timeouts.default_class);
  EXPECT_EQ(defaults.retry.retries, built_in.retry.retries);
  EXPECT_EQ(defaults.retry.base_delay, built_in.retry.base_delay);
  EXPECT_EQ(defaults.retry.max_delay, built_in.retry.max_delay);
  EXPECT_EQ(defaults.retry.on_status, built_in.retry.on_status);
  EXPECT_EQ(defaults.retry.budget_percent, built_in.retry.budget_percent);
  EXPECT_EQ(defaults.retry.budget_min, built_in.retry.budget_min);
  EXPECT_EQ(defaults.circuit_breaker.timeout, built_in.circuit_breaker.timeout);
  EXPECT_EQ(defaults.circuit_breaker.error_threshold_percent,
            built_in.circuit_breaker.error_threshold_percent);
  EXPECT_EQ(defaults.circuit_breaker.volume_threshold, built_in.circuit_breaker.volume_threshold);
  EXPECT_EQ(defaults.circuit_breaker.window, built_in.circuit_breaker.window);
  EXPECT_EQ(defaults.circuit_breaker.reset_timeout, built_in.circuit_breaker.reset_timeout);
  EXPECT_EQ(UpstreamsOf(defaults), kShippedUpstreams);
  const nilecare::config::UpstreamSettings built_in_upstream;
  for (const auto& upstream : defaults.upstreams) {
    EXPECT_EQ(upstream.base_path, "");
    EXPECT_EQ(upstream.max_connections, built_in_upstream.max_connections);
    EXPECT_EQ(upstream.max_pending, built_in_upstream.max_pending);
    EXPECT_FALSE(upstream.circuit_breaker.has_value());
  }
  EXPECT_EQ(RoutesOf(defaults), kShippedRoutes);
  const nilecare::config::RateLimitSettings built_in_limits;
  ASSERT_TRUE(defaults.rate_limit);
  EXPECT_EQ(defaults.rate_limit->per_user, built_in_limits.per_user);
  EXPECT_EQ(defaults.rate_limit->per_user_burst, built_in_limits.per_user_burst);
  EXPECT_EQ(defaults.rate_limit->per_ip, built_in_limits.per_ip);
  EXPECT_EQ(defaults.rate_limit->per_ip_burst, built_in_limits.per_ip_burst);
  EXPECT_EQ(defaults.rate_limit->max_tracked_keys, built_in_limits.max_tracked_keys);
  const nilecare::config::RedisSettings built_in_redis;
  ASSERT_TRUE(defaults.redis);
  EXPECT_EQ(defaults.redis->url, built_in_redis.url);
  EXPECT_EQ(defaults.redis->connect_timeout, built_in_redis.connect_timeout);
  EXPECT_EQ(defaults.redis->command_timeout, built_in_redis.command_timeout);
  EXPECT_EQ(defaults.redis->key_prefix, built_in_redis.key_prefix);
  const nilecare::config::IdempotencySettings built_in_idempotency;
  ASSERT_TRUE(defaults.idempotency);
  EXPECT_EQ(defaults.idempotency->ttl, built_in_idempotency.ttl);
  EXPECT_EQ(defaults.idempotency->max_stored_body, built_in_idempotency.max_stored_body);
  // The device sections are there to uncomment (see ShippedGatewayConfigDeviceSections).
  EXPECT_FALSE(defaults.database.has_value());
  EXPECT_FALSE(defaults.mqtt.has_value());

  const GatewaySettings from_env =
      LoadFile(path.string(), FakeEnv({
                                  {"NILECARE_SERVICE_NAME", "gw-2"},
                                  {"NILECARE_LOG_LEVEL", "warn"},
                                  {"NILECARE_LOG_FORMAT", "text"},
                                  {"NILECARE_LISTEN", "[::]:8080"},
                                  {"JWT_SECRET", kTestSecret},
                                  {"REDIS_URL", "redis://:pw@redis.internal:6380/1"},
                              }));
  EXPECT_EQ(from_env.service.name, "gw-2");
  EXPECT_EQ(from_env.log.level, "warn");
  EXPECT_EQ(from_env.log.format, LogFormat::kText);
  EXPECT_EQ(from_env.http.listen.host, "::");
  EXPECT_EQ(from_env.http.listen.port, 8080);
  EXPECT_EQ(from_env.redis->url, "redis://:pw@redis.internal:6380/1");
}

TEST(LoaderTest, ShippedGatewayConfigNeedsJwtSecret) {
  const std::string path = RepoConfig("gateway.yaml").string();
  const auto problems_with = [&path](const EnvLookup& env) {
    try {
      LoadFile(path, env);
    } catch (const ConfigError& error) {
      return error.Problems();
    }
    return std::vector<std::string>{};
  };
  // Production must set it: no default, and an empty or short value is refused.
  const std::vector<std::string> unset = problems_with(FakeEnv());
  ASSERT_EQ(unset.size(), 1u) << ::testing::PrintToString(unset);
  EXPECT_NE(unset[0].find(": ${JWT_SECRET}: environment variable JWT_SECRET is not set"),
            std::string::npos)
      << unset[0];
  const std::vector<std::string> empty = problems_with(FakeEnv({{"JWT_SECRET", ""}}));
  ASSERT_EQ(empty.size(), 1u) << ::testing::PrintToString(empty);
  EXPECT_NE(empty[0].find(": auth.jwt.secret: expected at least 32 bytes (256 bits) for HS256"),
            std::string::npos)
      << empty[0];
  const std::vector<std::string> short_secret = problems_with(FakeEnv({{"JWT_SECRET", "secret"}}));
  ASSERT_EQ(short_secret.size(), 1u) << ::testing::PrintToString(short_secret);
  EXPECT_NE(short_secret[0].find("got 6 bytes"), std::string::npos) << short_secret[0];
}

TEST(LoaderTest, ShippedDevConfigLoads) {
  const std::filesystem::path path = RepoConfig("gateway.dev.yaml");
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  // Nothing needs to be set for a local run.
  const GatewaySettings s = LoadFile(path.string(), FakeEnv());
  EXPECT_EQ(s.http.listen.host, "127.0.0.1");
  EXPECT_EQ(s.http.listen.port, 7000);
  EXPECT_EQ(s.log.format, LogFormat::kText);
  EXPECT_EQ(s.service.threads, 2);
  EXPECT_EQ(s.service.shutdown_grace, seconds(5));
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
  ASSERT_TRUE(s.auth && s.auth->jwt);
  EXPECT_GE(s.auth->jwt->secret.size(), 32u);
  EXPECT_EQ(UpstreamsOf(s), kShippedUpstreams);
  EXPECT_EQ(RoutesOf(s), kShippedRoutes);
  EXPECT_FALSE(s.rate_limit.has_value());
  ASSERT_TRUE(s.redis && s.idempotency);
  EXPECT_EQ(s.redis->url, "redis://127.0.0.1:6379");

  // Device vitals on the dev stack's PostgreSQL and mosquitto, thresholds as built in.
  ASSERT_TRUE(s.database && s.mqtt);
  EXPECT_EQ(s.database->url, "postgres://nilecare:nilecare@127.0.0.1:5432/nilecare");
  EXPECT_EQ(s.mqtt->urls, (std::vector<std::string>{"tcp://127.0.0.1:1883"}));
  EXPECT_EQ(s.mqtt->journal_dir, ".local/journal");
  EXPECT_EQ(s.mqtt->username, "");
  ExpectDefaultThresholds(s.thresholds);

  // Domain events: without the stack, the in-process mock cluster; the built-in rules.
  ASSERT_TRUE(s.kafka && s.kafka->consumer);
  EXPECT_TRUE(s.kafka->embedded);
  EXPECT_TRUE(s.kafka->brokers.empty());
  EXPECT_EQ(s.kafka->client_id, "nilecare-gateway-dev");
  EXPECT_EQ(s.kafka->consumer->group, "nilecare-gateway-dev");
  EXPECT_EQ(s.kafka->consumer->auto_offset_reset, "earliest");
  EXPECT_EQ(s.kafka->consumer->session_timeout, seconds(6));
  EXPECT_FALSE(s.events.has_value());

  // Tasks on the stack's RabbitMQ, the built-in queues, no workers; so the built-in event rules
  // queue their tasks.
  ASSERT_TRUE(s.rabbitmq.has_value());
  const nilecare::config::RabbitMqSettings built_in_rabbitmq;
  EXPECT_EQ(s.rabbitmq->url, "amqp://guest:guest@127.0.0.1:5672/");
  EXPECT_EQ(s.rabbitmq->host, "127.0.0.1");
  EXPECT_EQ(s.rabbitmq->port, 5672);
  EXPECT_EQ(s.rabbitmq->vhost, "/");
  EXPECT_EQ(s.rabbitmq->user, "guest");
  EXPECT_EQ(s.rabbitmq->queues.size(), built_in_rabbitmq.queues.size());
  EXPECT_TRUE(s.rabbitmq->workers.empty());
  EXPECT_NE(Summary(s).find("-> emit appointment:updated to user:{data.patient_id},"
                            "user:{data.doctor_id}; task email.normal\n"),
            std::string::npos)
      << Summary(s);

  // The local stack's variables are picked up.
  const std::string test_pg = "postgres://nilecare:nilecare@127.0.0.1:25432/nilecare";
  const GatewaySettings env = LoadFile(
      path.string(), FakeEnv({{"JWT_SECRET", kTestSecret},
                              {"NILECARE_REDIS_URL", "redis://127.0.0.1:26379"},
                              {"NILECARE_PG_URL", test_pg},
                              {"NILECARE_MQTT_URL", "tcp://127.0.0.1:21883"},
                              {"NILECARE_KAFKA_BROKERS", "127.0.0.1:39092,127.0.0.1:39093"},
                              {"NILECARE_AMQP_URL", "amqp://guest:guest@127.0.0.1:25682/"}}));
  EXPECT_EQ(env.auth->jwt->secret, kTestSecret);
  EXPECT_EQ(env.redis->url, "redis://127.0.0.1:26379");
  EXPECT_EQ(env.database->url, test_pg);
  EXPECT_EQ(env.mqtt->urls, (std::vector<std::string>{"tcp://127.0.0.1:21883"}));
  EXPECT_FALSE(env.kafka->embedded);
  EXPECT_EQ(env.kafka->brokers, (std::vector<std::string>{"127.0.0.1:39092", "127.0.0.1:39093"}));
  EXPECT_EQ(env.rabbitmq->port, 25682);
}

std::string ReadConfig(const char* name) {
  std::ifstream file(RepoConfig(name));
  EXPECT_TRUE(file) << RepoConfig(name);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// `text` with its commented-out blocks that start with one of `starts` ("# kafka:")
// uncommented one level: from that line, "# " is removed after `indent` up to the first line
// that does not start with `indent` + "# ". Returns the number of lines uncommented too.
std::pair<std::string, int> Uncomment(const std::string& text,
                                      const std::vector<std::string>& starts,
                                      const std::string& indent = "") {
  std::istringstream lines(text);
  std::string out;
  bool in_block = false;
  int uncommented = 0;
  for (std::string line; std::getline(lines, line);) {
    if (std::find(starts.begin(), starts.end(), line) != starts.end()) in_block = true;
    if (in_block && line.rfind(indent + "# ", 0) == 0) {
      line.erase(indent.size(), 2);
      ++uncommented;
    } else {
      in_block = false;
    }
    out += line + "\n";
  }
  return {out, uncommented};
}

TEST(LoaderTest, ShippedGatewayConfigDeviceSections) {
  const std::filesystem::path path = RepoConfig("gateway.yaml");
  std::ifstream file(path);
  ASSERT_TRUE(file) << path;
  std::string text;
  bool in_block = false;
  int uncommented = 0;
  for (std::string line; std::getline(file, line);) {
    if (line == "# database:" || line == "# mqtt:" || line == "# thresholds:") in_block = true;
    if (in_block && line.rfind("# ", 0) == 0) {
      line.erase(0, 2);
      ++uncommented;
    } else {
      in_block = false;
    }
    text += line + "\n";
  }
  ASSERT_GT(uncommented, 40) << text;
  const GatewaySettings s = LoadString(
      text, path.string(),
      FakeEnv({{"JWT_SECRET", kTestSecret},
               {"NILECARE_PG_URL", "postgres://gw:pw@db.internal:5432/nilecare"}}));
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);

  ASSERT_TRUE(s.database.has_value());
  const nilecare::config::DatabaseSettings db;
  EXPECT_EQ(s.database->url, "postgres://gw:pw@db.internal:5432/nilecare");
  EXPECT_EQ(s.database->connect_timeout, db.connect_timeout);
  EXPECT_EQ(s.database->statement_timeout, db.statement_timeout);
  EXPECT_EQ(s.database->query_connections, db.query_connections);
  EXPECT_EQ(s.database->max_pending_queries, db.max_pending_queries);
  EXPECT_EQ(s.database->timescale, db.timescale);

  ASSERT_TRUE(s.mqtt.has_value());
  const nilecare::config::MqttSettings mqtt;
  const nilecare::config::MqttSettings& m = *s.mqtt;
  EXPECT_EQ(m.urls, mqtt.urls);
  EXPECT_EQ(m.client_id, mqtt.client_id);
  EXPECT_EQ(m.username, mqtt.username);
  EXPECT_EQ(m.password, mqtt.password);
  EXPECT_EQ(m.tls.has_value(), mqtt.tls.has_value());
  EXPECT_EQ(m.shared_group, mqtt.shared_group);
  EXPECT_EQ(m.topic_root, mqtt.topic_root);
  EXPECT_EQ(m.keep_alive, mqtt.keep_alive);
  EXPECT_EQ(m.connect_timeout, mqtt.connect_timeout);
  EXPECT_EQ(m.reconnect_min, mqtt.reconnect_min);
  EXPECT_EQ(m.reconnect_max, mqtt.reconnect_max);
  EXPECT_EQ(m.max_payload, mqtt.max_payload);
  EXPECT_EQ(m.journal_dir, mqtt.journal_dir);
  EXPECT_EQ(m.journal_max_bytes, mqtt.journal_max_bytes);
  EXPECT_EQ(m.journal_segment_bytes, mqtt.journal_segment_bytes);
  EXPECT_EQ(m.journal_fsync, mqtt.journal_fsync);
  EXPECT_EQ(m.batch_max_rows, mqtt.batch_max_rows);
  EXPECT_EQ(m.batch_max_delay, mqtt.batch_max_delay);
  EXPECT_EQ(m.db_retry_min, mqtt.db_retry_min);
  EXPECT_EQ(m.db_retry_max, mqtt.db_retry_max);
  EXPECT_EQ(m.device_refresh, mqtt.device_refresh);
  EXPECT_EQ(m.max_devices, mqtt.max_devices);
  EXPECT_EQ(m.command_timeout, mqtt.command_timeout);
  EXPECT_EQ(m.max_command_bytes, mqtt.max_command_bytes);
  EXPECT_EQ(m.read_roles, mqtt.read_roles);
  EXPECT_EQ(m.write_roles, mqtt.write_roles);

  ExpectDefaultThresholds(s.thresholds);

  // The password is never in the summary.
  const std::string summary = Summary(s);
  EXPECT_NE(summary.find("url=postgres://(set)@db.internal:5432/nilecare"), std::string::npos)
      << summary;
  EXPECT_EQ(summary.find("gw:pw"), std::string::npos) << summary;
}

// The production file's commented-out kafka: and events: sections, uncommented, load and are
// the defaults of settings.hpp and the built-in rules.
TEST(LoaderTest, ShippedGatewayConfigEventSections) {
  const auto [text, uncommented] = Uncomment(ReadConfig("gateway.yaml"), {"# kafka:", "# events:"});
  ASSERT_GT(uncommented, 60) << text;
  const GatewaySettings s =
      LoadString(text, "gateway.yaml", FakeEnv({{"JWT_SECRET", kTestSecret}}));
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);

  ASSERT_TRUE(s.kafka.has_value());
  const nilecare::config::KafkaSettings kafka;
  const nilecare::config::KafkaSettings& k = *s.kafka;
  EXPECT_EQ(k.brokers, kafka.brokers);
  EXPECT_EQ(k.embedded, kafka.embedded);
  EXPECT_EQ(k.client_id, kafka.client_id);
  EXPECT_EQ(k.source_service, kafka.source_service);
  EXPECT_EQ(k.topics, kafka.topics);
  EXPECT_EQ(k.dead_letter_topic, kafka.dead_letter_topic);
  EXPECT_EQ(k.properties, kafka.properties);
  EXPECT_EQ(k.publish_roles, kafka.publish_roles);
  EXPECT_EQ(k.producer.compression, kafka.producer.compression);
  EXPECT_EQ(k.producer.linger, kafka.producer.linger);
  EXPECT_EQ(k.producer.delivery_timeout, kafka.producer.delivery_timeout);
  EXPECT_EQ(k.producer.queue_max_messages, kafka.producer.queue_max_messages);
  EXPECT_EQ(k.producer.max_event_bytes, kafka.producer.max_event_bytes);
  ASSERT_TRUE(k.consumer.has_value());
  const nilecare::config::KafkaConsumerSettings& c = *k.consumer;
  EXPECT_EQ(c.group, kafka.consumer->group);
  EXPECT_EQ(c.topics, kafka.consumer->topics);
  EXPECT_EQ(c.auto_offset_reset, kafka.consumer->auto_offset_reset);
  EXPECT_EQ(c.session_timeout, kafka.consumer->session_timeout);
  EXPECT_EQ(c.commit_interval, kafka.consumer->commit_interval);
  EXPECT_EQ(c.retries, kafka.consumer->retries);
  EXPECT_EQ(c.retry_min, kafka.consumer->retry_min);
  EXPECT_EQ(c.retry_max, kafka.consumer->retry_max);
  EXPECT_EQ(c.max_event_bytes, kafka.consumer->max_event_bytes);
  EXPECT_EQ(c.dedupe_ttl, kafka.consumer->dedupe_ttl);
  EXPECT_EQ(c.dedupe_max_entries, kafka.consumer->dedupe_max_entries);

  // The rules written out are the built-in ones (this build has no task actions).
  ASSERT_TRUE(s.events.has_value());
  const std::vector<nilecare::config::EventRule> built_in =
      nilecare::config::DefaultEventRules(false);
  ASSERT_EQ(s.events->rules.size(), built_in.size());
  for (std::size_t i = 0; i < built_in.size(); ++i) {
    const auto& rule = s.events->rules[i];
    SCOPED_TRACE(built_in[i].match);
    EXPECT_EQ(rule.match, built_in[i].match);
    ASSERT_EQ(rule.actions.size(), built_in[i].actions.size());
    for (std::size_t j = 0; j < rule.actions.size(); ++j) {
      EXPECT_EQ(rule.actions[j].kind, built_in[i].actions[j].kind);
      EXPECT_EQ(rule.actions[j].emit.event, built_in[i].actions[j].emit.event);
      EXPECT_EQ(rule.actions[j].emit.rooms, built_in[i].actions[j].emit.rooms);
      EXPECT_EQ(rule.actions[j].emit.critical, built_in[i].actions[j].emit.critical);
    }
  }

  // The commented SASL example, uncommented too, loads with the credentials from the
  // environment, which the summary does not show.
  const auto [sasl, sasl_lines] =
      Uncomment(Uncomment(ReadConfig("gateway.yaml"), {"# kafka:"}).first,
                {"  # properties:", "  # publish_roles: [admin, service]"}, "  ");
  ASSERT_EQ(sasl_lines, 7) << sasl;
  const GatewaySettings with_sasl =
      LoadString(sasl, "gateway.yaml",
                 FakeEnv({{"JWT_SECRET", kTestSecret},
                          {"NILECARE_KAFKA_BROKERS", "kafka-1.internal:9093,kafka-2.internal:9093"},
                          {"KAFKA_USERNAME", "gateway"},
                          {"KAFKA_PASSWORD", "hunter3-kafka"}}));
  ASSERT_TRUE(with_sasl.kafka.has_value());
  EXPECT_EQ(with_sasl.kafka->brokers,
            (std::vector<std::string>{"kafka-1.internal:9093", "kafka-2.internal:9093"}));
  EXPECT_EQ(with_sasl.kafka->properties.at("sasl.password"), "hunter3-kafka");
  EXPECT_EQ(with_sasl.kafka->publish_roles, (std::vector<std::string>{"admin", "service"}));
  EXPECT_EQ(Summary(with_sasl).find("hunter3"), std::string::npos) << Summary(with_sasl);
}

// The production file's commented-out rabbitmq: section and notifications upstream,
// uncommented, load: the defaults of settings.hpp, the URL from the environment, and the
// example workers resolved against the upstream.
TEST(LoaderTest, ShippedGatewayConfigRabbitMqSection) {
  const std::string notifications =
      "  # notifications: { url: http://127.0.0.1:7060 }   # task handlers: uncomment with "
      "rabbitmq:";
  const auto [with_upstream, upstream_lines] =
      Uncomment(ReadConfig("gateway.yaml"), {notifications}, "  ");
  ASSERT_EQ(upstream_lines, 1) << with_upstream;
  const auto [text, uncommented] = Uncomment(with_upstream, {"# rabbitmq:"});
  ASSERT_GT(uncommented, 60) << text;
  const GatewaySettings s = LoadString(
      text, "gateway.yaml",
      FakeEnv({{"JWT_SECRET", kTestSecret},
               {"NILECARE_AMQP_URL", "amqp://nilecare:s%40cret-amqp@rabbitmq.internal/nilecare"}}));
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);

  ASSERT_TRUE(s.rabbitmq.has_value());
  const nilecare::config::RabbitMqSettings rabbitmq;
  const nilecare::config::RabbitMqSettings& r = *s.rabbitmq;
  EXPECT_EQ(r.host, "rabbitmq.internal");
  EXPECT_EQ(r.port, 5672);
  EXPECT_EQ(r.vhost, "nilecare");
  EXPECT_EQ(r.user, "nilecare");
  EXPECT_EQ(r.password, "s@cret-amqp");
  EXPECT_EQ(r.heartbeat, rabbitmq.heartbeat);
  EXPECT_EQ(r.connect_timeout, rabbitmq.connect_timeout);
  EXPECT_EQ(r.reconnect_min, rabbitmq.reconnect_min);
  EXPECT_EQ(r.reconnect_max, rabbitmq.reconnect_max);
  EXPECT_EQ(r.max_priority, rabbitmq.max_priority);
  ASSERT_EQ(r.queues.size(), rabbitmq.queues.size());
  for (std::size_t i = 0; i < r.queues.size(); ++i) {
    EXPECT_EQ(r.queues[i].name, rabbitmq.queues[i].name);
    EXPECT_EQ(r.queues[i].exchange, rabbitmq.queues[i].exchange);
    EXPECT_EQ(r.queues[i].priority, rabbitmq.queues[i].priority);
  }
  EXPECT_EQ(r.dead_letter.exchange, rabbitmq.dead_letter.exchange);
  EXPECT_EQ(r.dead_letter.queue, rabbitmq.dead_letter.queue);
  EXPECT_EQ(r.dead_letter.retry_after, rabbitmq.dead_letter.retry_after);
  EXPECT_EQ(r.dead_letter.max_rounds, rabbitmq.dead_letter.max_rounds);
  EXPECT_EQ(r.dead_letter.parking_queue, rabbitmq.dead_letter.parking_queue);
  EXPECT_EQ(r.confirm_timeout, rabbitmq.confirm_timeout);
  EXPECT_EQ(r.max_in_flight, rabbitmq.max_in_flight);
  EXPECT_EQ(r.max_task_bytes, rabbitmq.max_task_bytes);
  EXPECT_EQ(r.max_delay, rabbitmq.max_delay);
  EXPECT_EQ(r.publish_roles, rabbitmq.publish_roles);

  ASSERT_EQ(r.workers.size(), 2u);
  const nilecare::config::TaskWorkerSettings worker;
  EXPECT_EQ(r.workers[0].queue, "email.normal");
  EXPECT_EQ(r.workers[0].upstream, "notifications");
  EXPECT_EQ(r.workers[0].path, "/tasks/email");
  EXPECT_EQ(r.workers[0].prefetch, worker.prefetch);
  EXPECT_EQ(r.workers[0].concurrency, worker.concurrency);
  EXPECT_EQ(r.workers[0].max_retries, worker.max_retries);
  EXPECT_EQ(r.workers[0].retry_min, worker.retry_min);
  EXPECT_EQ(r.workers[0].retry_max, worker.retry_max);
  EXPECT_EQ(r.workers[0].timeout, worker.timeout);
  EXPECT_EQ(r.workers[0].pause_on_open, worker.pause_on_open);
  EXPECT_EQ(r.workers[1].queue, "sms.urgent");
  EXPECT_EQ(r.workers[1].upstream, "notifications");
  EXPECT_EQ(r.workers[1].path, "/tasks/sms");
  EXPECT_EQ(r.workers[1].prefetch, 10u);
  EXPECT_EQ(r.workers[1].concurrency, 5u);

  const std::string summary = Summary(s);
  EXPECT_EQ(summary.find("s@cret"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("s%40cret"), std::string::npos) << summary;

  // Left commented out, the section is off and the file still loads without the variable.
  EXPECT_FALSE(LoadString(ReadConfig("gateway.yaml"), "gateway.yaml",
                          FakeEnv({{"JWT_SECRET", kTestSecret}}))
                   .rabbitmq.has_value());
}

TEST(LoaderTest, SummaryShowsEffectiveSettings) {
  const GatewaySettings s = Load(
      "service: {threads: 2}\nlog: {format: text}\nhttp: {listen: '[::1]:0', max_body: 1MB}\n");
  const std::string summary = Summary(s);
  EXPECT_NE(summary.find("configuration: gw.yaml"), std::string::npos) << summary;
  EXPECT_NE(summary.find("threads=2"), std::string::npos) << summary;
  EXPECT_NE(summary.find("format=text"), std::string::npos) << summary;
  EXPECT_NE(summary.find("listen=[::1]:0"), std::string::npos) << summary;
  EXPECT_NE(summary.find("max_body=1MB"), std::string::npos) << summary;
  EXPECT_NE(summary.find("idle_timeout=65s"), std::string::npos) << summary;
  EXPECT_NE(summary.find("\n  rabbitmq:        off\n"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("not in this build"), std::string::npos) << summary;
  EXPECT_EQ(summary.back(), '\n');
}

TEST(LoaderTest, ProcessEnvReadsTheEnvironment) {
  ::setenv("NILECARE_CONFIG_TEST_VAR", "from-env", 1);
  ::unsetenv("NILECARE_CONFIG_TEST_UNSET");
  const EnvLookup env = nilecare::config::ProcessEnv();
  EXPECT_EQ(env("NILECARE_CONFIG_TEST_VAR"), "from-env");
  EXPECT_EQ(env("NILECARE_CONFIG_TEST_UNSET"), std::nullopt);
  ::unsetenv("NILECARE_CONFIG_TEST_VAR");
}

}  // namespace
