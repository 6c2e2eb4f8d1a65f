#include "amqp/topology.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace nilecare::amqp {
namespace {

using std::chrono::milliseconds;
using NameAndType = std::pair<std::string, std::string>;

std::vector<NameAndType> Exchanges(const TopologyPlan& plan) {
  std::vector<NameAndType> result;
  for (const auto& exchange : plan.exchanges) result.emplace_back(exchange.name, exchange.type);
  return result;
}

std::vector<std::string> QueueNames(const TopologyPlan& plan) {
  std::vector<std::string> result;
  for (const auto& queue : plan.queues) result.push_back(queue.name);
  return result;
}

struct Binding {
  std::string queue;
  std::string exchange;
  std::string routing_key;
  bool operator==(const Binding&) const = default;
};

void PrintTo(const Binding& binding, std::ostream* out) {
  *out << binding.queue << " <- " << binding.exchange << " [" << binding.routing_key << "]";
}

std::vector<Binding> Bindings(const TopologyPlan& plan) {
  std::vector<Binding> result;
  for (const auto& binding : plan.bindings) {
    result.push_back({binding.queue, binding.exchange, binding.routing_key});
  }
  return result;
}

TEST(BuildTopologyTest, DeclaresTheDeadLetterFanoutFirstThenEachWorkExchangeOnce) {
  const auto plan = BuildTopology(config::RabbitMqSettings{});
  const std::vector<NameAndType> expected = {{"nilecare.dlq", "fanout"},
                                             {"nilecare.email", "direct"},
                                             {"nilecare.sms", "direct"},
                                             {"nilecare.reports", "direct"}};
  EXPECT_EQ(Exchanges(plan), expected);
}

TEST(BuildTopologyTest, DeclaresTheWorkQueuesThenFailedJobsThenTheParkingQueue) {
  const auto plan = BuildTopology(config::RabbitMqSettings{});
  const std::vector<std::string> expected = {
      "email.high", "email.normal", "email.low",   "sms.urgent",        "sms.normal",
      "reports.pdf", "reports.excel", "failed.jobs", "failed.jobs.parked"};
  EXPECT_EQ(QueueNames(plan), expected);
}

TEST(BuildTopologyTest, WorkQueuesHaveMaxPriorityAndTheDeadLetterExchange) {
  const auto plan = BuildTopology(config::RabbitMqSettings{});
  ASSERT_EQ(plan.queues.size(), 9u);
  for (std::size_t i = 0; i < 7; ++i) {
    const auto& queue = plan.queues[i];
    SCOPED_TRACE(queue.name);
    EXPECT_EQ(queue.max_priority, std::optional<std::int64_t>(10));
    EXPECT_EQ(queue.dead_letter_exchange, std::optional<std::string>("nilecare.dlq"));
    EXPECT_EQ(queue.dead_letter_routing_key, std::nullopt);
    EXPECT_EQ(queue.message_ttl_ms, std::nullopt);
    EXPECT_EQ(queue.expires_ms, std::nullopt);
  }
}

TEST(BuildTopologyTest, WorkQueueArgumentsComeFromTheSettings) {
  config::RabbitMqSettings settings;
  settings.max_priority = 4;
  settings.dead_letter.exchange = "ops.dead";
  const auto plan = BuildTopology(settings);
  ASSERT_EQ(plan.queues.size(), 9u);
  EXPECT_EQ(plan.queues[0].max_priority, std::optional<std::int64_t>(4));
  EXPECT_EQ(plan.queues[0].dead_letter_exchange, std::optional<std::string>("ops.dead"));
  EXPECT_EQ(plan.queues[6].max_priority, std::optional<std::int64_t>(4));
  EXPECT_EQ(plan.queues[6].dead_letter_exchange, std::optional<std::string>("ops.dead"));
  ASSERT_FALSE(plan.exchanges.empty());
  EXPECT_EQ(plan.exchanges[0].name, "ops.dead");
  EXPECT_EQ(plan.exchanges[0].type, "fanout");
}

TEST(BuildTopologyTest, BindsEachWorkQueueByItsNameAndFailedJobsToTheDeadLetterExchange) {
  const auto plan = BuildTopology(config::RabbitMqSettings{});
  const std::vector<Binding> expected = {
      {"email.high", "nilecare.email", "email.high"},
      {"email.normal", "nilecare.email", "email.normal"},
      {"email.low", "nilecare.email", "email.low"},
      {"sms.urgent", "nilecare.sms", "sms.urgent"},
      {"sms.normal", "nilecare.sms", "sms.normal"},
      {"reports.pdf", "nilecare.reports", "reports.pdf"},
      {"reports.excel", "nilecare.reports", "reports.excel"},
      {"failed.jobs", "nilecare.dlq", ""}};
  EXPECT_EQ(Bindings(plan), expected);
}

TEST(BuildTopologyTest, FailedJobsSendsTasksBackThroughTheDefaultExchangeAfterRetryAfter) {
  const auto plan = BuildTopology(config::RabbitMqSettings{});
  ASSERT_EQ(plan.queues.size(), 9u);
  const auto& failed = plan.queues[7];
  EXPECT_EQ(failed.name, "failed.jobs");
  EXPECT_EQ(failed.message_ttl_ms, std::optional<std::int64_t>(300000));
  // Present but empty: the default exchange, which routes by the work queue's name.
  EXPECT_EQ(failed.dead_letter_exchange, std::optional<std::string>(""));
  EXPECT_EQ(failed.dead_letter_routing_key, std::nullopt);
  EXPECT_EQ(failed.max_priority, std::nullopt);
  EXPECT_EQ(failed.expires_ms, std::nullopt);
}

TEST(BuildTopologyTest, FailedJobsKeepsTasksWhenRetryAfterIsZero) {
  config::RabbitMqSettings settings;
  settings.dead_letter.retry_after = milliseconds(0);
  const auto plan = BuildTopology(settings);
  ASSERT_EQ(plan.queues.size(), 9u);
  const auto& failed = plan.queues[7];
  EXPECT_EQ(failed.name, "failed.jobs");
  EXPECT_EQ(failed.message_ttl_ms, std::nullopt);
  EXPECT_EQ(failed.dead_letter_exchange, std::nullopt);
  ASSERT_EQ(plan.bindings.size(), 8u);
  EXPECT_EQ(plan.bindings[7].queue, "failed.jobs");
  EXPECT_EQ(plan.bindings[7].exchange, "nilecare.dlq");
}

TEST(BuildTopologyTest, DeclaresTheParkingQueueWithoutArgumentsOrBinding) {
  const auto plan = BuildTopology(config::RabbitMqSettings{});
  ASSERT_EQ(plan.queues.size(), 9u);
  const auto& parked = plan.queues[8];
  EXPECT_EQ(parked.name, "failed.jobs.parked");
  EXPECT_EQ(parked.max_priority, std::nullopt);
  EXPECT_EQ(parked.dead_letter_exchange, std::nullopt);
  EXPECT_EQ(parked.dead_letter_routing_key, std::nullopt);
  EXPECT_EQ(parked.message_ttl_ms, std::nullopt);
  EXPECT_EQ(parked.expires_ms, std::nullopt);
  for (const auto& binding : plan.bindings) EXPECT_NE(binding.queue, "failed.jobs.parked");
}

TEST(BuildTopologyTest, FollowsACustomQueueList) {
  config::RabbitMqSettings settings;
  settings.max_priority = 3;
  settings.queues = {{"lab.results", "clinic.lab", 2},
                     {"billing.invoices", "clinic.billing", 1},
                     {"lab.orders", "clinic.lab", 3}};
  settings.dead_letter.exchange = "clinic.dead";
  settings.dead_letter.queue = "clinic.failed";
  settings.dead_letter.parking_queue = "clinic.parked";
  settings.dead_letter.retry_after = std::chrono::seconds(90);
  const auto plan = BuildTopology(settings);

  const std::vector<NameAndType> exchanges = {{"clinic.dead", "fanout"},
                                              {"clinic.lab", "direct"},
                                              {"clinic.billing", "direct"}};
  EXPECT_EQ(Exchanges(plan), exchanges);
  const std::vector<std::string> queues = {"lab.results", "billing.invoices", "lab.orders",
                                           "clinic.failed", "clinic.parked"};
  EXPECT_EQ(QueueNames(plan), queues);
  const std::vector<Binding> bindings = {{"lab.results", "clinic.lab", "lab.results"},
                                         {"billing.invoices", "clinic.billing", "billing.invoices"},
                                         {"lab.orders", "clinic.lab", "lab.orders"},
                                         {"clinic.failed", "clinic.dead", ""}};
  EXPECT_EQ(Bindings(plan), bindings);
  ASSERT_EQ(plan.queues.size(), 5u);
  EXPECT_EQ(plan.queues[2].max_priority, std::optional<std::int64_t>(3));
  EXPECT_EQ(plan.queues[2].dead_letter_exchange, std::optional<std::string>("clinic.dead"));
  EXPECT_EQ(plan.queues[3].message_ttl_ms, std::optional<std::int64_t>(90000));
}

TEST(BuildTopologyTest, WithoutWorkQueuesDeclaresOnlyTheDeadLetterPart) {
  config::RabbitMqSettings settings;
  settings.queues.clear();
  const auto plan = BuildTopology(settings);
  EXPECT_EQ(Exchanges(plan), (std::vector<NameAndType>{{"nilecare.dlq", "fanout"}}));
  EXPECT_EQ(QueueNames(plan), (std::vector<std::string>{"failed.jobs", "failed.jobs.parked"}));
  EXPECT_EQ(Bindings(plan), (std::vector<Binding>{{"failed.jobs", "nilecare.dlq", ""}}));
}

TEST(DelayQueueTest, NamesTheQueueAfterTheWorkQueueAndTheDelay) {
  const config::TaskQueueSettings queue{"email.high", "nilecare.email", 10};
  const auto delay = DelayQueue(queue, milliseconds(30000));
  EXPECT_EQ(delay.name, "nilecare.delay.email.high.30000");
  EXPECT_EQ(DelayQueue(queue, milliseconds(1500)).name, "nilecare.delay.email.high.1500");
}

TEST(DelayQueueTest, DeadLettersIntoTheWorkExchangeByTheQueueName) {
  const config::TaskQueueSettings queue{"sms.urgent", "nilecare.sms", 10};
  const auto delay = DelayQueue(queue, milliseconds(4000));
  EXPECT_EQ(delay.message_ttl_ms, std::optional<std::int64_t>(4000));
  EXPECT_EQ(delay.dead_letter_exchange, std::optional<std::string>("nilecare.sms"));
  EXPECT_EQ(delay.dead_letter_routing_key, std::optional<std::string>("sms.urgent"));
  EXPECT_EQ(delay.max_priority, std::nullopt);
}

TEST(DelayQueueTest, ExpiresOnlyAfterItsTtlPlusTheMargin) {
  const config::TaskQueueSettings queue{"reports.pdf", "nilecare.reports", 5};
  const auto short_delay = DelayQueue(queue, milliseconds(1000));
  EXPECT_EQ(short_delay.expires_ms, std::optional<std::int64_t>(121000));
  const auto day = DelayQueue(queue, std::chrono::hours(24));
  EXPECT_EQ(day.expires_ms, std::optional<std::int64_t>(86400000 + 120000));
  ASSERT_TRUE(day.expires_ms && day.message_ttl_ms);
  EXPECT_GT(*day.expires_ms, *day.message_ttl_ms);
  // A publisher re-declares at most kDelayQueueRedeclare after its last declaration, so the
  // margin must cover that gap or the queue could expire while holding a task.
  EXPECT_GT(kDelayQueueMargin, kDelayQueueRedeclare);
}

config::TaskWorkerSettings Worker(milliseconds retry_min, milliseconds retry_max) {
  config::TaskWorkerSettings worker;
  worker.queue = "email.high";
  worker.retry_min = retry_min;
  worker.retry_max = retry_max;
  return worker;
}

TEST(RetryDelayTest, DoublesFromRetryMin) {
  const auto worker = Worker(milliseconds(1000), milliseconds(60000));
  EXPECT_EQ(RetryDelay(worker, 1), milliseconds(1000));
  EXPECT_EQ(RetryDelay(worker, 2), milliseconds(2000));
  EXPECT_EQ(RetryDelay(worker, 3), milliseconds(4000));
  EXPECT_EQ(RetryDelay(worker, 4), milliseconds(8000));
  EXPECT_EQ(RetryDelay(worker, 5), milliseconds(16000));
  EXPECT_EQ(RetryDelay(worker, 6), milliseconds(32000));
}

TEST(RetryDelayTest, IsCappedAtRetryMax) {
  const auto worker = Worker(milliseconds(1000), milliseconds(60000));
  EXPECT_EQ(RetryDelay(worker, 7), milliseconds(60000));  // 64s without the cap
  EXPECT_EQ(RetryDelay(worker, 8), milliseconds(60000));
  const auto odd = Worker(milliseconds(1500), milliseconds(5000));
  EXPECT_EQ(RetryDelay(odd, 1), milliseconds(1500));
  EXPECT_EQ(RetryDelay(odd, 2), milliseconds(3000));
  EXPECT_EQ(RetryDelay(odd, 3), milliseconds(5000));
}

TEST(RetryDelayTest, UsesTheDefaultsOfTheSettings) {
  const config::TaskWorkerSettings worker;
  EXPECT_EQ(RetryDelay(worker, 1), milliseconds(1000));
  EXPECT_EQ(RetryDelay(worker, 3), milliseconds(4000));
  EXPECT_EQ(RetryDelay(worker, 10), milliseconds(60000));
}

TEST(RetryDelayTest, LargeRetryNumbersDoNotOverflow) {
  const auto worker = Worker(milliseconds(1000), milliseconds(60000));
  EXPECT_EQ(RetryDelay(worker, 64), milliseconds(60000));
  EXPECT_EQ(RetryDelay(worker, 1000), milliseconds(60000));
  EXPECT_EQ(RetryDelay(worker, INT_MAX), milliseconds(60000));
  const auto day = Worker(milliseconds(1), std::chrono::hours(24));
  EXPECT_EQ(RetryDelay(day, 100), milliseconds(86400000));
  EXPECT_EQ(RetryDelay(day, INT_MAX), milliseconds(86400000));
}

TEST(RetryDelayTest, RetryMinAboveRetryMaxGivesRetryMax) {
  const auto worker = Worker(milliseconds(5000), milliseconds(2000));
  EXPECT_EQ(RetryDelay(worker, 1), milliseconds(2000));
  EXPECT_EQ(RetryDelay(worker, 3), milliseconds(2000));
}

TEST(FindQueueTest, FindsAConfiguredQueueByItsExactName) {
  const config::RabbitMqSettings settings;
  const auto* queue = FindQueue(settings, "sms.urgent");
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue, &settings.queues[3]);
  EXPECT_EQ(queue->exchange, "nilecare.sms");
  EXPECT_EQ(queue->priority, 10);
  EXPECT_EQ(FindQueue(settings, "reports.excel"), &settings.queues[6]);
}

TEST(FindQueueTest, ReturnsNullForAnythingElse) {
  const config::RabbitMqSettings settings;
  EXPECT_EQ(FindQueue(settings, "sms.bulk"), nullptr);
  EXPECT_EQ(FindQueue(settings, ""), nullptr);
  EXPECT_EQ(FindQueue(settings, "SMS.URGENT"), nullptr);
  EXPECT_EQ(FindQueue(settings, "sms"), nullptr);
  EXPECT_EQ(FindQueue(settings, "sms.urgent "), nullptr);
  EXPECT_EQ(FindQueue(settings, "failed.jobs"), nullptr);
  EXPECT_EQ(FindQueue(settings, "nilecare.email"), nullptr);
}

}  // namespace
}  // namespace nilecare::amqp
