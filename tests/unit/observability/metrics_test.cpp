#include "nilecare/observability/metrics.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace nilecare::observability {
namespace {

TEST(MetricsTest, CounterRendersWithHelpTypeAndLabels) {
  MetricsRegistry registry;
  registry.GetCounter("requests_total", "Requests", {{"route", "health"}, {"status", "200"}}).Inc(3);
  const auto text = registry.RenderText();
  EXPECT_NE(text.find("# HELP requests_total Requests\n# TYPE requests_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("requests_total{route=\"health\",status=\"200\"} 3\n"), std::string::npos);
}

TEST(MetricsTest, SameLabelsReturnTheSameSeries) {
  MetricsRegistry registry;
  auto& a = registry.GetCounter("c", "h", {{"k", "v"}});
  auto& b = registry.GetCounter("c", "h", {{"k", "v"}});
  auto& other = registry.GetCounter("c", "h", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  MetricsRegistry registry;
  registry.GetGauge("g", "h", {{"k", "a\"b\\c\nd"}}).Set(1.5);
  EXPECT_NE(registry.RenderText().find("g{k=\"a\\\"b\\\\c\\nd\"} 1.5\n"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  auto& histogram = registry.GetHistogram("latency_seconds", "h", {}, {0.1, 1.0});
  histogram.Observe(0.05);
  histogram.Observe(0.5);
  histogram.Observe(0.5);
  histogram.Observe(5.0);
  const auto text = registry.RenderText();
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_count 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("latency_seconds_sum 6.05\n"), std::string::npos) << text;
}

TEST(MetricsTest, CallbackGaugeIsReadAtRenderTime) {
  MetricsRegistry registry;
  double depth = 1;
  registry.AddCallbackGauge("queue_depth", "h", {}, [&depth] { return depth; });
  EXPECT_NE(registry.RenderText().find("queue_depth 1\n"), std::string::npos);
  depth = 42;
  EXPECT_NE(registry.RenderText().find("queue_depth 42\n"), std::string::npos);
}

TEST(MetricsTest, OneNameCannotHaveTwoTypes) {
  MetricsRegistry registry;
  registry.GetCounter("x", "h");
  EXPECT_THROW(registry.GetGauge("x", "h"), std::logic_error);
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry registry;
  auto& counter = registry.GetCounter("c", "h");
  auto& gauge = registry.GetGauge("g", "h");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.Inc();
        gauge.Add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.Value(), 40000u);
  EXPECT_EQ(gauge.Value(), 40000.0);
}

}  // namespace
}  // namespace nilecare::observability
