#include "task_decision.hpp"

#include <algorithm>

#include "topology.hpp"

namespace nilecare::amqp {

FailureDecision DecideFailure(const config::TaskWorkerSettings& worker,
                              const config::DeadLetterSettings& dead_letter, TaskAttempt attempt,
                              bool permanent) {
  const std::int64_t retries = std::max(0, worker.max_retries);
  // Headers come from whoever published the task: bounded before any arithmetic.
  const std::int64_t rounds_done =
      std::clamp<std::int64_t>(attempt.dead_lettered, 0, kMaxHeaderCount);
  const std::int64_t retry_count =
      std::clamp<std::int64_t>(attempt.retry_count, 0, kMaxHeaderCount);
  FailureDecision decision;
  decision.retry_count = retry_count;
  if (!permanent && retry_count < retries * (rounds_done + 1)) {
    decision.action = FailureDecision::Action::kRetry;
    decision.retry_count = retry_count + 1;
    const auto in_round = std::clamp<std::int64_t>(decision.retry_count - retries * rounds_done, 1,
                                                   std::max<std::int64_t>(retries, 1));
    decision.delay = RetryDelay(worker, static_cast<int>(in_round));
    return decision;
  }
  const bool comes_back = dead_letter.retry_after.count() > 0;
  decision.action = comes_back && rounds_done + 1 >= dead_letter.max_rounds
                        ? FailureDecision::Action::kPark
                        : FailureDecision::Action::kDeadLetter;
  return decision;
}

}  // namespace nilecare::amqp
