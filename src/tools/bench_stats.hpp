#pragma once
// Numbers shared by the load generators in src/tools (kafka_bench, amqp_bench, realtime_load,
// devsim): flag values, fixed-point output for the RESULT lines, this process's CPU time and
// latency quantiles over a run's samples.

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace nilecare::tools {

// A whole flag value: an integer, or a finite non-negative floating-point number.
template <typename T>
bool ParseNumber(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  if constexpr (std::is_floating_point_v<T>) return std::isfinite(out) && out >= 0;
  return true;
}

// `value` with `digits` decimals ("%.*f").
inline std::string Fixed(double value, int digits) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

// User + system CPU seconds of this process (all its threads) so far.
inline double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Quantiles {
  double p50_ms{0}, p99_ms{0}, max_ms{0};
};

// Nearest-rank p50 / p99 and the maximum of latencies in µs, in ms; negative entries (failed
// operations) are left out. All zero without samples.
inline Quantiles LatencyQuantiles(const std::vector<std::int64_t>& latency_us) {
  std::vector<std::int64_t> ok;
  ok.reserve(latency_us.size());
  for (const auto v : latency_us) {
    if (v >= 0) ok.push_back(v);
  }
  Quantiles q;
  if (ok.empty()) return q;
  std::sort(ok.begin(), ok.end());
  const auto at = [&](double f) {
    const auto rank = static_cast<std::size_t>(
        std::max(1.0, std::ceil(f * static_cast<double>(ok.size()))));
    return static_cast<double>(ok[std::min(rank, ok.size()) - 1]) / 1000.0;
  };
  q.p50_ms = at(0.50);
  q.p99_ms = at(0.99);
  q.max_ms = static_cast<double>(ok.back()) / 1000.0;
  return q;
}

}  // namespace nilecare::tools
