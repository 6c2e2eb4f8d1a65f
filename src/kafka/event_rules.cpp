#include "event_rules.hpp"

namespace nilecare::kafka {
namespace {

bool IsRoomSafe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
}

bool IsUnreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

std::optional<std::string> ScalarText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_integer()) return value.dump();
  return std::nullopt;
}

std::optional<std::string> Lookup(std::string_view name, const core::DomainEvent& event) {
  if (name == "event_id") return event.event_id;
  if (name == "event_type") return event.event_type;
  if (name == "correlation_id") return event.correlation_id;
  if (name == "source_service") return event.source_service;
  if (name == "user_id") return event.user_id;
  if (name.substr(0, 5) != "data.") return std::nullopt;
  const nlohmann::json* node = &event.data;
  std::string_view rest = name.substr(5);
  while (!rest.empty()) {
    const auto dot = rest.find('.');
    const std::string key(rest.substr(0, dot));
    if (!node->is_object()) return std::nullopt;
    const auto it = node->find(key);
    if (it == node->end()) return std::nullopt;
    node = &*it;
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  }
  return ScalarText(*node);
}

}  // namespace

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
  std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::optional<std::string> ExpandTemplate(std::string_view text, const core::DomainEvent& event,
                                          TemplateUse use) {
  std::string out;
  out.reserve(text.size() + 32);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto open = text.find('{', pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    const auto close = text.find('}', open);
    if (close == std::string_view::npos) return std::nullopt;
    out.append(text.substr(pos, open - pos));
    const auto value = Lookup(text.substr(open + 1, close - open - 1), event);
    if (!value || value->empty()) return std::nullopt;
    for (const char c : *value) {
      if (use == TemplateUse::kRoom) {
        if (!IsRoomSafe(c)) return std::nullopt;
        out.push_back(c);
      } else if (IsUnreserved(c)) {
        out.push_back(c);
      } else {
        static constexpr char kHex[] = "0123456789ABCDEF";
        const auto byte = static_cast<unsigned char>(c);
        out.push_back('%');
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0xF]);
      }
    }
    pos = close + 1;
  }
  return out;
}

nlohmann::json EmitPayload(const core::DomainEvent& event, bool critical) {
  nlohmann::json payload = event.data.is_object() ? event.data : nlohmann::json::object();
  payload["event_id"] = event.event_id;
  payload["event_type"] = event.event_type;
  if (critical) {
    if (!payload.contains("alert_type")) payload["alert_type"] = event.event_type;
    if (!payload.contains("severity")) payload["severity"] = "critical";
    if (!payload.contains("source")) payload["source"] = event.source_service;
    if (!payload.contains("timestamp")) payload["timestamp"] = event.timestamp;
  }
  return payload;
}

std::string HttpBody(const core::DomainEvent& event) { return core::ToJson(event).dump(); }

std::vector<const config::EventRule*> RuleSet::Match(std::string_view event_type) const {
  std::vector<const config::EventRule*> matched;
  for (const auto& rule : rules_) {
    if (GlobMatch(rule.match, event_type)) matched.push_back(&rule);
  }
  return matched;
}

}  // namespace nilecare::kafka
