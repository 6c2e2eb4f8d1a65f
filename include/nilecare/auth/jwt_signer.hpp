#pragma once
// Minting of HMAC-signed JWTs, for the nilecare-jwt-mint tool, tests and benchmarks. The
// gateway itself never issues tokens (the auth service does); it only verifies them
// (jwt_verifier.hpp), with the same option the secret comes from:
//
//   auth: { jwt: { algorithms: [HS256], secret: ${JWT_SECRET} } }

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace nilecare::auth {

// base64url without padding (RFC 7515 §2), the only form JWS allows.
std::string Base64UrlEncode(std::string_view bytes);

// Returns header.payload.signature for `alg` HS256, HS384 or HS512; the header is
// {"alg": alg, "typ": "JWT"} updated with `extra_header` (kid, another typ, ...; even another
// alg, which tests use: the MAC is still computed with `alg`).
// Throws std::invalid_argument for another alg, or when extra_header is not an object.
// No minimum secret length is enforced here (JwtVerifier does that), so tests can mint
// tokens the verifier must refuse.
std::string SignHmac(std::string_view alg, std::string_view secret,
                     const nlohmann::json& payload,
                     const nlohmann::json& extra_header = nlohmann::json::object());

}  // namespace nilecare::auth
