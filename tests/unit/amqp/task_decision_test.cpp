#include "amqp/task_decision.hpp"

#include <gtest/gtest.h>

#include <limits>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace nilecare::amqp {
namespace {

using std::chrono::milliseconds;
using Action = FailureDecision::Action;

// One string per decision, so a wrong field shows up next to the others in the failure.
std::string Describe(const FailureDecision& decision) {
  switch (decision.action) {
    case Action::kRetry:
      return "retry " + std::to_string(decision.retry_count) + " after " +
             std::to_string(decision.delay.count()) + "ms";
    case Action::kDeadLetter:
      return "dead_letter " + std::to_string(decision.retry_count) + " delay " +
             std::to_string(decision.delay.count());
    case Action::kPark:
      return "park " + std::to_string(decision.retry_count) + " delay " +
             std::to_string(decision.delay.count());
  }
  return "unknown";
}

config::TaskWorkerSettings Worker(int max_retries = 3) {
  config::TaskWorkerSettings worker;  // retry_min 1s, retry_max 1m
  worker.queue = "email.high";
  worker.max_retries = max_retries;
  return worker;
}

std::string Decide(const config::TaskWorkerSettings& worker, std::int64_t retry_count,
                   std::int64_t dead_lettered, bool permanent = false,
                   const config::DeadLetterSettings& dead_letter = {}) {
  return Describe(DecideFailure(worker, dead_letter, {retry_count, dead_lettered}, permanent));
}

TEST(DecideFailureTest, RetriesWhileRetryCountIsBelowMaxRetries) {
  const auto worker = Worker();
  EXPECT_EQ(Decide(worker, 0, 0), "retry 1 after 1000ms");
  EXPECT_EQ(Decide(worker, 1, 0), "retry 2 after 2000ms");
  EXPECT_EQ(Decide(worker, 2, 0), "retry 3 after 4000ms");
}

TEST(DecideFailureTest, DeadLettersAfterMaxRetriesKeepingTheRetryCount) {
  const auto worker = Worker();
  EXPECT_EQ(Decide(worker, 3, 0), "dead_letter 3 delay 0");
}

TEST(DecideFailureTest, ThreeRetriesMeanFourAttempts) {
  const auto worker = Worker();
  const config::DeadLetterSettings dead_letter;
  TaskAttempt attempt;
  int attempts = 0;
  std::vector<std::int64_t> delays;
  while (true) {
    ++attempts;
    const auto decision = DecideFailure(worker, dead_letter, attempt, false);
    if (decision.action != Action::kRetry) {
      EXPECT_EQ(decision.action, Action::kDeadLetter);
      EXPECT_EQ(decision.retry_count, 3);
      break;
    }
    delays.push_back(decision.delay.count());
    attempt.retry_count = decision.retry_count;
    ASSERT_LT(attempts, 100);
  }
  EXPECT_EQ(attempts, 4);
  EXPECT_EQ(delays, (std::vector<std::int64_t>{1000, 2000, 4000}));
}

TEST(DecideFailureTest, DelaysFollowRetryMinAndRetryMax) {
  auto worker = Worker(6);
  worker.retry_min = milliseconds(500);
  worker.retry_max = milliseconds(3000);
  EXPECT_EQ(Decide(worker, 0, 0), "retry 1 after 500ms");
  EXPECT_EQ(Decide(worker, 1, 0), "retry 2 after 1000ms");
  EXPECT_EQ(Decide(worker, 2, 0), "retry 3 after 2000ms");
  EXPECT_EQ(Decide(worker, 3, 0), "retry 4 after 3000ms");
  EXPECT_EQ(Decide(worker, 5, 0), "retry 6 after 3000ms");
  EXPECT_EQ(Decide(worker, 6, 0), "dead_letter 6 delay 0");
}

TEST(DecideFailureTest, PermanentFailuresAreDeadLetteredAtOnce) {
  const auto worker = Worker();
  EXPECT_EQ(Decide(worker, 0, 0, /*permanent=*/true), "dead_letter 0 delay 0");
  EXPECT_EQ(Decide(worker, 2, 0, /*permanent=*/true), "dead_letter 2 delay 0");
  EXPECT_EQ(Decide(worker, 3, 1, /*permanent=*/true), "dead_letter 3 delay 0");
}

TEST(DecideFailureTest, ATaskBackFromFailedJobsGetsAnotherRoundOfRetries) {
  const auto worker = Worker();
  // x-retry-count 3 and x-dead-lettered 1: the first round is spent.
  EXPECT_EQ(Decide(worker, 3, 1), "retry 4 after 1000ms");
  EXPECT_EQ(Decide(worker, 4, 1), "retry 5 after 2000ms");
  EXPECT_EQ(Decide(worker, 5, 1), "retry 6 after 4000ms");
  EXPECT_EQ(Decide(worker, 6, 1), "dead_letter 6 delay 0");
  EXPECT_EQ(Decide(worker, 6, 2), "retry 7 after 1000ms");
}

TEST(DecideFailureTest, ParksOnceTheLastRoundFailed) {
  const auto worker = Worker();
  EXPECT_EQ(Decide(worker, 9, 2), "park 9 delay 0");
  EXPECT_EQ(Decide(worker, 8, 2), "retry 9 after 4000ms");
  EXPECT_EQ(Decide(worker, 0, 2, /*permanent=*/true), "park 0 delay 0");
  EXPECT_EQ(Decide(worker, 12, 3), "park 12 delay 0");
}

TEST(DecideFailureTest, MaxRoundsCountsTheRoundsThroughFailedJobs) {
  const auto worker = Worker();
  config::DeadLetterSettings one_round;
  one_round.max_rounds = 1;
  EXPECT_EQ(Decide(worker, 3, 0, false, one_round), "park 3 delay 0");
  EXPECT_EQ(Decide(worker, 0, 0, true, one_round), "park 0 delay 0");
  config::DeadLetterSettings five_rounds;
  five_rounds.max_rounds = 5;
  EXPECT_EQ(Decide(worker, 9, 2, false, five_rounds), "dead_letter 9 delay 0");
  EXPECT_EQ(Decide(worker, 12, 3, false, five_rounds), "dead_letter 12 delay 0");
  EXPECT_EQ(Decide(worker, 15, 4, false, five_rounds), "park 15 delay 0");
}

// As the workers apply the decisions: a dead-lettered or parked copy gets x-dead-lettered + 1,
// a retried one keeps it.
TEST(DecideFailureTest, ATaskThatAlwaysFailsIsParkedAfterMaxRoundsRounds) {
  const auto worker = Worker();
  const config::DeadLetterSettings dead_letter;
  TaskAttempt attempt;
  std::vector<std::string> path;
  for (int attempts = 0; attempts < 100; ++attempts) {
    const auto decision = DecideFailure(worker, dead_letter, attempt, false);
    path.push_back(Describe(decision));
    if (decision.action == Action::kPark) break;
    attempt.retry_count = decision.retry_count;
    if (decision.action == Action::kDeadLetter) ++attempt.dead_lettered;
  }
  const std::vector<std::string> expected = {
      "retry 1 after 1000ms", "retry 2 after 2000ms", "retry 3 after 4000ms",
      "dead_letter 3 delay 0", "retry 4 after 1000ms", "retry 5 after 2000ms",
      "retry 6 after 4000ms", "dead_letter 6 delay 0", "retry 7 after 1000ms",
      "retry 8 after 2000ms", "retry 9 after 4000ms", "park 9 delay 0"};
  EXPECT_EQ(path, expected);
}

TEST(DecideFailureTest, NeverParksWhenFailedJobsKeepsTasks) {
  const auto worker = Worker();
  config::DeadLetterSettings keep;
  keep.retry_after = milliseconds(0);
  keep.max_rounds = 1;
  EXPECT_EQ(Decide(worker, 3, 0, false, keep), "dead_letter 3 delay 0");
  EXPECT_EQ(Decide(worker, 0, 0, true, keep), "dead_letter 0 delay 0");
  EXPECT_EQ(Decide(worker, 30, 9, false, keep), "dead_letter 30 delay 0");
  EXPECT_EQ(Decide(worker, 0, 9, true, keep), "dead_letter 0 delay 0");
}

TEST(DecideFailureTest, WithoutRetriesEveryFailureIsDeadLettered) {
  const auto worker = Worker(0);
  EXPECT_EQ(Decide(worker, 0, 0), "dead_letter 0 delay 0");
  EXPECT_EQ(Decide(worker, 0, 1), "dead_letter 0 delay 0");
  EXPECT_EQ(Decide(worker, 0, 2), "park 0 delay 0");
}

TEST(DecideFailureTest, NegativeMaxRetriesMeansNone) {
  const auto worker = Worker(-2);
  EXPECT_EQ(Decide(worker, 0, 0), "dead_letter 0 delay 0");
  EXPECT_EQ(Decide(worker, 0, 2), "park 0 delay 0");
}

TEST(DecideFailureTest, NegativeHeaderValuesCountAsZero) {
  const auto worker = Worker();
  EXPECT_EQ(Decide(worker, -5, 0), "retry 1 after 1000ms");
  EXPECT_EQ(Decide(worker, -1, -7), "retry 1 after 1000ms");
  EXPECT_EQ(Decide(worker, -4, 0, /*permanent=*/true), "dead_letter 0 delay 0");
  config::DeadLetterSettings one_round;
  one_round.max_rounds = 1;
  // Taken as is, -1 + 1 >= 1 would be false and the task would go round again.
  EXPECT_EQ(Decide(worker, 3, -1, false, one_round), "park 3 delay 0");
  // Taken as is, -3 rounds would grant retries up to 3 * (-3 + 1) < 0: none.
  EXPECT_EQ(Decide(worker, 0, -3), "retry 1 after 1000ms");
}

}  // namespace
}  // namespace nilecare::amqp

namespace nilecare::amqp {
namespace {

TEST(DecideFailureTest, HugeHeaderValuesAreBoundedNotOverflowed) {
  config::TaskWorkerSettings worker;
  config::DeadLetterSettings dead_letter;
  const auto max = std::numeric_limits<std::int64_t>::max();
  // Read as kMaxHeaderCount each (UBSan would flag the overflow otherwise).
  const auto decision = DecideFailure(worker, dead_letter, {max, max}, false);
  EXPECT_EQ(decision.action, FailureDecision::Action::kRetry);
  EXPECT_EQ(decision.retry_count, kMaxHeaderCount + 1);
  EXPECT_EQ(DecideFailure(worker, dead_letter, {max, max}, true).action,
            FailureDecision::Action::kPark);
}

}  // namespace
}  // namespace nilecare::amqp
