#pragma once
// How one of the adapter's connections (the publisher's, the workers') looks from outside:
// health, metrics, logs. Written by the thread that owns the connection, read by anyone.

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>

#include "nilecare/observability/metrics.hpp"

namespace nilecare::amqp {

class LinkState {
 public:
  // `role`: publisher | workers (logs); `connection`: publish | consume (metric label).
  LinkState(std::string_view role, std::string_view connection,
            observability::MetricsRegistry& metrics);

  // A connect attempt failed; logged once per distinct error, not at every retry.
  void ConnectFailed(const std::string& error);
  void Up();
  // An open connection was lost: counted as a reconnect to come.
  void Lost(const std::string& error);
  // The owner closed it for good (stopping).
  void Closed();

  bool Connected() const { return connected_.load(); }
  bool EverConnected() const { return ever_connected_.load(); }
  std::string LastError() const;

 private:
  const std::string role_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> ever_connected_{false};
  mutable std::mutex mutex_;
  std::string last_error_;  // guarded by mutex_
  observability::Counter& reconnects_;
  observability::Gauge& connected_gauge_;
};

}  // namespace nilecare::amqp
