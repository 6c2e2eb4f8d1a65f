#include "http_component.hpp"

#include <fmt/format.h>

namespace nilecare::app {

HttpComponent::HttpComponent(boost::asio::io_context& io, const config::HttpSettings& settings,
                             const http::Dispatcher& dispatcher,
                             observability::MetricsRegistry& metrics)
    : server_(io, settings, dispatcher, metrics) {}

void HttpComponent::Start() {
  server_.Start();
  state_ = core::HealthState::kUp;
}

void HttpComponent::BeginStop() {
  state_ = core::HealthState::kStopping;
  server_.BeginShutdown();
}

bool HttpComponent::Idle() const { return server_.ActiveRequests() == 0; }

void HttpComponent::Stop() { server_.CloseAll(); }

core::ComponentHealth HttpComponent::Health() const {
  const auto state = state_.load();
  if (state == core::HealthState::kUp) {
    return {state, fmt::format("listening on port {}, open connections: {}", server_.Port(),
                               server_.OpenConnections())};
  }
  if (state == core::HealthState::kStopping) {
    return {state, fmt::format("draining, {} requests in flight", server_.ActiveRequests())};
  }
  return {state, {}};
}

}  // namespace nilecare::app
