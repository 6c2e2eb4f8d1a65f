#include "nilecare/auth/jwt_verifier.hpp"

#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "nilecare/auth/jwt_signer.hpp"

namespace nilecare::auth {
namespace {

using Clock = std::chrono::system_clock;
using nlohmann::json;

// Exactly 32 bytes: the shortest secret HS256 accepts.
const std::string kSecret = "nilecare-test-secret-0123456789a";
const std::string kOtherSecret = "another-secret-of-32-bytes-xxxxx";
constexpr std::int64_t kNowSeconds = 1'750'000'000;
const Clock::time_point kNow{std::chrono::seconds(kNowSeconds)};

// ---- tokens made with OpenSSL ---------------------------------------------------------------

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey GenerateRsa(unsigned bits) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(bits)));
  if (!key) throw std::runtime_error("RSA keygen failed");
  return key;
}

Pkey GenerateP256() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw std::runtime_error("EC keygen failed");
  return key;
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string PublicPem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PUBKEY(bio.get(), key) != 1) throw std::runtime_error("PEM write failed");
  return BioText(bio.get());
}

std::string PrivatePem(EVP_PKEY* key) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw std::runtime_error("PEM write failed");
  }
  return BioText(bio.get());
}

// "-----BEGIN RSA PUBLIC KEY-----" (PKCS#1), which some issuers publish instead of SPKI.
std::string Pkcs1PublicPem(EVP_PKEY* key) {
  std::unique_ptr<OSSL_ENCODER_CTX, decltype(&OSSL_ENCODER_CTX_free)> encoder(
      OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", nullptr),
      &OSSL_ENCODER_CTX_free);
  unsigned char* data = nullptr;
  std::size_t size = 0;
  if (!encoder || OSSL_ENCODER_to_data(encoder.get(), &data, &size) != 1) {
    throw std::runtime_error("PKCS#1 encode failed");
  }
  std::string pem(reinterpret_cast<const char*>(data), size);
  OPENSSL_free(data);
  return pem;
}

std::string Signed(std::string_view header_text, std::string_view payload_text) {
  return Base64UrlEncode(header_text) + "." + Base64UrlEncode(payload_text);
}

std::string Mac(const char* digest, std::string_view secret, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t size = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, digest, nullptr, secret.data(), secret.size(),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                sizeof mac, &size) == nullptr) {
    throw std::runtime_error("HMAC failed");
  }
  return std::string(reinterpret_cast<const char*>(mac), size);
}

// HS256 over arbitrary header text, for headers SignHmac would not produce.
std::string Hs256Raw(std::string_view header_text, const json& payload,
                     std::string_view secret = kSecret) {
  const std::string input = Signed(header_text, payload.dump());
  return input + "." + Base64UrlEncode(Mac("SHA256", secret, input));
}

std::string DigestSign(EVP_PKEY* key, const char* digest, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                               &EVP_MD_CTX_free);
  std::size_t size = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key, nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, data, input.size()) != 1) {
    throw std::runtime_error("DigestSign failed");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, data,
                     input.size()) != 1) {
    throw std::runtime_error("DigestSign failed");
  }
  signature.resize(size);
  return signature;
}

// JWS wants r || s, OpenSSL produces DER.
std::string EcdsaDerToRaw(const std::string& der) {
  const auto* data = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig(
      d2i_ECDSA_SIG(nullptr, &data, static_cast<long>(der.size())), &ECDSA_SIG_free);
  if (!sig) throw std::runtime_error("bad DER signature");
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32);
  return raw;
}

std::string SignPublicKey(EVP_PKEY* key, std::string_view alg, const json& payload,
                          json header = json::object()) {
  header["alg"] = alg;
  header.emplace("typ", "JWT");
  const std::string input = Signed(header.dump(), payload.dump());
  const char* digest = alg.ends_with("384") ? "SHA384" : alg.ends_with("512") ? "SHA512" : "SHA256";
  std::string signature = DigestSign(key, digest, input);
  if (alg.starts_with("ES")) signature = EcdsaDerToRaw(signature);
  return input + "." + Base64UrlEncode(signature);
}

json Payload() {
  return {{"sub", "USR-1"},
          {"role", "doctor"},
          {"iss", "nilecare-auth"},
          {"aud", "nilecare"},
          {"iat", kNowSeconds - 60},
          {"exp", kNowSeconds + 3600}};
}

json PayloadWith(const json& changes) {
  json payload = Payload();
  for (const auto& [key, value] : changes.items()) {
    if (value.is_null()) {
      payload.erase(key);
    } else {
      payload[key] = value;
    }
  }
  return payload;
}

std::string Hs256(const json& payload = Payload(), std::string_view secret = kSecret) {
  return SignHmac("HS256", secret, payload);
}

config::JwtSettings HmacSettings(std::vector<std::string> algorithms = {"HS256"}) {
  config::JwtSettings settings;
  settings.algorithms = std::move(algorithms);
  settings.secret = kSecret;
  settings.issuer = "nilecare-auth";
  settings.audience = "nilecare";
  settings.leeway = std::chrono::seconds(30);
  return settings;
}

std::string Outcome(const std::variant<Claims, JwtError>& result) {
  if (const auto* error = std::get_if<JwtError>(&result)) return std::string(ToString(*error));
  return "ok";
}

class TempFile {
 public:
  explicit TempFile(std::string_view content) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("nilecare_jwt_test_" + std::to_string(::getpid()) + "_" +
              std::to_string(counter++) + ".pem"))
                .string();
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& Path() const { return path_; }

 private:
  std::string path_;
};

