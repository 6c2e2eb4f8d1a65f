#include "nilecare/core/component.hpp"

namespace nilecare::core {

std::string_view ToString(HealthState state) {
  switch (state) {
    case HealthState::kStarting: return "starting";
    case HealthState::kUp: return "up";
    case HealthState::kDegraded: return "degraded";
    case HealthState::kDown: return "down";
    case HealthState::kStopping: return "stopping";
  }
  return "unknown";
}

}  // namespace nilecare::core
