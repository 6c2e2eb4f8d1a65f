#include "mqtt/threshold_monitor.hpp"

#include <gtest/gtest.h>

namespace nilecare::mqtt {
namespace {

using namespace std::chrono_literals;

VitalsReading Reading(std::string device, double hr, double spo2 = 98, double temp = 36.8) {
  VitalsReading reading;
  reading.device_id = std::move(device);
  reading.hr = hr;
  reading.spo2 = spo2;
  reading.temp = temp;
  return reading;
}

TEST(ThresholdMonitorTest, SpecBoundsAreStrict) {
  ThresholdMonitor monitor(config::ThresholdSettings{}, 100);
  EXPECT_TRUE(monitor.Breaches(Reading("d", 120)).empty());
  EXPECT_TRUE(monitor.Breaches(Reading("d", 40)).empty());
  const auto high = monitor.Breaches(Reading("d", 121));
  ASSERT_EQ(high.size(), 1u);
  EXPECT_EQ(high[0].alert_type, "HR_ABNORMAL");
  EXPECT_EQ(high[0].direction, "high");
  EXPECT_EQ(high[0].value, 121);
  EXPECT_EQ(high[0].threshold, 120);
  const auto low = monitor.Breaches(Reading("d", 39));
  ASSERT_EQ(low.size(), 1u);
  EXPECT_EQ(low[0].direction, "low");
  EXPECT_EQ(low[0].threshold, 40);
}

TEST(ThresholdMonitorTest, EveryVitalHasItsOwnBand) {
  ThresholdMonitor monitor(config::ThresholdSettings{}, 100);
  VitalsReading reading = Reading("d", 130, 85, 40.0);
  reading.bp = BloodPressure{190, 115};
  const auto breaches = monitor.Breaches(reading);
  std::vector<std::string> vitals;
  for (const auto& breach : breaches) vitals.push_back(breach.vital);
  EXPECT_EQ(vitals, (std::vector<std::string>{"hr", "spo2", "temp", "bp_systolic", "bp_diastolic"}));
}

TEST(ThresholdMonitorTest, RearmWindowIsPerDeviceAndVital) {
  config::ThresholdSettings settings;
  settings.rearm = 60s;
  ThresholdMonitor monitor(settings, 100);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_EQ(monitor.Check(Reading("a", 150), t0).size(), 1u);
  EXPECT_TRUE(monitor.Check(Reading("a", 155), t0 + 10s).empty());  // still high: no flood
  EXPECT_EQ(monitor.Check(Reading("b", 150), t0 + 10s).size(), 1u);  // another device
  EXPECT_EQ(monitor.Check(Reading("a", 150, 80), t0 + 20s).size(), 1u);  // another vital
  EXPECT_EQ(monitor.Check(Reading("a", 150), t0 + 61s).size(), 1u);  // re-armed
}

TEST(ThresholdMonitorTest, ZeroRearmAlertsEveryBreach) {
  config::ThresholdSettings settings;
  settings.rearm = 0s;
  ThresholdMonitor monitor(settings, 100);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(monitor.Check(Reading("a", 150), t0).size(), 1u);
  EXPECT_EQ(monitor.Check(Reading("a", 150), t0).size(), 1u);
}

TEST(ThresholdMonitorTest, BoundsCanBeSwitchedOff) {
  config::ThresholdSettings settings;
  settings.hr = {std::nullopt, std::nullopt};
  ThresholdMonitor monitor(settings, 100);
  EXPECT_TRUE(monitor.Breaches(Reading("d", 200)).empty());
}

}  // namespace
}  // namespace nilecare::mqtt
