#pragma once
// State shared by the listener and its sessions (private to src/http).

#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/observability/metrics.hpp"

namespace nilecare::http {

class HttpSession;

class ServerState {
 public:
  ServerState(const config::HttpSettings& settings, const Dispatcher& dispatcher,
              observability::MetricsRegistry& metrics);

  const config::HttpSettings& Settings() const { return settings_; }
  const Dispatcher& Routes() const { return dispatcher_; }

  bool Draining() const { return draining_.load(std::memory_order_acquire); }
  void SetDraining() { draining_.store(true, std::memory_order_release); }

  void RequestStarted();
  void RequestFinished();
  std::size_t ActiveRequests() const { return active_requests_.load(); }

  // False when max_connections is reached: the caller closes the socket.
  bool AdmitConnection();
  void Register(const std::shared_ptr<HttpSession>& session);
  void Unregister(HttpSession* session);
  std::size_t OpenConnections() const { return open_connections_.load(); }
  // Runs `action` on every live session (the action posts to the session's strand).
  template <typename Action>
  void ForEachSession(Action action) {
    // Collected first and acted on outside the lock: dropping the last reference to a
    // session runs its destructor, which takes the lock to unregister.
    std::vector<std::shared_ptr<HttpSession>> live;
    {
      std::lock_guard lock(mutex_);
      live.reserve(sessions_.size());
      for (auto& [raw, weak] : sessions_) {
        if (auto session = weak.lock()) live.push_back(std::move(session));
      }
    }
    for (auto& session : live) action(session);
  }

  // `route` must be a dispatcher label (or a literal): series are cached by its address.
  void RecordResponse(std::string_view route, std::string_view method, unsigned status,
                      double seconds);

 private:
  config::HttpSettings settings_;
  const Dispatcher& dispatcher_;
  observability::MetricsRegistry& metrics_;
  observability::Gauge& in_flight_gauge_;
  observability::Gauge& connections_gauge_;
  std::uint64_t instance_id_;
  observability::Counter& rejected_connections_;
  std::atomic<bool> draining_{false};
  std::atomic<std::size_t> active_requests_{0};
  std::atomic<std::size_t> open_connections_{0};
  std::mutex mutex_;
  std::unordered_map<HttpSession*, std::weak_ptr<HttpSession>> sessions_;
};

}  // namespace nilecare::http
