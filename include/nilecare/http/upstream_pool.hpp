#pragma once
// An async HTTP/1.1 client for one upstream service: a bounded pool of keep-alive
// connections plus a bounded queue of requests waiting for one.
//
// YAML (`upstreams.<name>`; defaults in config::UpstreamSettings):
//   url: http://127.0.0.1:7010     host, port and optional base path
//   max_connections: 64            connections open at most
//   max_pending: 256               requests waiting for a connection; more -> kSaturated
//   connect_timeout: 2s
//   idle_timeout: 4s               idle connections older than this are not reused
//   max_response_body: 16MiB       larger replies -> kBadResponse
//
// One call to Send() is one attempt: retries, breakers and deadlines across attempts are
// the router's business.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "nilecare/config/settings.hpp"
#include "nilecare/http/types.hpp"
#include "nilecare/observability/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::http {

enum class UpstreamError {
  kNone,
  kConnect,      // could not connect (refused, unreachable, DNS)
  kNetwork,      // connection reset or closed before a full reply
  kTimeout,      // the attempt's deadline passed
  kSaturated,    // no connection free and the pending queue is full
  kBadResponse,  // unparseable or oversized reply
  kShutdown,     // the pool is shutting down
};
std::string_view ToString(UpstreamError error);

struct UpstreamResult {
  UpstreamError error{UpstreamError::kNone};
  Response response{};
  // True when nothing of the request could have reached the upstream application
  // (connect failed, or the pool refused): safe to retry whatever the method.
  bool not_sent{false};
  std::string detail{};  // operator-facing, no payload
};

// Settings for a pool that calls one endpoint of a service the gateway asks itself (token
// validation, care-team checks): small JSON replies, connect bounded by the call's deadline.
config::UpstreamSettings ServiceEndpointSettings(std::string name, std::string url,
                                                 std::string host, std::uint16_t port,
                                                 config::Duration timeout);

class UpstreamPool {
 public:
  UpstreamPool(boost::asio::io_context& io, const config::UpstreamSettings& settings,
               observability::MetricsRegistry& metrics);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  using Callback = std::function<void(UpstreamResult)>;
  // Sends `request` (target already rewritten for the upstream, Host set by the pool) and
  // calls `done` exactly once, from an io thread. `deadline` bounds waiting for a
  // connection, connecting, writing and reading.
  void Send(std::shared_ptr<Request> request, std::chrono::steady_clock::time_point deadline,
            Callback done);
  // Fails queued requests with kShutdown and closes idle connections; busy ones finish.
  void Shutdown();

  const config::UpstreamSettings& Settings() const;
  std::size_t OpenConnections() const;
  std::size_t PendingRequests() const;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace nilecare::http
