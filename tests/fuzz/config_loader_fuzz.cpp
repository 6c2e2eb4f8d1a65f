// Fuzzes nilecare::config::LoadString, the reader of the gateway's YAML file.
//
// Contract: any text either loads or throws ConfigError listing its problems. Any other
// exception (a YAML::Exception subclass that escaped from yaml-cpp, std::out_of_range, ...)
// is a bug: it is deliberately not caught, so std::terminate aborts and libFuzzer reports
// the input. Settings that load are summarised too (--check-config prints that).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "nilecare/config/loader.hpp"

namespace {

// Every ${VAR} resolves to this: long enough for an HS256 secret, so the seeds get past
// auth.jwt's checks (it is no valid duration, size or address, which is fine: loading goes
// on after a problem).
std::optional<std::string> FixedEnv(const std::string& /*name*/) {
  return std::string("fuzz-env-value-0123456789abcdef0123456789");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  static const nilecare::config::EnvLookup env = FixedEnv;
  try {
    const nilecare::config::GatewaySettings settings =
        nilecare::config::LoadString(yaml, "fuzz.yaml", env);
    const std::string summary = nilecare::config::Summary(settings);
    if (summary.empty()) __builtin_trap();
  } catch (const nilecare::config::ConfigError& error) {
    // Expected for most inputs; it must say what is wrong.
    if (error.Problems().empty()) __builtin_trap();
  }
  return 0;
}
