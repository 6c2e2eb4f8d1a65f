// RedisClient against a real redis-server started by each test on a free port: commands,
// binary safety, pipelining, AUTH/SELECT, fail-fast while down, server death with commands
// in flight, reconnect, timeouts with late replies, overload, stop, pub/sub resubscribe.

#include "nilecare/storage/redis_client.hpp"
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
using Type = RedisReply::Type;

using namespace test_support;

bool IsError(const std::optional<RedisReply>& reply, std::string_view text) {
  return reply && reply->type == Type::kError && reply->text == text;
}

std::string Render(const RedisReply& reply) {
  return "type=" + std::to_string(static_cast<int>(reply.type)) + " text=" + reply.text +
         " integer=" + std::to_string(reply.integer);
}

config::RedisSettings Settings(const std::string& url) {
  config::RedisSettings settings;
  settings.url = url;
  settings.connect_timeout = 2s;
  settings.command_timeout = 5s;
  return settings;
}

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(kRedisServer, X_OK) != 0) GTEST_SKIP() << kRedisServer << " not installed";
  }

  std::shared_ptr<RedisClient> Client(const config::RedisSettings& settings,
                                      std::string name = "main") {
    return std::make_shared<RedisClient>(io_.Io(), settings, metrics_, std::move(name));
  }
  std::shared_ptr<RedisClient> StartedClient(const config::RedisSettings& settings,
                                             std::string name = "main") {
    auto client = Client(settings, std::move(name));
    client->Start();
    EXPECT_TRUE(WaitFor([&] { return client->Connected(); }, 5s)) << client->Health().detail;
    return client;
  }

  observability::MetricsRegistry metrics_;
  IoThread io_;  // declared after metrics_: clients' handlers count into it until the end
};

TEST(RedisUrlTest, ParsesEveryForm) {
  auto plain = ParseRedisUrl("redis://cache.internal:6380");
  EXPECT_EQ(plain.host, "cache.internal");
  EXPECT_EQ(plain.port, 6380);
  EXPECT_EQ(plain.password, "");
  EXPECT_EQ(plain.db, 0);

  auto defaults = ParseRedisUrl("redis://redis");
  EXPECT_EQ(defaults.host, "redis");
  EXPECT_EQ(defaults.port, 6379);

  auto full = ParseRedisUrl("redis://:p%40ss:w/rd@10.0.0.5:6379/4");
  EXPECT_EQ(full.host, "10.0.0.5");
  EXPECT_EQ(full.username, "");
  EXPECT_EQ(full.password, "p@ss:w/rd");
  EXPECT_EQ(full.db, 4);

  auto acl = ParseRedisUrl("redis://gateway:secret@[::1]:7000/1");
  EXPECT_EQ(acl.host, "::1");
  EXPECT_EQ(acl.port, 7000);
  EXPECT_EQ(acl.username, "gateway");
  EXPECT_EQ(acl.password, "secret");
  EXPECT_EQ(acl.db, 1);
}

TEST(RedisUrlTest, RejectsBadUrlsWithoutShowingThePassword) {
  for (const char* url :
       {"http://host:6379", "rediss://host:6379", "redis://:hunter2@host:0",
        "redis://:hunter2@host:99999", "redis://:hunter2@host/abc", "redis://hunter2@host",
        "redis://:hunter2@host:6379?timeout=1", "redis://:hunter2@", "redis://:hunter2%zz@host"}) {
    try {
      ParseRedisUrl(url);
      ADD_FAILURE() << "accepted " << url;
    } catch (const std::invalid_argument& error) {
      EXPECT_EQ(std::string(error.what()).find("hunter2"), std::string::npos) << error.what();
    }
  }
}