// Generated on first use, once per process: RSA key generation costs tens of milliseconds
// (more under sanitizers), and ctest runs every test in a process of its own, so the HMAC
// tests should not pay for it.
struct TestKeys {
  Pkey rsa = GenerateRsa(2048);
  Pkey other_rsa = GenerateRsa(2048);
  Pkey ec = GenerateP256();
  TempFile rsa_public{PublicPem(rsa.get())};
  TempFile ec_public{PublicPem(ec.get())};
};

const TestKeys& Keys() {
  static const TestKeys keys;
  return keys;
}
EVP_PKEY* Rsa() { return Keys().rsa.get(); }
EVP_PKEY* OtherRsa() { return Keys().other_rsa.get(); }
EVP_PKEY* Ec() { return Keys().ec.get(); }

config::JwtSettings RsaSettings(std::vector<std::string> algorithms = {"RS256"}) {
  config::JwtSettings settings = HmacSettings(std::move(algorithms));
  settings.secret.clear();
  settings.public_key_file = Keys().rsa_public.Path();
  return settings;
}

config::JwtSettings EcSettings() {
  config::JwtSettings settings = RsaSettings({"ES256"});
  settings.public_key_file = Keys().ec_public.Path();
  return settings;
}

// ---- valid tokens ---------------------------------------------------------------------------

TEST(JwtVerifierTest, AcceptsHs256AndFillsClaims) {
  const JwtVerifier verifier(HmacSettings());
  const auto result = verifier.Verify(Hs256(), kNow);
  ASSERT_EQ(Outcome(result), "ok");
  const Claims& claims = std::get<Claims>(result);
  EXPECT_EQ(claims.subject, "USR-1");
  EXPECT_EQ(claims.role, "doctor");
  EXPECT_EQ(claims.roles, std::vector<std::string>{"doctor"});
  EXPECT_EQ(claims.expires_at, Clock::time_point(std::chrono::seconds(kNowSeconds + 3600)));
  EXPECT_EQ(claims.payload, Payload());
}

TEST(JwtVerifierTest, AcceptsHs384AndHs512WithLongEnoughSecrets) {
  const std::string secret(64, 'k');
  for (const char* alg : {"HS384", "HS512"}) {
    config::JwtSettings settings = HmacSettings({alg});
    settings.secret = secret;
    const JwtVerifier verifier(settings);
    EXPECT_EQ(Outcome(verifier.Verify(SignHmac(alg, secret, Payload()), kNow)), "ok") << alg;
  }
}

TEST(JwtVerifierTest, AcceptsSeveralPinnedHmacAlgorithms) {
  config::JwtSettings settings = HmacSettings({"HS256", "HS512"});
  settings.secret = std::string(64, 'k');
  const JwtVerifier verifier(settings);
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(Payload(), settings.secret), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(SignHmac("HS512", settings.secret, Payload()), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(SignHmac("HS384", settings.secret, Payload()), kNow)),
            "unsupported_algorithm");
}

// RFC 7515 appendix A.1, byte for byte (its header has a CRLF and no sub).
TEST(JwtVerifierTest, VerifiesTheRfc7515Example) {
  config::JwtSettings settings = HmacSettings();
  settings.secret = std::string(
      "\x03\x23\x35\x4b\x2b\x0f\xa5\xbc\x83\x7e\x06\x65\x77\x7b\xa6\x8f\x5a\xb3\x28\xe6\xf0\x54"
      "\xc9\x28\xa9\x0f\x84\xb2\xd2\x50\x2e\xbf\xd3\xfb\x5a\x92\xd2\x06\x47\xef\x96\x8a\xb4\xc3"
      "\x77\x62\x3d\x22\x3d\x2e\x21\x72\x05\x2e\x4f\x08\xc0\xcd\x9a\xf5\x67\xd0\x80\xa3",
      64);
  settings.issuer = "joe";
  settings.audience.clear();
  const JwtVerifier verifier(settings);
  const std::string token =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
      ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
      "cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const Clock::time_point then{std::chrono::seconds(1300819300)};
  // Everything up to the subject passed, the signature included.
  EXPECT_EQ(Outcome(verifier.Verify(token, then)), "missing_subject");
  EXPECT_EQ(Outcome(verifier.Verify(token, then + std::chrono::hours(1))), "expired");
}

TEST(JwtVerifierTest, AcceptsRs256) {
  const JwtVerifier verifier(RsaSettings());
  const auto result = verifier.Verify(SignPublicKey(Rsa(), "RS256", Payload()), kNow);
  ASSERT_EQ(Outcome(result), "ok");
  EXPECT_EQ(std::get<Claims>(result).subject, "USR-1");
}

