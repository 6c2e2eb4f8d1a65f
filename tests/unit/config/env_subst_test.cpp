#include "nilecare/config/env_subst.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>

namespace {

using nilecare::config::EnvSubstResult;
using nilecare::config::SubstituteEnv;

EnvSubstResult Substitute(std::string_view text, std::map<std::string, std::string> vars = {}) {
  return SubstituteEnv(
      text, [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
      });
}

TEST(EnvSubstTest, ReplacesSetVariable) {
  const auto result = Substitute("secret: ${JWT_SECRET}\n", {{"JWT_SECRET", "s3cr3t"}});
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(result.text, "secret: s3cr3t\n");
}

TEST(EnvSubstTest, SeveralOnOneLine) {
  const auto result = Substitute("listen: ${HOST}:${PORT}", {{"HOST", "::"}, {"PORT", "80"}});
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(result.text, "listen: :::80");
}

TEST(EnvSubstTest, DefaultWhenUnsetOrEmpty) {
  EXPECT_EQ(Substitute("level: ${LEVEL:-info}").text, "level: info");
  EXPECT_EQ(Substitute("level: ${LEVEL:-info}", {{"LEVEL", ""}}).text, "level: info");
  EXPECT_EQ(Substitute("level: ${LEVEL:-info}", {{"LEVEL", "debug"}}).text, "level: debug");
  EXPECT_EQ(Substitute("x: ${EMPTY:-}").text, "x: ");
  // The default is literal text up to the first '}': it may hold ':' and '-'.
  EXPECT_EQ(Substitute("listen: ${LISTEN:-0.0.0.0:7000}").text, "listen: 0.0.0.0:7000");
}

TEST(EnvSubstTest, SetButEmptyWithoutDefaultIsEmpty) {
  const auto result = Substitute("x: '${EMPTY}'", {{"EMPTY", ""}});
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(result.text, "x: ''");
}

TEST(EnvSubstTest, MissingVariableIsErrorWithLine) {
  const auto result = Substitute("service:\n  name: gw\nauth:\n  secret: ${JWT_SECRET}\n");
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].line, 4);
  EXPECT_EQ(result.problems[0].message,
            "${JWT_SECRET}: environment variable JWT_SECRET is not set and has no default "
            "(write ${JWT_SECRET:-default} to give one)");
}

TEST(EnvSubstTest, EveryMissingVariableIsReported) {
  const auto result = Substitute("a: ${A}\nb: ${B}\nc: ${C:-ok}\n");
  ASSERT_EQ(result.problems.size(), 2u);
  EXPECT_EQ(result.problems[0].line, 1);
  EXPECT_EQ(result.problems[1].line, 2);
}

TEST(EnvSubstTest, DoubleDollarIsLiteralDollar) {
  const auto result = Substitute("a: $$\nb: $${NOT_A_VAR}\nc: cost$$5\n");
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(result.text, "a: $\nb: ${NOT_A_VAR}\nc: cost$5\n");
}

TEST(EnvSubstTest, LoneDollarIsKept) {
  const auto result = Substitute("topic: $share/group/devices\nend: x$");
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(result.text, "topic: $share/group/devices\nend: x$");
}

TEST(EnvSubstTest, ValueWithLineBreakIsError) {
  const auto result = Substitute("a: 1\nkey: ${PEM}\n", {{"PEM", "line1\nline2"}});
  ASSERT_EQ(result.problems.size(), 1u);
  EXPECT_EQ(result.problems[0].line, 2);
  EXPECT_NE(result.problems[0].message.find("line break"), std::string::npos);
  const auto cr = Substitute("key: ${V}", {{"V", "a\rb"}});
  EXPECT_EQ(cr.problems.size(), 1u);
}

TEST(EnvSubstTest, LineNumbersNeverChange) {
  const std::string text = "a: ${A}\r\nb: ${B:-x}\n\n# ${C}\nd: $$\n";
  const auto result = Substitute(text, {{"A", "long value with spaces"}});
  EXPECT_TRUE(result.problems.empty());
  EXPECT_EQ(std::count(result.text.begin(), result.text.end(), '\n'),
            std::count(text.begin(), text.end(), '\n'));
  EXPECT_EQ(result.text, "a: long value with spaces\r\nb: x\n\n# ${C}\nd: $\n");
}

TEST(EnvSubstTest, CommentsAreLeftAlone) {
  const auto result = Substitute(
      "# secret: ${JWT_SECRET}\n"
      "  # indented ${X}\n"
      "key: value  # trailing ${Y} $$\n"
      "url: http://h/#${Z:-frag}\n"
      "quoted: \"a # ${Q:-b}\"\n"
      "single: 'it''s # ${Q:-c}'\n"
      "plain: it's # ${NOPE}\n");
  EXPECT_TRUE(result.problems.empty()) << result.problems[0].message;
  EXPECT_EQ(result.text,
            "# secret: ${JWT_SECRET}\n"
            "  # indented ${X}\n"
            "key: value  # trailing ${Y} $$\n"
            "url: http://h/#frag\n"
            "quoted: \"a # b\"\n"
            "single: 'it''s # c'\n"
            "plain: it's # ${NOPE}\n");
}

TEST(EnvSubstTest, MalformedReferences) {
  const auto unterminated = Substitute("a: 1\nb: ${OOPS\n");
  ASSERT_EQ(unterminated.problems.size(), 1u);
  EXPECT_EQ(unterminated.problems[0].line, 2);
  EXPECT_NE(unterminated.problems[0].message.find("unterminated"), std::string::npos);

  for (const char* text : {"a: ${}", "a: ${1X}", "a: ${A B}", "a: ${A-b}", "a: ${:-x}"}) {
    const auto result = Substitute(text, {{"A", "v"}});
    ASSERT_EQ(result.problems.size(), 1u) << text;
    EXPECT_NE(result.problems[0].message.find("invalid variable name"), std::string::npos)
        << result.problems[0].message;
  }
}

}  // namespace
