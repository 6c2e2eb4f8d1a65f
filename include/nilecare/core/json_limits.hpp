#pragma once
// Bounds for JSON from untrusted sources. nlohmann's parser is iterative, but serialising,
// copying and comparing a value recurse once per nesting level: a 100k-deep array from a
// client or an upstream would overflow the stack. Text nested deeper than a limit is
// refused before it is parsed.

#include <cstddef>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace nilecare::core {

// Whether `text` nests arrays/objects at most `limit` deep (brackets inside strings do not
// count). Linear, no allocation; does not validate the JSON.
bool JsonNestingWithin(std::string_view text, std::size_t limit);

// Parses `text` when it is valid JSON nested at most `max_depth` deep; nullopt otherwise.
std::optional<nlohmann::json> ParseBoundedJson(std::string_view text, std::size_t max_depth);

}  // namespace nilecare::core
