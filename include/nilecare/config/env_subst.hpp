#pragma once
// ${VAR} / ${VAR:-default} substitution over the raw text of the configuration file, done
// before YAML parsing so that a variable can stand for any value. Rules:
//   ${VAR}           the variable's value; unset is an error (reported with its line)
//   ${VAR:-default}  the value, or `default` when VAR is unset or empty (as in the shell)
//   $$               a literal '$'; any other '$' is kept as it is ("$share/...")
// Comments (a '#' at the start of a line or after a blank, outside quotes) are copied
// untouched, so a commented-out "# secret: ${JWT_SECRET}" needs no variable.
// The output has exactly the lines of the input: a value containing a line break is an
// error, because every YAML error after it would point at the wrong line.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nilecare::config {

struct EnvSubstProblem {
  int line{0};          // 1-based
  std::string message;  // e.g. "${JWT_SECRET}: environment variable is not set ..."
};

struct EnvSubstResult {
  std::string text;
  std::vector<EnvSubstProblem> problems;  // empty when the substitution succeeded
};

// The lookup has the signature of loader.hpp's EnvLookup (spelled out to keep this header
// free of the loader's).
EnvSubstResult SubstituteEnv(
    std::string_view text,
    const std::function<std::optional<std::string>(const std::string&)>& lookup);

}  // namespace nilecare::config