TEST_F(RedisClientTest, RunsCommandsAndDecodesEveryReplyType) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto client = StartedClient(Settings(server.Url()));
  EXPECT_EQ(client->Health().state, core::HealthState::kUp);

  auto set = Call(*client, {"SET", "k", "v"});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->type, Type::kStatus);
  EXPECT_EQ(set->text, "OK");
  auto get = Call(*client, {"GET", "k"});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->type, Type::kString);
  EXPECT_EQ(get->text, "v");
  auto nil = Call(*client, {"GET", "missing"});
  ASSERT_TRUE(nil);
  EXPECT_EQ(nil->type, Type::kNil);
  auto incr = Call(*client, {"INCRBY", "n", "41"});
  ASSERT_TRUE(incr);
  EXPECT_EQ(incr->type, Type::kInteger);
  EXPECT_EQ(incr->integer, 41);
  auto array = Call(*client, {"MGET", "k", "missing", "n"});
  ASSERT_TRUE(array);
  ASSERT_EQ(array->type, Type::kArray);
  ASSERT_EQ(array->elements.size(), 3u);
  EXPECT_EQ(array->elements[0].text, "v");
  EXPECT_EQ(array->elements[1].type, Type::kNil);
  EXPECT_EQ(array->elements[2].text, "41");
  auto error = Call(*client, {"INCR", "k"});
  ASSERT_TRUE(error);
  EXPECT_TRUE(error->IsError());
  EXPECT_NE(error->text.find("not an integer"), std::string::npos) << error->text;

  EXPECT_TRUE(IsError(Call(*client, {}), kErrInvalidCommand));
  EXPECT_TRUE(IsError(Call(*client, {"subscribe", "x"}), kErrInvalidCommand));
  // The connection is still usable after the refused ones.
  auto ping = Call(*client, {"PING"});
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->text, "PONG");
}

TEST_F(RedisClientTest, ArgumentsAndValuesAreBinarySafe) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto client = StartedClient(Settings(server.Url()));

  const std::string key = "pa\0tient\r\n"s;
  const std::string value = "\0\r\n*3\r\n$-1\r\n\xff\xfe"s;
  auto set = Call(*client, {"SET", key, value});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->text, "OK");
  auto get = Call(*client, {"GET", key});
  ASSERT_TRUE(get);
  ASSERT_EQ(get->type, Type::kString);
  EXPECT_EQ(get->text, value);
  EXPECT_EQ(get->text.size(), 14u);

  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(Call(*client, {"SET", "big", big}));
  auto big_get = Call(*client, {"GET", "big"});
  ASSERT_TRUE(big_get);
  EXPECT_EQ(big_get->text, big);
}

TEST_F(RedisClientTest, PipelinesTenThousandCommandsEachGettingItsOwnReply) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto settings = Settings(server.Url());
  settings.command_timeout = 20s;  // sanitizer builds are slow; this is about ordering
  auto client = StartedClient(settings);

  constexpr int kCount = 10000;
  std::vector<long long> replies(kCount, -1);
  std::atomic<int> answered{0};
  std::atomic<int> errors{0};
  std::promise<void> all_done;
  for (int i = 0; i < kCount; ++i) {
    client->Command({"INCR", "counter"}, [&, i](RedisReply reply) {
      if (reply.type == Type::kInteger) {
        replies[static_cast<std::size_t>(i)] = reply.integer;
      } else {
        errors.fetch_add(1);
      }
      if (answered.fetch_add(1) + 1 == kCount) all_done.set_value();
    });
  }
  ASSERT_EQ(all_done.get_future().wait_for(30s), std::future_status::ready) << answered.load();
  EXPECT_EQ(errors.load(), 0);
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(replies[static_cast<std::size_t>(i)], i + 1)
        << "reply " << i << " is another command's";
  }
}

TEST_F(RedisClientTest, FailsFastWhileRedisIsDownAndConnectsWhenItAppears) {
  RedisServer server;  // not started yet
  auto client = Client(Settings(server.Url()));
  client->Start();

  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(IsError(Call(*client, {"GET", "k"}), kErrDisconnected));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s) << "must not wait for a connection";
  ASSERT_TRUE(WaitFor([&] { return client->Health().state == core::HealthState::kDown; }, 3s));
  const auto health = client->Health();
  EXPECT_NE(health.detail.find("127.0.0.1:" + std::to_string(server.Port())), std::string::npos)
      << health.detail;

  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(WaitFor([&] { return client->Connected(); }, 10s)) << client->Health().detail;
  auto ping = Call(*client, {"PING"});
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->text, "PONG");
  EXPECT_EQ(client->Health().state, core::HealthState::kUp);
}

