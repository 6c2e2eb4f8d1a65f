#pragma once
// The platform's DomainEvent envelope (spec §2 "Event Schema") and the interface through
// which adapters announce their own events (critical vitals, device alerts, PHI access)
// without depending on Kafka.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

namespace nilecare::core {

inline constexpr std::string_view kEventVersion = "1.0";
// Longest event_type accepted ("<entity>.<action>[.<detail>...]").
inline constexpr std::size_t kMaxEventTypeLength = 128;
// Events are JSON from other services: deeper nesting is refused before parsing.
inline constexpr std::size_t kMaxEventNesting = 32;

struct DomainEvent {
  std::string event_id;  // UUID
  std::string event_type;
  std::string event_version{kEventVersion};
  std::string timestamp;  // ISO 8601
  std::string source_service;
  std::string correlation_id;
  std::optional<std::string> user_id{};
  nlohmann::json data = nlohmann::json::object();
  std::optional<nlohmann::json> metadata{};
};

// "<entity>.<action>[.<detail>...]": two or more dot-separated segments of [a-z0-9_],
// each starting with a letter, at most kMaxEventTypeLength characters.
bool IsValidEventType(std::string_view event_type);

// The entity of a valid event type: "lab" for "lab.result.critical".
std::string_view EventEntity(std::string_view event_type);

// A new event of `type` with a fresh id and the current time.
DomainEvent NewDomainEvent(std::string event_type, std::string source_service,
                           std::string correlation_id, nlohmann::json data);

nlohmann::json ToJson(const DomainEvent& event);

// The partition key the spec asks for: data.patient_id when it is a non-empty string,
// else the event id (so one patient's events stay in order).
std::string PartitionKey(const DomainEvent& event);

// Parses and checks an event read from a topic. Returns the event, or a short reason
// ("not_json", "too_deep", "missing_event_id", "bad_event_id", "bad_event_type", "data_not_object", ...)
// that is safe to log and to put in a dead-letter header: it never quotes the content.
std::variant<DomainEvent, std::string> ParseDomainEvent(std::string_view bytes);

// Adapters that publish events take this; the Kafka adapter implements it. Publish never
// blocks and never throws: delivery is asynchronous, failures are counted and logged by
// the implementation (the event stays in librdkafka's bounded queue until the broker has it
// or the delivery timeout passes).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void Publish(DomainEvent event) = 0;
};

}  // namespace nilecare::core
