#include "nilecare/router/retry_policy.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace nilecare::router {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

config::RetrySettings Settings() { return config::RetrySettings{}; }  // the spec's defaults

std::function<double()> Fixed(double value) {
  return [value] { return value; };
}

// 2025-10-16T10:30:00Z, a Thursday.
const std::chrono::system_clock::time_point kNow =
    std::chrono::system_clock::time_point(seconds(1760610600));

TEST(RetryPolicyTest, MaxRetriesComesFromSettings) {
  EXPECT_EQ(RetryPolicy(Settings()).MaxRetries(), 3);
  auto settings = Settings();
  settings.retries = -2;
  EXPECT_EQ(RetryPolicy(settings).MaxRetries(), 0);
}

TEST(RetryPolicyTest, RetriesNetworkErrorsOnIdempotentMethods) {
  const RetryPolicy policy(Settings());
  for (const char* method : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"}) {
    EXPECT_TRUE(policy.ShouldRetry(method, false, 1, std::nullopt)) << method;
  }
}

TEST(RetryPolicyTest, PostAndPatchOnlyWithAnIdempotencyKey) {
  const RetryPolicy policy(Settings());
  for (const char* method : {"POST", "PATCH"}) {
    EXPECT_FALSE(policy.ShouldRetry(method, false, 1, std::nullopt)) << method;
    EXPECT_FALSE(policy.ShouldRetry(method, false, 1, 503)) << method;
    EXPECT_FALSE(policy.ShouldRetry(method, false, 1, 429)) << method;
    EXPECT_TRUE(policy.ShouldRetry(method, true, 1, std::nullopt)) << method;
    EXPECT_TRUE(policy.ShouldRetry(method, true, 1, 503)) << method;
  }
}

TEST(RetryPolicyTest, OtherMethodsNeverAndMethodsAreCaseSensitive) {
  const RetryPolicy policy(Settings());
  EXPECT_FALSE(policy.ShouldRetry("CONNECT", true, 1, std::nullopt));
  EXPECT_FALSE(policy.ShouldRetry("PROPFIND", true, 1, 503));
  EXPECT_FALSE(policy.ShouldRetry("get", false, 1, std::nullopt));
  EXPECT_FALSE(policy.ShouldRetry("", false, 1, std::nullopt));
}

TEST(RetryPolicyTest, OnlyTheConfiguredStatuses) {
  const RetryPolicy policy(Settings());
  EXPECT_TRUE(policy.ShouldRetry("GET", false, 1, 429));
  EXPECT_TRUE(policy.ShouldRetry("GET", false, 1, 503));
  for (int status : {200, 400, 404, 409, 500, 501, 502, 504}) {
    EXPECT_FALSE(policy.ShouldRetry("GET", false, 1, status)) << status;
  }
  auto settings = Settings();
  settings.on_status = {502};
  const RetryPolicy custom(settings);
  EXPECT_TRUE(custom.ShouldRetry("GET", false, 1, 502));
  EXPECT_FALSE(custom.ShouldRetry("GET", false, 1, 503));
}

TEST(RetryPolicyTest, StopsAfterTheConfiguredRetries) {
  const RetryPolicy policy(Settings());  // 3 retries = 4 attempts
  EXPECT_TRUE(policy.ShouldRetry("GET", false, 1, 503));
  EXPECT_TRUE(policy.ShouldRetry("GET", false, 2, 503));
  EXPECT_TRUE(policy.ShouldRetry("GET", false, 3, 503));
  EXPECT_FALSE(policy.ShouldRetry("GET", false, 4, 503));
  EXPECT_FALSE(policy.ShouldRetry("GET", false, 0, 503));
  auto settings = Settings();
  settings.retries = 0;
  EXPECT_FALSE(RetryPolicy(settings).ShouldRetry("GET", false, 1, std::nullopt));
}

TEST(RetryPolicyTest, BackoffCapGrowsExponentiallyUpToMaxDelay) {
  const RetryPolicy policy(Settings());  // 100ms base, 2s max
  const auto top = Fixed(std::nextafter(1.0, 0.0));
  EXPECT_EQ(policy.Backoff(1, std::nullopt, top), milliseconds(100));
  EXPECT_EQ(policy.Backoff(2, std::nullopt, top), milliseconds(200));
  EXPECT_EQ(policy.Backoff(3, std::nullopt, top), milliseconds(400));
  EXPECT_EQ(policy.Backoff(4, std::nullopt, top), milliseconds(800));
  EXPECT_EQ(policy.Backoff(5, std::nullopt, top), milliseconds(1600));
  EXPECT_EQ(policy.Backoff(6, std::nullopt, top), milliseconds(2000));
  EXPECT_EQ(policy.Backoff(1000, std::nullopt, top), milliseconds(2000));
  EXPECT_EQ(policy.Backoff(std::numeric_limits<int>::max(), std::nullopt, top),
            milliseconds(2000));
}

TEST(RetryPolicyTest, BackoffIsFullJitter) {
  const RetryPolicy policy(Settings());
  EXPECT_EQ(policy.Backoff(1, std::nullopt, Fixed(0.0)), milliseconds(0));
  EXPECT_EQ(policy.Backoff(3, std::nullopt, Fixed(0.0)), milliseconds(0));
  EXPECT_EQ(policy.Backoff(3, std::nullopt, Fixed(0.5)), milliseconds(200));   // of [0,400]
  EXPECT_EQ(policy.Backoff(3, std::nullopt, Fixed(0.25)), milliseconds(100));
  // Out-of-contract generators are clamped into [0, cap].
  EXPECT_EQ(policy.Backoff(3, std::nullopt, Fixed(1.0)), milliseconds(400));
  EXPECT_EQ(policy.Backoff(3, std::nullopt, Fixed(7.0)), milliseconds(400));
  EXPECT_EQ(policy.Backoff(3, std::nullopt, Fixed(-1.0)), milliseconds(0));
  EXPECT_EQ(policy.Backoff(3, std::nullopt, Fixed(std::nan(""))), milliseconds(0));
}

