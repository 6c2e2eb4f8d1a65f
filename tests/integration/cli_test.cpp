// The command line of the real binary: --version, --help, --check-config on the shipped
// configs and on broken ones (file:line messages, exit 2).

#include <gtest/gtest.h>

#include "support/gateway_process.hpp"

namespace nilecare::testing {
namespace {

const std::string kSourceDir = NILECARE_SOURCE_DIR;

TEST(CliTest, VersionPrintsTheVersion) {
  const auto result = RunGateway({"--version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.output.find(NILECARE_VERSION), std::string::npos);
}

TEST(CliTest, HelpListsTheOptions) {
  const auto result = RunGateway({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* option : {"--config", "--check-config", "--version"}) {
    EXPECT_NE(result.output.find(option), std::string::npos) << option;
  }
}

TEST(CliTest, UnknownArgumentIsAUsageError) {
  const auto result = RunGateway({"--frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("--frobnicate"), std::string::npos);
}

TEST(CliTest, ProductionConfigNeedsItsSecret) {
  unsetenv("JWT_SECRET");
  const auto result =
      RunGateway({"--config", kSourceDir + "/config/gateway.yaml", "--check-config"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("JWT_SECRET"), std::string::npos) << result.output;
}

TEST(CliTest, ShippedConfigsPassCheckConfig) {
  // The production config takes its JWT secret from the environment, with no default.
  setenv("JWT_SECRET", "cli-test-secret-0123456789abcdef0123456789", 1);
  for (const char* name : {"config/gateway.yaml", "config/gateway.dev.yaml"}) {
    SCOPED_TRACE(name);
    const auto result = RunGateway({"--config", kSourceDir + "/" + name, "--check-config"});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("configuration OK"), std::string::npos) << result.output;
  }
}

TEST(CliTest, BadValueIsReportedWithFileLineAndKey) {
  const std::string path = WriteTempFile("bad.yaml",
                                         "service:\n"
                                         "  name: gw\n"
                                         "http:\n"
                                         "  listen: 127.0.0.1:7000\n"
                                         "  max_body: lots\n");
  const auto result = RunGateway({"--config", path, "--check-config"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("bad.yaml:5: http.max_body: expected a size like 1MiB, got \"lots\""),
            std::string::npos)
      << result.output;
}

TEST(CliTest, InvalidConfigStopsStartupWithExit2) {
  const std::string path = WriteTempFile("typo.yaml", "service:\n  name: gw\nhttp:\n  lisen: 1\n");
  const auto result = RunGateway({"--config", path});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("typo.yaml:4: http.lisen: unknown key"), std::string::npos)
      << result.output;
}

TEST(CliTest, MissingConfigFileIsNamed) {
  const auto result = RunGateway({"--config", "/nonexistent/gateway.yaml", "--check-config"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.output.find("/nonexistent/gateway.yaml"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace nilecare::testing
