#include "nilecare/core/ids.hpp"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace nilecare::core {
namespace {

TEST(IdsTest, UuidsAreVersion4AndDistinct) {
  const std::regex uuid(R"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto id = NewUuid();
    ASSERT_TRUE(std::regex_match(id, uuid)) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(IdsTest, SafeIdsAreKept) {
  EXPECT_EQ(SanitizeRequestId("req_abc123xyz"), "req_abc123xyz");
  EXPECT_EQ(SanitizeRequestId("a.b:c-d_e"), "a.b:c-d_e");
  EXPECT_EQ(SanitizeRequestId(std::string(kMaxRequestIdLength, 'x')),
            std::string(kMaxRequestIdLength, 'x'));
}

TEST(IdsTest, UnsafeOrOverlongIdsAreRefused) {
  EXPECT_EQ(SanitizeRequestId(""), std::nullopt);
  EXPECT_EQ(SanitizeRequestId(std::string(kMaxRequestIdLength + 1, 'x')), std::nullopt);
  EXPECT_EQ(SanitizeRequestId("a b"), std::nullopt);
  EXPECT_EQ(SanitizeRequestId("a\"b"), std::nullopt);
  EXPECT_EQ(SanitizeRequestId("a\nlevel=error"), std::nullopt);
  EXPECT_EQ(SanitizeRequestId("caf\xc3\xa9"), std::nullopt);
}

}  // namespace
}  // namespace nilecare::core