TEST(JwtVerifierTest, AcceptsRs384AndRs512) {
  const JwtVerifier verifier(RsaSettings({"RS384", "RS512"}));
  EXPECT_EQ(Outcome(verifier.Verify(SignPublicKey(Rsa(), "RS384", Payload()), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(SignPublicKey(Rsa(), "RS512", Payload()), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(SignPublicKey(Rsa(), "RS256", Payload()), kNow)),
            "unsupported_algorithm");
}

TEST(JwtVerifierTest, AcceptsAPkcs1RsaPublicKey) {
  const TempFile pkcs1(Pkcs1PublicPem(Rsa()));
  ASSERT_NE(Pkcs1PublicPem(Rsa()).find("BEGIN RSA PUBLIC KEY"), std::string::npos);
  config::JwtSettings settings = RsaSettings();
  settings.public_key_file = pkcs1.Path();
  const JwtVerifier verifier(settings);
  EXPECT_EQ(Outcome(verifier.Verify(SignPublicKey(Rsa(), "RS256", Payload()), kNow)), "ok");
}

TEST(JwtVerifierTest, AcceptsEs256) {
  const JwtVerifier verifier(EcSettings());
  // ECDSA signatures are randomized: r and s with a leading zero byte (short DER integers)
  // or a high bit (padded DER integers) both turn up over a few dozen tokens.
  for (int i = 0; i < 50; ++i) {
    const std::string token = SignPublicKey(Ec(), "ES256", Payload());
    ASSERT_EQ(Outcome(verifier.Verify(token, kNow)), "ok") << i;
  }
}

TEST(JwtVerifierTest, RejectsEs256SignaturesOfTheWrongShape) {
  const JwtVerifier verifier(EcSettings());
  const std::string token = SignPublicKey(Ec(), "ES256", Payload());
  const std::string input = token.substr(0, token.rfind('.'));
  // DER as produced by OpenSSL, not the JWS r || s form.
  const std::string der = DigestSign(Ec(), "SHA256", input);
  EXPECT_EQ(Outcome(verifier.Verify(input + "." + Base64UrlEncode(der), kNow)), "bad_signature");
  EXPECT_EQ(Outcome(verifier.Verify(input + "." + Base64UrlEncode(std::string(64, '\0')), kNow)),
            "bad_signature");
  EXPECT_EQ(Outcome(verifier.Verify(input + ".", kNow)), "bad_signature");
}

TEST(JwtVerifierTest, MovedVerifierStillVerifies) {
  JwtVerifier first(HmacSettings());
  const JwtVerifier second(std::move(first));
  EXPECT_EQ(Outcome(second.Verify(Hs256(), kNow)), "ok");
}

// ---- algorithm pinning ----------------------------------------------------------------------

TEST(JwtVerifierTest, RejectsAlgNone) {
  const JwtVerifier verifier(HmacSettings());
  for (const char* alg : {"none", "None", "NONE"}) {
    const std::string header = json{{"alg", alg}, {"typ", "JWT"}}.dump();
    EXPECT_EQ(Outcome(verifier.Verify(Signed(header, Payload().dump()) + ".", kNow)),
              "unsupported_algorithm")
        << alg;
    // A signature does not help either.
    EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(header, Payload()), kNow)),
              "unsupported_algorithm")
        << alg;
  }
}

TEST(JwtVerifierTest, RejectsAlgorithmNamesInAnotherCase) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(R"({"alg":"hs256","typ":"JWT"})", Payload()), kNow)),
            "unsupported_algorithm");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(R"({"alg":"Hs256","typ":"JWT"})", Payload()), kNow)),
            "unsupported_algorithm");
}

TEST(JwtVerifierTest, RejectsAlgorithmConfusionWithThePublicKeyAsHmacSecret) {
  const JwtVerifier verifier(RsaSettings());
  const std::string pem = PublicPem(Rsa());  // exactly the bytes of the configured key file
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(Payload(), pem), kNow)), "unsupported_algorithm");
  // The same with the PEM without its final newline, another common variant of the attack.
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(Payload(), pem.substr(0, pem.size() - 1)), kNow)),
            "unsupported_algorithm");
}

TEST(JwtVerifierTest, RejectsAPublicKeyTokenAgainstAnHmacConfiguration) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(SignPublicKey(Rsa(), "RS256", Payload()), kNow)),
            "unsupported_algorithm");
}

TEST(JwtVerifierTest, RejectsAnRsaTokenAgainstAnEcKeyAndViceVersa) {
  const JwtVerifier rsa(RsaSettings());
  const JwtVerifier ec(EcSettings());
  EXPECT_EQ(Outcome(rsa.Verify(SignPublicKey(Ec(), "ES256", Payload()), kNow)),
            "unsupported_algorithm");
  EXPECT_EQ(Outcome(ec.Verify(SignPublicKey(Rsa(), "RS256", Payload()), kNow)),
            "unsupported_algorithm");
}

// ---- signatures -----------------------------------------------------------------------------

TEST(JwtVerifierTest, RejectsATamperedPayload) {
  const JwtVerifier verifier(HmacSettings());
  const std::string token = Hs256();
  const std::size_t first = token.find('.');
  const std::size_t second = token.rfind('.');
  const std::string forged = token.substr(0, first + 1) +
                             Base64UrlEncode(PayloadWith({{"role", "admin"}}).dump()) +
                             token.substr(second);
  EXPECT_EQ(Outcome(verifier.Verify(forged, kNow)), "bad_signature");

  const JwtVerifier rsa(RsaSettings());
  const std::string rsa_token = SignPublicKey(Rsa(), "RS256", Payload());
  const std::string rsa_forged =
      rsa_token.substr(0, rsa_token.find('.') + 1) +
      Base64UrlEncode(PayloadWith({{"sub", "USR-2"}}).dump()) +
      rsa_token.substr(rsa_token.rfind('.'));
  EXPECT_EQ(Outcome(rsa.Verify(rsa_forged, kNow)), "bad_signature");
}

TEST(JwtVerifierTest, RejectsATamperedHeader) {
  const JwtVerifier verifier(HmacSettings());
  const std::string token = Hs256();
  const std::string forged =
      Base64UrlEncode(R"({"alg":"HS256","typ":"JWT","kid":"x"})") + token.substr(token.find('.'));
  EXPECT_EQ(Outcome(verifier.Verify(forged, kNow)), "bad_signature");
}

