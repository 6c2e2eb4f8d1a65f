#pragma once
// Reads the gateway's YAML file into GatewaySettings: ${VAR} / ${VAR:-default}
// substitution, then per-section parsing with units, then validation. Every problem is
// reported as "<file>:<line>: <key.path>: <what was expected>, got <what was found>".

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "nilecare/config/settings.hpp"

namespace nilecare::config {

// Returns the value of an environment variable, or nullopt when it is unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& Problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Throws ConfigError listing every problem found (not only the first).
GatewaySettings LoadFile(const std::string& path, const EnvLookup& env = ProcessEnv());
GatewaySettings LoadString(std::string_view yaml, std::string_view source_name,
                           const EnvLookup& env = ProcessEnv());

// A human-readable summary for --check-config (no secrets).
std::string Summary(const GatewaySettings& settings);

}  // namespace nilecare::config
