#include "nilecare/auth/jwt_verifier.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nilecare::auth {
namespace {

using Clock = std::chrono::system_clock;
using Json = nlohmann::json;

enum class Family { kHmac, kRsa, kEc };

struct Algorithm {
  std::string_view name;
  Family family;
  const char* digest;
  // HMAC: RFC 7518 §3.2 wants a key at least as long as the hash. EC: the size of one of
  // r and s in the raw JWS signature (RFC 7518 §3.4).
  std::size_t key_bytes;
};

constexpr std::array kAlgorithms{
    Algorithm{"HS256", Family::kHmac, "SHA256", 32},
    Algorithm{"HS384", Family::kHmac, "SHA384", 48},
    Algorithm{"HS512", Family::kHmac, "SHA512", 64},
    Algorithm{"RS256", Family::kRsa, "SHA256", 0},
    Algorithm{"RS384", Family::kRsa, "SHA384", 0},
    Algorithm{"RS512", Family::kRsa, "SHA512", 0},
    Algorithm{"ES256", Family::kEc, "SHA256", 32},
};

// Below this an RSA key is factorable with public effort (NIST SP 800-131A).
constexpr int kMinRsaBits = 2048;
// A PEM public key is a few KiB at most; a larger file is a wrong path, not a key.
constexpr std::streamsize kMaxKeyFileSize = 1024 * 1024;

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
struct MacFree {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct DecoderCtxFree {
  void operator()(OSSL_DECODER_CTX* ctx) const { OSSL_DECODER_CTX_free(ctx); }
};
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The first OpenSSL error of this thread, for operator messages; clears the queue so that it
// does not leak into unrelated code on the same thread (TLS, for one, reads it).
std::string OpenSslError() {
  const unsigned long code = ERR_peek_error();
  ERR_clear_error();
  if (code == 0) return "no detail from OpenSSL";
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

// ---- base64url ----------------------------------------------------------------------------

constexpr std::array<std::int8_t, 256> MakeDecodeTable() {
  std::array<std::int8_t, 256> table{};
  table.fill(-1);
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return table;
}
constexpr std::array<std::int8_t, 256> kDecodeTable = MakeDecodeTable();

// Strict: the base64url alphabet only, no padding, and the unused low bits of the last
// character must be zero. That makes the encoding of every segment unique, so a signature
// cannot be re-spelled into a "different" token that still verifies.
// Writes at most in.size() * 3 / 4 bytes to `out`; returns the count, or nullopt.
std::optional<std::size_t> DecodeBase64Url(std::string_view in, char* out) {
  const std::size_t rest = in.size() % 4;
  if (rest == 1) return std::nullopt;
  auto* dst = reinterpret_cast<unsigned char*>(out);
  const auto value = [&](std::size_t i) {
    return kDecodeTable[static_cast<unsigned char>(in[i])];
  };
  std::size_t i = 0;
  for (; i + 4 <= in.size(); i += 4) {
    const int a = value(i), b = value(i + 1), c = value(i + 2), d = value(i + 3);
    if ((a | b | c | d) < 0) return std::nullopt;
    const auto bits = static_cast<std::uint32_t>((a << 18) | (b << 12) | (c << 6) | d);
    *dst++ = static_cast<unsigned char>(bits >> 16);
    *dst++ = static_cast<unsigned char>(bits >> 8);
    *dst++ = static_cast<unsigned char>(bits);
  }
  if (rest == 2) {
    const int a = value(i), b = value(i + 1);
    if ((a | b) < 0 || (b & 0x0f) != 0) return std::nullopt;
    *dst++ = static_cast<unsigned char>((a << 2) | (b >> 4));
  } else if (rest == 3) {
    const int a = value(i), b = value(i + 1), c = value(i + 2);
    if ((a | b | c) < 0 || (c & 0x03) != 0) return std::nullopt;
    const auto bits = static_cast<std::uint32_t>((a << 10) | (b << 4) | (c >> 2));
    *dst++ = static_cast<unsigned char>(bits >> 8);
    *dst++ = static_cast<unsigned char>(bits);
  }
  return static_cast<std::size_t>(dst - reinterpret_cast<unsigned char*>(out));
}

// ---- header -------------------------------------------------------------------------------

// Reads the JOSE header with nlohmann's SAX interface instead of building a DOM: the header
// is unauthenticated input, and all we need from it is alg, typ and whether crit is there.
// A duplicate alg or typ is refused, so that no other reader of the same token (a log
// pipeline, the auth service) can see another algorithm than this one.
// The lower-case members are the SAX interface nlohmann::json::sax_parse calls.
class HeaderReader {
 public:
  bool Valid() const { return object_seen_ && alg_ && !invalid_; }
  std::string_view Alg() const { return *alg_; }  // only when Valid()

  bool null() { return Scalar(nullptr); }
  bool boolean(bool) { return Scalar(nullptr); }
  bool number_integer(Json::number_integer_t) { return Scalar(nullptr); }
  bool number_unsigned(Json::number_unsigned_t) { return Scalar(nullptr); }
  bool number_float(Json::number_float_t, const Json::string_t&) { return Scalar(nullptr); }
  bool string(Json::string_t& value) { return Scalar(&value); }
  bool binary(Json::binary_t&) { return Scalar(nullptr); }
  bool start_object(std::size_t) { return Open(true); }
  bool start_array(std::size_t) { return Open(false); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(Json::string_t& name) {
    if (depth_ != 1) return true;
    if (name == "alg") {
      member_ = Member::kAlg;
    } else if (name == "typ") {
      member_ = Member::kTyp;
    } else if (name == "crit") {
      // RFC 7515 §4.1.11: the extensions listed must be understood, and we know none.
      return Fail();
    } else {
      member_ = Member::kOther;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return Fail();
  }

 private:
  enum class Member { kNone, kAlg, kTyp, kOther };

  bool Fail() {
    invalid_ = true;
    return false;
  }

  // A value directly inside the top-level object; `text` is null for non-strings.
  bool OnMember(Json::string_t* text) {
    const Member member = std::exchange(member_, Member::kNone);
    if (member == Member::kAlg) {
      if (text == nullptr || alg_) return Fail();
      alg_ = std::move(*text);
    } else if (member == Member::kTyp) {
      // `typ` is a media type, so case-insensitive (RFC 7515 §4.1.9); "JWT" and
      // "application/jwt" are the spellings RFC 7519 §5.1 registers.
      if (text == nullptr || typ_seen_ || !IsJwtType(*text)) return Fail();
      typ_seen_ = true;
    }
    return true;
  }

  bool Scalar(Json::string_t* text) {
    if (depth_ == 0) return Fail();  // the header is not an object
    return depth_ == 1 ? OnMember(text) : true;
  }

  bool Open(bool object) {
    if (depth_ == 0) {
      if (!object) return Fail();
      object_seen_ = true;
    } else if (depth_ == 1 && !OnMember(nullptr)) {
      return false;
    }
    ++depth_;
    return true;
  }

  bool Close() {
    --depth_;
    return true;
  }

  static bool IsJwtType(std::string_view typ) {
    const auto equals = [typ](std::string_view expected) {
      return typ.size() == expected.size() &&
             std::equal(typ.begin(), typ.end(), expected.begin(), [](char a, char b) {
               return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
             });
    };
    return equals("jwt") || equals("application/jwt");
  }

  int depth_{0};
  Member member_{Member::kNone};
  bool object_seen_{false};
  bool typ_seen_{false};
  bool invalid_{false};
  std::optional<std::string> alg_;
};

// ---- ECDSA signature format ---------------------------------------------------------------

// Appends a DER INTEGER holding the unsigned big-endian `bytes`.
void AppendDerInteger(std::string_view bytes, std::string& der) {
  while (bytes.size() > 1 && bytes.front() == '\0') bytes.remove_prefix(1);
  const bool pad = (static_cast<unsigned char>(bytes.front()) & 0x80) != 0;  // keep it positive
  der += '\x02';
  der += static_cast<char>(bytes.size() + (pad ? 1 : 0));
  if (pad) der += '\0';
  der += bytes;
}

// JWS carries ECDSA signatures as r || s (fixed size); OpenSSL verifies the DER
// SEQUENCE { INTEGER r, INTEGER s }. Short-form DER lengths suffice up to P-384.
bool EcdsaRawToDer(std::string_view raw, std::size_t half, std::string& der) {
  if (raw.size() != 2 * half || half > 48) return false;
  std::string body;
  body.reserve(2 * half + 6);
  AppendDerInteger(raw.substr(0, half), body);
  AppendDerInteger(raw.substr(half), body);
  der.clear();
  der += '\x30';
  der += static_cast<char>(body.size());
  der += body;
  return true;
}

// ---- claims -------------------------------------------------------------------------------

const Json* Find(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// Values that go into HTTP headers and room names downstream.
bool HasControlCharacter(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

enum class DateState { kAbsent, kInvalid, kPresent };

// NumericDate (RFC 7519 §2): seconds since the epoch, possibly fractional.
DateState ReadDate(const Json& payload, const char* key, double& seconds) {
  const Json* value = Find(payload, key);
  if (value == nullptr) return DateState::kAbsent;
  if (!value->is_number()) return DateState::kInvalid;
  seconds = value->get<double>();
  return DateState::kPresent;
}

// Clamped: exp is the issuer's, but a silly value must not overflow the clock's int64.
Clock::time_point ToTimePoint(double seconds) {
  using Seconds = std::chrono::duration<double>;
  const double max = std::chrono::duration_cast<Seconds>(Clock::duration::max()).count();
  const double min = std::chrono::duration_cast<Seconds>(Clock::duration::min()).count();
  if (seconds >= max) return Clock::time_point::max();
  if (seconds <= min) return Clock::time_point::min();
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(Seconds(seconds)));
}

// The first of sub, user_id, id that is a non-empty string or an integer; "" if none,
// nullopt if it holds a control character.
std::optional<std::string> ReadSubject(const Json& payload) {
  for (const char* key : {"sub", "user_id", "id"}) {
    const Json* value = Find(payload, key);
    if (value == nullptr) continue;
    if (value->is_string()) {
      const auto& text = value->get_ref<const std::string&>();
      if (text.empty()) continue;
      if (HasControlCharacter(text)) return std::nullopt;
      return text;
    }
    if (value->is_number_integer()) return value->dump();  // unsigned too: no sign, no ".0"
  }
  return std::string();
}

// False when a role holds a control character.
bool ReadRoles(const Json& payload, Claims& claims) {
  const auto add = [&claims](const Json& value) {
    if (!value.is_string()) return true;  // unknown shapes grant nothing
    const auto& role = value.get_ref<const std::string&>();
    if (role.empty()) return true;
    if (HasControlCharacter(role)) return false;
    if (std::find(claims.roles.begin(), claims.roles.end(), role) == claims.roles.end()) {
      claims.roles.push_back(role);
    }
    return true;
  };
  if (const Json* roles = Find(payload, "roles")) {
    if (roles->is_array()) {
      claims.roles.reserve(roles->size() + 1);
      for (const Json& role : *roles) {
        if (!add(role)) return false;
      }
    } else if (!add(*roles)) {
      return false;
    }
  }
  const Json* role = Find(payload, "role");
  if (role != nullptr && role->is_string() && !role->get_ref<const std::string&>().empty()) {
    if (!add(*role)) return false;
    claims.role = role->get_ref<const std::string&>();
  } else if (!claims.roles.empty()) {
    claims.role = claims.roles.front();
  }
  return true;
}

bool AudienceMatches(const Json* aud, const std::string& audience) {
  if (aud == nullptr) return false;
  if (aud->is_string()) return aud->get_ref<const std::string&>() == audience;
  if (!aud->is_array()) return false;
  return std::any_of(aud->begin(), aud->end(), [&audience](const Json& entry) {
    return entry.is_string() && entry.get_ref<const std::string&>() == audience;
  });
}

// ---- settings -----------------------------------------------------------------------------

const Algorithm* FindAlgorithm(std::string_view name) {
  for (const Algorithm& algorithm : kAlgorithms) {
    if (algorithm.name == name) return &algorithm;
  }
  return nullptr;
}

std::string SupportedNames() {
  std::string names;
  for (const Algorithm& algorithm : kAlgorithms) {
    if (!names.empty()) names += ", ";
    names += algorithm.name;
  }
  return names;
}

std::string ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("auth.jwt.public_key_file: cannot read " + path + ": " +
                             std::strerror(errno));
  }
  std::string text;
  text.resize(static_cast<std::size_t>(kMaxKeyFileSize) + 1);
  in.read(text.data(), kMaxKeyFileSize + 1);
  if (in.bad()) {
    throw std::runtime_error("auth.jwt.public_key_file: cannot read " + path);
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > static_cast<std::size_t>(kMaxKeyFileSize)) {
    throw std::runtime_error("auth.jwt.public_key_file: " + path +
                             " is over 1 MiB, which is no PEM public key");
  }
  return text;
}

PkeyPtr LoadPublicKey(const std::string& path) {
  const std::string pem = ReadKeyFile(path);
  // Guessing the operator's intent is friendlier than OpenSSL's "unsupported" here.
  if (pem.find("PRIVATE KEY-----") != std::string::npos) {
    throw std::runtime_error("auth.jwt.public_key_file: " + path +
                             " holds a private key; give the gateway only the public key "
                             "(openssl pkey -in key.pem -pubout)");
  }
  if (pem.find("-----BEGIN CERTIFICATE-----") != std::string::npos) {
    throw std::runtime_error("auth.jwt.public_key_file: " + path +
                             " holds a certificate; extract its public key with "
                             "openssl x509 -in cert.pem -pubkey -noout");
  }
  EVP_PKEY* raw = nullptr;
  // Accepts SPKI ("PUBLIC KEY") and PKCS#1 ("RSA PUBLIC KEY") PEM alike.
  std::unique_ptr<OSSL_DECODER_CTX, DecoderCtxFree> decoder(OSSL_DECODER_CTX_new_for_pkey(
      &raw, "PEM", nullptr, nullptr, EVP_PKEY_PUBLIC_KEY, nullptr, nullptr));
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  std::size_t size = pem.size();
  if (!decoder || OSSL_DECODER_from_data(decoder.get(), &data, &size) != 1 || raw == nullptr) {
    EVP_PKEY_free(raw);
    throw std::runtime_error("auth.jwt.public_key_file: " + path +
                             " holds no PEM public key (" + OpenSslError() + ")");
  }
  return PkeyPtr(raw);
}

void CheckKeyFits(EVP_PKEY* key, const Algorithm& algorithm, const std::string& path) {
  const std::string prefix = "auth.jwt.public_key_file: " + path + ": ";
  if (algorithm.family == Family::kRsa) {
    // "RSA-PSS" keys are restricted to PSS padding and cannot verify RS* (PKCS#1 v1.5).
    if (EVP_PKEY_is_a(key, "RSA") != 1) {
      throw std::runtime_error(prefix + "not an RSA public key, which " +
                               std::string(algorithm.name) + " needs");
    }
    if (const int bits = EVP_PKEY_get_bits(key); bits < kMinRsaBits) {
      throw std::runtime_error(prefix + "the RSA key has " + std::to_string(bits) +
                               " bits; at least " + std::to_string(kMinRsaBits) +
                               " are required");
    }
    return;
  }
  std::array<char, 64> group{};
  std::size_t group_size = 0;
  if (EVP_PKEY_is_a(key, "EC") != 1 ||
      EVP_PKEY_get_group_name(key, group.data(), group.size(), &group_size) != 1 ||
      std::string_view(group.data(), group_size) != "prime256v1") {
    ERR_clear_error();
    throw std::runtime_error(prefix + "not an EC P-256 public key, which " +
                             std::string(algorithm.name) + " needs");
  }
}

// Keyed once here; Verify() duplicates it per call, which skips the algorithm fetch and
// the key schedule that a fresh context would cost on every request.
MacCtxPtr MakeHmacTemplate(const Algorithm& algorithm, const std::string& secret) {
  std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  MacCtxPtr ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
  const std::array params{
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                       const_cast<char*>(algorithm.digest), 0),
      OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(secret.data()),
                           secret.size(), params.data()) != 1) {
    throw std::runtime_error("auth.jwt: cannot set up HMAC-" + std::string(algorithm.digest) +
                             " (" + OpenSslError() + ")");
  }
  return ctx;
}

}  // namespace

std::optional<std::string> Base64UrlDecode(std::string_view in) {
  std::string out(in.size() * 3 / 4, '\0');
  const auto size = DecodeBase64Url(in, out.data());
  if (!size) return std::nullopt;
  out.resize(*size);
  return out;
}

std::string_view ToString(JwtError error) {
  switch (error) {
    case JwtError::kMalformed: return "malformed";
    case JwtError::kUnsupportedAlgorithm: return "unsupported_algorithm";
    case JwtError::kBadSignature: return "bad_signature";
    case JwtError::kExpired: return "expired";
    case JwtError::kNotYetValid: return "not_yet_valid";
    case JwtError::kWrongIssuer: return "wrong_issuer";
    case JwtError::kWrongAudience: return "wrong_audience";
    case JwtError::kMissingSubject: return "missing_subject";
    case JwtError::kMissingExpiry: return "missing_expiry";
  }
  return "unknown";
}

std::string_view Describe(JwtError error) {
  switch (error) {
    case JwtError::kMalformed: return "Malformed token";
    case JwtError::kUnsupportedAlgorithm: return "Token algorithm not accepted";
    case JwtError::kBadSignature: return "Invalid token signature";
    case JwtError::kExpired: return "Token expired";
    case JwtError::kNotYetValid: return "Token not yet valid";
    case JwtError::kWrongIssuer: return "Token issuer not accepted";
    case JwtError::kWrongAudience: return "Token audience not accepted";
    case JwtError::kMissingSubject: return "Token has no subject";
    case JwtError::kMissingExpiry: return "Token has no expiry";
  }
  return "Invalid token";
}

struct JwtVerifier::Impl {
  struct Pinned {
    const Algorithm* algorithm;
    MacCtxPtr hmac;  // keyed template, HMAC algorithms only
  };