TEST(JwtVerifierTest, RejectsTheWrongKey) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(Payload(), kOtherSecret), kNow)), "bad_signature");
  const JwtVerifier rsa(RsaSettings());
  EXPECT_EQ(Outcome(rsa.Verify(SignPublicKey(OtherRsa(), "RS256", Payload()), kNow)),
            "bad_signature");
  const Pkey other_ec = GenerateP256();
  const JwtVerifier ec(EcSettings());
  EXPECT_EQ(Outcome(ec.Verify(SignPublicKey(other_ec.get(), "ES256", Payload()), kNow)),
            "bad_signature");
}

TEST(JwtVerifierTest, RejectsTruncatedOrEmptySignatures) {
  const JwtVerifier verifier(HmacSettings());
  const std::string token = Hs256();
  const std::string input = token.substr(0, token.rfind('.'));
  EXPECT_EQ(Outcome(verifier.Verify(input + ".", kNow)), "bad_signature");
  const std::string short_mac = Mac("SHA256", kSecret, input).substr(0, 16);
  EXPECT_EQ(Outcome(verifier.Verify(input + "." + Base64UrlEncode(short_mac), kNow)),
            "bad_signature");
  const JwtVerifier rsa(RsaSettings());
  const std::string rsa_token = SignPublicKey(Rsa(), "RS256", Payload());
  EXPECT_EQ(Outcome(rsa.Verify(rsa_token.substr(0, rsa_token.rfind('.') + 1), kNow)),
            "bad_signature");
  const std::string rsa_input = rsa_token.substr(0, rsa_token.rfind('.'));
  const std::string rsa_signature = DigestSign(Rsa(), "SHA256", rsa_input);
  EXPECT_EQ(Outcome(rsa.Verify(rsa_input + "." + Base64UrlEncode(rsa_signature.substr(0, 255)),
                               kNow)),
            "bad_signature");
  EXPECT_EQ(Outcome(rsa.Verify(rsa_input + "." + Base64UrlEncode(rsa_signature + '\0'), kNow)),
            "bad_signature");
  EXPECT_EQ(Outcome(rsa.Verify(rsa_input + "." + Base64UrlEncode(rsa_signature), kNow)), "ok");
}

// A forged token must not leave OpenSSL errors behind for the next user of this thread's
// error queue (a TLS read would misreport them as its own).
TEST(JwtVerifierTest, LeavesNoOpenSslErrorsBehind) {
  ERR_clear_error();
  const JwtVerifier rsa(RsaSettings());
  EXPECT_EQ(Outcome(rsa.Verify(SignPublicKey(OtherRsa(), "RS256", Payload()), kNow)),
            "bad_signature");
  EXPECT_EQ(ERR_peek_error(), 0u);
  const JwtVerifier ec(EcSettings());
  const std::string token = SignPublicKey(Ec(), "ES256", Payload());
  EXPECT_EQ(Outcome(ec.Verify(token.substr(0, token.rfind('.') + 1) +
                                  Base64UrlEncode(std::string(64, '\xff')),
                              kNow)),
            "bad_signature");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// HS512's MAC of the same input must not pass as HS256's (different length, different key use).
TEST(JwtVerifierTest, RejectsASignatureOfAnotherHmacSize) {
  const JwtVerifier verifier(HmacSettings());
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  const std::string input = Signed(header, Payload().dump());
  EXPECT_EQ(
      Outcome(verifier.Verify(input + "." + Base64UrlEncode(Mac("SHA512", kSecret, input)), kNow)),
      "bad_signature");
}

// ---- token shape ----------------------------------------------------------------------------

TEST(JwtVerifierTest, RequiresExactlyThreeSegments) {
  const JwtVerifier verifier(HmacSettings());
  const std::string token = Hs256();
  EXPECT_EQ(Outcome(verifier.Verify("", kNow)), "malformed");
  EXPECT_EQ(Outcome(verifier.Verify("abc", kNow)), "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(token.substr(0, token.rfind('.')), kNow)), "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(token + ".", kNow)), "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(token + ".e30", kNow)), "malformed");
  EXPECT_EQ(Outcome(verifier.Verify("..", kNow)), "malformed");
  // A JWE compact serialization has five segments.
  EXPECT_EQ(Outcome(verifier.Verify("eyJhbGciOiJkaXIifQ..aaaa.bbbb.cccc", kNow)), "malformed");
}

TEST(JwtVerifierTest, RejectsInvalidBase64Url) {
  const JwtVerifier verifier(HmacSettings());
  const std::string token = Hs256();
  const std::size_t first = token.find('.');
  const std::string header = token.substr(0, first);
  const std::string rest = token.substr(first);

  // Padding, even where it would be correct.
  EXPECT_EQ(Outcome(verifier.Verify(token + "=", kNow)), "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(header + "=" + rest, kNow)), "malformed");
  // The standard alphabet's + and /, whitespace, other bytes.
  for (const char bad : {'+', '/', ' ', '\n', '*', '\0', '\x80'}) {
    std::string broken = token;
    broken[5] = bad;
    EXPECT_EQ(Outcome(verifier.Verify(broken, kNow)), "malformed") << static_cast<int>(bad);
    broken = token;
    broken[token.size() - 3] = bad;
    EXPECT_EQ(Outcome(verifier.Verify(broken, kNow)), "malformed") << static_cast<int>(bad);
  }
  // A segment length no encoding produces (4n + 1; the signature has 43 characters).
  EXPECT_EQ(Outcome(verifier.Verify(token + "AA", kNow)), "malformed");
}

// Base64url of 32 bytes leaves 2 unused bits in the last character; setting them gives the
// same bytes with a different spelling, which a strict decoder refuses.
TEST(JwtVerifierTest, RejectsNonCanonicalBase64Url) {
  const JwtVerifier verifier(HmacSettings());
  std::string token = Hs256();
  const std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  ASSERT_EQ((token.size() - token.rfind('.') - 1) % 4, 3u);  // 43 characters
  const std::size_t index = alphabet.find(token.back());
  ASSERT_EQ(index & 3, 0u);
  token.back() = alphabet[index | 1];
  EXPECT_EQ(Outcome(verifier.Verify(token, kNow)), "malformed");
}

TEST(JwtVerifierTest, RejectsOversizeTokens) {
  const JwtVerifier verifier(HmacSettings());
  const std::size_t base = Hs256().size();
  // Largest filler that stays within the limit (4 base64 characters per 3 bytes).
  const std::size_t fits = (kMaxTokenSize - base - 20) * 3 / 4;
  const std::string under = Hs256(PayloadWith({{"filler", std::string(fits, 'x')}}));
  ASSERT_LE(under.size(), kMaxTokenSize);
  ASSERT_GT(under.size(), kMaxTokenSize - 16);
  EXPECT_EQ(Outcome(verifier.Verify(under, kNow)), "ok");
  const std::string over = Hs256(PayloadWith({{"filler", std::string(fits + 12, 'x')}}));
  ASSERT_GT(over.size(), kMaxTokenSize);
  EXPECT_EQ(Outcome(verifier.Verify(over, kNow)), "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(std::string(1024 * 1024, 'A'), kNow)), "malformed");
}

TEST(JwtVerifierTest, RequiresJsonObjectHeaderWithAlg) {
  const JwtVerifier verifier(HmacSettings());
  for (const char* header : {R"(["HS256"])", R"("HS256")", "not json", "", R"({"typ":"JWT"})",
                             R"({"alg":256})", R"({"alg":null})", R"({"alg":"HS256")"}) {
    EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(header, Payload()), kNow)), "malformed") << header;
  }
}

