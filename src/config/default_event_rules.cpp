// The built-in events.rules: the spec's "Event Topics & Subscribers", used when the file has
// no `events:` section. tests/unit/config/events_section_test.cpp checks that each rule passes
// the loader's own checks (event_rule_check.hpp).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nilecare/config/settings.hpp"

namespace nilecare::config {
namespace {

constexpr std::string_view kOrigin = "default";

EventAction Emit(std::string event, std::vector<std::string> rooms, bool critical = false) {
  EventAction action;
  action.kind = EventAction::Kind::kEmit;
  action.emit = EventEmitAction{std::move(event), std::move(rooms), critical};
  return action;
}

EventAction Task(std::string queue, int priority = -1) {
  EventAction action;
  action.kind = EventAction::Kind::kTask;
  action.task = EventTaskAction{std::move(queue), priority};
  return action;
}

EventRule Rule(std::string match, std::vector<EventAction> actions) {
  return EventRule{std::move(match), std::move(actions), std::string(kOrigin)};
}

}  // namespace

std::vector<EventRule> DefaultEventRules(bool with_tasks) {
  std::vector<EventRule> rules;

  // Appointment booked, moved or cancelled: both parties see it live; a confirmation email.
  EventRule appointment =
      Rule("appointment.*",
           {Emit("appointment:updated", {"user:{data.patient_id}", "user:{data.doctor_id}"})});
  if (with_tasks) appointment.actions.push_back(Task("email.normal"));
  rules.push_back(std::move(appointment));

  // A critical lab value reaches the patient's care team as an acknowledged alert (patient
  // room: clinicians who may see this patient) and every doctor on shift; an urgent SMS too.
  EventRule critical =
      Rule("lab.result.critical",
           {Emit("alert:critical", {"patient:{data.patient_id}", "role:doctor"}, true)});
  if (with_tasks) critical.actions.push_back(Task("sms.urgent", 10));
  rules.push_back(std::move(critical));

  rules.push_back(
      Rule("lab.result.available",
           {Emit("notification:new", {"user:{data.patient_id}", "user:{data.doctor_id}"})}));
  rules.push_back(Rule("prescription.*",
                       {Emit("notification:new", {"user:{data.patient_id}", "role:pharmacist"})}));
  rules.push_back(Rule("payment.*", {Emit("notification:new", {"user:{data.patient_id}"})}));
  return rules;
}

}  // namespace nilecare::config
