#include "kafka/events_api.hpp"

#include <gtest/gtest.h>

#include <string>

namespace nilecare::kafka {
namespace {

// The example of W3C Trace Context §3.2.
const std::string kExample = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

TEST(TraceparentTest, AcceptsTheW3cExample) {
  EXPECT_TRUE(IsValidTraceparent(kExample));
  EXPECT_TRUE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"));
  // A later version with the same layout is passed on.
  EXPECT_TRUE(IsValidTraceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
  // Ids with only one non-zero digit are not "all zero".
  EXPECT_TRUE(IsValidTraceparent("00-00000000000000000000000000000001-0000000000000001-01"));
}

TEST(TraceparentTest, RefusesTheWrongLength) {
  EXPECT_FALSE(IsValidTraceparent(""));
  EXPECT_FALSE(IsValidTraceparent(kExample.substr(0, 54)));
  EXPECT_FALSE(IsValidTraceparent(kExample + "0"));
  EXPECT_FALSE(IsValidTraceparent(kExample + "-"));
  EXPECT_FALSE(IsValidTraceparent(" " + kExample));
  // One digit moved from the trace id to the parent id: right length, dashes misplaced.
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319-cb7ad6b7169203331-01"));
}

TEST(TraceparentTest, RefusesUppercaseAndNonHex) {
  EXPECT_FALSE(IsValidTraceparent("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01"));
  EXPECT_FALSE(IsValidTraceparent("0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0F"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333z-01"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0 "));
  EXPECT_FALSE(IsValidTraceparent("xx-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
}

TEST(TraceparentTest, RefusesVersionFf) {
  EXPECT_FALSE(IsValidTraceparent("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
}

TEST(TraceparentTest, RefusesAllZeroIds) {
  EXPECT_FALSE(IsValidTraceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"));
  EXPECT_FALSE(IsValidTraceparent("00-00000000000000000000000000000000-0000000000000000-01"));
}

TEST(TraceparentTest, RefusesMissingOrMisplacedDashes) {
  EXPECT_FALSE(IsValidTraceparent("000af7651916cd43dd8448eb211c80319cb7ad6b716920333101"));
  EXPECT_FALSE(IsValidTraceparent("00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01"));
  EXPECT_FALSE(IsValidTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331001"));
  EXPECT_FALSE(IsValidTraceparent(std::string(55, '-')));
}

}  // namespace
}  // namespace nilecare::kafka
