#pragma once
// Helpers shared by the config loader tests: load YAML text with a fake environment and
// collect the problems it reports.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nilecare/config/loader.hpp"

namespace nilecare::config::test_support {

inline constexpr std::size_t kKiB = 1024;
inline constexpr std::size_t kMiB = 1024 * kKiB;

inline EnvLookup FakeEnv(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

inline GatewaySettings Load(std::string_view yaml, std::map<std::string, std::string> vars = {}) {
  return LoadString(yaml, "gw.yaml", FakeEnv(std::move(vars)));
}

// The problems reported for `yaml`; fails the test when it loads.
inline std::vector<std::string> ProblemsOf(std::string_view yaml,
                                           std::map<std::string, std::string> vars = {}) {
  try {
    Load(yaml, std::move(vars));
  } catch (const ConfigError& error) {
    return error.Problems();
  }
  ADD_FAILURE() << "loaded without error:\n" << yaml;
  return {};
}

// The one problem reported for `yaml`.
inline std::string ProblemOf(std::string_view yaml, std::map<std::string, std::string> vars = {}) {
  const std::vector<std::string> problems = ProblemsOf(yaml, std::move(vars));
  EXPECT_EQ(problems.size(), 1u) << ::testing::PrintToString(problems);
  return problems.empty() ? "" : problems.front();
}

// Whether one of `problems` contains `text`.
inline bool Has(const std::vector<std::string>& problems, std::string_view text) {
  return std::any_of(problems.begin(), problems.end(), [&](const std::string& problem) {
    return problem.find(text) != std::string::npos;
  });
}

}  // namespace nilecare::config::test_support
