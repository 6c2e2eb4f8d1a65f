#pragma once
// How the other adapters (MQTT vitals, Kafka event rules, the internal API) reach
// clinicians' browsers: emit an event to Socket.IO rooms ("patient:{id}", "user:{id}",
// "role:{name}"). Implemented by the realtime hub; tests can fake it.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace nilecare::realtime {

class RoomSink {
 public:
  virtual ~RoomSink() = default;

  // Every client in any of `rooms` gets the event once, on this instance and (with
  // realtime.redis_fanout) on every other. vitals:update may be dropped for a client that
  // cannot keep up (a newer reading replaces it); other events are never dropped: a client
  // that cannot take them is disconnected and recovers them on reconnect. Returns the
  // number of local recipients.
  virtual std::size_t Emit(const std::vector<std::string>& rooms, std::string_view event,
                           const nlohmann::json& data) = 0;

  // alert:critical, sent with an ack request: until one client acknowledges it, it is
  // re-sent and escalated every realtime.alert_ack_timeout (realtime.alert_max_resends
  // times). `data` gets an "alert_id": `alert_id` when the caller has one (the id of the
  // stored alert record, so logs, database and clients agree), else a new UUID; the id used
  // is returned.
  virtual std::string EmitCritical(const std::vector<std::string>& rooms, nlohmann::json data,
                                   std::string alert_id = {}) = 0;
};

}  // namespace nilecare::realtime
