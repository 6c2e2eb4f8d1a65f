#include "threshold_monitor.hpp"

namespace nilecare::mqtt {
namespace {

constexpr std::size_t kVitalsWithThresholds = 5;

void CheckRange(const config::ThresholdRange& range, std::string_view vital,
                std::string_view alert_type, double value, std::vector<Breach>& out) {
  // Strict comparisons, as the spec states them: hr > 120 or hr < 40.
  if (range.high && value > *range.high) {
    out.push_back({std::string(alert_type), std::string(vital), "high", value, *range.high});
  } else if (range.low && value < *range.low) {
    out.push_back({std::string(alert_type), std::string(vital), "low", value, *range.low});
  }
}

}  // namespace

ThresholdMonitor::ThresholdMonitor(config::ThresholdSettings settings, std::size_t max_devices)
    : settings_(settings), recently_alerted_(max_devices * kVitalsWithThresholds) {}

std::vector<Breach> ThresholdMonitor::Breaches(const VitalsReading& reading) const {
  std::vector<Breach> breaches;
  CheckRange(settings_.hr, "hr", "HR_ABNORMAL", reading.hr, breaches);
  CheckRange(settings_.spo2, "spo2", "SPO2_ABNORMAL", reading.spo2, breaches);
  CheckRange(settings_.temp, "temp", "TEMP_ABNORMAL", reading.temp, breaches);
  if (reading.bp) {
    CheckRange(settings_.bp_systolic, "bp_systolic", "BP_ABNORMAL", reading.bp->systolic,
               breaches);
    CheckRange(settings_.bp_diastolic, "bp_diastolic", "BP_ABNORMAL", reading.bp->diastolic,
               breaches);
  }
  return breaches;
}

std::vector<Breach> ThresholdMonitor::Check(const VitalsReading& reading,
                                            std::chrono::steady_clock::time_point now) {
  std::vector<Breach> due;
  for (Breach& breach : Breaches(reading)) {
    const std::string key = reading.device_id + '|' + breach.vital;
    if (recently_alerted_.Get(key, now)) continue;
    if (settings_.rearm.count() > 0) recently_alerted_.Put(key, true, now + settings_.rearm);
    due.push_back(std::move(breach));
  }
  return due;
}

}  // namespace nilecare::mqtt
