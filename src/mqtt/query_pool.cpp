#include "query_pool.hpp"

#include "nilecare/observability/log.hpp"

namespace nilecare::mqtt {
namespace log = observability::log;

QueryPool::QueryPool(const config::DatabaseSettings& settings)
    : max_pending_(settings.max_pending_queries) {
  for (int i = 0; i < settings.query_connections; ++i) {
    databases_.push_back(std::make_unique<VitalsDatabase>(settings));
  }
  for (auto& database : databases_) {
    threads_.emplace_back([this, db = database.get()] { Run(*db); });
  }
}

QueryPool::~QueryPool() { Stop(); }

bool QueryPool::Submit(Job job) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || jobs_.size() >= max_pending_) return false;
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

std::size_t QueryPool::Pending() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

void QueryPool::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
  std::deque<Job> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(jobs_);
  }
  for (Job& job : left) job(nullptr);
}

void QueryPool::Run(VitalsDatabase& database) {
  while (true) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    VitalsDatabase* connected = &database;
    if (!database.Connected()) {
      try {
        database.Connect();
      } catch (const std::exception& error) {
        log::Warn("device API: database connection failed", {{"error", error.what()}});
        connected = nullptr;
      }
    }
    try {
      job(connected);
    } catch (const std::exception& error) {
      // The job answers its own errors; reaching here means the connection is suspect.
      log::Error("device API query failed", {{"error", error.what()}});
      database.Disconnect();
    }
  }
}

}  // namespace nilecare::mqtt
