#include "ingest_metrics.hpp"

#include <string>

namespace nilecare::mqtt {
namespace {
constexpr std::string_view kAccepted = "nilecare_mqtt_messages_accepted_total";
constexpr std::string_view kAcceptedHelp = "Device messages validated and journaled, by kind";
}  // namespace

IngestMetrics::IngestMetrics(observability::MetricsRegistry& r)
    : registry(r),
      vitals_accepted(r.GetCounter(kAccepted, kAcceptedHelp, {{"kind", "vitals"}})),
      alerts_accepted(r.GetCounter(kAccepted, kAcceptedHelp, {{"kind", "alerts"}})),
      statuses_accepted(r.GetCounter(kAccepted, kAcceptedHelp, {{"kind", "status"}})),
      unmapped_readings(r.GetCounter(
          "nilecare_mqtt_unmapped_readings_total",
          "Readings from devices mapped to no patient: stored, not pushed to a patient room")),
      journal_waits(r.GetCounter("nilecare_mqtt_journal_waits_total",
                                 "Messages that waited for journal space (journal full): "
                                 "their PUBACK waits with them")),
      journal_errors(r.GetCounter("nilecare_mqtt_journal_errors_total",
                                  "Journal write failures (disk full, EIO); retried, never acked")),
      threshold_alerts(r.GetCounter("nilecare_vitals_threshold_alerts_total",
                                    "alert:critical raised by vitals thresholds")),
      pushes(r.GetCounter("nilecare_vitals_pushes_total",
                          "vitals:update events handed to the realtime adapter")),
      journal_append_seconds(r.GetHistogram("nilecare_mqtt_journal_append_seconds",
                                            "Time to make one message durable in the journal")),
      rows_written(r.GetCounter("nilecare_vitals_rows_written_total",
                                "Journal records committed to PostgreSQL")),
      duplicates(r.GetCounter("nilecare_vitals_duplicates_total",
                              "Readings already in PostgreSQL (replays, MQTT redeliveries)")),
      batches(r.GetCounter("nilecare_vitals_batches_total", "COPY transactions committed")),
      write_failures(r.GetCounter("nilecare_vitals_write_failures_total",
                                  "Batch writes that failed and will be retried")),
      corrupt_entries(r.GetCounter("nilecare_mqtt_journal_corrupt_total",
                                   "Journal entries that could not be decoded")),
      batch_write_seconds(r.GetHistogram("nilecare_vitals_batch_write_seconds",
                                         "Time to write and commit one batch")),
      ingest_to_commit_seconds(r.GetHistogram(
          "nilecare_vitals_ingest_to_commit_seconds",
          "Receive time to PostgreSQL commit, per batch (its oldest record)")),
      mqtt_connected(r.GetGauge("nilecare_mqtt_connected",
                                "1 while connected and subscribed to the broker")),
      database_up(r.GetGauge("nilecare_database_up", "1 while the vitals writer is connected")),
      commands_published(r.GetCounter("nilecare_device_commands_total",
                                      "Device commands acknowledged by the broker")),
      commands_failed(r.GetCounter("nilecare_device_command_failures_total",
                                   "Device commands the broker did not acknowledge")) {}

void IngestMetrics::CountRejection(std::string_view topic_kind, std::string_view reason) {
  registry
      .GetCounter("nilecare_mqtt_messages_rejected_total",
                  "Device messages that failed validation, by topic kind and reason",
                  {{"kind", std::string(topic_kind)}, {"reason", std::string(reason)}})
      .Inc();
}

}  // namespace nilecare::mqtt
