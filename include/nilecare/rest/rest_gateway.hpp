#pragma once
// The REST adapter: routes /api/v1/* to the platform's services with authentication,
// rate limiting, idempotency, per-class deadlines, retries within a budget and a circuit
// breaker per upstream; every reply enveloped.
//
// YAML: `routes`, `upstreams`, `auth`, `timeouts`, `retry`, `circuit_breaker`,
// `rate_limit`, `redis`, `idempotency` (see config/gateway.yaml and docs/rest.md).

#include <memory>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/component.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"
#include "nilecare/router/service_caller.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::rest {

class RestGateway final : public core::Component {
 public:
  // Throws std::runtime_error when the settings cannot work (e.g. an unreadable JWT key).
  RestGateway(boost::asio::io_context& io, const config::GatewaySettings& settings,
              observability::MetricsRegistry& metrics);
  ~RestGateway() override;

  void RegisterRoutes(http::Dispatcher& dispatcher);

  // Calls to `upstreams:` through their pools and breakers, for the event rules' `http`
  // actions. Valid while this component lives.
  router::ServiceCaller& Services();

  std::string_view Name() const override { return "rest"; }
  void Start() override;
  bool Idle() const override;
  void Stop() override;
  core::ComponentHealth Health() const override;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace nilecare::rest
