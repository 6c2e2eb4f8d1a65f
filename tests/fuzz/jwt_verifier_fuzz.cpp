// Fuzzes nilecare::auth::JwtVerifier::Verify with arbitrary bearer tokens: the base64url
// decoding, the JOSE header reader and the algorithm pinning run on unauthenticated input.
//
// The verifier holds an HS256 secret the fuzzer cannot know, so no input can carry a valid
// signature (short of breaking HMAC-SHA256): Verify returning Claims traps.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "nilecare/auth/jwt_verifier.hpp"
#include "nilecare/config/settings.hpp"

namespace {

const nilecare::auth::JwtVerifier& Verifier() {
  static const nilecare::auth::JwtVerifier verifier = [] {
    nilecare::config::JwtSettings settings;
    settings.algorithms = {"HS256"};
    settings.secret = "fuzz-only-secret-never-in-a-seed-0123456789abcdef";  // >= 32 bytes
    settings.issuer = "nilecare-auth";
    settings.audience = "nilecare";
    settings.leeway = std::chrono::seconds(30);
    return nilecare::auth::JwtVerifier(settings);
  }();
  return verifier;
}

// Fixed, so that a crash reproduces whatever the date: 2025-01-01T00:00:00Z.
const std::chrono::system_clock::time_point kNow{std::chrono::seconds(1735689600)};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  const auto result = Verifier().Verify(token, kNow);
  if (std::holds_alternative<nilecare::auth::Claims>(result)) __builtin_trap();
  // The error must be one the gateway can name in logs and replies.
  const auto error = std::get<nilecare::auth::JwtError>(result);
  if (nilecare::auth::ToString(error) == "unknown") __builtin_trap();
  return 0;
}
