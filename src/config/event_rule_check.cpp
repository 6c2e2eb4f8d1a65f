#include "event_rule_check.hpp"

#include <algorithm>
#include <array>

namespace nilecare::config {
namespace {

// As the section reader quotes values: long ones would bury the message.
constexpr std::size_t kMaxQuotedValue = 60;

// Names socket.io-client reserves for its own events; the realtime server refuses to emit them.
constexpr auto kReservedEvents = std::to_array<std::string_view>(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"});

constexpr auto kRoomPrefixes = std::to_array<std::string_view>({"user:", "role:", "patient:"});

// The fields of a DomainEvent a template may use; data.<field>... reaches into its payload.
constexpr auto kPlaceholders = std::to_array<std::string_view>(
    {"event_id", "event_type", "user_id", "correlation_id", "source_service"});
constexpr std::string_view kDataPrefix = "data.";

std::string Quote(std::string_view text) {
  std::string value(text);
  if (value.size() > kMaxQuotedValue) value = value.substr(0, kMaxQuotedValue) + "...";
  return "\"" + value + "\"";
}

// Visible ASCII: what the realtime server accepts in event and room names.
bool IsVisible(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte > 0x20 && byte < 0x7f;
}

bool IsFieldChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool IsPlaceholder(std::string_view name) {
  if (std::find(kPlaceholders.begin(), kPlaceholders.end(), name) != kPlaceholders.end()) {
    return true;
  }
  if (!name.starts_with(kDataPrefix)) return false;
  // data.<field>[.<field>...]: no empty field, so no leading, trailing or doubled '.'.
  std::string_view path = name.substr(kDataPrefix.size());
  while (true) {
    const std::size_t dot = std::min(path.find('.'), path.size());
    const std::string_view field = path.substr(0, dot);
    if (field.empty() || !std::all_of(field.begin(), field.end(), IsFieldChar)) return false;
    if (dot == path.size()) return true;
    path.remove_prefix(dot + 1);
  }
}

std::string KnownPlaceholders() {
  std::string known;
  for (std::string_view name : kPlaceholders) {
    known += "{";
    known += name;
    known += "}, ";
  }
  return known + "{data.<field>[.<field>...]}";
}

// The placeholders of a room or path template: balanced braces, known names.
std::string TemplateProblem(std::string_view text) {
  for (std::size_t at = 0; at < text.size(); ++at) {
    if (text[at] == '}') return "unbalanced '}' in " + Quote(text);
    if (text[at] != '{') continue;
    const std::size_t close = text.find_first_of("{}", at + 1);
    if (close == std::string_view::npos || text[close] == '{') {
      return "unbalanced '{' in " + Quote(text);
    }
    const std::string_view name = text.substr(at + 1, close - at - 1);
    if (!IsPlaceholder(name)) {
      return "unknown placeholder {" + std::string(name) + "} in " + Quote(text) +
             " (known: " + KnownPlaceholders() + ")";
    }
    at = close;
  }
  return "";
}

}  // namespace

std::string MatchProblem(std::string_view match) {
  const bool valid = !match.empty() && std::all_of(match.begin(), match.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '*';
  });
  if (valid) return "";
  return "expected an event type pattern of a-z, 0-9, '_', '.' and '*' like appointment.*, got " +
         Quote(match);
}

std::string EmitEventProblem(std::string_view event) {
  if (event.empty() || event.size() > kMaxEmitEventName ||
      !std::all_of(event.begin(), event.end(), IsVisible)) {
    return "expected an event name of 1 to " + std::to_string(kMaxEmitEventName) +
           " visible ASCII characters (no spaces) like appointment:updated, got " + Quote(event);
  }
  if (std::find(kReservedEvents.begin(), kReservedEvents.end(), event) != kReservedEvents.end()) {
    std::string reserved;
    for (std::string_view name : kReservedEvents) {
      if (!reserved.empty()) reserved += ", ";
      reserved += name;
    }
    return Quote(event) + " is reserved by socket.io-client (" + reserved + ")";
  }
  return "";
}

std::string CriticalProblem(const EventEmitAction& emit) {
  if (!emit.critical || emit.event == kCriticalAlertEvent) return "";
  return "true needs event: " + std::string(kCriticalAlertEvent) +
         " (only that event is acknowledged, re-sent and escalated), not " + Quote(emit.event);
}

std::string RoomProblem(std::string_view room) {
  const bool prefixed =
      std::any_of(kRoomPrefixes.begin(), kRoomPrefixes.end(), [room](std::string_view prefix) {
        return room.size() > prefix.size() && room.starts_with(prefix);
      });
  if (!prefixed || !std::all_of(room.begin(), room.end(), IsVisible)) {
    return "expected a room user:<id>, role:<name> or patient:<id> without spaces, like "
           "\"user:{data.patient_id}\" or role:doctor, got " +
           Quote(room);
  }
  return TemplateProblem(room);
}

std::string HttpMethodProblem(std::string_view method) {
  if (method == "POST" || method == "PUT" || method == "PATCH") return "";
  return "expected one of POST|PUT|PATCH, got " + Quote(method);
}

std::string HttpPathProblem(std::string_view path) {
  if (!path.starts_with('/') || !std::all_of(path.begin(), path.end(), IsVisible) ||
      path.find('#') != std::string_view::npos) {
    return "expected a path starting with '/', without spaces or '#', like "
           "/api/v1/notifications, got " +
           Quote(path);
  }
  return TemplateProblem(path);
}

std::string UnknownUpstreamProblem(std::string_view name, const std::vector<std::string>& known) {
  std::string names;
  for (const std::string& upstream : known) {
    if (!names.empty()) names += ", ";
    names += upstream;
  }
  return "unknown upstream \"" + std::string(name) + "\" (" +
         (known.empty() ? std::string("no upstreams: section") : "known: " + names) + ")";
}

std::string TaskProblem(const std::optional<RabbitMqSettings>& rabbitmq) {
  if (rabbitmq) return "";
  return "task actions need the rabbitmq: section (tasks are published to its queues)";
}

std::string TaskQueueProblem(std::string_view queue, const RabbitMqSettings& rabbitmq) {
  std::string names;
  for (const TaskQueueSettings& known : rabbitmq.queues) {
    if (known.name == queue) return "";
    if (!names.empty()) names += ", ";
    names += known.name;
  }
  return "unknown queue " + Quote(queue) + " (known: " + names + ")";
}

std::string TaskPriorityProblem(int priority, const RabbitMqSettings& rabbitmq) {
  if (priority < 0 && priority != -1) {
    return "expected an integer of at least 0, got \"" + std::to_string(priority) + "\"";
  }
  if (priority <= rabbitmq.max_priority) return "";
  // The broker would cap it at x-max-priority silently; the rule would not do what it says.
  return "is " + std::to_string(priority) + ", more than rabbitmq.max_priority (" +
         std::to_string(rabbitmq.max_priority) + ")";
}

std::vector<std::string> EventRuleProblems(const EventRule& rule,
                                           const std::vector<std::string>& upstreams,
                                           const std::optional<RabbitMqSettings>& rabbitmq) {
  std::vector<std::string> problems;
  const auto add = [&problems](const std::string& path, const std::string& problem) {
    if (!problem.empty()) problems.push_back(path + ": " + problem);
  };
  add("match", MatchProblem(rule.match));
  if (rule.actions.empty()) add("actions", std::string(kNoActionsProblem));
  for (std::size_t i = 0; i < rule.actions.size(); ++i) {
    const EventAction& action = rule.actions[i];
    const std::string path = "actions[" + std::to_string(i) + "].";
    switch (action.kind) {
      case EventAction::Kind::kEmit:
        add(path + "emit.event", EmitEventProblem(action.emit.event));
        add(path + "emit.critical", CriticalProblem(action.emit));
        if (action.emit.rooms.empty()) add(path + "emit.rooms", std::string(kNoRoomsProblem));
        for (std::size_t j = 0; j < action.emit.rooms.size(); ++j) {
          add(path + "emit.rooms[" + std::to_string(j) + "]", RoomProblem(action.emit.rooms[j]));
        }
        break;
      case EventAction::Kind::kHttp:
        if (std::find(upstreams.begin(), upstreams.end(), action.http.upstream) ==
            upstreams.end()) {
          add(path + "http.upstream", UnknownUpstreamProblem(action.http.upstream, upstreams));
        }
        add(path + "http.method", HttpMethodProblem(action.http.method));
        add(path + "http.path", HttpPathProblem(action.http.path));
        break;
      case EventAction::Kind::kTask:
        if (!rabbitmq) {
          add(path + "task", TaskProblem(rabbitmq));
          break;
        }
        add(path + "task.queue", TaskQueueProblem(action.task.queue, *rabbitmq));
        add(path + "task.priority", TaskPriorityProblem(action.task.priority, *rabbitmq));
        break;
    }
  }
  return problems;
}

std::vector<std::string> MissingDefaultTaskQueues(const RabbitMqSettings& rabbitmq) {
  std::vector<std::string> missing;
  for (const EventRule& rule : DefaultEventRules(/*with_tasks=*/true)) {
    for (const EventAction& action : rule.actions) {
      if (action.kind == EventAction::Kind::kTask &&
          !TaskQueueProblem(action.task.queue, rabbitmq).empty()) {
        missing.push_back(action.task.queue);
      }
    }
  }
  return missing;
}

bool DefaultEventRulesHaveTasks(const std::optional<RabbitMqSettings>& rabbitmq) {
  return rabbitmq && MissingDefaultTaskQueues(*rabbitmq).empty();
}

}  // namespace nilecare::config
