#pragma once
// One call to a platform service through the REST adapter's resilience layer (the
// upstream's connection pool and circuit breaker), for adapters that act on events rather
// than on client requests (Kafka event rules, task workers). One attempt per call: the
// caller owns its retry schedule.

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace nilecare::router {

struct ServiceCall {
  std::string upstream;       // a name from `upstreams:`
  std::string method;         // POST, PUT, PATCH, GET
  std::string target;         // path and query, e.g. /api/v1/notifications
  std::string body;           // JSON
  std::string correlation_id;
  std::chrono::milliseconds timeout{};
  std::vector<std::pair<std::string, std::string>> headers{};  // extra request headers
};

struct ServiceCallResult {
  int status{0};          // HTTP status; 0 = no reply (see error)
  std::string error{};    // "circuit_open", "timeout", "connect", "unknown_upstream", ...
  bool Succeeded() const { return status >= 200 && status < 300; }
  // 4xx other than 408/429: sending the same request again will not help.
  bool Permanent() const {
    return error == "unknown_upstream" ||
           (status >= 400 && status < 500 && status != 408 && status != 429);
  }
};

class ServiceCaller {
 public:
  virtual ~ServiceCaller() = default;
  // `done` runs exactly once, on an io thread (or inline when the call cannot start).
  virtual void Call(ServiceCall call, std::function<void(ServiceCallResult)> done) = 0;
};

}  // namespace nilecare::router
