#include "kafka/live_action_runner.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace nilecare::kafka {
namespace {

using Outcome = ActionResult::Outcome;

// Answers every task with `result` (inline, or from another thread like the publisher does),
// or never when `answer` is false; records what it was given.
class FakeTaskSink : public core::TaskSink {
 public:
  void Enqueue(core::TaskRequest task, std::function<void(core::TaskResult)> done) override {
    tasks.push_back(task);
    if (!answer) {
      pending = std::move(done);
      return;
    }
    auto reply = result;
    reply.task_id = task.task_id;
    std::thread([done = std::move(done), reply] { done(reply); }).join();
  }
  bool HasQueue(std::string_view queue) const override { return queue == "sms.urgent"; }

  core::TaskResult result{core::TaskResult::Outcome::kConfirmed};
  bool answer{true};
  std::function<void(core::TaskResult)> pending;
  std::vector<core::TaskRequest> tasks;
};

core::DomainEvent Event() {
  core::DomainEvent event;
  event.event_id = "evt-1";
  event.event_type = "lab.result.critical";
  event.timestamp = "2026-12-05T10:00:00Z";
  event.source_service = "lab";
  event.correlation_id = "corr-1";
  event.data = {{"patient_id", "P-1"}, {"value", 7.5}};
  return event;
}

config::EventAction TaskAction(std::string queue, int priority) {
  config::EventAction action;
  action.kind = config::EventAction::Kind::kTask;
  action.task = {std::move(queue), priority};
  return action;
}

TEST(LiveActionRunnerTaskTest, EnqueuesTheEventAndIsDoneOnceConfirmed) {
  FakeTaskSink sink;
  LiveActionRunner runner(nullptr, nullptr, &sink);
  const auto result = runner.Run(TaskAction("sms.urgent", 10), Event());
  EXPECT_EQ(result.outcome, Outcome::kDone);
  ASSERT_EQ(sink.tasks.size(), 1u);
  const auto& task = sink.tasks[0];
  EXPECT_EQ(task.queue, "sms.urgent");
  EXPECT_EQ(task.priority, 10);
  EXPECT_EQ(task.task_id, "evt-1:sms.urgent");  // stable across redeliveries
  EXPECT_EQ(task.correlation_id, "corr-1");
  EXPECT_EQ(task.source, "event");
  EXPECT_EQ(nlohmann::json::parse(task.body), core::ToJson(Event()));
}

TEST(LiveActionRunnerTaskTest, NotConfirmedIsRetryable) {
  FakeTaskSink sink;
  sink.result = {core::TaskResult::Outcome::kUnavailable, "", "timeout"};
  LiveActionRunner runner(nullptr, nullptr, &sink);
  const auto result = runner.Run(TaskAction("sms.urgent", -1), Event());
  EXPECT_EQ(result.outcome, Outcome::kRetry);
  EXPECT_EQ(result.error, "task_timeout");
  EXPECT_EQ(sink.tasks.at(0).priority, -1);
}

TEST(LiveActionRunnerTaskTest, RefusalsThatRetryingCannotChangeArePermanent) {
  for (const auto& [refusal, error] :
       {std::pair{core::TaskResult::Outcome::kUnknownQueue, "unknown_queue"},
        std::pair{core::TaskResult::Outcome::kTooLarge, "too_large"}}) {
    FakeTaskSink sink;
    sink.result = {refusal, "", error};
    LiveActionRunner runner(nullptr, nullptr, &sink);
    const auto result = runner.Run(TaskAction("sms.urgent", -1), Event());
    EXPECT_EQ(result.outcome, Outcome::kPermanent) << error;
    EXPECT_EQ(result.error, error);
  }
}

TEST(LiveActionRunnerTaskTest, WithoutTheAdapterIsPermanent) {
  LiveActionRunner runner(nullptr, nullptr, nullptr);
  const auto result = runner.Run(TaskAction("sms.urgent", -1), Event());
  EXPECT_EQ(result.outcome, Outcome::kPermanent);
  EXPECT_EQ(result.error, "rabbitmq adapter not configured");
}

TEST(LiveActionRunnerTaskTest, AbortGivesUpAWaitingTaskAsRetryable) {
  FakeTaskSink sink;
  sink.answer = false;
  LiveActionRunner runner(nullptr, nullptr, &sink);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    runner.Abort();
  });
  const auto result = runner.Run(TaskAction("sms.urgent", -1), Event());
  stopper.join();
  EXPECT_EQ(result.outcome, Outcome::kRetry);
  EXPECT_EQ(result.error, "stopping");
  sink.pending({core::TaskResult::Outcome::kConfirmed});  // a late answer is harmless
}

}  // namespace
}  // namespace nilecare::kafka
