#pragma once
// Adapts the HTTP server to the daemon's component lifecycle.

#include <atomic>
#include <memory>

#include "nilecare/core/component.hpp"
#include "nilecare/http/server.hpp"

namespace nilecare::app {

class HttpComponent final : public core::Component {
 public:
  HttpComponent(boost::asio::io_context& io, const config::HttpSettings& settings,
                const http::Dispatcher& dispatcher, observability::MetricsRegistry& metrics);

  std::string_view Name() const override { return "http"; }
  void Start() override;
  void BeginStop() override;
  bool Idle() const override;
  void Stop() override;
  core::ComponentHealth Health() const override;

  std::uint16_t Port() const { return server_.Port(); }
  std::size_t ActiveRequests() const { return server_.ActiveRequests(); }

 private:
  http::HttpServer server_;
  std::atomic<core::HealthState> state_{core::HealthState::kStarting};
};

}  // namespace nilecare::app
