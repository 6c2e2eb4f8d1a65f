// nilecare-gateway: the NileCare platform's communication hub.
//
//   nilecare-gateway --config FILE           run
//   nilecare-gateway --config FILE --check-config
//   nilecare-gateway --version | --help
//
// Exit codes: 0 success, 1 runtime failure (e.g. port in use), 2 invalid usage or config.

#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "nilecare/app/gateway.hpp"
#include "nilecare/config/loader.hpp"
#include "nilecare/observability/log.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr std::string_view kDefaultConfig = "/etc/nilecare-gateway/gateway.yaml";

void PrintHelp() {
  std::cout << "nilecare-gateway " << NILECARE_VERSION << R"(
The NileCare platform's communication hub: REST, Socket.IO, MQTT, Kafka and RabbitMQ
adapters behind one router.

Usage:
  nilecare-gateway [--config FILE]     run the gateway (default config: )"
            << kDefaultConfig << R"()
  nilecare-gateway --config FILE --check-config
                                       validate FILE, print a summary, exit 0 (invalid: 2)
  nilecare-gateway --version           print the version
  nilecare-gateway --help              this text

Environment: ${VAR} and ${VAR:-default} in the config file are taken from the environment.
Signals: SIGTERM/SIGINT drain in-flight requests for service.shutdown_grace, then exit 0.
)";
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path(kDefaultConfig);
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      PrintHelp();
      return kExitOk;
    }
    if (arg == "--version") {
      std::cout << "nilecare-gateway " << NILECARE_VERSION << "\n";
      return kExitOk;
    }
    if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      config_path = std::string(arg.substr(9));
    } else {
      std::cerr << "nilecare-gateway: unknown argument '" << arg << "' (see --help)\n";
      return kExitUsage;
    }
  }

  nilecare::config::GatewaySettings settings;
  try {
    settings = nilecare::config::LoadFile(config_path);
  } catch (const nilecare::config::ConfigError& error) {
    std::cerr << "nilecare-gateway: invalid configuration\n" << error.what() << "\n";
    return kExitUsage;
  }
  if (check_only) {
    std::cout << nilecare::config::Summary(settings) << "configuration OK\n";
    return kExitOk;
  }

  namespace log = nilecare::observability::log;
  log::Init(settings.log.level, settings.log.format == nilecare::config::LogFormat::kJson
                                    ? log::Format::kJson
                                    : log::Format::kText);
  int exit_code = kExitFailure;
  try {
    nilecare::app::Gateway gateway(std::move(settings));
    exit_code = gateway.Run();
  } catch (const std::exception& error) {
    log::Error("fatal", {{"error", error.what()}});
    exit_code = kExitFailure;
  }
  log::Shutdown();
  return exit_code;
}
