// IdempotencyStore against a real redis-server started by each test: the whole Begin /
// Complete / Abandon life cycle, lock expiry, oversized replies, key hashing, concurrent
// duplicates, and failing closed while Redis is down.

#include "nilecare/storage/idempotency_store.hpp"
#include "redis/redis_test_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace nilecare::storage {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using Outcome = IdempotencyOutcome;

using namespace test_support;

const char* Name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kStarted: return "started";
    case Outcome::kInProgress: return "in_progress";
    case Outcome::kReplay: return "replay";
    case Outcome::kKeyReused: return "key_reused";
    case Outcome::kUnavailable: return "unavailable";
  }
  return "?";
}

class IdempotencyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0) GTEST_SKIP() << kRedisServer << " not installed";
    ASSERT_TRUE(server_.Start());
    config::RedisSettings settings;
    settings.url = server_.Url();
    settings.command_timeout = 5s;
    redis_ = std::make_shared<RedisClient>(io_.Io(), settings, metrics_);
    redis_->Start();
    ASSERT_TRUE(WaitFor([&] { return redis_->Connected(); }, 5s)) << redis_->Health().detail;
  }
  void TearDown() override {
    if (redis_) redis_->Stop();
    server_.Kill();
  }

  IdempotencyStore Store(std::chrono::milliseconds lock_ttl = IdempotencyStore::kDefaultLockTtl,
                         std::size_t max_stored_body = 1024 * 1024) {
    config::IdempotencySettings settings;
    settings.max_stored_body = max_stored_body;
    return IdempotencyStore(redis_, settings, "test:", lock_ttl);
  }

  static IdempotencyResult Begin(IdempotencyStore& store, const std::string& key,
                                 const std::string& fp) {
    auto promise = std::make_shared<std::promise<IdempotencyResult>>();
    auto future = promise->get_future();
    store.Begin(key, fp,
                [promise](IdempotencyResult result) { promise->set_value(std::move(result)); });
    if (future.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "Begin never called back";
      return {Outcome::kUnavailable, {}};
    }
    return future.get();
  }
  static bool Complete(IdempotencyStore& store, const std::string& key, const std::string& fp,
                       const StoredResponse& response) {
    auto promise = std::make_shared<std::promise<bool>>();
    auto future = promise->get_future();
    store.Complete(key, fp, response, [promise](bool ok) { promise->set_value(ok); });
    if (future.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "Complete never called back";
      return false;
    }
    return future.get();
  }
  static bool Abandon(IdempotencyStore& store, const std::string& key, const std::string& fp) {
    auto promise = std::make_shared<std::promise<bool>>();
    auto future = promise->get_future();
    store.Abandon(key, fp, [promise](bool ok) { promise->set_value(ok); });
    if (future.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "Abandon never called back";
      return false;
    }
    return future.get();
  }

  std::vector<std::string> Keys() {
    auto reply = Call(*redis_, {"KEYS", "test:*"});
    std::vector<std::string> keys;
    if (reply) {
      for (const auto& element : reply->elements) keys.push_back(element.text);
    }
    return keys;
  }

  RedisServer server_;
  observability::MetricsRegistry metrics_;
  IoThread io_;
  std::shared_ptr<RedisClient> redis_;
};

const std::string kKey = "user-17|POST|/api/v1/payments|3f1c9a7e-key";
const std::string kFp = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const std::string kOtherFp = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

StoredResponse Payment() {
  StoredResponse response;
  response.status = 201;
  response.headers = {{"Content-Type", "application/json"}, {"Location", "/api/v1/payments/88"}};
  response.body = "{\"success\":true,\"data\":{\"id\":88}}\n\0tail"s;
  return response;
}

