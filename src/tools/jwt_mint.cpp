// nilecare-jwt-mint: prints an HMAC-signed JWT that the gateway accepts, for benchmarks,
// tests and local runs. It signs what the auth service (port 7020) would sign when it is
// configured like the gateway's
//
//   auth: { jwt: { algorithms: [HS256], secret: ${JWT_SECRET}, issuer: nilecare-auth,
//                  audience: nilecare } }
//
// The secret can come from the environment (--secret-env, default JWT_SECRET) so that it
// does not show up in `ps` or the shell history; --secret is there for throwaway secrets.

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "flag_reader.hpp"
#include "nilecare/auth/jwt_signer.hpp"

namespace nilecare::tools {
namespace {

constexpr std::string_view kProgram = "nilecare-jwt-mint";
constexpr int kExitFailure = 1;
// Keeps now + ttl far from overflow; no real token lives longer.
constexpr long long kMaxTtl = 10LL * 366 * 24 * 3600;

constexpr std::string_view kUsage =
    "usage: nilecare-jwt-mint [--secret S | --secret-env VAR] [--alg HS256|HS384|HS512]\n"
    "                         [--sub USR-1] [--role doctor] [--iss nilecare-auth]\n"
    "                         [--aud nilecare] [--ttl 3600] [--claims JSON] [--help]\n"
    "\n"
    "Prints a signed JWT (header.payload.signature) and a newline.\n"
    "\n"
    "  --secret S        the HMAC secret (visible to `ps`: prefer --secret-env)\n"
    "  --secret-env VAR  read the secret from $VAR (default: JWT_SECRET)\n"
    "  --alg A           HS256 (default), HS384 or HS512\n"
    "  --sub ID          subject (default USR-1)\n"
    "  --role R          role claim (default doctor); empty: no role claim\n"
    "  --iss I           issuer (default nilecare-auth); empty: no iss claim\n"
    "  --aud A           audience (default nilecare); empty: no aud claim\n"
    "  --ttl SECONDS     exp = now + SECONDS (default 3600); negative mints an expired token\n"
    "  --claims JSON     object merged into the payload last, e.g. '{\"roles\":[\"nurse\"]}'\n"
    "  --help            this text\n";

// RFC 7518 §3.2 minimums, which the gateway enforces on its side.
std::size_t MinSecretSize(std::string_view alg) {
  return alg == "HS512" ? 64 : alg == "HS384" ? 48 : 32;
}

struct Options {
  std::optional<std::string> secret;
  std::string secret_env{"JWT_SECRET"};
  std::string alg{"HS256"};
  std::string sub{"USR-1"};
  std::string role{"doctor"};
  std::string iss{"nilecare-auth"};
  std::string aud{"nilecare"};
  long long ttl{3600};
  nlohmann::json claims = nlohmann::json::object();
  bool help{false};
};

// Returns the options, or an error message for the usage line.
std::optional<Options> ParseArgs(int argc, char** argv, std::string& error) {
  Options options;
  nilecare::tools::FlagReader flags(argc, argv);
  while (flags.Next()) {
    if (flags.IsHelp()) {
      options.help = true;
      continue;
    }
    const std::string_view arg = flags.Flag();
    std::string* target = nullptr;
    if (arg == "--secret-env") {
      target = &options.secret_env;
    } else if (arg == "--alg") {
      target = &options.alg;
    } else if (arg == "--sub") {
      target = &options.sub;
    } else if (arg == "--role") {
      target = &options.role;
    } else if (arg == "--iss") {
      target = &options.iss;
    } else if (arg == "--aud") {
      target = &options.aud;
    } else if (arg != "--secret" && arg != "--ttl" && arg != "--claims") {
      error = flags.Unknown();
      return std::nullopt;
    }
    const auto text = flags.Value();
    if (!text) {
      error = flags.Error();
      return std::nullopt;
    }
    if (target != nullptr) {
      *target = *text;
    } else if (arg == "--secret") {
      options.secret = std::string(*text);
    } else if (arg == "--ttl") {
      const char* end = text->data() + text->size();
      const auto [ptr, ec] = std::from_chars(text->data(), end, options.ttl);
      if (ec != std::errc() || ptr != end || options.ttl > kMaxTtl || options.ttl < -kMaxTtl) {
        error = "--ttl wants a whole number of seconds (at most 10 years either way)";
        return std::nullopt;
      }
    } else {  // --claims
      options.claims = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (!options.claims.is_object()) {
        error = "--claims wants a JSON object";
        return std::nullopt;
      }
    }
  }
  if (options.alg != "HS256" && options.alg != "HS384" && options.alg != "HS512") {
    error = "--alg wants HS256, HS384 or HS512";
    return std::nullopt;
  }
  if (options.sub.empty()) {
    error = "--sub must not be empty (the gateway refuses tokens without a subject)";
    return std::nullopt;
  }
  return options;
}

int Run(int argc, char** argv) {
  int exit_code = 0;
  const auto options = nilecare::tools::ParseCommandLine(argc, argv, ParseArgs, kProgram, kUsage,
                                                           exit_code);
  if (!options) return exit_code;

  std::string secret;
  if (options->secret) {
    secret = *options->secret;
  } else if (const char* env = std::getenv(options->secret_env.c_str()); env != nullptr) {
    secret = env;
  }
  if (secret.empty()) {
    std::cerr << kProgram << ": no secret: pass --secret or set " << options->secret_env << "\n";
    return kExitUsage;
  }
  if (secret.size() < MinSecretSize(options->alg)) {
    // Still minted: a deliberately weak token is a valid test input.
    std::cerr << kProgram << ": warning: the secret is " << secret.size() << " bytes; the gateway "
              << "refuses " << options->alg << " secrets under " << MinSecretSize(options->alg)
              << "\n";
  }

  const long long now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  nlohmann::json payload = {{"sub", options->sub}, {"iat", now}, {"exp", now + options->ttl}};
  if (!options->role.empty()) payload["role"] = options->role;
  if (!options->iss.empty()) payload["iss"] = options->iss;
  if (!options->aud.empty()) payload["aud"] = options->aud;
  payload.update(options->claims);

  std::cout << auth::SignHmac(options->alg, secret, payload) << '\n';
  return std::cout.flush() ? 0 : kExitFailure;
}

}  // namespace
}  // namespace nilecare::tools

int main(int argc, char** argv) {
  return nilecare::tools::RunMain(nilecare::tools::kProgram,
                                  [&] { return nilecare::tools::Run(argc, argv); });
}
