#pragma once
// Durations ("250ms", "5s", "2m", "24h") and sizes ("512", "16KiB", "1MiB", "1MB").

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "nilecare/config/settings.hpp"

namespace nilecare::config {

// A number (a fraction is allowed when the result is a whole millisecond: "1.5s") followed by
// ms|s|m|h. A bare number has no unit and is rejected: "30" could be seconds or milliseconds.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// A whole number of bytes ("512"), or a number with a unit: KiB/MiB/GiB are binary (1024-based),
// KB/MB/GB are decimal (1000-based, what Socket.IO's maxPayload "1MB" means), B is bytes.
std::optional<std::size_t> ParseSize(std::string_view text);

// "host:port" or "[ipv6]:port", port 0..65535 (0 = an ephemeral port). The brackets are not kept.
std::optional<ListenAddress> ParseListenAddress(std::string_view text);

// The inverses, choosing the largest unit that divides exactly, so that Parse(Format(x)) == x:
// 65000ms -> "65s", 120000ms -> "2m", 1048576 -> "1MiB", 1000000 -> "1MB", 1500 -> "1500".
std::string FormatDuration(std::chrono::milliseconds duration);
std::string FormatSize(std::size_t bytes);
std::string FormatListenAddress(const ListenAddress& address);

}  // namespace nilecare::config
