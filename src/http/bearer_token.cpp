#include <boost/beast/core/string.hpp>

#include "nilecare/http/types.hpp"

namespace nilecare::http {

std::optional<std::string_view> BearerToken(const Request& request) {
  constexpr std::string_view kScheme = "Bearer ";
  std::string_view value = HeaderValue(request, "Authorization");
  if (value.size() < kScheme.size() ||
      !boost::beast::iequals(value.substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (value.empty()) return std::nullopt;
  return value;
}

}  // namespace nilecare::http
