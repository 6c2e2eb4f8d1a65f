#include "support/gateway_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/raw_http_client.hpp"

namespace nilecare::testing {
namespace fs = std::filesystem;

namespace {

std::string MakeTempDir() {
  std::string pattern = (fs::temp_directory_path() / "nilecare-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& output_path) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  const int fd = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
  }
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

std::optional<int> Reap(pid_t pid, bool block) {
  int status = 0;
  const pid_t result = waitpid(pid, &status, block ? 0 : WNOHANG);
  if (result != pid) return std::nullopt;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return std::nullopt;
}

}  // namespace

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

std::string WriteTempFile(const std::string& name, const std::string& content) {
  const std::string path = (fs::path(MakeTempDir()) / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

GatewayProcess::GatewayProcess(std::string yaml, std::vector<std::string> extra_args)
    : dir_(MakeTempDir()), extra_args_(std::move(extra_args)) {
  config_path_ = (fs::path(dir_) / "gateway.yaml").string();
  output_path_ = (fs::path(dir_) / "output.log").string();
  std::ofstream(config_path_) << yaml;
}

GatewayProcess::~GatewayProcess() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    Reap(pid_, true);
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

bool GatewayProcess::Start(std::chrono::milliseconds timeout) {
  std::vector<std::string> args{NILECARE_GATEWAY_BIN, "--config", config_path_};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  pid_ = Spawn(args, output_path_);
  static const std::regex kPortPattern(R"(http_port[=":]+(\d+))");
  return WaitFor(
      [this] {
        std::smatch match;
        const std::string output = ReadFile(output_path_);
        if (std::regex_search(output, match, kPortPattern)) {
          port_ = static_cast<std::uint16_t>(std::stoi(match[1]));
          return true;
        }
        return !Running();  // exited: stop waiting, report below
      },
      timeout) &&
         port_ != 0;
}

bool GatewayProcess::WaitReady(std::chrono::milliseconds timeout) {
  return WaitFor(
      [this] {
        auto response = HttpRequest(port_, "GET", "/ready");
        return response && response->status == 200;
      },
      timeout, 50ms);
}

void GatewayProcess::Signal(int signal_number) {
  if (pid_ > 0 && !exit_code_) kill(pid_, signal_number);
}

std::optional<int> GatewayProcess::WaitExit(std::chrono::milliseconds timeout) {
  WaitFor([this] { return !Running(); }, timeout, 10ms);
  return exit_code_;
}

bool GatewayProcess::Running() {
  if (pid_ <= 0 || exit_code_) return false;
  exit_code_ = Reap(pid_, false);
  return !exit_code_.has_value();
}

std::string GatewayProcess::Output() const { return ReadFile(output_path_); }

ChildProcess::ChildProcess(std::vector<std::string> args) : dir_(MakeTempDir()) {
  output_path_ = (fs::path(dir_) / "output.log").string();
  pid_ = Spawn(args, output_path_);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_) {
    kill(pid_, SIGKILL);
    Reap(pid_, true);
  }
  std::error_code ignored;
  fs::remove_all(dir_, ignored);
}

std::optional<std::string> ChildProcess::WaitForOutput(const std::string& pattern,
                                                       std::chrono::milliseconds timeout) {
  const std::regex expression(pattern);
  std::optional<std::string> found;
  WaitFor(
      [&] {
        std::smatch match;
        const std::string output = ReadFile(output_path_);
        if (std::regex_search(output, match, expression)) {
          found = match.size() > 1 ? match[1].str() : match[0].str();
          return true;
        }
        if (!exit_code_) exit_code_ = Reap(pid_, false);
        return exit_code_.has_value();
      },
      timeout);
  return found;
}

std::optional<int> ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  WaitFor(
      [this] {
        if (!exit_code_) exit_code_ = Reap(pid_, false);
        return exit_code_.has_value();
      },
      timeout, 10ms);
  return exit_code_;
}

void ChildProcess::Signal(int signal_number) {
  if (pid_ > 0 && !exit_code_) kill(pid_, signal_number);
}

std::string ChildProcess::Output() const { return ReadFile(output_path_); }

std::map<std::string, std::string> ReadStackEnv() {
  std::map<std::string, std::string> values;
  const char* path = std::getenv("NILECARE_STACK_ENV");
  if (path == nullptr) return values;
  std::istringstream lines(ReadFile(path));
  std::string line;
  while (std::getline(lines, line)) {
    const auto equals = line.find('=');
    if (equals == std::string::npos || line.starts_with('#')) continue;
    values[line.substr(0, equals)] = line.substr(equals + 1);
  }
  return values;
}

CommandResult RunGateway(const std::vector<std::string>& args,
                         std::chrono::milliseconds timeout) {
  const std::string dir = MakeTempDir();
  const std::string output_path = (fs::path(dir) / "output.log").string();
  std::vector<std::string> argv{NILECARE_GATEWAY_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = Spawn(argv, output_path);
  CommandResult result;
  std::optional<int> code;
  WaitFor([&] { return (code = Reap(pid, false)).has_value(); }, timeout, 10ms);
  if (!code) {
    kill(pid, SIGKILL);
    code = Reap(pid, true);
  }
  result.exit_code = code.value_or(-1);
  result.output = ReadFile(output_path);
  std::error_code ignored;
  fs::remove_all(dir, ignored);
  return result;
}

}  // namespace nilecare::testing
