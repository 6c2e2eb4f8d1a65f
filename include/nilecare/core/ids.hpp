#pragma once
// Request and correlation ids: generated as UUID v4, or taken from the caller when they
// are safe to echo into headers and logs.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace nilecare::core {

// Ids from callers longer than this are replaced rather than truncated: a truncated id
// would silently break the caller's tracing.
inline constexpr std::size_t kMaxRequestIdLength = 128;

// A random (version 4) UUID in canonical lower-case form.
std::string NewUuid();

// Returns the id when it is 1..kMaxRequestIdLength characters of [A-Za-z0-9._:-]
// (no spaces, quotes or control characters that could forge log fields), else nullopt.
std::optional<std::string> SanitizeRequestId(std::string_view candidate);

}  // namespace nilecare::core
