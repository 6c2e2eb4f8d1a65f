#pragma once
// One proxied request across its attempts: breaker permit, send, classify, maybe back off
// and try again, all within the route's deadline; then the envelope and the reply.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "rest_shared.hpp"

namespace nilecare::rest {

struct IdempotencyClaim {
  std::string key;
  std::string fingerprint;
};

class ProxyCall : public std::enable_shared_from_this<ProxyCall> {
 public:
  ProxyCall(std::shared_ptr<RestGateway::Shared> shared, const Route& route,
            http::RequestContext context, http::Request upstream_request, bool has_idempotency_key,
            std::optional<IdempotencyClaim> claim, http::Responder respond);
  ~ProxyCall();

  void Start();

 private:
  void Attempt();
  void OnResult(const router::CircuitBreaker::Permit& permit,
                std::chrono::steady_clock::time_point started, http::UpstreamResult result);
  bool MaybeRetry(std::optional<int> status, std::optional<std::chrono::milliseconds> retry_after,
                  bool safe_to_repeat);
  void Fail(http::UpstreamError error, const std::string& detail);
  void Finish(http::Response response);

  std::shared_ptr<RestGateway::Shared> shared_;
  Upstream& upstream_;
  http::RequestContext context_;
  std::shared_ptr<http::Request> request_;
  bool has_idempotency_key_;
  std::optional<IdempotencyClaim> claim_;
  http::Responder respond_;
  std::chrono::steady_clock::time_point deadline_;
  boost::asio::steady_timer backoff_timer_;
  int attempts_{0};
  bool retrying_{false};
};

}  // namespace nilecare::rest
