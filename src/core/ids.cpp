#include "nilecare/core/ids.hpp"

#include <array>
#include <cstdint>
#include <random>

namespace nilecare::core {
namespace {

std::mt19937_64& Generator() {
  // One engine per thread, seeded from the OS: ids are for tracing, not secrets, but they
  // must not collide across threads or restarts.
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return engine;
}

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.' || c == ':';
}

}  // namespace

std::string NewUuid() {
  std::array<std::uint8_t, 16> bytes{};
  auto& engine = Generator();
  const std::uint64_t high = engine();
  const std::uint64_t low = engine();
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<std::uint8_t>(high >> (56 - 8 * i));
    bytes[8 + i] = static_cast<std::uint8_t>(low >> (56 - 8 * i));
  }
  bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0F) | 0x40);  // version 4
  bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  text.reserve(36);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text.push_back('-');
    text.push_back(kHex[bytes[i] >> 4]);
    text.push_back(kHex[bytes[i] & 0x0F]);
  }
  return text;
}

std::optional<std::string> SanitizeRequestId(std::string_view candidate) {
  if (candidate.empty() || candidate.size() > kMaxRequestIdLength) return std::nullopt;
  for (char c : candidate) {
    if (!IsIdChar(c)) return std::nullopt;
  }
  return std::string(candidate);
}

}  // namespace nilecare::core
