#include "nilecare/observability/log.hpp"

#include <atomic>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace nilecare::observability::log {
namespace {

// Bounded: a burst of log lines blocks the writer briefly instead of growing memory.
constexpr std::size_t kLogQueueSize = 8192;

std::atomic<Format> g_format{Format::kText};

bool NeedsQuoting(std::string_view text) {
  if (text.empty()) return true;
  for (char c : text) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

}  // namespace

void AppendJsonEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out.push_back(c);
        }
    }
  }
}

void Field::AppendJson(std::string& out) const {
  out += ",\"";
  AppendJsonEscaped(out, key_);
  out += "\":";
  switch (kind_) {
    case kText:
      out.push_back('"');
      AppendJsonEscaped(out, text_);
      out.push_back('"');
      break;
    case kInteger: out += fmt::format("{}", integer_); break;
    case kReal: out += fmt::format("{}", real_); break;
    case kBool: out += integer_ ? "true" : "false"; break;
  }
}

void Field::AppendText(std::string& out) const {
  out.push_back(' ');
  out += key_;
  out.push_back('=');
  switch (kind_) {
    case kText:
      if (NeedsQuoting(text_)) {
        out.push_back('"');
        AppendJsonEscaped(out, text_);
        out.push_back('"');
      } else {
        out += text_;
      }
      break;
    case kInteger: out += fmt::format("{}", integer_); break;
    case kReal: out += fmt::format("{}", real_); break;
    case kBool: out += integer_ ? "true" : "false"; break;
  }
}

void Init(std::string_view level, Format format) {
  g_format = format;
  spdlog::drop("nilecare");
  if (!spdlog::thread_pool()) spdlog::init_thread_pool(kLogQueueSize, 1);
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::async_logger>(
      "nilecare", std::move(sink), spdlog::thread_pool(), spdlog::async_overflow_policy::block);
  // Only our Write() produces the payload (%v), so the JSON stays valid whatever the message.
  if (format == Format::kJson) {
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l"%v})",
                        spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l%v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

void Shutdown() {
  if (auto logger = spdlog::default_logger()) logger->flush();
  spdlog::shutdown();
}

bool Enabled(spdlog::level::level_enum level) { return spdlog::default_logger_raw()->should_log(level); }

void Write(spdlog::level::level_enum level, std::string_view message,
           std::initializer_list<Field> fields) {
  auto* logger = spdlog::default_logger_raw();
  if (logger == nullptr || !logger->should_log(level)) return;
  std::string line;
  line.reserve(128);
  if (g_format.load(std::memory_order_relaxed) == Format::kJson) {
    line += ",\"msg\":\"";
    AppendJsonEscaped(line, message);
    line.push_back('"');
    for (const auto& field : fields) field.AppendJson(line);
  } else {
    line.push_back(' ');
    line += message;
    for (const auto& field : fields) field.AppendText(line);
  }
  logger->log(level, std::string_view(line));
}

}  // namespace nilecare::observability::log
