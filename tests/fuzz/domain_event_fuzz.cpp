// Domain events come from any producer on the cluster (and, through POST /api/v1/events,
// from any authenticated caller). ParseDomainEvent must return an event or one of its short
// reasons, never crash; an accepted event must survive ToJson unchanged, and the consumer's
// rule helpers (GlobMatch, ExpandTemplate, EmitPayload) must cope with whatever it accepted.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "kafka/event_rules.hpp"
#include "nilecare/core/domain_event.hpp"

namespace {

using nilecare::core::DomainEvent;
using nilecare::kafka::ExpandTemplate;
using nilecare::kafka::GlobMatch;
using nilecare::kafka::TemplateUse;

constexpr std::array<std::string_view, 11> kReasons = {
    "not_json",           "too_deep",      "not_object",     "missing_event_id", "bad_event_id",
    "bad_event_type",     "missing_event_version",           "missing_timestamp",
    "missing_source_service",              "bad_user_id",    "data_not_object",
    "metadata_not_object"};

constexpr std::array<std::string_view, 8> kPatterns = {
    "*", "lab.*", "*.critical", "appointment.scheduled", "*.*.*", "a*a*a*a*b", "*result*", ""};

constexpr std::array<std::string_view, 8> kTemplates = {
    "user:{data.patient_id}",  "role:doctor",          "event:{event_id}",
    "{data.a.b.c}:{user_id}",  "corr:{correlation_id}", "{source_service}.{event_type}",
    "x:{data.n}",              "x:{data"};

bool IsRoomSafe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
}

bool IsPathSafe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~' || c == '%' || c == '/';
}

void CheckEvent(const DomainEvent& event) {
  using nilecare::core::ToJson;
  if (!nilecare::core::IsValidEventType(event.event_type)) __builtin_trap();
  if (nilecare::core::EventEntity(event.event_type).empty()) __builtin_trap();
  if (event.event_id.empty() || event.correlation_id.empty()) __builtin_trap();
  if (nilecare::core::PartitionKey(event).empty()) __builtin_trap();

  // ToJson -> Parse -> ToJson is the identity.
  const nlohmann::json json = ToJson(event);
  const std::string text = json.dump();
  const auto back = nilecare::core::ParseDomainEvent(text);
  const auto* again = std::get_if<DomainEvent>(&back);
  if (again == nullptr || ToJson(*again) != json) __builtin_trap();
  if (nlohmann::json::parse(nilecare::kafka::HttpBody(event)) != json) __builtin_trap();

  for (const auto pattern : kPatterns) (void)GlobMatch(pattern, event.event_type);
  if (!GlobMatch("*", event.event_type) || !GlobMatch(event.event_type, event.event_type)) {
    __builtin_trap();
  }
  // The event's own strings as patterns (they may hold '*').
  (void)GlobMatch(event.event_id, event.correlation_id);
  (void)GlobMatch(event.source_service, event.timestamp);

  for (const auto text_template : kTemplates) {
    if (const auto room = ExpandTemplate(text_template, event, TemplateUse::kRoom)) {
      for (const char c : *room) {
        if (!IsRoomSafe(c) && c != '{' && c != '}') __builtin_trap();
      }
    }
    if (const auto path = ExpandTemplate("/api/v1/" + std::string(text_template), event,
                                         TemplateUse::kPath)) {
      for (const char c : *path) {
        // The templates' own ':' and '@' are literal text.
        if (!IsPathSafe(c) && c != ':' && c != '@') __builtin_trap();
      }
    }
  }
  for (const bool critical : {false, true}) {
    const auto payload = nilecare::kafka::EmitPayload(event, critical);
    if (!payload.is_object() || payload.at("event_id") != event.event_id) __builtin_trap();
    (void)payload.dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto result = nilecare::core::ParseDomainEvent(bytes);
  if (const auto* reason = std::get_if<std::string>(&result)) {
    bool known = false;
    for (const auto candidate : kReasons) known = known || *reason == candidate;
    if (!known) __builtin_trap();
    return 0;
  }
  CheckEvent(std::get<DomainEvent>(result));
  return 0;
}
