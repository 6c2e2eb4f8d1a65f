#include "nilecare/config/loader.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
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

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

EnvLookup FakeEnv(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

GatewaySettings Load(std::string_view yaml, std::map<std::string, std::string> vars = {}) {
  return LoadString(yaml, "gw.yaml", FakeEnv(std::move(vars)));
}

// The problems reported for `yaml`; fails the test when it loads.
std::vector<std::string> ProblemsOf(std::string_view yaml,
                                    std::map<std::string, std::string> vars = {}) {
  try {
    Load(yaml, std::move(vars));
  } catch (const ConfigError& error) {
    return error.Problems();
  }
  ADD_FAILURE() << "loaded without error:\n" << yaml;
  return {};
}

// The one problem reported for `yaml`.
std::string ProblemOf(std::string_view yaml, std::map<std::string, std::string> vars = {}) {
  const std::vector<std::string> problems = ProblemsOf(yaml, std::move(vars));
  EXPECT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  return problems.empty() ? "" : problems.front();
}

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

TEST(LoaderTest, UnsupportedSectionIsAnError) {
  EXPECT_EQ(ProblemOf("service: {}\n\nkafka:\n  brokers: 127.0.0.1:9092\n"),
            "gw.yaml:3: kafka: this section is not supported by this build yet");
  const std::vector<std::string> problems =
      ProblemsOf("service: {}\nmqtt: {}\nthresholds:\n  hr: {low: 40}\nroutes: []\n");
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "gw.yaml:2: mqtt: this section is not supported by this build yet",
                          "gw.yaml:3: thresholds: this section is not supported by this build yet",
                          "gw.yaml:5: routes: this section is not supported by this build yet",
                      }));
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
            "gw.yaml:3: expected one YAML document, found 2 (remove the extra '---')");
}

TEST(LoaderTest, CollectsAllProblemsInFileOrder) {
  const char* yaml = R"(http:
  listen: nowhere
  max_body: lots
  idle_timeout: 65
log:
  level: loud
  fromat: text
kafka: {}
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
        "gw.yaml:8: kafka: this section is not supported by this build yet",
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

TEST(LoaderTest, ShippedGatewayConfigLoads) {
  const std::filesystem::path path = RepoConfig("gateway.yaml");
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  // Unset variables take the defaults written in the file...
  const GatewaySettings defaults = LoadFile(path.string(), FakeEnv());
  EXPECT_EQ(defaults.source, path.string());
  EXPECT_EQ(defaults.service.name, "nilecare-gateway");
  EXPECT_EQ(defaults.log.level, "info");
  EXPECT_EQ(defaults.log.format, LogFormat::kJson);
  EXPECT_EQ(defaults.http.listen.host, "0.0.0.0");
  EXPECT_EQ(defaults.http.listen.port, 7000);
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

  const GatewaySettings from_env = LoadFile(path.string(), FakeEnv({
                                                               {"NILECARE_SERVICE_NAME", "gw-2"},
                                                               {"NILECARE_LOG_LEVEL", "warn"},
                                                               {"NILECARE_LOG_FORMAT", "text"},
                                                               {"NILECARE_LISTEN", "[::]:8080"},
                                                           }));
  EXPECT_EQ(from_env.service.name, "gw-2");
  EXPECT_EQ(from_env.log.level, "warn");
  EXPECT_EQ(from_env.log.format, LogFormat::kText);
  EXPECT_EQ(from_env.http.listen.host, "::");
  EXPECT_EQ(from_env.http.listen.port, 8080);
}

TEST(LoaderTest, ShippedDevConfigLoads) {
  const std::filesystem::path path = RepoConfig("gateway.dev.yaml");
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  const GatewaySettings s = LoadFile(path.string(), FakeEnv());
  EXPECT_EQ(s.http.listen.host, "127.0.0.1");
  EXPECT_EQ(s.http.listen.port, 7000);
  EXPECT_EQ(s.log.format, LogFormat::kText);
  EXPECT_EQ(s.service.threads, 2);
  EXPECT_EQ(s.service.shutdown_grace, seconds(5));
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
  EXPECT_NE(summary.find("not in this build: auth,"), std::string::npos) << summary;
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
