#pragma once
// Query-string parameters of a request target, percent-decoded ('+' as a space).

#include <optional>
#include <string>
#include <string_view>

namespace nilecare::http {

// The first value of `key` in `target` ("/p?a=1&b=2"); "" for a key without '='; nullopt
// when absent or when its encoding is broken (a '%' not followed by two hex digits).
std::optional<std::string> QueryParameter(std::string_view target, std::string_view key);

}  // namespace nilecare::http
