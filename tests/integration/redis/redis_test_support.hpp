#pragma once
// Test support shared by the Redis integration tests: a private redis-server on a free
// port (started, killed, paused and restarted by the tests), an io_context on its own
// thread, and a synchronous Call() with a deadline.

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
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "nilecare/storage/redis_client.hpp"

namespace nilecare::storage::test_support {

using namespace std::chrono_literals;
using namespace std::string_literals;

inline constexpr const char* kRedisServer = "/usr/bin/redis-server";

// Polls `condition` until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A private redis-server child process; killed (SIGKILL) in the destructor.
class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra_args = {})
      : port_(FreePort()), extra_args_(std::move(extra_args)) {}
  ~RedisServer() { Kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts it (again, on the same port) and waits until it answers.
  bool Start() {
    std::vector<std::string> args{
        kRedisServer,   "--port", std::to_string(port_),    "--bind", "127.0.0.1",  "--save", "",
        "--appendonly", "no",     "--enable-debug-command", "yes",    "--loglevel", "warning"};
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      const int null_fd = ::open("/dev/null", O_WRONLY);
      ::dup2(null_fd, STDOUT_FILENO);
      ::execv(kRedisServer, argv.data());
      ::_exit(127);
    }
    return pid_ > 0 && WaitFor([this] { return Answers(); }, 5s);
  }
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void Pause() { ::kill(pid_, SIGSTOP); }
  void Resume() { ::kill(pid_, SIGCONT); }
  std::uint16_t Port() const { return port_; }
  std::string Url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  bool Answers() const {
    const timeval timeout{0, 200000};
    redisContext* context = redisConnectWithTimeout("127.0.0.1", port_, timeout);
    bool answered = false;
    if (context != nullptr && context->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(context, "PING"));
      answered = reply != nullptr;  // -NOAUTH counts: the server is up
      if (reply != nullptr) freeReplyObject(reply);
    }
    if (context != nullptr) redisFree(context);
    return answered;
  }

  std::uint16_t port_;
  std::vector<std::string> extra_args_;
  pid_t pid_{-1};
};

// The gateway's io_context, run by one thread. Checks at the end that a stopped client
// left nothing behind (the io_context runs out of work by itself).
class IoThread {
 public:
  IoThread() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    work_.reset();
    auto finished = std::async(std::launch::async, [this] { thread_.join(); });
    if (finished.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "io_context still has work 5s after the clients were stopped";
      io_.stop();
      finished.wait();
    }
  }
  boost::asio::io_context& Io() { return io_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

inline std::optional<RedisReply> Call(RedisClient& client, std::vector<std::string> args,
                               std::chrono::milliseconds timeout = 5s) {
  auto promise = std::make_shared<std::promise<RedisReply>>();
  auto future = promise->get_future();
  client.Command(std::move(args),
                 [promise](RedisReply reply) { promise->set_value(std::move(reply)); });
  if (future.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return future.get();
}

}  // namespace nilecare::storage::test_support
