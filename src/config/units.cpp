#include "nilecare/config/units.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace nilecare::config {
namespace {

// More fraction digits than this cannot be exact for any unit we accept, and the bound keeps
// the power of ten inside 64 bits.
constexpr int kMaxFractionDigits = 9;

struct Decimal {
  std::uint64_t mantissa{0};  // all digits, the decimal point removed: "1.25" -> 125
  int fraction_digits{0};     // digits after the point: "1.25" -> 2
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Splits "1.5KiB" into the number 1.5 and the unit "KiB". A sign, a leading or trailing point
// or an overflowing number makes it fail, so "-5s", ".5s" and "5.s" are all rejected.
std::optional<Decimal> ReadNumber(std::string_view text, std::string_view& unit) {
  Decimal number;
  std::size_t i = 0;
  std::size_t integer_digits = 0;
  for (; i < text.size() && IsDigit(text[i]); ++i, ++integer_digits) {
    if (__builtin_mul_overflow(number.mantissa, 10u, &number.mantissa) ||
        __builtin_add_overflow(number.mantissa, static_cast<unsigned>(text[i] - '0'),
                               &number.mantissa)) {
      return std::nullopt;
    }
  }
  if (integer_digits == 0) return std::nullopt;
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (; i < text.size() && IsDigit(text[i]); ++i, ++number.fraction_digits) {
      if (number.fraction_digits == kMaxFractionDigits) return std::nullopt;
      if (__builtin_mul_overflow(number.mantissa, 10u, &number.mantissa) ||
          __builtin_add_overflow(number.mantissa, static_cast<unsigned>(text[i] - '0'),
                                 &number.mantissa)) {
        return std::nullopt;
      }
    }
    if (number.fraction_digits == 0) return std::nullopt;
  }
  unit = text.substr(i);
  return number;
}

// number * factor, only when the result is a whole number that fits in 64 bits.
std::optional<std::uint64_t> Scale(const Decimal& number, std::uint64_t factor) {
  std::uint64_t divisor = 1;
  for (int d = 0; d < number.fraction_digits; ++d) divisor *= 10;
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(number.mantissa, factor, &product)) return std::nullopt;
  if (product % divisor != 0) return std::nullopt;
  return product / divisor;
}

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

// Ordered largest first, which is the order Format* tries them in.
constexpr std::array<Unit, 4> kDurationUnits{{
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

// Binary before decimal at the same magnitude, so 1024000 formats as "1000KiB", not "1024KB".
constexpr std::array<Unit, 7> kSizeUnits{{
    {"GiB", 1ull << 30},
    {"GB", 1'000'000'000},
    {"MiB", 1ull << 20},
    {"MB", 1'000'000},
    {"KiB", 1ull << 10},
    {"KB", 1'000},
    {"B", 1},
}};

template <std::size_t N>
std::optional<std::uint64_t> FactorOf(const std::array<Unit, N>& units, std::string_view name) {
  for (const Unit& unit : units) {
    if (unit.name == name) return unit.factor;
  }
  return std::nullopt;
}

bool IsHostChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' ||
         c == '_';
}

bool IsIpv6Char(char c) {
  // Hex digits, separators, an embedded IPv4 tail, and a %zone (e.g. fe80::1%eth0).
  return IsHostChar(c) || c == ':' || c == '%';
}

std::optional<std::uint16_t> ReadPort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (!IsDigit(c)) return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > std::numeric_limits<std::uint16_t>::max()) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  std::string_view unit_name;
  const std::optional<Decimal> number = ReadNumber(text, unit_name);
  if (!number) return std::nullopt;
  const std::optional<std::uint64_t> factor = FactorOf(kDurationUnits, unit_name);
  if (!factor) return std::nullopt;
  const std::optional<std::uint64_t> millis = Scale(*number, *factor);
  using Rep = std::chrono::milliseconds::rep;
  if (!millis || *millis > static_cast<std::uint64_t>(std::numeric_limits<Rep>::max())) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<Rep>(*millis));
}

std::optional<std::size_t> ParseSize(std::string_view text) {
  std::string_view unit_name;
  const std::optional<Decimal> number = ReadNumber(text, unit_name);
  if (!number) return std::nullopt;
  const std::optional<std::uint64_t> factor =
      unit_name.empty() ? std::optional<std::uint64_t>(1) : FactorOf(kSizeUnits, unit_name);
  if (!factor) return std::nullopt;
  const std::optional<std::uint64_t> bytes = Scale(*number, *factor);
  if (!bytes || *bytes > std::numeric_limits<std::size_t>::max()) return std::nullopt;
  return static_cast<std::size_t>(*bytes);
}

std::optional<ListenAddress> ParseListenAddress(std::string_view text) {
  ListenAddress address;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    const std::string_view host = text.substr(1, close - 1);
    if (host.find(':') == std::string_view::npos) return std::nullopt;
    for (char c : host) {
      if (!IsIpv6Char(c)) return std::nullopt;
    }
    address.host = std::string(host);
    port_text = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    // Characters outside the host alphabet include ':', so an unbracketed IPv6 address
    // ("::1:7000", where the port cannot be told apart) is rejected here.
    const std::string_view host = text.substr(0, colon);
    for (char c : host) {
      if (!IsHostChar(c)) return std::nullopt;
    }
    address.host = std::string(host);
    port_text = text.substr(colon + 1);
  }
  const std::optional<std::uint16_t> port = ReadPort(port_text);
  if (!port) return std::nullopt;
  address.port = *port;
  return address;
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  const auto millis = duration.count();
  if (millis == 0) return "0s";
  for (const Unit& unit : kDurationUnits) {
    const auto factor = static_cast<std::chrono::milliseconds::rep>(unit.factor);
    if (millis % factor == 0) return std::to_string(millis / factor) + std::string(unit.name);
  }
  return std::to_string(millis) + "ms";  // unreachable: "ms" divides everything
}

std::string FormatSize(std::size_t bytes) {
  if (bytes == 0) return "0";
  for (const Unit& unit : kSizeUnits) {
    if (unit.factor > 1 && bytes % unit.factor == 0) {
      return std::to_string(bytes / unit.factor) + std::string(unit.name);
    }
  }
  return std::to_string(bytes);
}

std::string FormatListenAddress(const ListenAddress& address) {
  const bool ipv6 = address.host.find(':') != std::string::npos;
  return (ipv6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

}  // namespace nilecare::config
