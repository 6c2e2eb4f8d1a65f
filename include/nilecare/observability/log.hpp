#pragma once
// Structured logging on spdlog: one line per event, JSON or text, with named fields.
//
//   log::Info("request handled", {{"request_id", id}, {"status", 200}});
//   json: {"ts":"2026-12-04T16:00:00.000Z","level":"info","msg":"request handled",
//          "request_id":"…","status":200}
//   text: 2026-12-04T16:00:00.000Z info request handled request_id=… status=200
//
// Privacy rule for every caller: never pass request bodies, tokens, Authorization
// headers or patient data as fields. Ids, routes, statuses and counts only.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include <spdlog/common.h>

namespace nilecare::observability::log {

class Field {
 public:
  Field(std::string_view key, std::string_view value) : key_(key), text_(value), kind_(kText) {}
  Field(std::string_view key, const char* value) : Field(key, std::string_view(value)) {}
  Field(std::string_view key, const std::string& value) : Field(key, std::string_view(value)) {}
  Field(std::string_view key, bool value) : key_(key), integer_(value), kind_(kBool) {}
  Field(std::string_view key, double value) : key_(key), real_(value), kind_(kReal) {}
  template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  Field(std::string_view key, T value)
      : key_(key), integer_(static_cast<std::int64_t>(value)), kind_(kInteger) {}

  void AppendJson(std::string& out) const;
  void AppendText(std::string& out) const;

 private:
  enum Kind { kText, kInteger, kReal, kBool };
  std::string_view key_;
  std::string_view text_{};
  std::int64_t integer_{0};
  double real_{0.0};
  Kind kind_;
};

enum class Format { kJson, kText };

// Installs the process-wide logger (stdout, asynchronous with a bounded queue that blocks
// rather than drops). Safe to call again, e.g. from tests.
void Init(std::string_view level, Format format);
void Shutdown();  // flushes; call before exit

bool Enabled(spdlog::level::level_enum level);
void Write(spdlog::level::level_enum level, std::string_view message,
           std::initializer_list<Field> fields);

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(spdlog::level::debug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(spdlog::level::info, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(spdlog::level::warn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(spdlog::level::err, m, f);
}

// Escapes `text` as the inside of a JSON string literal.
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace nilecare::observability::log
