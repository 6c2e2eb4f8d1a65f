// Calls made for events (not for a client's request): one attempt through the upstream's
// breaker and pool, the caller retries on its own schedule.

#include <boost/beast/http/string_body.hpp>

#include "nilecare/observability/log.hpp"
#include "rest_shared.hpp"

namespace nilecare::rest {
namespace log = observability::log;

namespace {

class RestServiceCaller final : public router::ServiceCaller {
 public:
  explicit RestServiceCaller(RestGateway::Shared& shared) : shared_(shared) {}

  void Call(router::ServiceCall call, std::function<void(router::ServiceCallResult)> done) override {
    Upstream* upstream = Find(call.upstream);
    if (upstream == nullptr) return done({0, "unknown_upstream"});
    const auto verb = http::beast_http::string_to_verb(call.method);
    if (verb == http::Verb::unknown) return done({0, "bad_method"});
    const auto permit = upstream->breaker->TryAcquire();
    if (!permit.allowed) {
      CountCall(*upstream, CallResult::kCircuitOpen);
      return done({0, "circuit_open"});
    }
    auto request = std::make_shared<http::Request>(
        verb, upstream->pool->Settings().base_path + call.target, 11);
    request->set(http::beast_http::field::content_type, "application/json");
    request->set(http::beast_http::field::accept, "application/json");
    request->set("X-Correlation-ID", call.correlation_id);
    request->set("X-Service-Name", shared_.service_name);
    for (const auto& [name, value] : call.headers) request->set(name, value);
    request->body() = std::move(call.body);
    request->prepare_payload();
    const auto timeout = call.timeout.count() > 0 ? call.timeout : upstream->default_timeout;
    const auto started = std::chrono::steady_clock::now();
    upstream->pool->Send(
        std::move(request), started + timeout,
        [upstream, permit, started, done = std::move(done)](http::UpstreamResult result) {
          RecordAttempt(*upstream, permit, started, result);
          if (result.error != http::UpstreamError::kNone) {
            return done({0, std::string(http::ToString(result.error))});
          }
          done({static_cast<int>(result.response.result_int()), {}});
        });
  }

 private:
  Upstream* Find(const std::string& name) const {
    for (const auto& upstream : shared_.upstreams) {
      if (upstream->name == name) return upstream.get();
    }
    return nullptr;
  }

  RestGateway::Shared& shared_;
};

}  // namespace

std::unique_ptr<router::ServiceCaller> MakeServiceCaller(RestGateway::Shared& shared) {
  return std::make_unique<RestServiceCaller>(shared);
}

}  // namespace nilecare::rest
