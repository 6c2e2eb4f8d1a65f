// Task headers come from whoever published to a work queue. A worker reads x-retry-count and
// x-dead-lettered from them and copies the whole table into a task's retry or dead-letter
// copy: whatever rabbitmq-c decodes, the copy, the readers and DecideFailure must neither
// crash nor overflow (UBSan), a value set on the copy must read back, and the copy must
// encode again.
#include <amqp.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "amqp/amqp_connection.hpp"
#include "amqp/task_decision.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace nilecare::amqp;
  amqp_pool_t pool;
  init_amqp_pool(&pool, 4096);
  amqp_table_t table{};
  std::size_t offset = 0;
  const amqp_bytes_t encoded{size, const_cast<std::uint8_t*>(data)};
  if (amqp_decode_table(encoded, &pool, &table, &offset) == AMQP_STATUS_OK) {
    const auto count = [&](const char* key) {
      return std::clamp<std::int64_t>(TableInt(table, key).value_or(0), 0, kMaxHeaderCount);
    };
    const TaskAttempt attempt{count("x-retry-count"), count("x-dead-lettered")};
    nilecare::config::TaskWorkerSettings worker;
    nilecare::config::DeadLetterSettings dead_letter;
    for (const bool permanent : {false, true}) {
      const auto decision = DecideFailure(worker, dead_letter, attempt, permanent);
      if (decision.retry_count < 0 || decision.delay.count() < 0) std::abort();
    }
    (void)TableString(table, "x-original-queue");

    Table copy;
    try {
      copy.CopyFrom(table);
    } catch (const AmqpError&) {
      // Unreadable headers: the worker dead-letters such a task without them.
    }
    copy.Set("x-retry-count", attempt.retry_count + 1);
    copy.Set("x-error", "http_500");
    const auto got = copy.Get();
    if (TableInt(got, "x-retry-count") != attempt.retry_count + 1) std::abort();
    if (TableString(got, "x-error") != "http_500") std::abort();

    std::vector<std::uint8_t> buffer(2 * size + 1024);
    amqp_bytes_t out{buffer.size(), buffer.data()};
    std::size_t written = 0;
    auto to_encode = got;
    if (amqp_encode_table(out, &to_encode, &written) != AMQP_STATUS_OK) std::abort();
  }
  empty_amqp_pool(&pool);
  return 0;
}