  std::vector<Pinned> pinned_;  // at most a handful: a linear search beats a map
  PkeyPtr public_key_;
  std::string issuer_;
  std::string audience_;
  double leeway_seconds_{0};

  const Pinned* FindPinned(std::string_view name) const {
    for (const Pinned& pinned : pinned_) {
      if (pinned.algorithm->name == name) return &pinned;
    }
    return nullptr;
  }

  bool VerifyHmac(const Pinned& pinned, std::string_view input, std::string_view signature) const {
    unsigned char mac[EVP_MAX_MD_SIZE];
    std::size_t mac_size = 0;
    const MacCtxPtr ctx(EVP_MAC_CTX_dup(pinned.hmac.get()));
    if (!ctx ||
        EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) != 1 ||
        EVP_MAC_final(ctx.get(), mac, &mac_size, sizeof mac) != 1) {
      ERR_clear_error();
      return false;  // fail closed
    }
    // The length is public (it follows from alg); only the bytes need constant time.
    return signature.size() == mac_size &&
           CRYPTO_memcmp(mac, signature.data(), mac_size) == 0;
  }

  bool VerifyPublicKey(const Algorithm& algorithm, std::string_view input,
                       std::string_view signature) const {
    std::string der;
    if (algorithm.family == Family::kEc) {
      if (!EcdsaRawToDer(signature, algorithm.key_bytes, der)) return false;
      signature = der;
    }
    const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* key_ctx = nullptr;  // owned by ctx
    const bool ok =
        ctx &&
        EVP_DigestVerifyInit_ex(ctx.get(), &key_ctx, algorithm.digest, nullptr, nullptr,
                                public_key_.get(), nullptr) == 1 &&
        (algorithm.family != Family::kRsa ||
         EVP_PKEY_CTX_set_rsa_padding(key_ctx, RSA_PKCS1_PADDING) == 1) &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                         input.size()) == 1;
    if (!ok) ERR_clear_error();  // a forged token must not leave errors for the next TLS call
    return ok;
  }
};