TEST(JwtVerifierTest, ReadsOnlyTopLevelHeaderMembers) {
  const JwtVerifier verifier(HmacSettings());
  // Nested values are skipped, whatever they contain.
  EXPECT_EQ(Outcome(verifier.Verify(
                Hs256Raw(R"({"jwk":{"alg":"none","k":[1,{"crit":2}]},"alg":"HS256","x5c":[]})",
                         Payload()),
                kNow)),
            "ok");
  // An alg only inside another member is no alg.
  EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(R"({"jwk":{"alg":"HS256"}})", Payload()), kNow)),
            "malformed");
  // Duplicates would let two readers of one token disagree about the algorithm.
  EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(R"({"alg":"HS256","alg":"HS256"})", Payload()), kNow)),
            "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(R"({"alg":"none","alg":"HS256"})", Payload()), kNow)),
            "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(R"({"alg":"HS256","typ":"JWT","typ":"JWT"})",
                                             Payload()),
                                    kNow)),
            "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(R"({"alg":"HS256"}{})", Payload()), kNow)),
            "malformed");
}

TEST(JwtVerifierTest, ChecksTyp) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(Hs256Raw(R"({"alg":"HS256"})", Payload()), kNow)), "ok");
  for (const char* typ : {"JWT", "jwt", "application/jwt"}) {
    EXPECT_EQ(Outcome(verifier.Verify(SignHmac("HS256", kSecret, Payload(), {{"typ", typ}}), kNow)),
              "ok")
        << typ;
  }
  for (const json& typ : {json("JWS"), json("at+jwt"), json(""), json(1), json(nullptr)}) {
    EXPECT_EQ(Outcome(verifier.Verify(SignHmac("HS256", kSecret, Payload(), {{"typ", typ}}), kNow)),
              "malformed")
        << typ;
  }
}

TEST(JwtVerifierTest, RejectsCrit) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(
                SignHmac("HS256", kSecret, Payload(), {{"crit", {"b64"}}, {"b64", false}}), kNow)),
            "malformed");
  const json empty_crit = {{"crit", json::array()}};
  EXPECT_EQ(Outcome(verifier.Verify(SignHmac("HS256", kSecret, Payload(), empty_crit), kNow)),
            "malformed");
}

TEST(JwtVerifierTest, IgnoresKeyHintsInTheHeader) {
  const JwtVerifier verifier(HmacSettings());
  const json hints = {{"kid", "other"}, {"jku", "https://evil.example/keys"}, {"x5u", "x"}};
  EXPECT_EQ(Outcome(verifier.Verify(SignHmac("HS256", kSecret, Payload(), hints), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(SignHmac("HS256", kOtherSecret, Payload(), hints), kNow)),
            "bad_signature");
}

TEST(JwtVerifierTest, RequiresJsonObjectPayload) {
  const JwtVerifier verifier(HmacSettings());
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  for (const char* payload : {"[1,2]", "\"USR-1\"", "42", "null", "{", "{\"sub\":\"x\"} x"}) {
    const std::string input = Signed(header, payload);
    const std::string token = input + "." + Base64UrlEncode(Mac("SHA256", kSecret, input));
    EXPECT_EQ(Outcome(verifier.Verify(token, kNow)), "malformed") << payload;
  }
}

// ---- time claims ----------------------------------------------------------------------------

TEST(JwtVerifierTest, RequiresNumericExp) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"exp", nullptr}})), kNow)),
            "missing_expiry");
  for (const json& exp : {json("1750003600"), json(true), json::array({1750003600})}) {
    EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"exp", exp}})), kNow)), "malformed")
        << exp;
  }
  const auto fractional = verifier.Verify(Hs256(PayloadWith({{"exp", kNowSeconds + 0.5}})), kNow);
  ASSERT_EQ(Outcome(fractional), "ok");
  EXPECT_EQ(std::get<Claims>(fractional).expires_at,
            kNow + std::chrono::milliseconds(500));
}

