#include "ops_endpoints.hpp"

#include <dirent.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "nilecare/core/clock.hpp"
#include "nilecare/core/errors.hpp"
#include "nilecare/http/responses.hpp"

namespace nilecare::app {
namespace {

bool Serving(core::HealthState state) {
  return state == core::HealthState::kUp || state == core::HealthState::kDegraded;
}

nlohmann::json ComponentsJson(const OpsState& state, bool* all_serving, bool* any_degraded) {
  nlohmann::json components = nlohmann::json::object();
  *all_serving = true;
  *any_degraded = false;
  for (const auto& component : *state.components) {
    const auto health = component->Health();
    nlohmann::json entry{{"state", core::ToString(health.state)}};
    if (!health.detail.empty()) entry["detail"] = health.detail;
    components[std::string(component->Name())] = std::move(entry);
    if (!Serving(health.state)) *all_serving = false;
    if (health.state == core::HealthState::kDegraded) *any_degraded = true;
  }
  return components;
}

double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0;
  long pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0.0;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0.0;
  double count = 0;
  while (readdir(dir) != nullptr) ++count;
  closedir(dir);
  return count - 3;  // ".", ".." and the directory's own fd
}

}  // namespace

bool OpsState::Ready() const {
  if (draining.load()) return false;
  for (const auto& component : *components) {
    if (!Serving(component->Health().state)) return false;
  }
  return true;
}

void RegisterOpsEndpoints(http::Dispatcher& dispatcher, OpsState& state) {
  using http::Verb;
  dispatcher.AddExact(
      "/health", {Verb::get}, "health",
      [&state](http::RequestContext& context, http::Request&, http::Responder respond) {
        bool all_serving = false;
        bool any_degraded = false;
        auto components = ComponentsJson(state, &all_serving, &any_degraded);
        const char* status = state.draining ? "draining"
                             : !all_serving ? "starting_or_down"
                             : any_degraded ? "degraded"
                                            : "ok";
        const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::steady_clock::now() - state.started_steady)
                                .count();
        // Liveness: the process answers, so 200; the body tells the truth about each part.
        respond(http::SuccessResponse(context, http::Status::ok, "Gateway is alive",
                                      {{"service", state.service_name},
                                       {"version", NILECARE_VERSION},
                                       {"status", status},
                                       {"started_at", core::FormatIso8601(state.started_at)},
                                       {"uptime_seconds", uptime},
                                       {"components", std::move(components)}}));
      });

  dispatcher.AddExact(
      "/ready", {Verb::get}, "ready",
      [&state](http::RequestContext& context, http::Request&, http::Responder respond) {
        bool all_serving = false;
        bool any_degraded = false;
        auto components = ComponentsJson(state, &all_serving, &any_degraded);
        if (state.draining) {
          respond(http::ErrorResponse(context, http::Status::service_unavailable,
                                      core::error_code::kShuttingDown,
                                      "Gateway is shutting down", {{"components", components}}));
        } else if (!all_serving) {
          respond(http::ErrorResponse(context, http::Status::service_unavailable,
                                      core::error_code::kNotReady,
                                      "Not every component is connected yet",
                                      {{"components", components}}));
        } else {
          respond(http::SuccessResponse(context, http::Status::ok, "Gateway is ready",
                                        {{"ready", true}, {"components", components}}));
        }
      });

  dispatcher.AddExact(
      "/metrics", {Verb::get}, "metrics",
      [&state](http::RequestContext&, http::Request&, http::Responder respond) {
        // Prometheus' text format, not the envelope: scrapers parse this.
        http::Response response{http::Status::ok, 11};
        response.set(http::beast_http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        response.body() = state.metrics->RenderText();
        respond(std::move(response));
      });
}

void RegisterProcessMetrics(OpsState& state) {
  auto& metrics = *state.metrics;
  metrics.GetGauge("nilecare_build_info", "Build of the running gateway",
                   {{"version", NILECARE_VERSION}, {"service", state.service_name}})
      .Set(1);
  metrics
      .GetGauge("process_start_time_seconds", "Start time of the process since the Unix epoch")
      .Set(static_cast<double>(std::chrono::duration_cast<std::chrono::seconds>(
                                   state.started_at.time_since_epoch())
                                   .count()));
  metrics.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size", {},
                           ResidentBytes);
  metrics.AddCallbackGauge("process_open_fds", "Open file descriptors", {}, OpenFds);
  metrics.AddCallbackGauge("nilecare_ready", "1 when /ready answers 200", {},
                           [&state] { return state.Ready() ? 1.0 : 0.0; });
  for (const auto& component : *state.components) {
    const core::Component* raw = component.get();
    metrics.AddCallbackGauge("nilecare_component_up",
                             "1 when the component is up or degraded, 0 otherwise",
                             {{"component", std::string(raw->Name())}},
                             [raw] { return Serving(raw->Health().state) ? 1.0 : 0.0; });
  }
}

}  // namespace nilecare::app