JwtVerifier::JwtVerifier(const config::JwtSettings& settings) {
  auto impl = std::make_unique<Impl>();
  if (settings.algorithms.empty()) {
    throw std::runtime_error("auth.jwt.algorithms is empty; list the algorithm(s) the auth "
                             "service signs with (" + SupportedNames() + ")");
  }
  bool hmac = false;
  bool public_key = false;
  for (const std::string& name : settings.algorithms) {
    const Algorithm* algorithm = FindAlgorithm(name);
    if (algorithm == nullptr) {
      throw std::runtime_error("auth.jwt.algorithms: unsupported algorithm \"" + name +
                               "\" (supported, case-sensitive: " + SupportedNames() + ")");
    }
    if (impl->FindPinned(algorithm->name) != nullptr) continue;
    (algorithm->family == Family::kHmac ? hmac : public_key) = true;
    impl->pinned_.push_back({algorithm, nullptr});
  }
  if (hmac && public_key) {
    throw std::runtime_error(
        "auth.jwt.algorithms mixes HMAC (HS*) and public-key (RS*/ES*) algorithms; accepting "
        "both lets a token HMAC-signed with the public key pass (algorithm confusion), so "
        "pin one family");
  }
  if (settings.leeway.count() < 0) {
    throw std::runtime_error("auth.jwt.leeway must not be negative");
  }

  if (hmac) {
    for (Impl::Pinned& pinned : impl->pinned_) {
      const Algorithm& algorithm = *pinned.algorithm;
      if (settings.secret.empty()) {
        throw std::runtime_error("auth.jwt.secret is empty, and " + std::string(algorithm.name) +
                                 " needs it (set e.g. secret: ${JWT_SECRET})");
      }
      if (settings.secret.size() < algorithm.key_bytes) {
        throw std::runtime_error(
            "auth.jwt.secret is " + std::to_string(settings.secret.size()) + " bytes; " +
            std::string(algorithm.name) + " needs at least " +
            std::to_string(algorithm.key_bytes) + " (" + std::to_string(algorithm.key_bytes * 8) +
            " bits, RFC 7518 section 3.2)");
      }
      pinned.hmac = MakeHmacTemplate(algorithm, settings.secret);
    }
  } else {
    if (settings.public_key_file.empty()) {
      throw std::runtime_error("auth.jwt.public_key_file is not set, and " +
                               std::string(impl->pinned_.front().algorithm->name) +
                               " needs the issuer's PEM public key");
    }
    impl->public_key_ = LoadPublicKey(settings.public_key_file);
    for (const Impl::Pinned& pinned : impl->pinned_) {
      CheckKeyFits(impl->public_key_.get(), *pinned.algorithm, settings.public_key_file);
    }
  }

  impl->issuer_ = settings.issuer;
  impl->audience_ = settings.audience;
  impl->leeway_seconds_ = std::chrono::duration<double>(settings.leeway).count();
  impl_ = std::move(impl);
}