TEST(JwtVerifierTest, AppliesLeewayToExp) {
  const JwtVerifier verifier(HmacSettings());  // leeway 30 s
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"exp", kNowSeconds - 10}})), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"exp", kNowSeconds - 29}})), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"exp", kNowSeconds - 30}})), kNow)),
            "expired");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"exp", kNowSeconds - 31}})), kNow)),
            "expired");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"exp", 0}})), kNow)), "expired");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"exp", -1e300}})), kNow)), "expired");

  config::JwtSettings strict = HmacSettings();
  strict.leeway = std::chrono::seconds(0);
  const JwtVerifier no_leeway(strict);
  EXPECT_EQ(Outcome(no_leeway.Verify(Hs256(PayloadWith({{"exp", kNowSeconds}})), kNow)),
            "expired");
  EXPECT_EQ(Outcome(no_leeway.Verify(Hs256(PayloadWith({{"exp", kNowSeconds + 1}})), kNow)),
            "ok");
}

TEST(JwtVerifierTest, ClampsAbsurdExpiry) {
  const JwtVerifier verifier(HmacSettings());
  const auto result = verifier.Verify(Hs256(PayloadWith({{"exp", 1e300}})), kNow);
  ASSERT_EQ(Outcome(result), "ok");
  EXPECT_EQ(std::get<Claims>(result).expires_at, Clock::time_point::max());
}

TEST(JwtVerifierTest, ChecksNbfWithLeeway) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"nbf", kNowSeconds - 100}})), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"nbf", kNowSeconds + 20}})), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"nbf", kNowSeconds + 31}})), kNow)),
            "not_yet_valid");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"nbf", kNowSeconds + 3000}})), kNow)),
            "not_yet_valid");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"nbf", "soon"}})), kNow)), "malformed");
}

TEST(JwtVerifierTest, ChecksIatWithLeeway) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iat", kNowSeconds + 20}})), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iat", kNowSeconds + 120}})), kNow)),
            "not_yet_valid");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iat", nullptr}})), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iat", "yesterday"}})), kNow)),
            "malformed");
}

TEST(JwtVerifierTest, UsesTheCurrentTimeByDefault) {
  const JwtVerifier verifier(HmacSettings());
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iat", now}, {"exp", now + 60}})))), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iat", now - 600}, {"exp", now - 300}})))),
            "expired");
}

// ---- issuer and audience --------------------------------------------------------------------

TEST(JwtVerifierTest, ChecksIssuer) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iss", "evil-auth"}})), kNow)),
            "wrong_issuer");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iss", "NILECARE-AUTH"}})), kNow)),
            "wrong_issuer");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iss", nullptr}})), kNow)),
            "wrong_issuer");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iss", {"nilecare-auth"}}})), kNow)),
            "wrong_issuer");
}

TEST(JwtVerifierTest, ChecksAudienceAsStringOrArray) {
  const JwtVerifier verifier(HmacSettings());
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"aud", {"billing", "nilecare"}}})), kNow)),
            "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"aud", {1, "nilecare"}}})), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"aud", {"billing", "other"}}})), kNow)),
            "wrong_audience");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"aud", json::array()}})), kNow)),
            "wrong_audience");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"aud", "billing"}})), kNow)),
            "wrong_audience");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"aud", nullptr}})), kNow)),
            "wrong_audience");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"aud", {{"nilecare", true}}}})), kNow)),
            "wrong_audience");
}

TEST(JwtVerifierTest, SkipsIssuerAndAudienceWhenNotConfigured) {
  config::JwtSettings settings = HmacSettings();
  settings.issuer.clear();
  settings.audience.clear();
  const JwtVerifier verifier(settings);
  const json neither = {{"iss", nullptr}, {"aud", nullptr}};
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith(neither)), kNow)), "ok");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"iss", "x"}, {"aud", "y"}})), kNow)), "ok");
}

// ---- subject and roles ----------------------------------------------------------------------

TEST(JwtVerifierTest, TakesTheSubjectFromSubThenUserIdThenId) {
  const JwtVerifier verifier(HmacSettings());
  const auto subject = [&](const json& changes) {
    const auto result = verifier.Verify(Hs256(PayloadWith(changes)), kNow);
    return Outcome(result) == "ok" ? std::get<Claims>(result).subject : Outcome(result);
  };
  EXPECT_EQ(subject({{"user_id", "USR-2"}, {"id", "USR-3"}}), "USR-1");
  EXPECT_EQ(subject({{"sub", nullptr}, {"user_id", "USR-2"}, {"id", "USR-3"}}), "USR-2");
  EXPECT_EQ(subject({{"sub", nullptr}, {"id", "USR-3"}}), "USR-3");
  EXPECT_EQ(subject({{"sub", nullptr}, {"id", 42}}), "42");
  EXPECT_EQ(subject({{"sub", ""}, {"user_id", "USR-2"}}), "USR-2");
  EXPECT_EQ(subject({{"sub", nullptr}}), "missing_subject");
  EXPECT_EQ(subject({{"sub", ""}}), "missing_subject");
  EXPECT_EQ(subject({{"sub", 1.5}}), "missing_subject");
  EXPECT_EQ(subject({{"sub", {{"id", "x"}}}}), "missing_subject");
  // It would become an X-User-ID header: no header injection through a signed claim either.
  EXPECT_EQ(subject({{"sub", "USR-1\r\nX-User-Role: admin"}}), "malformed");
}

