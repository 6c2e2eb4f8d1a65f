#pragma once
// What the daemon needs from every component (HTTP server, adapters, storage): start in
// dependency order, stop in reverse, and say truthfully how it is doing for /health and
// /ready.

#include <chrono>
#include <string>
#include <string_view>

namespace nilecare::core {

enum class HealthState {
  kStarting,  // not connected yet: /ready answers 503
  kUp,
  kDegraded,  // working but impaired (e.g. a backlog growing): still ready
  kDown,      // lost its dependency: /ready answers 503
  kStopping,
};

std::string_view ToString(HealthState state);

struct ComponentHealth {
  HealthState state{HealthState::kStarting};
  std::string detail{};  // short operator-facing reason; never patient data
};

class Component {
 public:
  virtual ~Component() = default;
  virtual std::string_view Name() const = 0;
  // Throws std::exception with an operator-facing message on a fatal start-up error.
  virtual void Start() = 0;
  // Stop accepting new work; in-flight work may finish until `deadline`.
  virtual void BeginStop() {}
  // True once nothing is in flight any more (the daemon waits for it until the deadline).
  virtual bool Idle() const { return true; }
  // Release everything; called after BeginStop, in reverse start order.
  virtual void Stop() = 0;
  virtual ComponentHealth Health() const = 0;
};

}  // namespace nilecare::core
