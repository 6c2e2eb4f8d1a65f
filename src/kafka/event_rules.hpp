#pragma once
// events.rules, evaluated (private to src/kafka; pure, unit-tested): which rules match an
// event type, and the templates of their rooms and paths filled from the event.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "nilecare/config/settings.hpp"
#include "nilecare/core/domain_event.hpp"

namespace nilecare::kafka {

// `*` matches any run of characters, dots included ("lab.*" matches "lab.result.critical");
// everything else matches itself.
bool GlobMatch(std::string_view pattern, std::string_view text);

enum class TemplateUse {
  kRoom,  // values must be room-safe ([A-Za-z0-9._:@-]); others make the template fail
  kPath,  // values are percent-encoded into a URL path
};

// Fills {event_id}, {event_type}, {user_id}, {correlation_id}, {source_service} and
// {data.a.b} from the event. nullopt when a placeholder has no value (missing, not a
// string or integer, empty, or unsafe for a room).
std::optional<std::string> ExpandTemplate(std::string_view text, const core::DomainEvent& event,
                                          TemplateUse use);

// What clients receive for an `emit`: the event's data plus event_id and event_type (and,
// for alert:critical, alert_type, severity and source unless the data has them).
nlohmann::json EmitPayload(const core::DomainEvent& event, bool critical);

// The JSON body an `http` action sends: the whole event envelope.
std::string HttpBody(const core::DomainEvent& event);

class RuleSet {
 public:
  explicit RuleSet(std::vector<config::EventRule> rules) : rules_(std::move(rules)) {}
  // Every rule whose match fits, in configuration order.
  std::vector<const config::EventRule*> Match(std::string_view event_type) const;
  const std::vector<config::EventRule>& Rules() const { return rules_; }

 private:
  std::vector<config::EventRule> rules_;
};

}  // namespace nilecare::kafka