TEST(JwtVerifierTest, CollectsRoles) {
  const JwtVerifier verifier(HmacSettings());
  const auto claims_of = [&](const json& changes) {
    const auto result = verifier.Verify(Hs256(PayloadWith(changes)), kNow);
    EXPECT_EQ(Outcome(result), "ok") << changes;
    return Outcome(result) == "ok" ? std::get<Claims>(result) : Claims{};
  };
  using Roles = std::vector<std::string>;

  Claims claims = claims_of({{"role", nullptr}, {"roles", {"nurse", "doctor"}}});
  EXPECT_EQ(claims.role, "nurse");
  EXPECT_EQ(claims.roles, (Roles{"nurse", "doctor"}));

  claims = claims_of({{"role", "admin"}, {"roles", {"nurse", "admin"}}});
  EXPECT_EQ(claims.role, "admin");
  EXPECT_EQ(claims.roles, (Roles{"nurse", "admin"}));

  claims = claims_of({{"role", "admin"}, {"roles", {"nurse", 7, nullptr, ""}}});
  EXPECT_EQ(claims.role, "admin");
  EXPECT_EQ(claims.roles, (Roles{"nurse", "admin"}));

  claims = claims_of({{"role", nullptr}, {"roles", "nurse"}});
  EXPECT_EQ(claims.role, "nurse");
  EXPECT_EQ(claims.roles, Roles{"nurse"});

  claims = claims_of({{"role", nullptr}});
  EXPECT_EQ(claims.role, "");
  EXPECT_TRUE(claims.roles.empty());

  claims = claims_of({{"role", {"doctor"}}});  // not a string: grants nothing
  EXPECT_EQ(claims.role, "");
  EXPECT_TRUE(claims.roles.empty());

  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"role", "doctor\n"}})), kNow)),
            "malformed");
  EXPECT_EQ(Outcome(verifier.Verify(Hs256(PayloadWith({{"roles", {"a", "b\x7f"}}})), kNow)),
            "malformed");
}

// ---- settings -------------------------------------------------------------------------------

// The message of the std::runtime_error `make` throws, or "" (a test failure) if none.
template <typename Make>
std::string ThrownMessage(Make make) {
  try {
    make();
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  ADD_FAILURE() << "no exception";
  return "";
}

TEST(JwtVerifierTest, RefusesUnknownOrMissingAlgorithms) {
  for (const char* name : {"hs256", "none", "PS256", "ES384", "HS1", ""}) {
    const std::string message =
        ThrownMessage([&] { JwtVerifier verifier(HmacSettings({"HS256", name})); });
    EXPECT_NE(message.find("auth.jwt.algorithms"), std::string::npos) << message;
    EXPECT_NE(message.find("unsupported"), std::string::npos) << message;
  }
  EXPECT_NE(ThrownMessage([] { JwtVerifier verifier(HmacSettings({})); }).find("empty"),
            std::string::npos);
}

TEST(JwtVerifierTest, RefusesMissingOrShortSecrets) {
  config::JwtSettings settings = HmacSettings();
  settings.secret.clear();
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("auth.jwt.secret"),
            std::string::npos);

  settings.secret = "short-but-secret-value-31-bytes";
  ASSERT_EQ(settings.secret.size(), 31u);
  const std::string message = ThrownMessage([&] { JwtVerifier verifier(settings); });
  EXPECT_NE(message.find("at least 32"), std::string::npos) << message;
  EXPECT_EQ(message.find(settings.secret), std::string::npos) << "the secret leaked";

  settings = HmacSettings({"HS512"});  // a 32-byte secret is too short for HS512
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("at least 64"),
            std::string::npos);
  settings = HmacSettings({"HS256", "HS384"});
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("at least 48"),
            std::string::npos);
}

TEST(JwtVerifierTest, RefusesMixedFamilies) {
  config::JwtSettings settings = RsaSettings({"RS256", "HS256"});
  settings.secret = kSecret;
  const std::string message = ThrownMessage([&] { JwtVerifier verifier(settings); });
  EXPECT_NE(message.find("mixes"), std::string::npos) << message;
  settings.algorithms = {"HS256", "ES256"};
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("mixes"),
            std::string::npos);
}

TEST(JwtVerifierTest, RefusesMissingOrUnusableKeyFiles) {
  config::JwtSettings settings = RsaSettings();
  settings.public_key_file.clear();
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); })
                .find("auth.jwt.public_key_file is not set"),
            std::string::npos);

  settings.public_key_file = "/nonexistent/nilecare/jwt.pub";
  std::string message = ThrownMessage([&] { JwtVerifier verifier(settings); });
  EXPECT_NE(message.find("cannot read /nonexistent/nilecare/jwt.pub"), std::string::npos)
      << message;

  const TempFile garbage(
      "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n");
  settings.public_key_file = garbage.Path();
  message = ThrownMessage([&] { JwtVerifier verifier(settings); });
  EXPECT_NE(message.find("no PEM public key"), std::string::npos) << message;

  const TempFile empty("");
  settings.public_key_file = empty.Path();
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("no PEM public key"),
            std::string::npos);

  const TempFile private_key(PrivatePem(Rsa()));
  settings.public_key_file = private_key.Path();
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("private key"),
            std::string::npos);
}

