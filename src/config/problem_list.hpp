#pragma once
// Every problem found while loading one file. Loading goes on after a problem so that an
// operator fixes the whole file in one round instead of one error per restart.

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace nilecare::config {

class ProblemList {
 public:
  explicit ProblemList(std::string file) : file_(std::move(file)) {}

  const std::string& File() const { return file_; }
  bool Empty() const { return problems_.empty(); }

  // "<file>:<line>: <message>"; line is 1-based, 0 when the problem has no line
  // ("<file>: <message>", e.g. a missing section).
  void Add(int line, std::string_view message) {
    std::string text = file_;
    if (line > 0) {
      text += ':';
      text += std::to_string(line);
    }
    text += ": ";
    text += message;
    AddFormatted(line, std::move(text));
  }

  // For messages that carry more than a line (YAML syntax errors add the column).
  void AddFormatted(int line, std::string text) {
    problems_.push_back(Entry{line, std::move(text)});
  }

  // In file order, problems without a line last: sections are parsed in table order, not in
  // the order the operator wrote them, and the report should read top to bottom.
  std::vector<std::string> Sorted() const {
    std::vector<Entry> entries = problems_;
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      const int line_a = a.line > 0 ? a.line : kNoLine;
      const int line_b = b.line > 0 ? b.line : kNoLine;
      return line_a < line_b;
    });
    std::vector<std::string> texts;
    texts.reserve(entries.size());
    for (Entry& entry : entries) texts.push_back(std::move(entry.text));
    return texts;
  }

 private:
  static constexpr int kNoLine = 1 << 30;

  struct Entry {
    int line;
    std::string text;
  };

  std::string file_;
  std::vector<Entry> problems_;
};

}  // namespace nilecare::config
