#include "nilecare/config/env_subst.hpp"

namespace nilecare::config {
namespace {

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Substitutes within one line (without its line break) and appends the result to `out`.
class LineSubstituter {
 public:
  LineSubstituter(int line_number,
                  const std::function<std::optional<std::string>(const std::string&)>& lookup,
                  EnvSubstResult& result)
      : line_number_(line_number), lookup_(lookup), result_(result) {}

  void Run(std::string_view line) {
    std::string& out = result_.text;
    // A quote opens a quoted scalar only where a scalar can start, so the apostrophe in
    // "note: it's # here" does not hide the comment. The state ends with the line: a
    // multi-line quoted scalar is rare in this file, and a wrong guess only means a comment
    // is substituted, which is what plain raw-text substitution would do anyway.
    char quote = 0;
    char last_nonblank = 0;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quote == '"') {
        if (c == '\\' && i + 1 < line.size()) {
          out += c;
          out += line[++i];
          continue;
        }
        if (c == '"') quote = 0;
      } else if (quote == '\'') {
        if (c == '\'') {
          if (i + 1 < line.size() && line[i + 1] == '\'') {
            out += "''";
            ++i;
            continue;
          }
          quote = 0;
        }
      } else if (c == '#' && (i == 0 || IsBlank(line[i - 1]))) {
        out.append(line.substr(i));
        return;
      } else if ((c == '"' || c == '\'') &&
                 (last_nonblank == 0 ||
                  std::string_view(":-[{,?").find(last_nonblank) != std::string_view::npos)) {
        quote = c;
      }
      if (c == '$') {
        i = Dollar(line, i);
        last_nonblank = '$';
        continue;
      }
      out += c;
      if (!IsBlank(c)) last_nonblank = c;
    }
  }

 private:
  // Handles the '$' at line[at]; returns the index of the last character consumed.
  std::size_t Dollar(std::string_view line, std::size_t at) {
    std::string& out = result_.text;
    if (at + 1 < line.size() && line[at + 1] == '$') {
      out += '$';
      return at + 1;
    }
    if (at + 1 >= line.size() || line[at + 1] != '{') {
      out += '$';
      return at;
    }
    const std::size_t close = line.find('}', at + 2);
    if (close == std::string_view::npos) {
      std::string message(1, '"');
      message += line.substr(at);
      message += "\": unterminated ${...} (write $$ for a literal '$')";
      AddProblem(std::move(message));
      out.append(line.substr(at));
      return line.size() - 1;
    }
    const std::string_view inside = line.substr(at + 2, close - at - 2);
    const std::string_view reference = line.substr(at, close - at + 1);
    const std::size_t default_at = inside.find(":-");
    const std::string_view name = inside.substr(0, default_at);
    if (!ValidName(name)) {
      AddProblem(std::string(reference) +
                 ": invalid variable name (letters, digits and '_', not starting with a digit)");
      return close;
    }
    std::optional<std::string> value = lookup_(std::string(name));
    if (default_at != std::string_view::npos && (!value || value->empty())) {
      value = std::string(inside.substr(default_at + 2));
    }
    if (!value) {
      AddProblem(std::string(reference) + ": environment variable " + std::string(name) +
                 " is not set and has no default (write ${" + std::string(name) +
                 ":-default} to give one)");
      return close;
    }
    if (value->find_first_of("\r\n") != std::string::npos) {
      AddProblem(std::string(reference) + ": the value of " + std::string(name) +
                 " contains a line break, which is not allowed (it would shift the line numbers "
                 "of every later error)");
      return close;
    }
    out += *value;
    return close;
  }

  static bool ValidName(std::string_view name) {
    if (name.empty() || !IsNameStart(name.front())) return false;
    for (char c : name) {
      if (!IsNameChar(c)) return false;
    }
    return true;
  }

  void AddProblem(std::string message) {
    result_.problems.push_back(EnvSubstProblem{line_number_, std::move(message)});
  }

  int line_number_;
  const std::function<std::optional<std::string>(const std::string&)>& lookup_;
  EnvSubstResult& result_;
};

}  // namespace

EnvSubstResult SubstituteEnv(
    std::string_view text,
    const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  EnvSubstResult result;
  result.text.reserve(text.size());
  int line_number = 1;
  std::size_t start = 0;
  while (start <= text.size()) {
    // Line breaks are copied as they are (LF or CRLF), so the line count cannot change.
    const std::size_t end = text.find('\n', start);
    const std::size_t stop = end == std::string_view::npos ? text.size() : end;
    LineSubstituter(line_number, lookup, result).Run(text.substr(start, stop - start));
    if (end == std::string_view::npos) break;
    result.text += '\n';
    start = end + 1;
    ++line_number;
  }
  return result;
}

}  // namespace nilecare::config