TEST(JwtVerifierTest, RefusesKeysOfTheWrongKindOrSize) {
  config::JwtSettings settings = RsaSettings();
  settings.public_key_file = Keys().ec_public.Path();
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("not an RSA public key"),
            std::string::npos);

  settings = EcSettings();
  settings.public_key_file = Keys().rsa_public.Path();
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("not an EC P-256"),
            std::string::npos);

  // One key file cannot serve both RS* and ES*.
  settings = RsaSettings({"RS256", "ES256"});
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("not an EC P-256"),
            std::string::npos);

  const Pkey weak = GenerateRsa(1024);
  const TempFile weak_public(PublicPem(weak.get()));
  settings = RsaSettings();
  settings.public_key_file = weak_public.Path();
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("1024 bits"),
            std::string::npos);

  const Pkey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  const TempFile p384_public(PublicPem(p384.get()));
  settings = EcSettings();
  settings.public_key_file = p384_public.Path();
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("not an EC P-256"),
            std::string::npos);
}

TEST(JwtVerifierTest, RefusesNegativeLeeway) {
  config::JwtSettings settings = HmacSettings();
  settings.leeway = std::chrono::seconds(-1);
  EXPECT_NE(ThrownMessage([&] { JwtVerifier verifier(settings); }).find("leeway"),
            std::string::npos);
}

// ---- errors ---------------------------------------------------------------------------------

TEST(JwtErrorTest, EveryErrorHasAStableNameAndAMessage) {
  const std::vector<std::pair<JwtError, std::string_view>> names = {
      {JwtError::kMalformed, "malformed"},
      {JwtError::kUnsupportedAlgorithm, "unsupported_algorithm"},
      {JwtError::kBadSignature, "bad_signature"},
      {JwtError::kExpired, "expired"},
      {JwtError::kNotYetValid, "not_yet_valid"},
      {JwtError::kWrongIssuer, "wrong_issuer"},
      {JwtError::kWrongAudience, "wrong_audience"},
      {JwtError::kMissingSubject, "missing_subject"},
      {JwtError::kMissingExpiry, "missing_expiry"},
  };
  std::set<std::string_view> messages;
  for (const auto& [error, name] : names) {
    EXPECT_EQ(ToString(error), name);
    EXPECT_FALSE(Describe(error).empty());
    messages.insert(Describe(error));
  }
  EXPECT_EQ(messages.size(), names.size());
  EXPECT_EQ(Describe(JwtError::kExpired), "Token expired");
}

// ---- signer ---------------------------------------------------------------------------------

TEST(JwtSignerTest, EncodesBase64UrlWithoutPadding) {
  // RFC 4648 §10 vectors, plus the two characters that differ from standard base64.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(JwtSignerTest, RefusesNonHmacAlgorithms) {
  EXPECT_THROW(SignHmac("RS256", kSecret, json::object()), std::invalid_argument);
  EXPECT_THROW(SignHmac("none", kSecret, json::object()), std::invalid_argument);
  EXPECT_THROW(SignHmac("HS256", kSecret, json::object(), json::array()), std::invalid_argument);
}

// ---- concurrency and speed ------------------------------------------------------------------

TEST(JwtVerifierTest, VerifiesConcurrentlyFromSeveralThreads) {
  const JwtVerifier hmac(HmacSettings());
  const JwtVerifier rsa(RsaSettings());
  const std::string hs_token = Hs256();
  const std::string hs_forged = Hs256(Payload(), kOtherSecret);
  const std::string rs_token = SignPublicKey(Rsa(), "RS256", Payload());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        if (Outcome(hmac.Verify(hs_token, kNow)) != "ok") ++wrong;
        if (Outcome(hmac.Verify(hs_forged, kNow)) != "bad_signature") ++wrong;
        if (i % 10 == 0 && Outcome(rsa.Verify(rs_token, kNow)) != "ok") ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
}

// Prints the cost per verification; no threshold (sanitizer and debug builds are far
// slower), the numbers are for reading.
TEST(JwtVerifierTest, MicroBenchmark) {
  const auto measure = [](const char* name, const JwtVerifier& verifier, const std::string& token,
                          int iterations) {
    int ok = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iterations; ++i) {
      ok += std::holds_alternative<Claims>(verifier.Verify(token, kNow)) ? 1 : 0;
    }
    const std::chrono::duration<double, std::micro> elapsed =
        std::chrono::steady_clock::now() - start;
    EXPECT_EQ(ok, iterations);
    std::cout << "[ bench    ] " << name << " verify: " << elapsed.count() / iterations
              << " us (" << token.size() << "-byte token, " << iterations << " runs)\n";
  };
  measure("HS256", JwtVerifier(HmacSettings()), Hs256(), 10000);
  measure("RS256", JwtVerifier(RsaSettings()), SignPublicKey(Rsa(), "RS256", Payload()), 2000);
  measure("ES256", JwtVerifier(EcSettings()), SignPublicKey(Ec(), "ES256", Payload()), 2000);
}

}  // namespace
}  // namespace nilecare::auth

namespace nilecare::auth {
namespace {

TEST(Base64UrlTest, DecodesWhatTheSignerEncodesAndNothingLoose) {
  const std::vector<std::string> texts = {"", "a", "ab", "abc", "{\"exp\":1}",
                                         std::string("\0\xff\x10", 3)};
  for (const std::string& text : texts) {
    EXPECT_EQ(Base64UrlDecode(Base64UrlEncode(text)), text);
  }
  EXPECT_EQ(Base64UrlDecode("YQ=="), std::nullopt);  // padding
  EXPECT_EQ(Base64UrlDecode("YR"), std::nullopt);    // non-canonical last character
  EXPECT_EQ(Base64UrlDecode("Y+8"), std::nullopt);   // base64, not base64url
  EXPECT_EQ(Base64UrlDecode("Y"), std::nullopt);     // impossible length
}

}  // namespace
}  // namespace nilecare::auth
