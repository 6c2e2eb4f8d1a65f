// The thresholds: section (config/loader.cpp ParseThresholds).

#include <gtest/gtest.h>

#include <algorithm>

#include "config_test_support.hpp"

namespace {

using nilecare::config::GatewaySettings;
using nilecare::config::ThresholdRange;
using nilecare::config::ThresholdSettings;
using nilecare::config::test_support::Load;
using nilecare::config::test_support::ProblemOf;
using nilecare::config::test_support::ProblemsOf;
using namespace std::chrono_literals;

// What thresholds: needs (mqtt:, and what mqtt: needs). Lines 1-5.
constexpr std::string_view kMqtt =
    "service: {}\n"
    "auth: {jwt: {secret: '0123456789abcdef0123456789abcdef', issuer: i, audience: a}}\n"
    "database: {url: 'postgres://127.0.0.1/nilecare'}\n"
    "realtime: {}\n"
    "mqtt: {}\n";

std::string WithMqtt(std::string_view rest) {
  return std::string(kMqtt) + std::string(rest);
}

std::string Describe(const ThresholdRange& range) {
  return (range.low ? std::to_string(*range.low) : std::string("-")) + ".." +
         (range.high ? std::to_string(*range.high) : std::string("-"));
}

TEST(ThresholdsSectionTest, AbsentTakesTheSpecDefaults) {
  const GatewaySettings s = Load(kMqtt);
  const ThresholdSettings& t = s.thresholds;
  // Spec §5: hr > 120 or < 40 is critical.
  EXPECT_EQ(t.hr.low, 40.0);
  EXPECT_EQ(t.hr.high, 120.0);
  EXPECT_EQ(t.spo2.low, 90.0);
  EXPECT_FALSE(t.spo2.high.has_value());
  EXPECT_EQ(t.temp.low, 35.0);
  EXPECT_EQ(t.temp.high, 39.5);
  EXPECT_EQ(t.bp_systolic.low, 90.0);
  EXPECT_EQ(t.bp_systolic.high, 180.0);
  EXPECT_FALSE(t.bp_diastolic.low.has_value());
  EXPECT_EQ(t.bp_diastolic.high, 110.0);
  EXPECT_EQ(t.rearm, 5min);
  // An empty section is the same.
  const ThresholdSettings& empty = Load(WithMqtt("thresholds:\n")).thresholds;
  EXPECT_EQ(Describe(empty.hr), Describe(t.hr));
  EXPECT_EQ(Describe(empty.spo2), Describe(t.spo2));
  EXPECT_EQ(Describe(empty.bp_diastolic), Describe(t.bp_diastolic));
  EXPECT_EQ(empty.rearm, t.rearm);
}

TEST(ThresholdsSectionTest, ReadsEveryKey) {
  const GatewaySettings s = Load(WithMqtt(R"(thresholds:
  hr: {low: 45, high: 130}
  spo2: {low: 92.5, high: 100}
  temp:
    low: 35.5
    high: 38.9
  bp_systolic: {low: 85, high: 190}
  bp_diastolic: {low: 40, high: 115}
  rearm: 90s
)"));
  const ThresholdSettings& t = s.thresholds;
  EXPECT_EQ(t.hr.low, 45.0);
  EXPECT_EQ(t.hr.high, 130.0);
  EXPECT_EQ(t.spo2.low, 92.5);
  EXPECT_EQ(t.spo2.high, 100.0);
  EXPECT_EQ(t.temp.low, 35.5);
  EXPECT_EQ(t.temp.high, 38.9);
  EXPECT_EQ(t.bp_systolic.low, 85.0);
  EXPECT_EQ(t.bp_systolic.high, 190.0);
  EXPECT_EQ(t.bp_diastolic.low, 40.0);
  EXPECT_EQ(t.bp_diastolic.high, 115.0);
  EXPECT_EQ(t.rearm, 90s);
}

TEST(ThresholdsSectionTest, AnOmittedBoundKeepsItsDefault) {
  const ThresholdSettings t =
      Load(WithMqtt("thresholds:\n  hr: {high: 130}\n  temp: {low: 34}\n  spo2: {}\n")).thresholds;
  EXPECT_EQ(t.hr.low, 40.0);
  EXPECT_EQ(t.hr.high, 130.0);
  EXPECT_EQ(t.temp.low, 34.0);
  EXPECT_EQ(t.temp.high, 39.5);
  EXPECT_EQ(t.spo2.low, 90.0);
  EXPECT_FALSE(t.spo2.high.has_value());
}

TEST(ThresholdsSectionTest, OffSwitchesABoundOff) {
  const ThresholdSettings t = Load(WithMqtt(R"(thresholds:
  hr: {low: off}
  temp: {low: off, high: off}
  bp_diastolic: {low: 50, high: off}
  rearm: 0s
)"))
                                  .thresholds;
  EXPECT_FALSE(t.hr.low.has_value());
  EXPECT_EQ(t.hr.high, 120.0);
  EXPECT_FALSE(t.temp.low.has_value());
  EXPECT_FALSE(t.temp.high.has_value());
  EXPECT_EQ(t.bp_diastolic.low, 50.0);
  EXPECT_FALSE(t.bp_diastolic.high.has_value());
  EXPECT_EQ(t.rearm, 0s);
}

TEST(ThresholdsSectionTest, NeedsTheMqttSection) {
  EXPECT_EQ(ProblemOf("service: {}\n\nthresholds:\n  hr: {low: 40}\n"),
            "gw.yaml:3: thresholds: requires the mqtt section (thresholds apply to MQTT vitals)");
}

TEST(ThresholdsSectionTest, LowMustBeBelowHigh) {
  EXPECT_EQ(ProblemsOf(WithMqtt(R"(thresholds:
  hr: {low: 120, high: 40}
  spo2:
    low: 95
    high: 95
  temp: {low: 40}
)")),
            (std::vector<std::string>{
                "gw.yaml:7: thresholds.hr: low (120) must be less than high (40)",
                "gw.yaml:8: thresholds.spo2: low (95) must be less than high (95)",
                // Against the default high of 39.5.
                "gw.yaml:11: thresholds.temp: low (40) must be less than high (39.5)",
            }));
}

TEST(ThresholdsSectionTest, BadValuesNameFileKeyAndLine) {
  EXPECT_EQ(ProblemsOf(WithMqtt(R"(thresholds:
  hr: {low: fast}
  spo2: {high: -1}
  temp: 39
  bp_systolic: {lo: 90}
  bp_diastolic: {high: ~}
  rearm: 5
  heart_rate: {low: 40}
)")),
            (std::vector<std::string>{
                "gw.yaml:7: thresholds.hr.low: expected a number of at least 0, or off, got "
                "\"fast\"",
                "gw.yaml:8: thresholds.spo2.high: expected a number of at least 0, or off, got "
                "\"-1\"",
                "gw.yaml:9: thresholds.temp: expected a mapping of settings, got \"39\"",
                "gw.yaml:10: thresholds.bp_systolic.lo: unknown key (did you mean \"low\"?)",
                "gw.yaml:11: thresholds.bp_diastolic.high: expected a number of at least 0, or "
                "off, got nothing",
                "gw.yaml:12: thresholds.rearm: expected a duration with a unit like 10s or 250ms "
                "(a bare number is ambiguous: seconds or milliseconds?), got \"5\"",
                "gw.yaml:13: thresholds.heart_rate: unknown key",
            }));
}

TEST(ThresholdsSectionTest, Summary) {
  const std::string summary = nilecare::config::Summary(Load(kMqtt));
  EXPECT_NE(summary.find("  thresholds:      alert on hr<40|>120 spo2<90 temp<35|>39.5 "
                         "bp_systolic<90|>180 bp_diastolic>110\n"
                         "                   rearm=5m\n"),
            std::string::npos)
      << summary;
  const std::string off = nilecare::config::Summary(
      Load(WithMqtt("thresholds: {hr: {low: off, high: off}, temp: {low: 35.25}}\n")));
  EXPECT_NE(off.find("alert on hr=off spo2<90 temp<35.25|>39.5 "), std::string::npos) << off;
}

}  // namespace
