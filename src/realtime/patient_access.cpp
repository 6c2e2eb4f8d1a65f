#include "nilecare/realtime/patient_access.hpp"

#include <algorithm>
#include <chrono>

#include "nilecare/observability/log.hpp"

namespace nilecare::realtime {
namespace log = observability::log;

namespace {

constexpr std::size_t kMaxPatientId = 64;
constexpr std::string_view kDenied = "Not authorized for this patient";

bool Unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

// Query values: user ids come from tokens and may hold anything printable.
std::string PercentEncode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : value) {
    if (Unreserved(c)) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

}  // namespace

bool IsValidPatientId(std::string_view id) {
  if (id.empty() || id.size() > kMaxPatientId) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return Unreserved(c) || c == ':'; });
}

PatientAccess::PatientAccess(boost::asio::io_context& io,
                             const config::PatientAccessSettings& settings,
                             observability::MetricsRegistry& metrics)
    : settings_(settings),
      cache_(settings.cache_size),
      care_team_calls_(metrics.GetCounter("nilecare_realtime_care_team_calls_total",
                                          "Care-team checks sent to the care-team service")),
      care_team_failures_(metrics.GetCounter(
          "nilecare_realtime_care_team_failures_total",
          "Care-team checks that got no usable answer (the join was refused)")) {
  if (!settings_.care_team_url.empty()) {
    pool_ = std::make_unique<http::UpstreamPool>(
        io,
        http::ServiceEndpointSettings("care-team", settings_.care_team_url,
                                      settings_.care_team_host, settings_.care_team_port,
                                      settings_.timeout),
        metrics);
  }
}

void PatientAccess::Check(const std::string& user_id, const std::vector<std::string>& roles,
                          const std::string& patient_id,
                          std::function<void(AccessDecision)> done) {
  if (!IsValidPatientId(patient_id)) return done({false, "Invalid patient id"});
  const bool role_ok = std::any_of(roles.begin(), roles.end(), [&](const std::string& role) {
    return std::find(settings_.roles.begin(), settings_.roles.end(), role) !=
           settings_.roles.end();
  });
  if (!role_ok) return done({false, std::string(kDenied)});
  if (!pool_) return done({true, {}});

  // Ids cannot contain '\n' (checked above for the patient; the token verifier refuses
  // control characters in subjects), so the key is unambiguous.
  std::string key = user_id + '\n' + patient_id;
  if (auto cached = cache_.Get(key)) {
    return done({*cached, *cached ? std::string() : std::string(kDenied)});
  }
  care_team_calls_.Inc();
  std::string target = settings_.care_team_path;
  target += target.find('?') == std::string::npos ? '?' : '&';
  target += "user_id=" + PercentEncode(user_id) + "&patient_id=" + PercentEncode(patient_id);
  auto request = std::make_shared<http::Request>(http::Verb::get, target, 11);
  request->set(http::beast_http::field::accept, "application/json");
  const auto now = std::chrono::steady_clock::now();
  pool_->Send(std::move(request), now + settings_.timeout,
              [this, key = std::move(key), done = std::move(done)](http::UpstreamResult result) {
                if (result.error != http::UpstreamError::kNone) {
                  care_team_failures_.Inc();
                  log::Warn("care-team check failed", {{"error", http::ToString(result.error)}});
                  return done({false, "Authorization service unavailable"});
                }
                const unsigned status = result.response.result_int();
                const bool allowed = status >= 200 && status < 300;
                if (allowed || status == 403 || status == 404) {
                  cache_.Put(key, allowed, std::chrono::steady_clock::now() + settings_.cache_ttl);
                  return done({allowed, allowed ? std::string() : std::string(kDenied)});
                }
                care_team_failures_.Inc();
                log::Warn("care-team check failed", {{"status", status}});
                done({false, "Authorization service unavailable"});
              });
}

void PatientAccess::Shutdown() {
  if (pool_) pool_->Shutdown();
}

}  // namespace nilecare::realtime
