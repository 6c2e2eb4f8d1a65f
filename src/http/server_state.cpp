#include "server_state.hpp"

#include <functional>
#include <string>

namespace nilecare::http {
namespace {
std::uint64_t NextInstanceId() {
  static std::atomic<std::uint64_t> next{1};
  return next++;
}
}  // namespace

ServerState::ServerState(const config::HttpSettings& settings, const Dispatcher& dispatcher,
                         observability::MetricsRegistry& metrics)
    : settings_(settings),
      dispatcher_(dispatcher),
      metrics_(metrics),
      in_flight_gauge_(metrics.GetGauge("nilecare_http_requests_in_flight",
                                        "HTTP requests between first byte and end of reply")),
      connections_gauge_(
          metrics.GetGauge("nilecare_http_connections", "Open HTTP client connections")),
      instance_id_(NextInstanceId()),
      rejected_connections_(metrics.GetCounter(
          "nilecare_http_connections_rejected_total",
          "Connections closed at accept because http.max_connections was reached")) {}

void ServerState::RequestStarted() {
  ++active_requests_;
  in_flight_gauge_.Add(1);
}

void ServerState::RequestFinished() {
  --active_requests_;
  in_flight_gauge_.Add(-1);
}

bool ServerState::AdmitConnection() {
  if (open_connections_.load() >= settings_.max_connections) {
    rejected_connections_.Inc();
    return false;
  }
  return true;
}

void ServerState::Register(const std::shared_ptr<HttpSession>& session) {
  std::lock_guard lock(mutex_);
  sessions_.emplace(session.get(), session);
  ++open_connections_;
  connections_gauge_.Add(1);
}

void ServerState::Unregister(HttpSession* session) {
  std::lock_guard lock(mutex_);
  if (sessions_.erase(session) > 0) {
    --open_connections_;
    connections_gauge_.Add(-1);
  }
}

namespace {

// Series of one (route, method, status), found in the registry once per thread: the
// registry lookup builds label strings under a lock, too slow for every request.
struct SeriesKey {
  std::uint64_t server;  // ServerState::instance_id_: an address could be reused
  const char* route;  // dispatcher labels are stable, so their address identifies them
  std::size_t route_size;
  std::string method;
  unsigned status;
  bool operator==(const SeriesKey&) const = default;
};

struct SeriesKeyHash {
  std::size_t operator()(const SeriesKey& key) const {
    std::size_t hash = std::hash<std::uint64_t>()(key.server);
    hash = hash * 31 + std::hash<const void*>()(key.route);
    hash = hash * 31 + std::hash<std::string>()(key.method);
    return hash * 31 + key.status;
  }
};

struct Series {
  observability::Counter* requests;
  observability::Histogram* duration;
};

}  // namespace

void ServerState::RecordResponse(std::string_view route, std::string_view method,
                                 unsigned status, double seconds) {
  thread_local std::unordered_map<SeriesKey, Series, SeriesKeyHash> cache;
  SeriesKey key{instance_id_, route.data(), route.size(), std::string(method), status};
  auto it = cache.find(key);
  if (it == cache.end()) {
    Series series{
        &metrics_.GetCounter("nilecare_http_requests_total", "HTTP requests answered",
                             {{"route", std::string(route)},
                              {"method", std::string(method)},
                              {"status", std::to_string(status)}}),
        &metrics_.GetHistogram("nilecare_http_request_duration_seconds",
                               "Time from first byte of a request to its reply being ready to send",
                               {{"route", std::string(route)}})};
    it = cache.emplace(std::move(key), series).first;
  }
  it->second.requests->Inc();
  it->second.duration->Observe(seconds);
}

}  // namespace nilecare::http
