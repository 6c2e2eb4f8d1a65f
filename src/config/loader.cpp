#include "nilecare/config/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "nilecare/config/env_subst.hpp"
#include "nilecare/config/units.hpp"
#include "problem_list.hpp"
#include "section_reader.hpp"

namespace nilecare::config {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
constexpr std::size_t kGiB = 1024 * kMiB;
// Timeouts must not be zero; the reader words this bound as "greater than 0s".
constexpr Duration kPositive{1};
// Width of the "  service:  " column of Summary().
constexpr std::size_t kSummaryIndent = 12;
constexpr std::size_t kSummaryWidth = 96;

// ---- One parse function per section ------------------------------------------------------
// Each reads its keys into the settings (absent keys keep the defaults of settings.hpp);
// validation beyond a single key goes here too, reported through section.Fail().

bool IsServiceName(std::string_view name) {
  // It names log streams, metrics and Kafka client ids, where spaces or capitals bite.
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

void ParseService(SectionReader& section, GatewaySettings& settings) {
  ServiceSettings& service = settings.service;
  section.String("name", service.name, "a non-empty name of a-z, 0-9, '-', '_' and '.'",
                 IsServiceName);
  section.Int("threads", service.threads, 0, 256);
  section.Duration("shutdown_grace", service.shutdown_grace);
}

void ParseLog(SectionReader& section, GatewaySettings& settings) {
  LogSettings& log = settings.log;
  section.Enum<std::string>("level", log.level,
                            {{"trace", "trace"},
                             {"debug", "debug"},
                             {"info", "info"},
                             {"warn", "warn"},
                             {"error", "error"}});
  section.Enum("format", log.format, {{"json", LogFormat::kJson}, {"text", LogFormat::kText}});
}

void ParseHttp(SectionReader& section, GatewaySettings& settings) {
  HttpSettings& http = settings.http;
  section.Listen("listen", http.listen);
  section.Size("max_header", http.max_header, kKiB, kMiB);
  section.Size("max_body", http.max_body, 0, kGiB);
  section.Duration("header_timeout", http.header_timeout, kPositive);
  section.Duration("body_timeout", http.body_timeout, kPositive);
  section.Duration("idle_timeout", http.idle_timeout, kPositive);
  section.Int("max_connections", http.max_connections, 1);
  section.Unsupported("tls",
                      "TLS is not supported by this build yet (terminate TLS in front of "
                      "the gateway)");
}

// ---- One summary function per section (for --check-config; never print secrets) ---------

std::string SummarizeService(const GatewaySettings& settings) {
  const ServiceSettings& service = settings.service;
  return "name=" + service.name + " threads=" +
         (service.threads == 0 ? std::string("0 (one per core)")
                               : std::to_string(service.threads)) +
         " shutdown_grace=" + FormatDuration(service.shutdown_grace);
}

std::string SummarizeLog(const GatewaySettings& settings) {
  return "level=" + settings.log.level +
         " format=" + (settings.log.format == LogFormat::kJson ? "json" : "text");
}

std::string SummarizeHttp(const GatewaySettings& settings) {
  const HttpSettings& http = settings.http;
  return "listen=" + FormatListenAddress(http.listen) +
         " max_header=" + FormatSize(http.max_header) + " max_body=" + FormatSize(http.max_body) +
         " max_connections=" + std::to_string(http.max_connections) +
         "\nheader_timeout=" + FormatDuration(http.header_timeout) +
         " body_timeout=" + FormatDuration(http.body_timeout) +
         " idle_timeout=" + FormatDuration(http.idle_timeout);
}

// ---- The section table: adding a section is one parse function and one row here ----------

struct SectionSpec {
  std::string_view name;
  bool required;
  void (*parse)(SectionReader&, GatewaySettings&);
  std::string (*summarize)(const GatewaySettings&);
};

constexpr auto kSections = std::to_array<SectionSpec>({
    {"service", true, ParseService, SummarizeService},
    {"log", false, ParseLog, SummarizeLog},
    {"http", false, ParseHttp, SummarizeHttp},
});

// Sections of the designed surface whose adapters are not built yet.
// Present in a file they are an error, not ignored: an operator must not believe that, say,
// vitals thresholds are enforced when this build has no MQTT ingest. Move a name from here to
// kSections when its adapter lands.
constexpr auto kPlannedSections = std::to_array<std::string_view>({
    "auth",
    "timeouts",
    "retry",
    "circuit_breaker",
    "upstreams",
    "routes",
    "idempotency",
    "redis",
    "realtime",
    "mqtt",
    "thresholds",
    "database",
    "kafka",
    "events",
    "rabbitmq",
});

std::string Join(const std::vector<std::string>& lines) {
  std::string joined;
  for (const std::string& line : lines) {
    if (!joined.empty()) joined += '\n';
    joined += line;
  }
  return joined;
}

void ParseDocument(const YAML::Node& root, GatewaySettings& settings, ProblemList& problems) {
  if (!root.IsMap() && !root.IsNull()) {
    problems.Add(root.Mark().line + 1,
                 "expected a mapping of sections (service:, log:, http:) at the top level");
    return;
  }
  SectionReader top(root, "", problems);
  for (const SectionSpec& spec : kSections) {
    if (!top.Has(spec.name)) {
      if (spec.required) problems.Add(0, std::string(spec.name) + ": required section is missing");
      continue;
    }
    if (SectionReader* section = top.Map(spec.name)) spec.parse(*section, settings);
  }
  for (std::string_view name : kPlannedSections) {
    top.Unsupported(name, "this section is not supported by this build yet");
  }
  top.ReportUnknownKeys();
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(Join(problems)), problems_(std::move(problems)) {}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

GatewaySettings LoadFile(const std::string& path, const EnvLookup& env) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw ConfigError({path + ": cannot read the file: " + std::strerror(errno)});
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) {
    throw ConfigError({path + ": cannot read the file: " + std::strerror(errno)});
  }
  return LoadString(text.str(), path, env);
}

GatewaySettings LoadString(std::string_view yaml, std::string_view source_name,
                           const EnvLookup& env) {
  ProblemList problems{std::string(source_name)};

  const EnvSubstResult substituted = SubstituteEnv(yaml, env);
  for (const EnvSubstProblem& problem : substituted.problems) {
    problems.Add(problem.line, problem.message);
  }
  // Parsing text with holes in it would only add confusing follow-on errors.
  if (!problems.Empty()) throw ConfigError(problems.Sorted());

  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(substituted.text);
  } catch (const YAML::Exception& error) {
    const int line = error.mark.line + 1;
    problems.AddFormatted(line, problems.File() + ":" + std::to_string(line) + ":" +
                                    std::to_string(error.mark.column + 1) +
                                    ": YAML syntax error: " + error.msg);
    throw ConfigError(problems.Sorted());
  }
  if (documents.size() > 1) {
    // A second document would be silently ignored by a plain Load().
    problems.Add(documents[1].Mark().line + 1, "expected one YAML document, found " +
                                                   std::to_string(documents.size()) +
                                                   " (remove the extra '---')");
  }

