#pragma once
// What a worker does with a task whose handler failed (pure; unit-tested). Headers carry the
// state, so any gateway instance decides the same: x-retry-count (retries so far, spec) and
// x-dead-lettered (rounds already spent in failed.jobs).

#include <chrono>
#include <cstdint>

#include "nilecare/config/settings.hpp"

namespace nilecare::amqp {

// x-retry-count / x-dead-lettered beyond this are treated as this (they are not ours).
inline constexpr std::int64_t kMaxHeaderCount = 1'000'000;

struct TaskAttempt {
  std::int64_t retry_count{0};
  std::int64_t dead_lettered{0};
};

struct FailureDecision {
  enum class Action { kRetry, kDeadLetter, kPark };
  Action action{Action::kDeadLetter};
  std::int64_t retry_count{0};         // x-retry-count of the copy sent on
  std::chrono::milliseconds delay{0};  // kRetry: back-off before it is tried again
};

// `permanent`: retrying cannot help (unparseable, 4xx) — dead-lettered at once.
// Each round through failed.jobs grants max_retries more retries; once `max_rounds` rounds
// failed (and failed.jobs sends tasks back at all) the task is parked instead.
FailureDecision DecideFailure(const config::TaskWorkerSettings& worker,
                              const config::DeadLetterSettings& dead_letter, TaskAttempt attempt,
                              bool permanent);

}  // namespace nilecare::amqp
