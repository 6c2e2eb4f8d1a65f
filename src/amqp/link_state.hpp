#pragma once
// One of the adapter's connections (the publisher's, the workers'): how it looks from outside
// (health, metrics, logs; read by any thread) and when its owner thread may try to connect
// again (back-off doubling from reconnect_min to reconnect_max; owner thread only).

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "nilecare/observability/metrics.hpp"

namespace nilecare::amqp {

class LinkState {
 public:
  // `role`: publisher | workers (logs); `connection`: publish | consume (metric label).
  LinkState(std::string_view role, std::string_view connection,
            std::chrono::milliseconds reconnect_min, std::chrono::milliseconds reconnect_max,
            observability::MetricsRegistry& metrics);

  // A connect attempt failed; logged once per distinct error, not at every retry. The next
  // attempt waits the back-off, which then doubles.
  void ConnectFailed(const std::string& error);
  void Up();  // also resets the back-off
  // An open connection was lost: counted as a reconnect, tried again after the back-off.
  void Lost(const std::string& error);
  // The owner closed it for good (stopping).
  void Closed();

  bool Connected() const { return connected_.load(); }
  bool EverConnected() const { return ever_connected_.load(); }
  std::string LastError() const;

  // Owner thread: may it try to connect now; else how long to wait, at least 1 ms, at most `cap`.
  bool ConnectDue() const { return std::chrono::steady_clock::now() >= next_connect_; }
  std::chrono::milliseconds UntilConnectDue(std::chrono::milliseconds cap) const;

 private:
  const std::string role_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> ever_connected_{false};
  mutable std::mutex mutex_;
  std::string last_error_;  // guarded by mutex_
  observability::Counter& reconnects_;
  observability::Gauge& connected_gauge_;
  // Owner thread only.
  const std::chrono::milliseconds reconnect_min_;
  const std::chrono::milliseconds reconnect_max_;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point next_connect_{};
};

}  // namespace nilecare::amqp
