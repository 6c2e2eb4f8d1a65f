#include "nilecare/router/retry_budget.hpp"

#include <algorithm>
#include <utility>

namespace nilecare::router {

// Relaxed ordering throughout: the counters publish no other data, and the budget is a
// load-shedding heuristic, not a lock. The compare-exchange alone keeps retries in flight
// from exceeding the limit that was read.
namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

RetryBudget::RetryBudget(int percent, int minimum)
    : percent_(std::max(percent, 0)), minimum_(std::max(minimum, 0)) {}

void RetryBudget::CallStarted() { active_calls_.fetch_add(1, kRelaxed); }

void RetryBudget::CallFinished() { active_calls_.fetch_sub(1, kRelaxed); }

std::int64_t RetryBudget::Limit() const {
  const std::int64_t calls = std::max<std::int64_t>(active_calls_.load(kRelaxed), 0);
  return std::max(minimum_, calls * percent_ / 100);
}

bool RetryBudget::TryStartRetry() {
  std::int64_t retries = active_retries_.load(kRelaxed);
  for (;;) {
    if (retries >= Limit()) {
      rejected_.fetch_add(1, kRelaxed);
      return false;
    }
    if (active_retries_.compare_exchange_weak(retries, retries + 1, kRelaxed, kRelaxed)) {
      return true;
    }
  }
}

void RetryBudget::RetryFinished() { active_retries_.fetch_sub(1, kRelaxed); }

std::uint64_t RetryBudget::Rejected() const { return rejected_.load(kRelaxed); }

std::int64_t RetryBudget::ActiveCalls() const { return active_calls_.load(kRelaxed); }

std::int64_t RetryBudget::ActiveRetries() const { return active_retries_.load(kRelaxed); }

ActiveCall::ActiveCall(RetryBudget& budget) : budget_(&budget) { budget_->CallStarted(); }

ActiveCall::ActiveCall(ActiveCall&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)) {}

ActiveCall& ActiveCall::operator=(ActiveCall&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
  }
  return *this;
}

ActiveCall::~ActiveCall() { Release(); }

void ActiveCall::Release() {
  if (budget_ != nullptr) std::exchange(budget_, nullptr)->CallFinished();
}

RetrySlot RetrySlot::TryAcquire(RetryBudget& budget) {
  return budget.TryStartRetry() ? RetrySlot(&budget) : RetrySlot();
}

RetrySlot::RetrySlot(RetrySlot&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)) {}

RetrySlot& RetrySlot::operator=(RetrySlot&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
  }
  return *this;
}

RetrySlot::~RetrySlot() { Release(); }

void RetrySlot::Release() {
  if (budget_ != nullptr) std::exchange(budget_, nullptr)->RetryFinished();
}

}  // namespace nilecare::router
