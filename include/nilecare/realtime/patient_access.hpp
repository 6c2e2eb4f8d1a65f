#pragma once
// Who may join patient:{id} rooms, and read a patient's vitals through the device API.
//
// YAML (`realtime.patient_access`; defaults in config::PatientAccessSettings):
//   roles: [doctor, nurse, admin]   a token with none of these roles is refused outright
//   care_team_url: ""               optional: GET <url>?user_id=..&patient_id=.. per check;
//                                   2xx allowed, 403/404 denied, anything else denied
//                                   (fail closed) and not cached
//   cache_ttl: 60s                  answers of the care-team service reused this long
//   cache_size: 100000
//   timeout: 2s                     the care-team call's deadline
//
// The room name carries the id, so ids are restricted to [A-Za-z0-9._:-], 1-64 characters.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/ttl_cache.hpp"
#include "nilecare/http/upstream_pool.hpp"
#include "nilecare/observability/metrics.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::realtime {

struct AccessDecision {
  bool allowed{false};
  std::string reason;  // for refusals, shown to the client: "Not authorized for this patient"
};

bool IsValidPatientId(std::string_view id);

class PatientAccess {
 public:
  PatientAccess(boost::asio::io_context& io, const config::PatientAccessSettings& settings,
                observability::MetricsRegistry& metrics);

  // `done` runs exactly once, inline (roles only, or cached) or on an io thread.
  void Check(const std::string& user_id, const std::vector<std::string>& roles,
             const std::string& patient_id, std::function<void(AccessDecision)> done);
  void Shutdown();

 private:
  config::PatientAccessSettings settings_;
  std::unique_ptr<http::UpstreamPool> pool_;  // only with a care-team URL
  core::TtlCache<bool> cache_;
  observability::Counter& care_team_calls_;
  observability::Counter& care_team_failures_;
};

}  // namespace nilecare::realtime
