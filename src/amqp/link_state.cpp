#include "link_state.hpp"

#include <algorithm>

#include "nilecare/observability/log.hpp"

namespace nilecare::amqp {
namespace log = observability::log;

LinkState::LinkState(std::string_view role, std::string_view connection,
                     std::chrono::milliseconds reconnect_min,
                     std::chrono::milliseconds reconnect_max,
                     observability::MetricsRegistry& metrics)
    : role_(role),
      reconnects_(metrics.GetCounter("nilecare_amqp_reconnects_total",
                                     "RabbitMQ connections lost and opened again.",
                                     {{"connection", std::string(connection)}})),
      connected_gauge_(metrics.GetGauge("nilecare_amqp_connected",
                                        "1 while the RabbitMQ connection is open.",
                                        {{"connection", std::string(connection)}})),
      reconnect_min_(reconnect_min),
      reconnect_max_(reconnect_max),
      backoff_(reconnect_min) {}

void LinkState::ConnectFailed(const std::string& error) {
  // From after the attempt, which may have taken longer than the back-off (a connect timeout).
  next_connect_ = std::chrono::steady_clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, reconnect_max_);
  std::lock_guard lock(mutex_);
  if (last_error_ != error) {
    log::Warn("rabbitmq " + role_ + " cannot connect", {{"error", error}});
  }
  last_error_ = error;
}

void LinkState::Up() {
  backoff_ = reconnect_min_;
  connected_.store(true);
  ever_connected_.store(true);
  connected_gauge_.Set(1);
  std::lock_guard lock(mutex_);
  last_error_.clear();
}

void LinkState::Lost(const std::string& error) {
  Closed();
  reconnects_.Inc();
  next_connect_ = std::chrono::steady_clock::now() + backoff_;
  std::lock_guard lock(mutex_);
  last_error_ = error;
}

void LinkState::Closed() {
  connected_.store(false);
  connected_gauge_.Set(0);
}

std::chrono::milliseconds LinkState::UntilConnectDue(std::chrono::milliseconds cap) const {
  return std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                        next_connect_ - std::chrono::steady_clock::now()),
                    std::chrono::milliseconds(1), cap);
}

std::string LinkState::LastError() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace nilecare::amqp
