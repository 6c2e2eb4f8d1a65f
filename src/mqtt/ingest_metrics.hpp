#pragma once
// The MQTT ingest's metric series, looked up once (private to src/mqtt).

#include <string_view>

#include "nilecare/observability/metrics.hpp"

namespace nilecare::mqtt {

struct IngestMetrics {
  explicit IngestMetrics(observability::MetricsRegistry& registry);

  // Rejections by reason are looked up per rejection (reasons are a small fixed set).
  void CountRejection(std::string_view topic_kind, std::string_view reason);

  observability::MetricsRegistry& registry;
  observability::Counter& vitals_accepted;
  observability::Counter& alerts_accepted;
  observability::Counter& statuses_accepted;
  observability::Counter& unmapped_readings;  // no patient id: stored, not pushed
  observability::Counter& journal_waits;   // messages that had to wait for journal space
  observability::Counter& journal_errors;  // journal write failures (retried)
  observability::Counter& threshold_alerts;
  observability::Counter& pushes;
  observability::Histogram& journal_append_seconds;
  observability::Counter& rows_written;
  observability::Counter& duplicates;
  observability::Counter& batches;
  observability::Counter& write_failures;
  observability::Counter& corrupt_entries;
  observability::Histogram& batch_write_seconds;
  observability::Histogram& ingest_to_commit_seconds;
  observability::Gauge& mqtt_connected;
  observability::Gauge& database_up;
  observability::Counter& commands_published;
  observability::Counter& commands_failed;
};

}  // namespace nilecare::mqtt
