// Fuzzes nilecare::http::Dispatcher::SafePath, which decides whether a request target may
// be routed at all (a prefix decides authentication, so an unsafe path must never match).
//
// When SafePath returns a path, it must be the target's path part and hold none of what
// dispatcher.hpp promises to refuse; a violation traps.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "nilecare/http/dispatcher.hpp"

namespace {

bool ContainsNoCase(std::string_view text, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= text.size(); ++i) {
    bool match = true;
    for (std::size_t j = 0; j < needle.size() && match; ++j) {
      char c = text[i + j];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      match = c == needle[j];
    }
    if (match) return true;
  }
  return false;
}

// "." or "..", with any of the dots spelled %2e / %2E.
bool IsDotSegment(std::string_view segment) {
  std::size_t dots = 0;
  for (std::size_t i = 0; i < segment.size();) {
    if (segment[i] == '.') {
      ++i;
    } else if (segment.size() - i >= 3 && segment[i] == '%' && segment[i + 1] == '2' &&
               (segment[i + 2] == 'e' || segment[i + 2] == 'E')) {
      i += 3;
    } else {
      return false;
    }
    ++dots;
  }
  return dots == 1 || dots == 2;
}

void CheckSafe(std::string_view target, std::string_view path) {
  // The path part of the target: a prefix of it, ending where the query starts.
  if (path.empty() || path.front() != '/') __builtin_trap();
  if (target.substr(0, path.size()) != path) __builtin_trap();
  if (path.size() < target.size() && target[path.size()] != '?') __builtin_trap();
  if (path.find('?') != std::string_view::npos) __builtin_trap();

  for (char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) __builtin_trap();  // control bytes
    if (c == ' ' || c == '\\' || c == '#') __builtin_trap();
  }
  if (path.find("//") != std::string_view::npos) __builtin_trap();
  if (ContainsNoCase(path, "%2f") || ContainsNoCase(path, "%5c") ||
      ContainsNoCase(path, "%00")) {
    __builtin_trap();
  }
  if (path.find("/../") != std::string_view::npos || path.find("/./") != std::string_view::npos) {
    __builtin_trap();
  }
  // Segment by segment: also "/.." at the end and %2e-encoded dots.
  std::size_t start = 1;
  while (start < path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    if (IsDotSegment(path.substr(start, end - start))) __builtin_trap();
    start = end + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view target(reinterpret_cast<const char*>(data), size);
  const std::optional<std::string_view> path = nilecare::http::Dispatcher::SafePath(target);
  if (path) CheckSafe(target, *path);
  return 0;
}