TEST(RetryPolicyTest, BackoffHonoursRetryAfter) {
  const RetryPolicy policy(Settings());
  EXPECT_EQ(policy.Backoff(1, milliseconds(1500), Fixed(0.5)), milliseconds(1500));
  // Above max_delay too: the upstream asked for it.
  EXPECT_EQ(policy.Backoff(1, seconds(10), Fixed(0.5)), milliseconds(10000));
  // A shorter Retry-After does not shorten the jittered delay.
  EXPECT_EQ(policy.Backoff(3, milliseconds(50), Fixed(0.5)), milliseconds(200));
  EXPECT_EQ(policy.Backoff(3, milliseconds(0), Fixed(0.0)), milliseconds(0));
}

TEST(RetryPolicyTest, BackoffWithTheDefaultGeneratorStaysInRange) {
  const RetryPolicy policy(Settings());
  for (int i = 0; i < 1000; ++i) {
    const auto delay = policy.Backoff(2, std::nullopt, {});
    EXPECT_GE(delay, milliseconds(0));
    EXPECT_LE(delay, milliseconds(200));
  }
  for (int i = 0; i < 1000; ++i) {
    const double value = ThreadLocalRandom01();
    EXPECT_GE(value, 0.0);
    EXPECT_LT(value, 1.0);
  }
}

TEST(RetryPolicyTest, BackoffWithOddSettings) {
  auto settings = Settings();
  settings.base_delay = seconds(5);
  settings.max_delay = seconds(1);
  const auto top = Fixed(std::nextafter(1.0, 0.0));
  EXPECT_EQ(RetryPolicy(settings).Backoff(1, std::nullopt, top), milliseconds(1000));
  settings.base_delay = milliseconds(0);
  EXPECT_EQ(RetryPolicy(settings).Backoff(5, std::nullopt, top), milliseconds(0));
  EXPECT_EQ(RetryPolicy(Settings()).Backoff(0, std::nullopt, top), milliseconds(100));
}

TEST(ParseRetryAfterTest, DeltaSeconds) {
  EXPECT_EQ(ParseRetryAfter("0", kNow), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("5", kNow), milliseconds(5000));
  EXPECT_EQ(ParseRetryAfter("120", kNow), milliseconds(120000));
  EXPECT_EQ(ParseRetryAfter(" \t7 ", kNow), milliseconds(7000));
  EXPECT_EQ(ParseRetryAfter("0003", kNow), milliseconds(3000));
  // Too large to represent: 2^31 seconds (RFC 9111).
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999", kNow),
            milliseconds(2147483648LL * 1000));
}

TEST(ParseRetryAfterTest, RejectsMalformedAndNegativeDeltas) {
  for (const char* value : {"", "  ", "-1", "+5", "1.5", "5s", "1 2", "abc", "0x10"}) {
    EXPECT_EQ(ParseRetryAfter(value, kNow), std::nullopt) << value;
  }
}

TEST(ParseRetryAfterTest, HttpDate) {
  EXPECT_EQ(ParseRetryAfter("Thu, 16 Oct 2025 10:30:30 GMT", kNow), milliseconds(30000));
  EXPECT_EQ(ParseRetryAfter("Thu, 16 Oct 2025 10:30:00 GMT", kNow), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Fri, 17 Oct 2025 10:30:00 GMT", kNow), milliseconds(86400000));
  EXPECT_EQ(ParseRetryAfter("Wed, 31 Dec 2025 23:59:60 GMT", kNow),
            milliseconds((1767225600LL - 1760610600LL) * 1000));
  // Rounded up to whole milliseconds: never retry early.
  const auto now = kNow + std::chrono::microseconds(500);
  EXPECT_EQ(ParseRetryAfter("Thu, 16 Oct 2025 10:30:01 GMT", now), milliseconds(1000));
  EXPECT_EQ(ParseRetryAfter("Thu, 16 Oct 2025 10:30:01 GMT", kNow + std::chrono::microseconds(1500)),
            milliseconds(999));
}

TEST(ParseRetryAfterTest, APastDateIsNegative) {
  EXPECT_EQ(ParseRetryAfter("Thu, 16 Oct 2025 10:29:59 GMT", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kNow), std::nullopt);
}

TEST(ParseRetryAfterTest, RejectsMalformedDates) {
  for (const char* value : {
           "Thu, 16 Oct 2025 10:30:30 UTC",   // only GMT
           "Thu, 16 Oct 2025 10:30:30",       // no zone
           "Thu 16 Oct 2025 10:30:30 GMT",    // no comma
           "Thu, 16 oct 2025 10:30:30 GMT",   // month names are case-sensitive
           "Xyz, 16 Oct 2025 10:30:30 GMT",   // no such day
           "Thu, 31 Feb 2026 10:30:30 GMT",   // no such date
           "Thu, 16 Oct 2025 24:00:00 GMT",   // no such hour
           "Thu, 16 Oct 2025 10:60:00 GMT",   // no such minute
           "Thu, 16 Oct 2025 10:30:61 GMT",   // no such second
           "Thu,  6 Oct 2025 10:30:30 GMT",   // two digits required
           "Thursday, 16-Oct-25 10:30:30 GMT",  // RFC 850 form
           "Thu Oct 16 10:30:30 2025",          // asctime form
       }) {
    EXPECT_EQ(ParseRetryAfter(value, kNow), std::nullopt) << value;
  }
}

}  // namespace
}  // namespace nilecare::router
