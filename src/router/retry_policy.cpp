#include "nilecare/router/retry_policy.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <random>

namespace nilecare::router {
namespace {

using std::chrono::milliseconds;

bool MethodMayRepeat(std::string_view method, bool has_idempotency_key) {
  static constexpr std::array<std::string_view, 6> kIdempotent = {"GET",    "HEAD",   "OPTIONS",
                                                                  "PUT",    "DELETE", "TRACE"};
  if (std::find(kIdempotent.begin(), kIdempotent.end(), method) != kIdempotent.end()) return true;
  if (method == "POST" || method == "PATCH") return has_idempotency_key;
  return false;
}

std::string_view TrimOws(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return value;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Digits only; false on anything else (a sign, a fraction, an empty field).
bool ParseDigits(std::string_view text, int& out) {
  if (text.empty()) return false;
  int value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

std::optional<milliseconds> ParseDeltaSeconds(std::string_view value) {
  // RFC 9111 §1.2.2: a value too large to represent is taken as 2^31 seconds.
  constexpr std::int64_t kMaxSeconds = std::int64_t{1} << 31;
  std::int64_t seconds = 0;
  for (char c : value) {
    if (!IsDigit(c)) return std::nullopt;
    seconds = std::min(kMaxSeconds, seconds * 10 + (c - '0'));
  }
  return milliseconds(seconds * 1000);
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", fixed width.
std::optional<std::chrono::system_clock::time_point> ParseImfFixdate(std::string_view value) {
  static constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                            "Fri", "Sat", "Sun"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (value.size() != 29) return std::nullopt;
  if (value.substr(3, 2) != ", " || value[7] != ' ' || value[11] != ' ' || value[16] != ' ' ||
      value[19] != ':' || value[22] != ':' || value.substr(25) != " GMT") {
    return std::nullopt;
  }
  if (std::find(kDays.begin(), kDays.end(), value.substr(0, 3)) == kDays.end()) {
    return std::nullopt;
  }
  const auto month_it = std::find(kMonths.begin(), kMonths.end(), value.substr(8, 3));
  if (month_it == kMonths.end()) return std::nullopt;
  int day = 0;
  int year = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  if (!ParseDigits(value.substr(5, 2), day) || !ParseDigits(value.substr(12, 4), year) ||
      !ParseDigits(value.substr(17, 2), hour) || !ParseDigits(value.substr(20, 2), minute) ||
      !ParseDigits(value.substr(23, 2), second)) {
    return std::nullopt;
  }
  // 60 is a leap second, which the grammar allows.
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const std::chrono::year_month_day date{
      std::chrono::year(year),
      std::chrono::month(static_cast<unsigned>(month_it - kMonths.begin() + 1)),
      std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days(date) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second);
}

}  // namespace

RetryPolicy::RetryPolicy(const config::RetrySettings& settings)
    : retries_(std::max(settings.retries, 0)),
      base_delay_(std::max(settings.base_delay, milliseconds(0))),
      max_delay_(std::max(settings.max_delay, milliseconds(0))),
      on_status_(settings.on_status) {}

int RetryPolicy::MaxRetries() const { return retries_; }

bool RetryPolicy::ShouldRetry(std::string_view method, bool has_idempotency_key,
                              int attempts_made, std::optional<int> status) const {
  if (attempts_made < 1 || attempts_made > retries_) return false;
  if (!MethodMayRepeat(method, has_idempotency_key)) return false;
  if (!status) return true;
  return std::find(on_status_.begin(), on_status_.end(), *status) != on_status_.end();
}

milliseconds RetryPolicy::Backoff(int attempts_made, std::optional<milliseconds> retry_after,
                                  const std::function<double()>& random01) const {
  // Doubling stops at max_delay, so no shift or multiplication can overflow.
  std::int64_t cap = std::min(base_delay_.count(), max_delay_.count());
  const std::int64_t max = max_delay_.count();
  for (int attempt = 1; attempt < attempts_made && cap < max; ++attempt) {
    cap = cap > max / 2 ? max : cap * 2;
  }
  double random = random01 ? random01() : ThreadLocalRandom01();
  if (!(random >= 0.0)) random = 0.0;  // NaN as well
  if (random >= 1.0) random = std::nextafter(1.0, 0.0);
  const auto jittered = static_cast<std::int64_t>(
      std::floor(random * static_cast<double>(cap + 1)));
  milliseconds delay(std::min(jittered, cap));
  if (retry_after && *retry_after > delay) delay = *retry_after;
  return delay;
}

double ThreadLocalRandom01() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  // generate_canonical can round up to 1.0 (LWG 2524); the contract is [0,1).
  const double value = std::uniform_real_distribution<double>(0.0, 1.0)(generator);
  return value < 1.0 ? value : std::nextafter(1.0, 0.0);
}

std::optional<milliseconds> ParseRetryAfter(std::string_view value,
                                            std::chrono::system_clock::time_point now) {
  value = TrimOws(value);
  if (value.empty()) return std::nullopt;
  if (IsDigit(value.front())) return ParseDeltaSeconds(value);
  const auto date = ParseImfFixdate(value);
  if (!date || *date < now) return std::nullopt;
  return std::chrono::ceil<milliseconds>(*date - now);
}

}  // namespace nilecare::router