  GatewaySettings settings;
  settings.source = std::string(source_name);
  ParseDocument(documents.empty() ? YAML::Node() : documents.front(), settings, problems);
  if (!problems.Empty()) throw ConfigError(problems.Sorted());
  return settings;
}

std::string Summary(const GatewaySettings& settings) {
  std::string summary =
      "configuration: " + (settings.source.empty() ? std::string("(defaults)") : settings.source) +
      "\n";
  for (const SectionSpec& spec : kSections) {
    std::string label = "  " + std::string(spec.name) + ":";
    label.resize(std::max<std::size_t>(label.size() + 1, kSummaryIndent), ' ');
    summary += label;
    // A summarizer breaks a long line with '\n'; continuations line up under the values.
    for (char c : spec.summarize(settings)) {
      summary += c;
      if (c == '\n') summary.append(kSummaryIndent, ' ');
    }
    summary += '\n';
  }
  std::string line = "  not in this build:";
  for (std::size_t i = 0; i < kPlannedSections.size(); ++i) {
    std::string word(1, ' ');
    word += kPlannedSections[i];
    if (i + 1 < kPlannedSections.size()) word += ',';
    if (line.size() + word.size() > kSummaryWidth) {
      summary += line + "\n";
      line = std::string(kSummaryIndent - 1, ' ');
    }
    line += word;
  }
  summary += line + "\n";
  return summary;
}

}  // namespace nilecare::config
