#pragma once
// A small Prometheus registry: counters, gauges and histograms with labels, rendered in
// the text exposition format (0.0.4) at GET /metrics.
//
// Hot paths look a labelled series up once and keep the returned reference: series are
// never removed, so references stay valid for the registry's lifetime. Label cardinality is
// the caller's duty: label with route names and status codes, never with raw paths or ids.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace nilecare::observability {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(std::uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  const std::vector<double>& UpperBounds() const { return bounds_; }
  // Cumulative count per bound (Prometheus `le` semantics), then the total count.
  std::vector<std::uint64_t> CumulativeCounts() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<double> sum_{0.0};
};

// Latency buckets in seconds, from 0.5 ms to 2 min: covers a local health check and the
// `reports` timeout class alike.
std::vector<double> LatencyBuckets();

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  Counter& GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          const Labels& labels = {},
                          const std::vector<double>& upper_bounds = LatencyBuckets());
  // A gauge computed at scrape time (queue depths, process RSS).
  void AddCallbackGauge(std::string_view name, std::string_view help, const Labels& labels,
                        std::function<double()> read);

  std::string RenderText() const;

 private:
  struct Family;
  Family& GetFamily(std::string_view name, std::string_view help, int type);
  template <typename Metric, typename Make>
  Metric& GetSeries(std::string_view name, std::string_view help, int type,
                    const Labels& labels, Make make);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
};

}  // namespace nilecare::observability
