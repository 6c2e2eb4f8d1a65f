#pragma once
// Runs the real nilecare-gateway binary for a test: writes its config to a temp dir,
// starts it, finds its HTTP port in its start-up log line, waits for conditions with
// deadlines, and stops it with a signal.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nilecare::testing {

using namespace std::chrono_literals;

// Polls `condition` until it holds or `timeout` passes. Returns whether it held.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds interval = 20ms);

class GatewayProcess {
 public:
  // `yaml` is the whole config file; "${PORT}" in it is not special: use port 0 and read
  // Port() after Start().
  explicit GatewayProcess(std::string yaml, std::vector<std::string> extra_args = {});
  ~GatewayProcess();
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;

  // Starts the process and waits until it logged its HTTP port. False on timeout or exit.
  bool Start(std::chrono::milliseconds timeout = 15s);
  // Waits until GET /ready answers 200.
  bool WaitReady(std::chrono::milliseconds timeout = 15s);
  std::uint16_t Port() const { return port_; }
  pid_t Pid() const { return pid_; }

  void Signal(int signal_number);
  // Waits for the process to exit; returns its exit code (128+N when killed by signal N).
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  bool Running();

  std::string Output() const;  // stdout + stderr so far
  const std::string& ConfigPath() const { return config_path_; }

 private:
  std::string dir_;
  std::string config_path_;
  std::string output_path_;
  std::vector<std::string> extra_args_;
  pid_t pid_{-1};
  std::optional<int> exit_code_;
  std::uint16_t port_{0};
};

// Any helper process of a test (a fault-injecting upstream, a real npm client):
// output to a file, waited on with deadlines, killed when the test ends.
class ChildProcess {
 public:
  explicit ChildProcess(std::vector<std::string> args);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until the output matches `pattern` (ECMAScript regex); returns the first
  // capture group (or the whole match) or nullopt on timeout/exit.
  std::optional<std::string> WaitForOutput(const std::string& pattern,
                                           std::chrono::milliseconds timeout = 10s);
  std::optional<int> WaitExit(std::chrono::milliseconds timeout);
  void Signal(int signal_number);
  std::string Output() const;

 private:
  std::string dir_;
  std::string output_path_;
  pid_t pid_{-1};
  std::optional<int> exit_code_;
};

// KEY=VALUE lines of the file named by $NILECARE_STACK_ENV (written by scripts/stack.sh);
// empty when unset.
std::map<std::string, std::string> ReadStackEnv();

// Runs the gateway binary with `args` to completion (for CLI tests).
struct CommandResult {
  int exit_code{-1};
  std::string output;  // stdout + stderr
};
CommandResult RunGateway(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout = 10s);

std::string WriteTempFile(const std::string& name, const std::string& content);

}  // namespace nilecare::testing