TEST_F(RedisClientTest, CommandsInFlightFailWhenTheServerDiesAndTheClientReconnects) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto settings = Settings(server.Url());
  settings.command_timeout = 30s;  // only the disconnect may end these commands
  auto client = StartedClient(settings);

  std::vector<std::future<RedisReply>> in_flight;
  auto send = [&](std::vector<std::string> args) {
    auto promise = std::make_shared<std::promise<RedisReply>>();
    in_flight.push_back(promise->get_future());
    client->Command(std::move(args),
                    [promise](RedisReply reply) { promise->set_value(std::move(reply)); });
  };
  send({"DEBUG", "SLEEP", "10"});
  for (int i = 0; i < 5; ++i) send({"SET", "k" + std::to_string(i), "v"});
  // The sleeping server has read the pipeline (the DEBUG reply is what everyone waits for).
  ASSERT_EQ(in_flight[0].wait_for(300ms), std::future_status::timeout);
  server.Kill();

  for (auto& future : in_flight) {
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    const auto reply = future.get();
    EXPECT_TRUE(reply.IsError());
    EXPECT_EQ(reply.text, kErrDisconnected) << Render(reply);
  }
  ASSERT_TRUE(WaitFor([&] { return !client->Connected(); }, 2s));
  EXPECT_TRUE(IsError(Call(*client, {"PING"}), kErrDisconnected));
  ASSERT_TRUE(WaitFor([&] { return client->Health().state == core::HealthState::kDown; }, 2s));

  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(WaitFor([&] { return client->Connected(); }, 10s)) << client->Health().detail;
  auto set = Call(*client, {"SET", "after", "restart"});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->text, "OK");
  EXPECT_EQ(client->Health().state, core::HealthState::kUp);

  const std::string text = metrics_.RenderText();
  EXPECT_NE(text.find("nilecare_redis_connected{client=\"main\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("nilecare_redis_commands_total{client=\"main\",result=\"disconnected\"} 7"),
            std::string::npos)
      << text;
}

TEST_F(RedisClientTest, TimedOutCommandsLateReplyIsNotGivenToTheNextCommand) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto settings = Settings(server.Url());
  settings.command_timeout = 200ms;
  auto client = StartedClient(settings);
  auto id_before = Call(*client, {"CLIENT", "ID"});
  ASSERT_TRUE(id_before);

  std::atomic<int> sleep_callbacks{0};
  auto promise = std::make_shared<std::promise<RedisReply>>();
  auto future = promise->get_future();
  const auto sent = std::chrono::steady_clock::now();
  client->Command({"DEBUG", "SLEEP", "2"}, [&sleep_callbacks, promise](RedisReply reply) {
    if (sleep_callbacks.fetch_add(1) == 0) promise->set_value(std::move(reply));
  });
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
  const auto elapsed = std::chrono::steady_clock::now() - sent;
  const auto reply = future.get();
  EXPECT_EQ(reply.text, kErrTimeout) << Render(reply);
  EXPECT_GE(elapsed, 190ms);
  EXPECT_LT(elapsed, 1500ms);

  // While the server sleeps these time out too; the first one answered must get its own
  // reply (the stale "OK" of DEBUG SLEEP arrives first and must be dropped).
  std::optional<RedisReply> echo;
  std::string marker;
  ASSERT_TRUE(WaitFor(
      [&] {
        marker =
            "marker-" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
        echo = Call(*client, {"ECHO", marker});
        return echo && !IsError(echo, kErrTimeout);
      },
      6s));
  ASSERT_TRUE(echo);
  EXPECT_EQ(echo->type, Type::kString) << Render(*echo);
  EXPECT_EQ(echo->text, marker);
  EXPECT_EQ(sleep_callbacks.load(), 1) << "done must run exactly once";

  auto id_after = Call(*client, {"CLIENT", "ID"});
  ASSERT_TRUE(id_after);
  EXPECT_EQ(id_after->integer, id_before->integer) << "a slow command must not cost the connection";
  EXPECT_NE(metrics_.RenderText().find(
                "nilecare_redis_commands_total{client=\"main\",result=\"timeout\"}"),
            std::string::npos);
}