JwtVerifier::~JwtVerifier() = default;
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;

std::variant<Claims, JwtError> JwtVerifier::Verify(std::string_view token,
                                                   Clock::time_point now) const {
  const Impl& impl = *impl_;
  if (token.size() > kMaxTokenSize) return JwtError::kMalformed;

  const std::size_t first_dot = token.find('.');
  if (first_dot == std::string_view::npos) return JwtError::kMalformed;
  const std::size_t second_dot = token.find('.', first_dot + 1);
  if (second_dot == std::string_view::npos ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return JwtError::kMalformed;  // JWE (5 segments) and anything else
  }
  const std::string_view signing_input = token.substr(0, second_dot);

  // All three are decoded before the signature check so that a garbled token is reported
  // as malformed, not as forged. One buffer holds them all: decoding never grows data.
  const auto buffer = std::make_unique_for_overwrite<char[]>(token.size());
  const auto header_size = DecodeBase64Url(token.substr(0, first_dot), buffer.get());
  if (!header_size) return JwtError::kMalformed;
  char* const payload_begin = buffer.get() + *header_size;
  const auto payload_size =
      DecodeBase64Url(token.substr(first_dot + 1, second_dot - first_dot - 1), payload_begin);
  if (!payload_size) return JwtError::kMalformed;
  char* const signature_begin = payload_begin + *payload_size;
  const auto signature_size = DecodeBase64Url(token.substr(second_dot + 1), signature_begin);
  if (!signature_size) return JwtError::kMalformed;
  const std::string_view signature(signature_begin, *signature_size);

  // The header is read before it is authenticated (it names the algorithm); nothing in it
  // may pick a key or relax a check.
  HeaderReader header;
  if (!Json::sax_parse(buffer.get(), payload_begin, &header) || !header.Valid()) {
    return JwtError::kMalformed;
  }
  const Impl::Pinned* pinned = impl.FindPinned(header.Alg());
  if (pinned == nullptr) return JwtError::kUnsupportedAlgorithm;

  const bool signature_ok = pinned->algorithm->family == Family::kHmac
                                ? impl.VerifyHmac(*pinned, signing_input, signature)
                                : impl.VerifyPublicKey(*pinned->algorithm, signing_input,
                                                       signature);
  if (!signature_ok) return JwtError::kBadSignature;

  Claims claims;
  claims.payload = Json::parse(payload_begin, payload_begin + *payload_size, nullptr,
                               /*allow_exceptions=*/false);
  const Json& payload = claims.payload;
  if (!payload.is_object()) return JwtError::kMalformed;

  double exp = 0;
  double nbf = 0;
  double iat = 0;
  const DateState exp_state = ReadDate(payload, "exp", exp);
  const DateState nbf_state = ReadDate(payload, "nbf", nbf);
  const DateState iat_state = ReadDate(payload, "iat", iat);
  if (exp_state == DateState::kInvalid || nbf_state == DateState::kInvalid ||
      iat_state == DateState::kInvalid) {
    return JwtError::kMalformed;
  }
  if (exp_state == DateState::kAbsent) return JwtError::kMissingExpiry;

  const double now_seconds = std::chrono::duration<double>(now.time_since_epoch()).count();
  if (now_seconds >= exp + impl.leeway_seconds_) return JwtError::kExpired;
  if (nbf_state == DateState::kPresent && now_seconds + impl.leeway_seconds_ < nbf) {
    return JwtError::kNotYetValid;
  }
  if (iat_state == DateState::kPresent && now_seconds + impl.leeway_seconds_ < iat) {
    return JwtError::kNotYetValid;
  }

  if (!impl.issuer_.empty()) {
    const Json* iss = Find(payload, "iss");
    if (iss == nullptr || !iss->is_string() ||
        iss->get_ref<const std::string&>() != impl.issuer_) {
      return JwtError::kWrongIssuer;
    }
  }
  if (!impl.audience_.empty() && !AudienceMatches(Find(payload, "aud"), impl.audience_)) {
    return JwtError::kWrongAudience;
  }

  std::optional<std::string> subject = ReadSubject(payload);
  if (!subject) return JwtError::kMalformed;
  if (subject->empty()) return JwtError::kMissingSubject;
  claims.subject = std::move(*subject);
  if (!ReadRoles(payload, claims)) return JwtError::kMalformed;
  claims.expires_at = ToTimePoint(exp);
  return claims;
}

}  // namespace nilecare::auth
