#pragma once
// Reads one YAML mapping of the configuration file (a section such as `http:`, or a nested
// mapping such as `auth.jwt:`). Each typed getter consumes its key and leaves the default in
// place when the key is absent; a bad value is reported as
//   <file>:<line>: <key.path>: expected <what>, got "<value>"
// and leaves the default too, so that loading goes on and finds the other problems. Once the
// section has been read, ReportUnknownKeys() reports every key that no getter asked for: a
// misspelled key must not silently fall back to its default.
// Lists of mappings (`routes:`) are read with MapList(), one reader per item, whose paths
// carry the index: routes[3].upstream. Mappings whose keys are names the operator chooses
// (`upstreams:`, `timeouts:`) are walked with Keys().
// Private to src/config: this is the only place (with loader.cpp) that sees yaml-cpp.

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "problem_list.hpp"

namespace nilecare::config {

class SectionReader {
 public:
  // `node` is the section's value: a mapping, or null (a section whose keys are all commented
  // out), which reads as an empty mapping. `path` is its dotted key path, "" for the top level.
  // `line` is the line of the key (or list item) that holds it, 0 = the node's own line.
  SectionReader(const YAML::Node& node, std::string path, ProblemList& problems, int line = 0);
  SectionReader(const SectionReader&) = delete;
  SectionReader& operator=(const SectionReader&) = delete;

  const std::string& Path() const { return path_; }

  // The line of the key that holds this mapping (for a list item, the item's line).
  int Line() const { return line_; }
  // The line of `key`, or Line() when the key is absent.
  int Line(std::string_view key) const;

  // Whether the key is present; does not consume it.
  bool Has(std::string_view key);

  // The keys present, in file order, without consuming them: for mappings whose keys are
  // names chosen by the operator (upstream names, timeout classes).
  std::vector<std::string> Keys() const;

  // Has(key), reporting "<path.key>: required key is missing" when it is absent.
  bool Require(std::string_view key);

  // Whether the key is present with a scalar value, not a mapping, a list or nothing; does not
  // consume it. For keys that take either a word or a mapping (`kafka.consumer: off`), or
  // either a string or a list (`kafka.brokers`).
  bool IsScalar(std::string_view key);

  // The number of items of the key's list value; 0 when it is absent, nothing or not a list.
  // Does not consume it. Tells an empty list from one whose items were all refused.
  std::size_t ListSize(std::string_view key) const;

  // Each returns true when the key was present and its value valid (and stored in `out`).
  bool String(std::string_view key, std::string& out);
  // `valid` restricts the value; `what` describes what it accepts ("a non-empty name ...").
  bool String(std::string_view key, std::string& out, std::string_view what,
              bool (*valid)(std::string_view));
  bool Bool(std::string_view key, bool& out);
  bool Duration(std::string_view key, config::Duration& out,
                config::Duration min = config::Duration::zero(),
                config::Duration max = config::Duration::max());
  bool Size(std::string_view key, std::size_t& out, std::size_t min = 0,
            std::size_t max = std::numeric_limits<std::size_t>::max());
  bool Listen(std::string_view key, ListenAddress& out);
  // A decimal number such as 50 or 0.5. `min` itself is refused when `above_min` is set
  // (a rate must be greater than 0, however small).
  bool Number(std::string_view key, double& out, double min, bool above_min = false);
  bool StringList(std::string_view key, std::vector<std::string>& out);
  // Each item must pass `valid`; a bad item is reported with its own line and index:
  //   <path.key>[1]: expected <what>, got "<item>"
  bool StringList(std::string_view key, std::vector<std::string>& out, std::string_view what,
                  bool (*valid)(std::string_view));
  // For items whose problems differ (a room template: bad prefix, unknown placeholder):
  // `problem` returns "" for a good item, else what is wrong with it (quoting the item itself
  // when it helps), reported with the item's own line and index: <path.key>[1]: <problem>
  // An item that is not a string is reported as "<path.key>[1]: expected <item_what>, got a
  // list".
  bool StringList(std::string_view key, std::vector<std::string>& out,
                  const std::function<std::string(std::string_view)>& problem,
                  std::string_view item_what = "a string");
  bool IntList(std::string_view key, std::vector<int>& out, int min, int max);