TEST_F(IdempotencyStoreTest, StartedInProgressCompletedReplayedAndReuseDetected) {
  auto store = Store();
  EXPECT_EQ(Name(Begin(store, kKey, kFp).outcome), std::string("started"));
  // A concurrent duplicate (409), and the same key with another body (422).
  EXPECT_EQ(Name(Begin(store, kKey, kFp).outcome), std::string("in_progress"));
  EXPECT_EQ(Name(Begin(store, kKey, kOtherFp).outcome), std::string("key_reused"));

  ASSERT_TRUE(Complete(store, kKey, kFp, Payment()));
  const auto replay = Begin(store, kKey, kFp);
  ASSERT_EQ(Name(replay.outcome), std::string("replay"));
  ASSERT_TRUE(replay.stored);
  EXPECT_EQ(replay.stored->status, 201);
  EXPECT_EQ(replay.stored->headers, Payment().headers);
  EXPECT_EQ(replay.stored->body, Payment().body);
  EXPECT_FALSE(replay.stored->body_too_large);
  EXPECT_FALSE(Begin(store, kKey, kOtherFp).stored);
  EXPECT_EQ(Name(Begin(store, kKey, kOtherFp).outcome), std::string("key_reused"));
  // A second Complete (say, a retried write) cannot overwrite the stored reply.
  auto other = Payment();
  other.status = 500;
  EXPECT_FALSE(Complete(store, kKey, kFp, other));
  EXPECT_EQ(Begin(store, kKey, kFp).stored->status, 201);
}

TEST_F(IdempotencyStoreTest, AbandonReleasesOnlyOurOwnLock) {
  auto store = Store();
  ASSERT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted);
  EXPECT_FALSE(Abandon(store, kKey, kOtherFp)) << "another body's request must not release it";
  EXPECT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kInProgress);
  EXPECT_TRUE(Abandon(store, kKey, kFp));
  EXPECT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted) << "the client may retry";
  EXPECT_FALSE(Abandon(store, "never-begun", kFp));
}

TEST_F(IdempotencyStoreTest, AbandonNeverRemovesACompletedReply) {
  auto store = Store();
  ASSERT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted);
  ASSERT_TRUE(Complete(store, kKey, kFp, Payment()));
  EXPECT_FALSE(Abandon(store, kKey, kFp));
  EXPECT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kReplay);
}

TEST_F(IdempotencyStoreTest, ALockFromACrashedGatewayExpiresAfterTheLockTtl) {
  auto store = Store(400ms);
  const auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted);
  // Nobody completes or abandons it.
  ASSERT_TRUE(WaitFor([&] { return Begin(store, kKey, kFp).outcome == Outcome::kStarted; }, 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 350ms);
  // The stored reply lives for `ttl` (24h by default), not for the lock's TTL.
  ASSERT_TRUE(Complete(store, kKey, kFp, Payment()));
  auto ttl = Call(*redis_, {"PTTL", Keys().at(0)});
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, std::chrono::milliseconds(std::chrono::hours(24) - 1min).count());
}

TEST_F(IdempotencyStoreTest, CompleteAfterTheLockExpiredIsRefused) {
  auto store = Store(200ms);
  ASSERT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted);
  ASSERT_TRUE(WaitFor([&] { return Keys().empty(); }, 3s));
  EXPECT_FALSE(Complete(store, kKey, kFp, Payment()));
  EXPECT_TRUE(Keys().empty()) << "nothing stored without the lock";
  EXPECT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted);
}

TEST_F(IdempotencyStoreTest, AReplyOverMaxStoredBodyReplaysWithoutItsBody) {
  auto store = Store(IdempotencyStore::kDefaultLockTtl, 16);
  ASSERT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted);
  ASSERT_TRUE(Complete(store, kKey, kFp, Payment()));
  const auto replay = Begin(store, kKey, kFp);
  ASSERT_EQ(replay.outcome, Outcome::kReplay) << "must never run the request again";
  ASSERT_TRUE(replay.stored);
  EXPECT_TRUE(replay.stored->body_too_large);
  EXPECT_TRUE(replay.stored->body.empty());
  EXPECT_EQ(replay.stored->status, 201);
  EXPECT_EQ(replay.stored->headers, Payment().headers);
}

