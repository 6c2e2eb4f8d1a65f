#include "section_reader.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>

#include "nilecare/config/units.hpp"

namespace nilecare::config {
namespace {

// Long values (a pasted certificate, say) would bury the message.
constexpr std::size_t kMaxQuotedValue = 60;
// Beyond this many edits a suggestion is more likely noise than the intended key.
constexpr std::size_t kMaxSuggestionDistance = 2;

std::string Quote(std::string_view text) {
  std::string value(text);
  if (value.size() > kMaxQuotedValue) value = value.substr(0, kMaxQuotedValue) + "...";
  return "\"" + value + "\"";
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({above + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string DescribeRange(std::string_view noun, const std::string& min, const std::string& max,
                          bool has_min, bool has_max) {
  std::string what = "a " + std::string(noun);
  if (has_min && has_max) return what + " between " + min + " and " + max;
  if (has_min) return what + " of at least " + min;
  if (has_max) return what + " of at most " + max;
  return what;
}

// Shortest text that reads back as the same double: 0.5 -> "0.5", 100 -> "100".
std::string FormatNumber(double value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

}  // namespace

SectionReader::SectionReader(const YAML::Node& node, std::string path, ProblemList& problems,
                             int line)
    : node_(node),
      path_(std::move(path)),
      problems_(problems),
      line_(line > 0 ? line : node.Mark().line + 1) {
  if (!node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    Entry entry{"", it->first, it->second};
    if (!entry.key_node.IsScalar()) {
      problems_.Add(entry.key_node.Mark().line + 1,
                    (path_.empty() ? std::string("top level") : path_) +
                        ": expected a key name, got " + Describe(entry.key_node));
      continue;
    }
    entry.key = entry.key_node.Scalar();
    // yaml-cpp keeps both copies of a repeated key and lookups see only the first; the
    // operator most likely meant the second, so neither is taken silently.
    const auto first = std::find_if(entries_.begin(), entries_.end(),
                                    [&](const Entry& e) { return e.key == entry.key; });
    if (first != entries_.end()) {
      problems_.Add(entry.key_node.Mark().line + 1,
                    KeyPath(entry.key) + ": duplicate key (first set on line " +
                        std::to_string(first->key_node.Mark().line + 1) + ")");
      continue;
    }
    entries_.push_back(std::move(entry));
  }
}

void SectionReader::Remember(std::string_view key) {
  if (std::find(known_keys_.begin(), known_keys_.end(), key) == known_keys_.end()) {
    known_keys_.emplace_back(key);
  }
}

bool SectionReader::Has(std::string_view key) {
  Remember(key);
  return Find(key) != nullptr;
}

bool SectionReader::Require(std::string_view key) {
  if (Has(key)) return true;
  problems_.Add(line_, KeyPath(key) + ": required key is missing");
  return false;
}

bool SectionReader::IsScalar(std::string_view key) {
  Remember(key);
  const Entry* entry = Find(key);
  return entry != nullptr && entry->value.IsScalar();
}

std::size_t SectionReader::ListSize(std::string_view key) const {
  const Entry* entry = Find(key);
  return entry != nullptr && entry->value.IsSequence() ? entry->value.size() : 0;
}

std::vector<std::string> SectionReader::Keys() const {
  std::vector<std::string> keys;
  keys.reserve(entries_.size());
  for (const Entry& entry : entries_) keys.push_back(entry.key);
  return keys;
}

const SectionReader::Entry* SectionReader::Find(std::string_view key) const {
  const auto it =
      std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == key; });
  return it == entries_.end() ? nullptr : &*it;
}

int SectionReader::Line(std::string_view key) const {
  const Entry* entry = Find(key);
  return entry == nullptr ? line_ : LineOf(*entry);
}

SectionReader::Entry* SectionReader::Take(std::string_view key) {
  Remember(key);
  for (Entry& entry : entries_) {
    if (entry.key == key) {
      entry.consumed = true;
      return &entry;
    }
  }
  return nullptr;
}

std::string SectionReader::KeyPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

int SectionReader::LineOf(const Entry& entry) {
  // The key's line, not the value's: they differ for a value on the next line (a block
  // mapping, or an empty value, which yaml-cpp marks at the following line), and the message
  // names the key.
  return entry.key_node.Mark().line + 1;
}

void SectionReader::Expected(const Entry& entry, std::string_view what) {
  problems_.Add(LineOf(entry), KeyPath(entry.key) + ": expected " + std::string(what) + ", got " +
                                   Describe(entry.value));
}

std::optional<std::string> SectionReader::ScalarOf(const Entry& entry, std::string_view what) {
  if (!entry.value.IsScalar()) {
    Expected(entry, what);
    return std::nullopt;
  }
  return entry.value.Scalar();
}

bool SectionReader::String(std::string_view key, std::string& out) {
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  std::optional<std::string> text = ScalarOf(*entry, "a string");
  if (!text) return false;
  out = std::move(*text);
  return true;
}

bool SectionReader::String(std::string_view key, std::string& out, std::string_view what,
                           bool (*valid)(std::string_view)) {
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  std::optional<std::string> text = ScalarOf(*entry, what);
  if (!text) return false;
  if (!valid(*text)) {
    Expected(*entry, what);
    return false;
  }
  out = std::move(*text);
  return true;
}

bool SectionReader::Bool(std::string_view key, bool& out) {
  // Only true/false: YAML 1.1's yes/no/on/off are easy to misread (and "no" is a country).
  constexpr std::string_view kWhat = "true or false";
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  const std::optional<std::string> text = ScalarOf(*entry, kWhat);
  if (!text) return false;
  if (*text == "true") {
    out = true;
  } else if (*text == "false") {
    out = false;
  } else {
    Expected(*entry, kWhat);
    return false;
  }
  return true;
}

bool SectionReader::Duration(std::string_view key, config::Duration& out, config::Duration min,
                             config::Duration max) {
  constexpr std::string_view kWhat = "a duration like 10s or 250ms";
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  const std::optional<std::string> text = ScalarOf(*entry, kWhat);
  if (!text) return false;
  const std::optional<config::Duration> value = ParseDuration(*text);
  if (!value) {
    const bool bare_number = !text->empty() && std::all_of(text->begin(), text->end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
    Expected(*entry, bare_number ? "a duration with a unit like 10s or 250ms (a bare number is "
                                   "ambiguous: seconds or milliseconds?)"
                                 : kWhat);
    return false;
  }
  if (*value < min || *value > max) {
    // "at least 1ms" would read as if 1ms were a sensible value; it only means "not zero".
    const std::string what =
        min == config::Duration(1) && max == config::Duration::max()
            ? "a duration greater than 0s"
            : DescribeRange("duration", FormatDuration(min), FormatDuration(max),
                            min > config::Duration::zero(), max != config::Duration::max());
    Expected(*entry, what);
    return false;
  }
  out = *value;
  return true;
}

bool SectionReader::Size(std::string_view key, std::size_t& out, std::size_t min, std::size_t max) {
  constexpr std::string_view kWhat = "a size like 1MiB";
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  const std::optional<std::string> text = ScalarOf(*entry, kWhat);
  if (!text) return false;
  const std::optional<std::size_t> value = ParseSize(*text);
  if (!value) {
    Expected(*entry, kWhat);
    return false;
  }
  if (*value < min || *value > max) {
    Expected(*entry, DescribeRange("size", FormatSize(min), FormatSize(max), min > 0,
                                   max != std::numeric_limits<std::size_t>::max()));
    return false;
  }
  out = *value;
  return true;
}

bool SectionReader::Listen(std::string_view key, ListenAddress& out) {
  constexpr std::string_view kWhat = "host:port like 0.0.0.0:7000 or [::1]:7000";
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  const std::optional<std::string> text = ScalarOf(*entry, kWhat);
  if (!text) return false;
  std::optional<ListenAddress> address = ParseListenAddress(*text);
  if (!address) {
    Expected(*entry, kWhat);
    return false;
  }
  out = std::move(*address);
  return true;
}

bool SectionReader::Number(std::string_view key, double& out, double min, bool above_min) {
  const std::string what =
      std::string(above_min ? "a number greater than " : "a number of at least ") +
      FormatNumber(min);
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  const std::optional<std::string> text = ScalarOf(*entry, what);
  if (!text) return false;
  double value = 0;
  const char* end = text->data() + text->size();
  const auto [ptr, error] = std::from_chars(text->data(), end, value);
  // from_chars also reads "inf" and "nan", which no setting means.
  if (error != std::errc() || ptr != end || !std::isfinite(value) || value < min ||
      (above_min && value == min)) {
    Expected(*entry, what);
    return false;
  }
  out = value;
  return true;
}

bool SectionReader::StringList(std::string_view key, std::vector<std::string>& out) {
  return StringList(key, out, "a string", nullptr);
}

bool SectionReader::StringList(std::string_view key, std::vector<std::string>& out,
                               std::string_view what, bool (*valid)(std::string_view)) {
  return StringList(
      key, out,
      [what, valid](std::string_view item) {
        if (valid == nullptr || valid(item)) return std::string();
        return "expected " + std::string(what) + ", got " + Quote(item);
      },
      what);
}

bool SectionReader::StringList(std::string_view key, std::vector<std::string>& out,
                               const std::function<std::string(std::string_view)>& problem,
                               std::string_view item_what) {
  constexpr std::string_view kWhat = "a list of strings like [a, b]";
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  if (!entry->value.IsSequence()) {
    Expected(*entry, kWhat);
    return false;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (std::size_t i = 0; i < entry->value.size(); ++i) {
    const YAML::Node item = entry->value[i];
    const std::string item_path = KeyPath(key) + "[" + std::to_string(i) + "]";
    if (!item.IsScalar()) {
      problems_.Add(item.Mark().line + 1,
                    item_path + ": expected " + std::string(item_what) + ", got " + Describe(item));
      ok = false;
      continue;
    }
    const std::string text = problem(item.Scalar());
    if (!text.empty()) {
      problems_.Add(item.Mark().line + 1, item_path + ": " + text);
      ok = false;
      continue;
    }
    values.push_back(item.Scalar());
  }
  if (!ok) return false;
  out = std::move(values);
  return true;
}

bool SectionReader::IntList(std::string_view key, std::vector<int>& out, int min, int max) {
  const std::string what =
      "an integer between " + std::to_string(min) + " and " + std::to_string(max);
  Entry* entry = Take(key);
  if (entry == nullptr) return false;
  if (!entry->value.IsSequence()) {
    Expected(*entry, "a list of integers like [" + std::to_string(min) + ", " +
                         std::to_string(max) + "]");
    return false;
  }
  std::vector<int> values;
  bool ok = true;
  for (std::size_t i = 0; i < entry->value.size(); ++i) {
    const YAML::Node item = entry->value[i];
    int value = 0;
    bool valid = item.IsScalar();
    if (valid) {
      const std::string& text = item.Scalar();
      const char* end = text.data() + text.size();
      const auto [ptr, error] = std::from_chars(text.data(), end, value);
      valid = error == std::errc() && ptr == end && value >= min && value <= max;
    }
    if (!valid) {
      problems_.Add(item.Mark().line + 1, KeyPath(key) + "[" + std::to_string(i) +
                                              "]: expected " + what + ", got " + Describe(item));
      ok = false;
      continue;
    }
    values.push_back(value);
  }
  if (!ok) return false;
  out = std::move(values);
  return true;
}

SectionReader* SectionReader::Map(std::string_view key) {
  Entry* entry = Take(key);
  if (entry == nullptr) return nullptr;
  if (!entry->value.IsMap() && !entry->value.IsNull()) {
    Expected(*entry, "a mapping of settings");
    return nullptr;
  }
  children_.push_back(
      std::make_unique<SectionReader>(entry->value, KeyPath(key), problems_, LineOf(*entry)));
  return children_.back().get();
}

std::optional<std::vector<SectionReader*>> SectionReader::MapList(std::string_view key) {
  Entry* entry = Take(key);
  if (entry == nullptr) return std::nullopt;
  std::vector<SectionReader*> items;
  if (entry->value.IsNull()) return items;
  if (!entry->value.IsSequence()) {
    Expected(*entry, "a list of mappings (one \"- { ... }\" per item)");
    return std::nullopt;
  }
  for (std::size_t i = 0; i < entry->value.size(); ++i) {
    const YAML::Node item = entry->value[i];
    const std::string item_path = KeyPath(key) + "[" + std::to_string(i) + "]";
    if (!item.IsMap()) {
      problems_.Add(item.Mark().line + 1,
                    item_path + ": expected a mapping of settings, got " + Describe(item));
      continue;
    }
    children_.push_back(
        std::make_unique<SectionReader>(item, item_path, problems_, item.Mark().line + 1));
    items.push_back(children_.back().get());
  }
  return items;
}

void SectionReader::Unsupported(std::string_view key, std::string_view message) {
  Entry* entry = Take(key);
  if (entry == nullptr) return;
  problems_.Add(entry->key_node.Mark().line + 1, KeyPath(key) + ": " + std::string(message));
}

void SectionReader::Fail(std::string_view key, std::string_view message) {
  problems_.Add(Line(key), KeyPath(key) + ": " + std::string(message));
}

void SectionReader::FailHere(std::string_view message) {
  problems_.Add(line_, (path_.empty() ? std::string("top level") : path_) + ": " +
                           std::string(message));
}

void SectionReader::Reject(std::string_view key, std::string_view what) {
  if (const Entry* entry = Find(key)) {
    Expected(*entry, what);
    return;
  }
  problems_.Add(line_, KeyPath(key) + ": expected " + std::string(what));
}

std::string SectionReader::Suggestion(std::string_view key) const {
  std::string best;
  std::size_t best_distance = kMaxSuggestionDistance + 1;
  for (const std::string& known : known_keys_) {
    const std::size_t distance = EditDistance(key, known);
    // Against very short keys every word is "close"; require some overlap.
    if (distance < best_distance && distance < known.size()) {
      best = known;
      best_distance = distance;
    }
  }
  return best;
}

void SectionReader::ReportUnknownKeys() {
  for (const Entry& entry : entries_) {
    if (entry.consumed) continue;
    std::string message = KeyPath(entry.key) + ": unknown key";
    const std::string suggestion = Suggestion(entry.key);
    if (!suggestion.empty()) message += " (did you mean \"" + suggestion + "\"?)";
    problems_.Add(entry.key_node.Mark().line + 1, message);
  }
  for (const auto& child : children_) child->ReportUnknownKeys();
}

}  // namespace nilecare::config
