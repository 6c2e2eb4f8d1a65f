#pragma once
// The checks of one `events.rules` entry, shared by the loader (which reports each problem at
// its key's line) and by the tests of DefaultEventRules(): the built-in rules must pass exactly
// what a configured rule must.
// Each *Problem function returns "" when the value is fine, else the text that follows
// "<key.path>: " in a problem report. Private to src/config (tests include it as
// "config/event_rule_check.hpp").

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nilecare/config/settings.hpp"

namespace nilecare::config {

// The realtime server's limit for an event name (src/realtime: /internal/emit).
inline constexpr std::size_t kMaxEmitEventName = 64;
// The one event that is acknowledged, re-sent and escalated (realtime.alert_ack_timeout).
inline constexpr std::string_view kCriticalAlertEvent = "alert:critical";

inline constexpr std::string_view kNoActionsProblem = "is empty: a rule needs at least one action";
inline constexpr std::string_view kNoRoomsProblem =
    "is empty: list the rooms to emit to, like [\"user:{data.patient_id}\", role:doctor]";

// events.rules[i].match: a glob of a-z, 0-9, '_', '.' and '*' ("appointment.*").
std::string MatchProblem(std::string_view match);
// emit.event: a Socket.IO event name the realtime server accepts.
std::string EmitEventProblem(std::string_view event);
// emit.critical: true only with event alert:critical.
std::string CriticalProblem(const EventEmitAction& emit);
// emit.rooms[j]: user:, role: or patient: and a template ("user:{data.patient_id}").
std::string RoomProblem(std::string_view room);
// http.method: POST, PUT or PATCH.
std::string HttpMethodProblem(std::string_view method);
// http.path: "/..." with placeholders ("/api/v1/notifications/{data.patient_id}").
std::string HttpPathProblem(std::string_view path);
// An upstream name that is not under `upstreams:` (http.upstream, routes[i].upstream).
std::string UnknownUpstreamProblem(std::string_view name, const std::vector<std::string>& known);
// task: tasks go to the queues of `rabbitmq:`, so without the section there is nowhere to
// publish them.
std::string TaskProblem(const std::optional<RabbitMqSettings>& rabbitmq);
// task.queue: one of rabbitmq.queues.
std::string TaskQueueProblem(std::string_view queue, const RabbitMqSettings& rabbitmq);
// task.priority: -1 (the queue's default) or 0..rabbitmq.max_priority.
std::string TaskPriorityProblem(int priority, const RabbitMqSettings& rabbitmq);

// Every problem of `rule`, each as "<key path under the rule>: <problem>" ("match: ...",
// "actions[1].emit.rooms[0]: ..."), in the order of the rule's keys. `upstreams` are the names
// under `upstreams:`; `rabbitmq` is the rabbitmq: section, if the file has one.
std::vector<std::string> EventRuleProblems(const EventRule& rule,
                                           const std::vector<std::string>& upstreams,
                                           const std::optional<RabbitMqSettings>& rabbitmq);

// The queues of DefaultEventRules(true)'s task actions (email.normal, sms.urgent) that
// `rabbitmq` lacks. With all of them, the built-in rules send their tasks; otherwise they are
// used without (DefaultEventRules(false)) and the loader warns. Only the names count, as for
// the event consumer: sms.urgent's priority 10 is capped by the broker at max_priority.
std::vector<std::string> MissingDefaultTaskQueues(const RabbitMqSettings& rabbitmq);
bool DefaultEventRulesHaveTasks(const std::optional<RabbitMqSettings>& rabbitmq);

}  // namespace nilecare::config
