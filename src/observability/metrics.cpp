#include "nilecare/observability/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <variant>

#include <fmt/format.h>

namespace nilecare::observability {
namespace {

enum FamilyType { kCounterType = 0, kGaugeType = 1, kHistogramType = 2 };

std::string_view TypeName(int type) {
  switch (type) {
    case kCounterType: return "counter";
    case kGaugeType: return "gauge";
    default: return "histogram";
  }
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out.push_back(c);
    }
  }
}

std::string LabelKey(const Labels& labels) {
  std::string key;
  for (const auto& [name, value] : labels) {
    key += name;
    key.push_back('=');
    AppendEscapedLabelValue(key, value);
    key.push_back(',');
  }
  return key;
}

// Renders `{a="x",b="y"}` plus an optional extra label (histogram `le`).
std::string LabelText(const Labels& labels, std::string_view extra_name = {},
                      std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return {};
  std::string out = "{";
  bool first = true;
  auto add = [&](std::string_view name, std::string_view value) {
    if (!first) out.push_back(',');
    first = false;
    out += name;
    out += "=\"";
    AppendEscapedLabelValue(out, value);
    out.push_back('"');
  };
  for (const auto& [name, value] : labels) add(name, value);
  if (!extra_name.empty()) add(extra_name, extra_value);
  out.push_back('}');
  return out;
}

std::string FormatNumber(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    return fmt::format("{}", static_cast<long long>(value));
  }
  return fmt::format("{}", value);
}

}  // namespace

void Gauge::Add(double delta) {
  double current = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)),
      buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  std::sort(bounds_.begin(), bounds_.end());
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  double current = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(current, current + value, std::memory_order_relaxed)) {
  }
}

std::vector<std::uint64_t> Histogram::CumulativeCounts() const {
  std::vector<std::uint64_t> counts(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    counts[i] = running;
  }
  return counts;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
          0.5,    1.0,   2.5,    5.0,   10.0, 30.0,  60.0, 120.0};
}

struct MetricsRegistry::Family {
  struct Series {
    Labels labels;
    std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>, std::unique_ptr<Histogram>,
                 std::function<double()>>
        metric;
  };
  std::string name;
  std::string help;
  int type{kCounterType};
  std::map<std::string, Series> series;  // by LabelKey, so the output order is stable
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::GetFamily(std::string_view name, std::string_view help,
                                                    int type) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto family = std::make_unique<Family>();
    family->name = std::string(name);
    family->help = std::string(help);
    family->type = type;
    it = families_.emplace(std::string(name), std::move(family)).first;
  } else if (it->second->type != type) {
    throw std::logic_error(fmt::format("metric {} registered with two types", name));
  }
  return *it->second;
}

// The series for `labels` in family `name`, created on first use with `make`.
template <typename Metric, typename Make>
Metric& MetricsRegistry::GetSeries(std::string_view name, std::string_view help, int type,
                                   const Labels& labels, Make make) {
  std::lock_guard lock(mutex_);
  auto& series = GetFamily(name, help, type).series[LabelKey(labels)];
  auto* existing = std::get_if<std::unique_ptr<Metric>>(&series.metric);
  if (existing == nullptr || !*existing) {
    series.labels = labels;
    series.metric = make();
    existing = std::get_if<std::unique_ptr<Metric>>(&series.metric);
  }
  return **existing;
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     const Labels& labels) {
  return GetSeries<Counter>(name, help, kCounterType, labels,
                            [] { return std::make_unique<Counter>(); });
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 const Labels& labels) {
  return GetSeries<Gauge>(name, help, kGaugeType, labels, [] { return std::make_unique<Gauge>(); });
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         const Labels& labels,
                                         const std::vector<double>& upper_bounds) {
  return GetSeries<Histogram>(name, help, kHistogramType, labels,
                              [&] { return std::make_unique<Histogram>(upper_bounds); });
}

void MetricsRegistry::AddCallbackGauge(std::string_view name, std::string_view help,
                                       const Labels& labels, std::function<double()> read) {
  std::lock_guard lock(mutex_);
  auto& series = GetFamily(name, help, kGaugeType).series[LabelKey(labels)];
  series.labels = labels;
  series.metric = std::move(read);
}

std::string MetricsRegistry::RenderText() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out.reserve(families_.size() * 256);
  for (const auto& family_entry : families_) {
    const std::string& name = family_entry.first;
    const auto& family = family_entry.second;
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, family->help, name,
                       TypeName(family->type));
    for (const auto& entry : family->series) {
      // Named, not structured bindings: clang < 16 cannot capture those in a lambda.
      const auto& series = entry.second;
      std::visit(
          [&](const auto& metric) {
            using T = std::decay_t<decltype(metric)>;
            if constexpr (std::is_same_v<T, std::unique_ptr<Counter>>) {
              out += fmt::format("{}{} {}\n", name, LabelText(series.labels), metric->Value());
            } else if constexpr (std::is_same_v<T, std::unique_ptr<Gauge>>) {
              out += fmt::format("{}{} {}\n", name, LabelText(series.labels),
                                 FormatNumber(metric->Value()));
            } else if constexpr (std::is_same_v<T, std::function<double()>>) {
              out += fmt::format("{}{} {}\n", name, LabelText(series.labels),
                                 FormatNumber(metric ? metric() : 0.0));
            } else {
              const auto counts = metric->CumulativeCounts();
              const auto& bounds = metric->UpperBounds();
              for (std::size_t i = 0; i < bounds.size(); ++i) {
                out += fmt::format("{}_bucket{} {}\n", name,
                                   LabelText(series.labels, "le", FormatNumber(bounds[i])),
                                   counts[i]);
              }
              out += fmt::format("{}_bucket{} {}\n", name,
                                 LabelText(series.labels, "le", "+Inf"), counts.back());
              out += fmt::format("{}_sum{} {}\n", name, LabelText(series.labels),
                                 FormatNumber(metric->Sum()));
              out += fmt::format("{}_count{} {}\n", name, LabelText(series.labels),
                                 counts.back());
            }
          },
          series.metric);
    }
  }
  return out;
}

}  // namespace nilecare::observability
