#include "nilecare/observability/log.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace nilecare::observability::log {
namespace {

std::string JsonFields(std::initializer_list<Field> fields) {
  std::string out = "{\"msg\":\"m\"";
  for (const auto& field : fields) field.AppendJson(out);
  return out + "}";
}

TEST(LogTest, JsonFieldsAreValidJsonWhateverTheValues) {
  const auto parsed = nlohmann::json::parse(JsonFields(
      {{"id", "a\"b\\c\n\x01"}, {"status", 200}, {"ms", 1.5}, {"ok", true}, {"n", -3L}}));
  EXPECT_EQ(parsed["id"], "a\"b\\c\n\x01");
  EXPECT_EQ(parsed["status"], 200);
  EXPECT_EQ(parsed["ms"], 1.5);
  EXPECT_EQ(parsed["ok"], true);
  EXPECT_EQ(parsed["n"], -3);
}

TEST(LogTest, TextFieldsQuoteOnlyWhenNeeded) {
  std::string out;
  Field("route", "health").AppendText(out);
  Field("error", "connection refused").AppendText(out);
  Field("forged", "x level=error").AppendText(out);
  Field("status", 503).AppendText(out);
  EXPECT_EQ(out, " route=health error=\"connection refused\" forged=\"x level=error\" status=503");
}

}  // namespace
}  // namespace nilecare::observability::log
