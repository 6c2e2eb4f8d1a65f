#pragma once
// PostgreSQL connections for the device REST API (private to src/mqtt): libpqxx blocks, so
// queries run on these threads, never on an Asio thread.
//
// YAML: database.query_connections (threads, one connection each, opened on first use and
// again after a failure), database.max_pending_queries (queue bound: Submit refuses more,
// and the API answers 503 DATABASE_BUSY instead of queueing without limit).

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "nilecare/config/settings.hpp"
#include "vitals_database.hpp"

namespace nilecare::mqtt {

class QueryPool {
 public:
  // A job gets a connected database, or nullptr when connecting failed (answer 503).
  using Job = std::function<void(VitalsDatabase* database)>;

  explicit QueryPool(const config::DatabaseSettings& settings);
  ~QueryPool();

  // false when the queue is full or the pool is stopped: the job will not run.
  bool Submit(Job job);
  // Jobs still queued run with nullptr (they answer 503); then the threads end.
  void Stop();
  std::size_t Pending() const;

 private:
  void Run(VitalsDatabase& database);

  const std::size_t max_pending_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_{false};
  std::vector<std::unique_ptr<VitalsDatabase>> databases_;
  std::vector<std::thread> threads_;
};

}  // namespace nilecare::mqtt
