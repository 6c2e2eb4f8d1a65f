#pragma once
// Command-line flags of the tools in src/tools: "--flag value" or "--flag=value" (scripts
// use either); "-h" / "--help" take no value.

#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace nilecare::tools {

class FlagReader {
 public:
  FlagReader(int argc, char** argv) : argc_(argc), argv_(argv) {}

  // Moves to the next argument; false when there is none.
  bool Next() {
    if (++index_ >= argc_) return false;
    flag_ = argv_[index_];
    inline_value_.reset();
    if (const auto eq = flag_.find('='); flag_.starts_with("--") && eq != std::string_view::npos) {
      inline_value_ = flag_.substr(eq + 1);
      flag_ = flag_.substr(0, eq);
    }
    return true;
  }

  std::string_view Flag() const { return flag_; }
  bool IsHelp() const { return flag_ == "--help" || flag_ == "-h"; }

  // The current flag's value; nullopt (see Error()) when the command line ends first.
  std::optional<std::string_view> Value() {
    if (inline_value_) return inline_value_;
    if (index_ + 1 >= argc_) {
      error_ = std::string(flag_) + " needs a value";
      return std::nullopt;
    }
    return std::string_view(argv_[++index_]);
  }

  // Tools with modes ("publish", "consume"): true when the current argument is a word, not a
  // flag; it becomes `mode`, unless one was given already (then Error() says so).
  bool TakeMode(std::string& mode) {
    if (flag_.starts_with("--")) return false;
    if (mode.empty()) {
      mode = flag_;
    } else {
      error_ = "one mode only, got " + mode + " and " + std::string(flag_);
    }
    return true;
  }
  // A flag without a value: true (and `value` set) when the current argument is `name`.
  bool Switch(std::string_view name, bool& value) const {
    if (flag_ != name) return false;
    value = true;
    return true;
  }

  std::string Unknown() const { return "unknown argument " + std::string(flag_); }
  const std::string& Error() const { return error_; }

 private:
  int argc_;
  char** argv_;
  int index_{0};
  std::string_view flag_;
  std::optional<std::string_view> inline_value_;
  std::string error_;
};

// The tools' exit code for a bad command line.
inline constexpr int kExitUsage = 2;

// Runs `parse(argc, argv, error)` (-> std::optional<Options> with a `help` member). On a bad
// command line prints the error and `usage` to stderr and sets `exit_code` to kExitUsage;
// on --help prints `usage` and sets it to 0. Returns the options only when the tool runs.
template <typename Parse>
auto ParseCommandLine(int argc, char** argv, Parse parse, std::string_view program,
                      std::string_view usage, int& exit_code) -> decltype(parse(argc, argv,
                                                                               std::declval<std::string&>())) {
  std::string error;
  auto options = parse(argc, argv, error);
  if (!options) {
    std::cerr << program << ": " << error << "\n\n" << usage;
    exit_code = kExitUsage;
    return std::nullopt;
  }
  if (options->help) {
    std::cout << usage;
    exit_code = 0;
    return std::nullopt;
  }
  return options;
}

// The body of a tool's main(): runs `run` and turns an escaping exception into one line on
// stderr and exit code 1.
template <typename Run>
int RunMain(std::string_view program, Run run) {
  try {
    return run();
  } catch (const std::exception& error) {
    std::cerr << program << ": " << error.what() << '\n';
    return 1;
  }
}

}  // namespace nilecare::tools
