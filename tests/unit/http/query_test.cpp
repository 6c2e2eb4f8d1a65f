#include "nilecare/http/query.hpp"

#include <gtest/gtest.h>

namespace nilecare::http {
namespace {

TEST(QueryParameterTest, FindsAndDecodesValues) {
  const std::string target = "/v?from=2026-12-04T21%3A00%3A00Z&limit=10&flag&a+b=c+d";
  EXPECT_EQ(QueryParameter(target, "from"), "2026-12-04T21:00:00Z");
  EXPECT_EQ(QueryParameter(target, "limit"), "10");
  EXPECT_EQ(QueryParameter(target, "flag"), "");
  EXPECT_EQ(QueryParameter(target, "a b"), "c d");
  EXPECT_EQ(QueryParameter(target, "to"), std::nullopt);
  EXPECT_EQ(QueryParameter("/v", "from"), std::nullopt);
}

TEST(QueryParameterTest, FirstValueWinsAndBrokenEncodingIsRefused) {
  EXPECT_EQ(QueryParameter("/v?x=1&x=2", "x"), "1");
  EXPECT_EQ(QueryParameter("/v?x=%4", "x"), std::nullopt);
  EXPECT_EQ(QueryParameter("/v?x=%zz", "x"), std::nullopt);
  EXPECT_EQ(QueryParameter("/v?x=%", "x"), std::nullopt);
  EXPECT_EQ(QueryParameter("/v?x=%41", "x"), "A");
}

}  // namespace
}  // namespace nilecare::http
