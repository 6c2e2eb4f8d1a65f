#include "nilecare/core/clock.hpp"

#include <cstdio>
#include <ctime>

namespace nilecare::core {
namespace {

std::string Format(std::chrono::system_clock::time_point time, bool keep_micros) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds).count();
  const std::time_t as_time_t = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&as_time_t, &utc);
  char text[32];
  const std::size_t length = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  std::string result(text, length);
  char fraction[16];
  if (keep_micros && micros % 1000 != 0) {
    std::snprintf(fraction, sizeof(fraction), ".%06dZ", static_cast<int>(micros));
  } else {
    std::snprintf(fraction, sizeof(fraction), ".%03dZ", static_cast<int>(micros / 1000));
  }
  result += fraction;
  return result;
}

}  // namespace

std::string FormatIso8601(std::chrono::system_clock::time_point time) {
  return Format(time, false);
}

std::string FormatIso8601Precise(std::chrono::system_clock::time_point time) {
  return Format(time, true);
}

std::string NowIso8601() { return FormatIso8601(std::chrono::system_clock::now()); }

}  // namespace nilecare::core
