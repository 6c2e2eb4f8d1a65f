#include "nilecare/core/clock.hpp"

#include <gtest/gtest.h>

namespace nilecare::core {
namespace {

TEST(ClockTest, FormatsUtcWithMilliseconds) {
  // 2025-10-16T10:30:00.123Z
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1760610600123));
  EXPECT_EQ(FormatIso8601(time), "2025-10-16T10:30:00.123Z");
}

TEST(ClockTest, PadsMillisecondsAndHandlesTheEpoch) {
  EXPECT_EQ(FormatIso8601(std::chrono::system_clock::time_point(std::chrono::milliseconds(7))),
            "1970-01-01T00:00:00.007Z");
}

}  // namespace
}  // namespace nilecare::core
