#pragma once
// The device REST API (private to src/mqtt), answered by the gateway itself:
//   GET  /api/v1/devices/{id}                      device, its patient and last status
//   PUT  /api/v1/devices/{id}  { patient_id, label? }   map a device to a patient
//   POST /api/v1/devices/{id}/commands  { command, params? }  QoS 1 publish to
//        <root>/{id}/commands; 202 { command_id } once the broker acknowledged it
//   GET  /api/v1/devices/{id}/vitals?from&to&limit  newest first (limit <= 1000)
//   GET  /api/v1/patients/{id}/vitals/latest
//
// YAML: mqtt.read_roles (reads), mqtt.write_roles (PUT, commands), mqtt.command_timeout,
// mqtt.max_command_bytes; realtime.patient_access (who may read which patient's vitals:
// the same policy as joining patient:{id} rooms); database.query_connections,
// database.max_pending_queries.
//
// Every call needs a bearer token verified against auth.jwt. Vitals reads go through the
// patient-access policy (role list and the optional care-team check) for the patient the
// data belongs to.

#include <memory>

#include "device_directory.hpp"
#include "ingest_metrics.hpp"
#include "mqtt_connection.hpp"
#include "nilecare/auth/jwt_verifier.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/http/dispatcher.hpp"
#include "nilecare/realtime/patient_access.hpp"
#include "query_pool.hpp"

namespace boost::asio {
class io_context;
}

namespace nilecare::mqtt {

class DeviceApi : public std::enable_shared_from_this<DeviceApi> {
 public:
  DeviceApi(boost::asio::io_context& io, const config::GatewaySettings& settings,
            DeviceDirectory& directory, IngestMetrics& metrics,
            observability::MetricsRegistry& registry);

  // The broker connection for commands; set before Start (null: commands answer 503).
  void SetConnection(MqttConnection* connection) { connection_ = connection; }
  void RegisterRoutes(http::Dispatcher& dispatcher);
  void Stop();
  std::size_t PendingQueries() const { return queries_.Pending(); }

 private:
  struct Caller;
  bool Authenticate(http::RequestContext& context, const http::Request& request,
                    const std::vector<std::string>& roles, Caller& caller,
                    http::Responder& respond);
  // Authenticate() for `roles`, then the {id} of /api/v1/devices/{id}/...; answers (and
  // returns nullopt) when either fails.
  std::optional<std::string> DeviceOf(http::RequestContext& context, const http::Request& request,
                                      const std::vector<std::string>& roles, Caller& caller,
                                      http::Responder& respond);
  void GetDevice(http::RequestContext& context, http::Request& request, http::Responder respond);
  void PutDevice(http::RequestContext& context, http::Request& request, http::Responder respond);
  void PostCommand(http::RequestContext& context, http::Request& request,
                   http::Responder respond);
  void GetDeviceVitals(http::RequestContext& context, http::Request& request,
                       http::Responder respond);
  void GetLatestVitals(http::RequestContext& context, http::Request& request,
                       http::Responder respond);
  // Runs `query` on a database thread and answers with its response; 503 when the queue is
  // full or the database is unreachable.
  void RunQuery(http::RequestContext& context, http::Responder respond,
                std::function<http::Response(VitalsDatabase&)> query);

  boost::asio::io_context& io_;
  const config::MqttSettings& settings_;
  DeviceDirectory& directory_;
  IngestMetrics& metrics_;
  auth::JwtVerifier verifier_;
  realtime::PatientAccess access_;
  QueryPool queries_;
  MqttConnection* connection_{nullptr};
};

}  // namespace nilecare::mqtt
