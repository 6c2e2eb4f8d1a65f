#include "server_state.hpp"

#include <string>

namespace nilecare::http {

ServerState::ServerState(const config::HttpSettings& settings, const Dispatcher& dispatcher,
                         observability::MetricsRegistry& metrics)
    : settings_(settings),
      dispatcher_(dispatcher),
      metrics_(metrics),
      in_flight_gauge_(metrics.GetGauge("nilecare_http_requests_in_flight",
                                        "HTTP requests between first byte and end of reply")),
      connections_gauge_(
          metrics.GetGauge("nilecare_http_connections", "Open HTTP client connections")),
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

void ServerState::RecordResponse(std::string_view route, std::string_view method,
                                 unsigned status, double seconds) {
  metrics_
      .GetCounter("nilecare_http_requests_total", "HTTP requests answered",
                  {{"route", std::string(route)},
                   {"method", std::string(method)},
                   {"status", std::to_string(status)}})
      .Inc();
  metrics_
      .GetHistogram("nilecare_http_request_duration_seconds",
                    "Time from first byte of a request to its reply being written",
                    {{"route", std::string(route)}})
      .Observe(seconds);
}

}  // namespace nilecare::http
