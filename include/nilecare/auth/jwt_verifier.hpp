#pragma once
// Local verification of JWT Bearer tokens (compact JWS, RFC 7515/7519) with OpenSSL.
// Configured by
//
//   auth: { jwt: { algorithms: [HS256], secret: ${JWT_SECRET},
//                  public_key_file: /etc/nilecare/jwt.pub,   # RS256 / ES256 instead
//                  issuer: nilecare-auth, audience: nilecare, leeway: 30s } }
//
// Algorithms: HS256 HS384 HS512 (secret), RS256 RS384 RS512 and ES256 (PEM public key).
// The list is pinned: a token's `alg` must be one of the configured names exactly, so
// `none`, "hs256" and an HS256 token against an RS256 configuration (the algorithm-confusion
// attack, HMAC keyed with the public key) all fail. A configuration may not mix the HMAC and
// public-key families, because accepting both is the precondition of that attack.
// Keys come from the settings only: `kid`, `jwk`, `jku`, `x5u` in a token are ignored.
// The header must be a JSON object with one string `alg`; `typ`, if there, must be "JWT" or
// "application/jwt" (any case); a header with `crit` is refused (we implement no JWS
// extension). Segments are strict base64url: no padding, no other characters.
//
// Claims:
//   exp  required, a number (fractions allowed); expired when now >= exp + leeway
//   nbf  optional number; not yet valid when now + leeway < nbf
//   iat  optional number; a token issued after now + leeway is not yet valid either
//   iss  must equal `issuer` when one is configured
//   aud  a string or an array of strings; must contain `audience` when one is configured
//   subject: the first of "sub", "user_id", "id" that is a non-empty string or an integer
//     ("sub" is the standard claim; some issuers only send "user_id" or "id")
//   roles: the "roles" array (or a single string) plus "role"; `role` is the "role" string,
//     else the first of "roles"
// The subject and roles end up in upstream headers (X-User-ID, X-User-Role) and room names,
// so a control character in them makes the token malformed rather than being forwarded.
//
// Verify() is const and safe to call from several threads at once: it creates its OpenSSL
// contexts per call and only reads the shared key. Tokens longer than kMaxTokenSize are
// refused before any decoding, so the work per request is bounded.

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "nilecare/config/settings.hpp"

namespace nilecare::auth {

// Far above any real access token (~300-1500 bytes) and well under the HTTP header limit.
inline constexpr std::size_t kMaxTokenSize = 8 * 1024;

struct Claims {
  std::string subject;             // see "subject" above
  std::string role;                // "role", else roles.front(), else ""
  std::vector<std::string> roles;  // "roles" then "role" (when not already listed)
  std::chrono::system_clock::time_point expires_at{};
  nlohmann::json payload;  // the whole verified payload, for claims this struct lacks
};

enum class JwtError {
  kMalformed,             // not three base64url segments of JSON objects, bad claim types,
                          // `crit`, a wrong `typ`, oversize
  kUnsupportedAlgorithm,  // `alg` missing from the pinned list (`none` included)
  kBadSignature,
  kExpired,
  kNotYetValid,  // nbf, or iat, in the future beyond the leeway
  kWrongIssuer,
  kWrongAudience,
  kMissingSubject,
  kMissingExpiry,
};

// Stable snake_case reason for logs and metric labels ("malformed", "expired", ...).
std::string_view ToString(JwtError error);
// Short message that may be shown to the client ("Token expired").
std::string_view Describe(JwtError error);

// Strict base64url (no padding, canonical last character), as the verifier reads JWT
// segments; nullopt for anything else.
std::optional<std::string> Base64UrlDecode(std::string_view in);

class JwtVerifier {
 public:
  // Throws std::runtime_error, naming the offending auth.jwt.* option, on settings that
  // cannot verify safely: no or unknown algorithm, HS* without a secret of at least the
  // hash size (RFC 7518 §3.2: 32 bytes for HS256, 48 for HS384, 64 for HS512), RS*/ES*
  // without a readable PEM public key of the right type (RSA of at least 2048 bits, P-256),
  // HMAC and public-key algorithms together, a negative leeway. The secret is never quoted.
  explicit JwtVerifier(const config::JwtSettings& settings);
  ~JwtVerifier();
  JwtVerifier(JwtVerifier&&) noexcept;  // a moved-from verifier may only be destroyed
  JwtVerifier& operator=(JwtVerifier&&) noexcept;

  std::variant<Claims, JwtError> Verify(
      std::string_view token,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

 private:
  struct Impl;
  std::unique_ptr<const Impl> impl_;
};

}  // namespace nilecare::auth
