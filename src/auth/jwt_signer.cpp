#include "nilecare/auth/jwt_signer.hpp"

#include <openssl/evp.h>

#include <stdexcept>
#include <string>

namespace nilecare::auth {
namespace {

constexpr std::string_view kBase64UrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

const char* HmacDigest(std::string_view alg) {
  if (alg == "HS256") return "SHA256";
  if (alg == "HS384") return "SHA384";
  if (alg == "HS512") return "SHA512";
  return nullptr;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = static_cast<unsigned char>(bytes[i + 1]);
    const auto b2 = static_cast<unsigned char>(bytes[i + 2]);
    out += kBase64UrlAlphabet[b0 >> 2];
    out += kBase64UrlAlphabet[((b0 & 0x03) << 4) | (b1 >> 4)];
    out += kBase64UrlAlphabet[((b1 & 0x0f) << 2) | (b2 >> 6)];
    out += kBase64UrlAlphabet[b2 & 0x3f];
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    const auto b1 = rest == 2 ? static_cast<unsigned char>(bytes[i + 1]) : 0u;
    out += kBase64UrlAlphabet[b0 >> 2];
    out += kBase64UrlAlphabet[((b0 & 0x03) << 4) | (b1 >> 4)];
    if (rest == 2) out += kBase64UrlAlphabet[(b1 & 0x0f) << 2];
  }
  return out;
}

std::string SignHmac(std::string_view alg, std::string_view secret,
                     const nlohmann::json& payload, const nlohmann::json& extra_header) {
  const char* digest = HmacDigest(alg);
  if (digest == nullptr) {
    throw std::invalid_argument("SignHmac: alg must be HS256, HS384 or HS512");
  }
  if (!extra_header.is_object()) {
    throw std::invalid_argument("SignHmac: extra_header must be a JSON object");
  }
  nlohmann::json header = {{"alg", alg}, {"typ", "JWT"}};
  header.update(extra_header);

  std::string token = Base64UrlEncode(header.dump());
  token += '.';
  token += Base64UrlEncode(payload.dump());

  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t mac_size = 0;
  // EVP_Q_mac fetches the algorithm on every call: fine for minting, which is not on a hot
  // path (the verifier keeps a keyed context instead).
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, secret.data(), secret.size(),
                reinterpret_cast<const unsigned char*>(token.data()), token.size(), mac,
                sizeof mac, &mac_size) == nullptr) {
    throw std::runtime_error("SignHmac: OpenSSL HMAC failed");
  }
  token += '.';
  token += Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), mac_size));
  return token;
}

}  // namespace nilecare::auth