TEST_F(RedisClientTest, AHungServerIsDetectedAndTheConnectionReplaced) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto settings = Settings(server.Url());
  settings.command_timeout = 200ms;  // stall limit: max(5s, 5 x 200ms) = 5s
  auto client = StartedClient(settings);

  server.Pause();  // like a peer that vanished: no RST, no replies
  EXPECT_TRUE(IsError(Call(*client, {"PING"}), kErrTimeout));
  EXPECT_TRUE(client->Connected()) << "one timeout alone does not drop the connection";
  ASSERT_TRUE(WaitFor([&] { return !client->Connected(); }, 8s));
  EXPECT_NE(client->Health().detail.find("no reply for 5000ms"), std::string::npos)
      << client->Health().detail;
  server.Resume();
  ASSERT_TRUE(WaitFor([&] { return client->Connected(); }, 10s)) << client->Health().detail;
  auto ping = Call(*client, {"PING"});
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->text, "PONG");
}

TEST_F(RedisClientTest, AuthenticatesAndSelectsTheDatabaseFromTheUrl) {
  RedisServer server({"--requirepass", "p@ss:w/rd"});
  ASSERT_TRUE(server.Start());
  auto client = StartedClient(
      Settings("redis://:p%40ss%3Aw%2Frd@127.0.0.1:" + std::to_string(server.Port()) + "/3"));
  ASSERT_TRUE(client->Connected());
  auto info = Call(*client, {"CLIENT", "INFO"});
  ASSERT_TRUE(info);
  EXPECT_NE(info->text.find(" db=3 "), std::string::npos) << info->text;
  auto set = Call(*client, {"SET", "k", "v"});
  ASSERT_TRUE(set);
  EXPECT_EQ(set->text, "OK");
}

TEST_F(RedisClientTest, AWrongPasswordKeepsItDownWithAReasonAndNoSecret) {
  RedisServer server({"--requirepass", "right-password"});
  ASSERT_TRUE(server.Start());
  auto client =
      Client(Settings("redis://:wrong-password@127.0.0.1:" + std::to_string(server.Port())));
  client->Start();
  ASSERT_TRUE(WaitFor([&] { return client->Health().state == core::HealthState::kDown; }, 3s));
  const auto health = client->Health();
  EXPECT_NE(health.detail.find("AUTH failed"), std::string::npos) << health.detail;
  EXPECT_EQ(health.detail.find("wrong-password"), std::string::npos) << health.detail;
  EXPECT_FALSE(client->Connected());
  EXPECT_TRUE(IsError(Call(*client, {"PING"}), kErrDisconnected));
}

TEST_F(RedisClientTest, AServerThatNeverAnswersHitsTheConnectTimeout) {
  // Accepts TCP connections (the kernel completes them into the backlog) but never reads.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);

  auto settings = Settings("redis://127.0.0.1:" + std::to_string(ntohs(address.sin_port)));
  settings.connect_timeout = 300ms;
  auto client = Client(settings);
  client->Start();
  ASSERT_TRUE(WaitFor([&] { return client->Health().state == core::HealthState::kDown; }, 3s));
  EXPECT_NE(client->Health().detail.find("no connection within 300ms"), std::string::npos)
      << client->Health().detail;
  EXPECT_FALSE(client->Connected());
  client->Stop();
  ::close(listener);
}

TEST_F(RedisClientTest, BoundsCommandsInFlight) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto settings = Settings(server.Url());
  settings.command_timeout = 30s;
  auto client = StartedClient(settings);

  constexpr int kExtra = 100;
  constexpr int kCount = static_cast<int>(RedisClient::kMaxInFlightCommands) + kExtra;
  std::atomic<int> ok{0};
  std::atomic<int> overloaded{0};
  std::atomic<int> other{0};
  std::atomic<int> answered{0};
  std::promise<void> all_done;
  auto count = [&](RedisReply reply) {
    if (reply.type == Type::kStatus) {
      ok.fetch_add(1);
    } else if (reply.text == kErrOverloaded) {
      overloaded.fetch_add(1);
    } else {
      other.fetch_add(1);
    }
    if (answered.fetch_add(1) + 1 == kCount + 1) all_done.set_value();
  };
  client->Command({"DEBUG", "SLEEP", "2"}, count);  // nothing is answered meanwhile
  for (int i = 0; i < kCount; ++i) client->Command({"PING"}, count);
  ASSERT_EQ(all_done.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_EQ(other.load(), 0);
  EXPECT_GE(overloaded.load(), kExtra) << "DEBUG SLEEP counts as in flight too";
  EXPECT_EQ(ok.load() + overloaded.load(), kCount + 1);
  EXPECT_NE(metrics_.RenderText().find("result=\"overloaded\"} "), std::string::npos);
}

