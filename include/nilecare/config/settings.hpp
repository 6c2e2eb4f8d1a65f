#pragma once
// Settings structs for every component, with their defaults written here. They are filled
// in one place (config/loader.cpp) from the YAML file; tests build them directly.
// The YAML surface is documented in config/gateway.yaml and docs/configuration.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace nilecare::config {

using Duration = std::chrono::milliseconds;

// service: { name, threads, shutdown_grace }
struct ServiceSettings {
  std::string name{"nilecare-gateway"};
  int threads{0};  // 0 = one per core
  Duration shutdown_grace{std::chrono::seconds(10)};
};

enum class LogFormat { kJson, kText };

// log: { level, format }
struct LogSettings {
  std::string level{"info"};  // trace|debug|info|warn|error
  LogFormat format{LogFormat::kJson};
};

struct ListenAddress {
  std::string host{"0.0.0.0"};
  std::uint16_t port{7000};
};

// http: { listen, max_header, max_body, header_timeout, body_timeout, idle_timeout,
//         max_connections }
// The HTTP listener also serves /health, /ready and /metrics, so it is always on: an
// absent `http:` section means these defaults.
struct HttpSettings {
  ListenAddress listen{};
  std::size_t max_header{16 * 1024};
  std::size_t max_body{1024 * 1024};
  Duration header_timeout{std::chrono::seconds(10)};  // first byte -> end of headers
  Duration body_timeout{std::chrono::seconds(30)};    // end of headers -> end of body
  Duration idle_timeout{std::chrono::seconds(65)};    // keep-alive wait for the next request
  std::size_t max_connections{10000};                 // accepted beyond this: closed at once
};

struct GatewaySettings {
  std::string source;  // the file the settings came from, for messages
  ServiceSettings service{};
  LogSettings log{};
  HttpSettings http{};
};

}  // namespace nilecare::config