  template <typename T>
  bool Int(std::string_view key, T& out, long long min = std::numeric_limits<long long>::min(),
           long long max = std::numeric_limits<long long>::max());

  // The value must be one of the words in `choices`; `out` gets the matching value.
  template <typename T>
  bool Enum(std::string_view key, T& out,
            std::initializer_list<std::pair<std::string_view, T>> choices);

  // A nested mapping, read by the returned reader (owned by this one, which also reports its
  // unknown keys). nullptr when the key is absent or is not a mapping (reported).
  SectionReader* Map(std::string_view key);

  // A list of mappings, one reader per item (owned by this one), with the path "<key>[i]". An
  // item that is not a mapping is reported and left out. nullopt when the key is absent or its
  // value is not a list (reported); a null value (every item commented out) is an empty list.
  std::optional<std::vector<SectionReader*>> MapList(std::string_view key);

  // A key of the designed surface that this build does not implement yet: when present it is
  // an error ("<path.key>: <message>"), so that nobody believes the feature is on.
  void Unsupported(std::string_view key, std::string_view message);

  // A problem found by a cross-key check in a parse function, reported at the key's line
  // (at Line() when the key is absent): "<path.key>: <message>".
  void Fail(std::string_view key, std::string_view message);
  // A problem with this mapping as a whole, at Line(): "<path>: <message>".
  void FailHere(std::string_view message);
  // For a value a getter accepted but a later check refused: "<path.key>: expected <what>,
  // got <value>", the value quoted as the getters quote it. Not for secrets: use Fail().
  void Reject(std::string_view key, std::string_view what);

  // Reports the keys no getter asked for, here and in the nested readers.
  void ReportUnknownKeys();

 private:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    bool consumed{false};
  };

  // Records `key` as one this section knows, the candidates for "did you mean".
  void Remember(std::string_view key);
  // Remembers `key`, marks it consumed and returns its entry, or nullptr when it is absent.
  Entry* Take(std::string_view key);
  // The scalar text of the entry's value, or nullopt after reporting "expected <what>".
  std::optional<std::string> ScalarOf(const Entry& entry, std::string_view what);
  void Expected(const Entry& entry, std::string_view what);
  std::string KeyPath(std::string_view key) const;
  static int LineOf(const Entry& entry);
  std::string Suggestion(std::string_view key) const;

  // The entry of `key` (consumed or not), or nullptr.
  const Entry* Find(std::string_view key) const;

  YAML::Node node_;
  std::string path_;
  ProblemList& problems_;
  int line_;
  std::vector<Entry> entries_;
  std::vector<std::string> known_keys_;
  std::vector<std::unique_ptr<SectionReader>> children_;
};

template <typename T>
bool SectionReader::Int(std::string_view key, T& out, long long min, long long max) {
  const std::string range =
      min == std::numeric_limits<long long>::min()
          ? (max == std::numeric_limits<long long>::max()
                 ? "an integer"
                 : "an integer of at most " + std::to_string(max))
          : (max == std::numeric_limits<long long>::max()
                 ? "an integer of at least " + std::to_string(min)
                 : "an integer between " + std::to_string(min) + " and " + std::to_string(max));
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  const std::optional<std::string> text = ScalarOf(*entry, range);
  if (!text) return false;
  long long value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, error] = std::from_chars(text->data(), end, value);
  if (error != std::errc() || ptr != end || value < min || value > max ||
      !std::in_range<T>(value)) {
    Expected(*entry, range);
    return false;
  }
  out = static_cast<T>(value);
  return true;
}

template <typename T>
bool SectionReader::Enum(std::string_view key, T& out,
                         std::initializer_list<std::pair<std::string_view, T>> choices) {
  std::string what = "one of ";
  bool first = true;
  for (const auto& choice : choices) {
    if (!first) what += '|';
    what += choice.first;
    first = false;
  }
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  const std::optional<std::string> text = ScalarOf(*entry, what);
  if (!text) return false;
  for (const auto& choice : choices) {
    if (choice.first == *text) {
      out = choice.second;
      return true;
    }
  }
  Expected(*entry, what);
  return false;
}

}  // namespace nilecare::config
