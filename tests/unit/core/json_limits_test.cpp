#include "nilecare/core/json_limits.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using nilecare::core::JsonNestingWithin;
using nilecare::core::ParseBoundedJson;

TEST(JsonLimitsTest, CountsNestingOutsideStringsOnly) {
  EXPECT_TRUE(JsonNestingWithin("[[1]]", 2));
  EXPECT_FALSE(JsonNestingWithin("[[[1]]]", 2));
  EXPECT_TRUE(JsonNestingWithin(R"({"a":"[[[[[["})", 1));
  EXPECT_TRUE(JsonNestingWithin(R"(["\"[[[["])", 1));  // an escaped quote stays in the string
  EXPECT_TRUE(JsonNestingWithin("", 0));
}

TEST(JsonLimitsTest, SiblingsDoNotAddUp) {
  std::string text = "[";
  for (int i = 0; i < 1000; ++i) text += "[],";
  text += "[]]";
  EXPECT_TRUE(JsonNestingWithin(text, 2));
}

TEST(JsonLimitsTest, ParseBoundedJsonRefusesDeepOrInvalidText) {
  EXPECT_EQ(ParseBoundedJson(R"({"a":[1,2]})", 2)->at("a").size(), 2u);
  EXPECT_FALSE(ParseBoundedJson(std::string(100000, '['), 32).has_value());
  EXPECT_FALSE(ParseBoundedJson("{\"a\":", 32).has_value());
  EXPECT_FALSE(ParseBoundedJson("", 32).has_value());
}

}  // namespace