TEST_F(RedisClientTest, StopFailsWhatIsPendingAndRefusesNewCommands) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto settings = Settings(server.Url());
  settings.command_timeout = 30s;
  auto client = StartedClient(settings);

  auto promise = std::make_shared<std::promise<RedisReply>>();
  auto future = promise->get_future();
  client->Command({"DEBUG", "SLEEP", "1"},
                  [promise](RedisReply reply) { promise->set_value(std::move(reply)); });
  client->Stop();
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(future.get().text, kErrDisconnected);
  EXPECT_FALSE(client->Connected());
  EXPECT_EQ(client->Health().state, core::HealthState::kStopping);
  EXPECT_TRUE(IsError(Call(*client, {"PING"}), kErrDisconnected));
  client->Stop();  // idempotent
}

TEST_F(RedisClientTest, DestroyingAConnectedClientWithCommandsInFlightIsClean) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  auto settings = Settings(server.Url());
  auto client = StartedClient(settings);
  auto promise = std::make_shared<std::promise<RedisReply>>();
  auto future = promise->get_future();
  client->Command({"DEBUG", "SLEEP", "1"},
                  [promise](RedisReply reply) { promise->set_value(std::move(reply)); });
  client.reset();  // the destructor stops it
  ASSERT_EQ(future.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(future.get().text, kErrDisconnected);
}

TEST_F(RedisClientTest, PubSubDeliversMessagesAndResubscribesAfterAReconnect) {
  RedisServer server;
  ASSERT_TRUE(server.Start());
  // Declared before the clients, which may still deliver until they are destroyed.
  std::mutex mutex;
  std::vector<std::pair<std::string, std::string>> received;
  auto publisher = StartedClient(Settings(server.Url()), "main");
  auto subscriber = StartedClient(Settings(server.Url()), "pubsub");

  subscriber->Subscribe("room:patient:7",
                        [&](const std::string& channel, const std::string& payload) {
                          std::lock_guard lock(mutex);
                          received.emplace_back(channel, payload);
                        });
  auto received_count = [&] {
    std::lock_guard lock(mutex);
    return received.size();
  };
  // PUBLISH answers how many subscribers got it: 1 once the subscription is live.
  auto publish_until_heard = [&](const std::string& payload) {
    return WaitFor(
        [&] {
          auto reply = Call(*publisher, {"PUBLISH", "room:patient:7", payload});
          return reply && reply->type == Type::kInteger && reply->integer == 1;
        },
        10s);
  };
  const std::string first = "vitals\0hr=80"s;
  ASSERT_TRUE(publish_until_heard(first));
  ASSERT_TRUE(WaitFor([&] { return received_count() >= 1; }, 2s));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(received.back().first, "room:patient:7");
    EXPECT_EQ(received.back().second, first);
  }
  EXPECT_TRUE(IsError(Call(*subscriber, {"GET", "k"}), kErrInvalidCommand));

  server.Kill();
  ASSERT_TRUE(server.Start());
  ASSERT_TRUE(WaitFor([&] { return publisher->Connected() && subscriber->Connected(); }, 10s));
  ASSERT_TRUE(publish_until_heard("after-restart"));
  ASSERT_TRUE(WaitFor(
      [&] {
        std::lock_guard lock(mutex);
        return !received.empty() && received.back().second == "after-restart";
      },
      2s));

  subscriber->Unsubscribe("room:patient:7");
  ASSERT_TRUE(WaitFor(
      [&] {
        auto reply = Call(*publisher, {"PUBLISH", "room:patient:7", "gone"});
        return reply && reply->type == Type::kInteger && reply->integer == 0;
      },
      5s));
}

}  // namespace
}  // namespace nilecare::storage
