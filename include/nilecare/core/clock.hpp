#pragma once
// Timestamps as the platform writes them: ISO 8601, UTC, millisecond precision
// ("2025-10-16T10:30:00.123Z").

#include <chrono>
#include <string>

namespace nilecare::core {

std::string FormatIso8601(std::chrono::system_clock::time_point time);
// The same with microseconds when the time has a sub-millisecond part
// ("2025-10-16T10:30:00.123456Z"): device measurement times keep their precision.
std::string FormatIso8601Precise(std::chrono::system_clock::time_point time);
std::string NowIso8601();

}  // namespace nilecare::core
