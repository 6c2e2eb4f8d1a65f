#pragma once
// GET /health (liveness + per-component state), GET /ready (503 until every enabled
// component is connected, and again while draining), GET /metrics (Prometheus text).

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "nilecare/core/component.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"

namespace nilecare::app {

struct OpsState {
  std::string service_name;
  std::chrono::system_clock::time_point started_at{std::chrono::system_clock::now()};
  std::chrono::steady_clock::time_point started_steady{std::chrono::steady_clock::now()};
  const std::vector<std::unique_ptr<core::Component>>* components{nullptr};
  std::atomic<bool> draining{false};
  observability::MetricsRegistry* metrics{nullptr};

  // True when every component is up or degraded and the gateway is not draining.
  bool Ready() const;
};

void RegisterOpsEndpoints(http::Dispatcher& dispatcher, OpsState& state);

// build_info, process start time, RSS and open fds, readiness, one up/down gauge per
// component.
void RegisterProcessMetrics(OpsState& state);

}  // namespace nilecare::app
