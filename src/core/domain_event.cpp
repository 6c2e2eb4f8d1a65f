#include "nilecare/core/domain_event.hpp"

#include <chrono>

#include "nilecare/core/clock.hpp"
#include "nilecare/core/ids.hpp"
#include "nilecare/core/json_limits.hpp"

namespace nilecare::core {
namespace {

bool IsSegmentStart(char c) { return c >= 'a' && c <= 'z'; }
bool IsSegmentChar(char c) { return IsSegmentStart(c) || (c >= '0' && c <= '9') || c == '_'; }

// A present, non-empty string member, or nullptr.
const std::string* StringMember(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return nullptr;
  const auto* text = it->get_ptr<const std::string*>();
  return text->empty() ? nullptr : text;
}

}  // namespace

bool IsValidEventType(std::string_view event_type) {
  if (event_type.empty() || event_type.size() > kMaxEventTypeLength) return false;
  int segments = 0;
  bool at_start = true;
  for (const char c : event_type) {
    if (at_start) {
      if (!IsSegmentStart(c)) return false;
      at_start = false;
      ++segments;
    } else if (c == '.') {
      at_start = true;
    } else if (!IsSegmentChar(c)) {
      return false;
    }
  }
  return !at_start && segments >= 2;
}

std::string_view EventEntity(std::string_view event_type) {
  return event_type.substr(0, event_type.find('.'));
}

DomainEvent NewDomainEvent(std::string event_type, std::string source_service,
                           std::string correlation_id, nlohmann::json data) {
  DomainEvent event;
  event.event_id = NewUuid();
  event.event_type = std::move(event_type);
  event.timestamp = FormatIso8601Precise(std::chrono::system_clock::now());
  event.source_service = std::move(source_service);
  event.correlation_id = correlation_id.empty() ? NewUuid() : std::move(correlation_id);
  event.data = std::move(data);
  return event;
}

nlohmann::json ToJson(const DomainEvent& event) {
  nlohmann::json json = {{"event_id", event.event_id},
                         {"event_type", event.event_type},
                         {"event_version", event.event_version},
                         {"timestamp", event.timestamp},
                         {"source_service", event.source_service},
                         {"correlation_id", event.correlation_id}};
  if (event.user_id) json["user_id"] = *event.user_id;
  json["data"] = event.data;
  if (event.metadata) json["metadata"] = *event.metadata;
  return json;
}

std::string PartitionKey(const DomainEvent& event) {
  if (event.data.is_object()) {
    if (const auto* patient = StringMember(event.data, "patient_id")) return *patient;
  }
  return event.event_id;
}

std::variant<DomainEvent, std::string> ParseDomainEvent(std::string_view bytes) {
  if (!JsonNestingWithin(bytes, kMaxEventNesting)) return std::string("too_deep");
  auto parsed = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::string("not_json");
  if (!parsed.is_object()) return std::string("not_object");

  DomainEvent event;
  const auto take = [&](const char* name, std::string& out) {
    const auto* text = StringMember(parsed, name);
    if (text == nullptr) return false;
    out = *text;
    return true;
  };
  if (!take("event_id", event.event_id)) return std::string("missing_event_id");
  // The id lands in logs, Redis keys and alert ids: the same rule as request ids.
  if (!SanitizeRequestId(event.event_id)) return std::string("bad_event_id");
  if (!take("event_type", event.event_type) || !IsValidEventType(event.event_type)) {
    return std::string("bad_event_type");
  }
  if (!take("event_version", event.event_version)) return std::string("missing_event_version");
  if (!take("timestamp", event.timestamp)) return std::string("missing_timestamp");
  if (!take("source_service", event.source_service)) return std::string("missing_source_service");
  // Producers outside the platform's libraries sometimes omit it; the consumer then makes
  // one so that its logs and the calls it makes can still be followed.
  if (!take("correlation_id", event.correlation_id)) event.correlation_id = NewUuid();
  if (const auto it = parsed.find("user_id"); it != parsed.end() && !it->is_null()) {
    if (!it->is_string()) return std::string("bad_user_id");
    event.user_id = it->get<std::string>();
  }
  const auto data = parsed.find("data");
  if (data == parsed.end() || !data->is_object()) return std::string("data_not_object");
  event.data = std::move(*data);
  if (const auto it = parsed.find("metadata"); it != parsed.end() && !it->is_null()) {
    if (!it->is_object()) return std::string("metadata_not_object");
    event.metadata = std::move(*it);
  }
  return event;
}

}  // namespace nilecare::core
