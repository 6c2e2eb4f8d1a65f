#include "link_state.hpp"

#include "nilecare/observability/log.hpp"

namespace nilecare::amqp {
namespace log = observability::log;

LinkState::LinkState(std::string_view role, std::string_view connection,
                     observability::MetricsRegistry& metrics)
    : role_(role),
      reconnects_(metrics.GetCounter("nilecare_amqp_reconnects_total",
                                     "RabbitMQ connections lost and opened again.",
                                     {{"connection", std::string(connection)}})),
      connected_gauge_(metrics.GetGauge("nilecare_amqp_connected",
                                        "1 while the RabbitMQ connection is open.",
                                        {{"connection", std::string(connection)}})) {}

void LinkState::ConnectFailed(const std::string& error) {
  std::lock_guard lock(mutex_);
  if (last_error_ != error) {
    log::Warn("rabbitmq " + role_ + " cannot connect", {{"error", error}});
  }
  last_error_ = error;
}

void LinkState::Up() {
  connected_.store(true);
  ever_connected_.store(true);
  connected_gauge_.Set(1);
  std::lock_guard lock(mutex_);
  last_error_.clear();
}

void LinkState::Lost(const std::string& error) {
  Closed();
  reconnects_.Inc();
  std::lock_guard lock(mutex_);
  last_error_ = error;
}

void LinkState::Closed() {
  connected_.store(false);
  connected_gauge_.Set(0);
}

std::string LinkState::LastError() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace nilecare::amqp
