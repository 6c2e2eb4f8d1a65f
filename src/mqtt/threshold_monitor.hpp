#pragma once
// Critical-value alerts for device vitals (private to src/mqtt).
//
// YAML (`thresholds:`; defaults in config::ThresholdSettings):
//   hr: { low: 40, high: 120 }        spec §5: hr > 120 or < 40 is critical
//   spo2: { low: 90 }
//   temp: { low: 35.0, high: 39.5 }
//   bp_systolic: { low: 90, high: 180 }
//   bp_diastolic: { high: 110 }
//   rearm: 5m                         one alert per device and vital within this window
//
// The re-arm memory is bounded (mqtt.max_devices entries per vital, least recently used
// forgotten first): under pressure a patient may be alerted again early, never missed.

#include <chrono>
#include <string>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/ttl_cache.hpp"
#include "nilecare/mqtt/device_records.hpp"

namespace nilecare::mqtt {

struct Breach {
  std::string alert_type;  // HR_ABNORMAL, SPO2_ABNORMAL, TEMP_ABNORMAL, BP_ABNORMAL
  std::string vital;       // hr | spo2 | temp | bp_systolic | bp_diastolic
  std::string direction;   // high | low
  double value{0};
  double threshold{0};
};

class ThresholdMonitor {
 public:
  ThresholdMonitor(config::ThresholdSettings settings, std::size_t max_devices);

  // The breaches of `reading` to alert on now; each re-arms after settings.rearm. Thread-safe.
  std::vector<Breach> Check(const VitalsReading& reading,
                            std::chrono::steady_clock::time_point now);

  // All breaches regardless of re-arm (for tests and the alert payload).
  std::vector<Breach> Breaches(const VitalsReading& reading) const;

 private:
  config::ThresholdSettings settings_;
  core::TtlCache<bool> recently_alerted_;  // "<device>|<vital>"
};

}  // namespace nilecare::mqtt