TEST_F(IdempotencyStoreTest, KeysAreHashedWhateverTheCallerPassed) {
  auto store = Store();
  const std::string long_key =
      "user-17|POST|/api/v1/patients/MRN-0042/notes|" + std::string(10000, 'k');
  ASSERT_EQ(Begin(store, long_key, kFp).outcome, Outcome::kStarted);
  ASSERT_EQ(Begin(store, kKey, "not hex: \xff\x01 anything goes").outcome, Outcome::kStarted);
  const auto keys = Keys();
  ASSERT_EQ(keys.size(), 2u);
  for (const auto& key : keys) {
    EXPECT_EQ(key.size(), std::string("test:idem:").size() + 64) << key;
    EXPECT_EQ(key.rfind("test:idem:", 0), 0u) << key;
    EXPECT_EQ(key.find("MRN"), std::string::npos);
  }
  EXPECT_EQ(Begin(store, kKey, "not hex: \xff\x01 anything goes").outcome, Outcome::kInProgress);
  EXPECT_EQ(Begin(store, kKey, "not hex: \xff\x02 anything goes").outcome, Outcome::kKeyReused);
}

TEST_F(IdempotencyStoreTest, HeadersThatAreNotUtf8DoNotBreakStoring) {
  auto store = Store();
  ASSERT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted);
  auto response = Payment();
  response.headers.emplace_back("X-Legacy", "caf\xe9");
  ASSERT_TRUE(Complete(store, kKey, kFp, response));
  const auto replay = Begin(store, kKey, kFp);
  ASSERT_EQ(replay.outcome, Outcome::kReplay);
  EXPECT_EQ(replay.stored->headers.back().first, "X-Legacy");
  EXPECT_EQ(replay.stored->headers.back().second, "caf\xef\xbf\xbd");  // U+FFFD
}

TEST_F(IdempotencyStoreTest, OfManyConcurrentDuplicatesExactlyOneStarts) {
  auto store = Store();
  constexpr int kDuplicates = 50;
  // Callbacks run on the client's strand, one at a time; set_value is their last action.
  std::vector<Outcome> outcomes;
  std::promise<void> all_done;
  for (int i = 0; i < kDuplicates; ++i) {
    store.Begin(kKey, kFp, [&](IdempotencyResult result) {
      outcomes.push_back(result.outcome);
      if (outcomes.size() == kDuplicates) all_done.set_value();
    });
  }
  ASSERT_EQ(all_done.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), Outcome::kStarted), 1);
  EXPECT_EQ(std::count(outcomes.begin(), outcomes.end(), Outcome::kInProgress), kDuplicates - 1);
}

TEST_F(IdempotencyStoreTest, FailsClosedWhileRedisIsDown) {
  auto store = Store();
  ASSERT_EQ(Begin(store, kKey, kFp).outcome, Outcome::kStarted);
  server_.Kill();
  ASSERT_TRUE(WaitFor([&] { return !redis_->Connected(); }, 3s));
  EXPECT_EQ(Name(Begin(store, kKey, kFp).outcome), std::string("unavailable"));
  EXPECT_EQ(Name(Begin(store, "another", kFp).outcome), std::string("unavailable"));
  EXPECT_FALSE(Complete(store, kKey, kFp, Payment()));
  EXPECT_FALSE(Abandon(store, kKey, kFp));
}

TEST_F(IdempotencyStoreTest, CallbacksStillArriveWhenTheStoreIsGone) {
  std::promise<Outcome> promise;
  auto future = promise.get_future();
  {
    auto store = Store();
    store.Begin(kKey, kFp,
                [&promise](IdempotencyResult result) { promise.set_value(result.outcome); });
  }
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get(), Outcome::kStarted);
}

}  // namespace
}  // namespace nilecare::storage
