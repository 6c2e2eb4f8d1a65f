#pragma once
// The daemon: builds every enabled component from the settings, starts them in
// dependency order, serves /health, /ready and /metrics, and on SIGTERM/SIGINT drains
// in-flight work for up to service.shutdown_grace before stopping them in reverse order.

#include <memory>

#include "nilecare/config/settings.hpp"

namespace nilecare::app {

class Gateway {
 public:
  explicit Gateway(config::GatewaySettings settings);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Blocks until shutdown. Returns the process exit code: 0 after a graceful stop,
  // 1 when start-up failed.
  int Run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nilecare::app
