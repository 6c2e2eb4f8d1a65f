// nilecare-dev-kafka: a Kafka-protocol broker for local runs and tests.
//
// Debian 12 ships no Kafka broker, but librdkafka ships the mock cluster its own test suite
// uses. Running it in a process of its own lets every client (the gateway's librdkafka,
// kafkajs in the npm tests) reach it over TCP like a real cluster. Production uses a real
// Kafka cluster; nothing here is meant for it.
//
// The mock picks its listener ports itself, so the bootstrap list is published in a file
// (--bootstrap-file) that scripts/stack.sh waits for.

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "flag_reader.hpp"
#include "nilecare/kafka/mock_cluster.hpp"

namespace nilecare::tools {
namespace {

constexpr std::string_view kProgram = "nilecare-dev-kafka";
constexpr int kDefaultBrokers = 1;
constexpr int kMaxBrokers = 32;
constexpr int kDefaultPartitions = 1;
constexpr int kMaxPartitions = 1024;
constexpr int kExitUsage = 2;
constexpr int kExitFailure = 1;

constexpr std::string_view kUsage =
    "usage: nilecare-dev-kafka [--brokers N] [--bootstrap-file PATH]\n"
    "                          [--topics a,b,c] [--partitions N] [--help]\n"
    "\n"
    "Runs librdkafka's mock Kafka cluster on 127.0.0.1 (random ports) until SIGTERM or\n"
    "SIGINT. For local runs and tests only: it keeps everything in memory. SIGUSR1 takes\n"
    "the brokers down (connections refused, data kept), SIGUSR2 brings them back.\n"
    "\n"
    "  --brokers N            number of mock brokers (default 1)\n"
    "  --bootstrap-file PATH  write the bootstrap list there once ready (atomically);\n"
    "                         removed again on exit\n"
    "  --topics a,b,c         topics to create up front (the mock rejects CreateTopics)\n"
    "  --partitions N         partitions of each --topics topic (default 1)\n"
    "  --help                 this text\n";

struct Options {
  int brokers = kDefaultBrokers;
  int partitions = kDefaultPartitions;
  std::string bootstrap_file;
  std::vector<std::string> topics;
  bool help = false;
};

std::optional<int> ParseCount(std::string_view text, int max) {
  int value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || value < 1 || value > max) {
    return std::nullopt;
  }
  return value;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const auto item = text.substr(0, comma);
    if (!item.empty()) {
      items.emplace_back(item);
    }
    if (comma == std::string_view::npos) {
      break;
    }
    text.remove_prefix(comma + 1);
  }
  return items;
}

// Returns the options, or an error message for the usage line.
std::optional<Options> ParseArgs(int argc, char** argv, std::string& error) {
  Options options;
  nilecare::tools::FlagReader flags(argc, argv);
  auto next_value = [&]() {
    auto value = flags.Value();
    if (!value) error = flags.Error();
    return value;
  };
  while (flags.Next()) {
    const std::string_view arg = flags.Flag();
    if (flags.IsHelp()) {
      options.help = true;
    } else if (arg == "--brokers") {
      const auto text = next_value();
      if (!text) {
        return std::nullopt;
      }
      const auto count = ParseCount(*text, kMaxBrokers);
      if (!count) {
        error = "--brokers wants 1.." + std::to_string(kMaxBrokers);
        return std::nullopt;
      }
      options.brokers = *count;
    } else if (arg == "--partitions") {
      const auto text = next_value();
      if (!text) {
        return std::nullopt;
      }
      const auto count = ParseCount(*text, kMaxPartitions);
      if (!count) {
        error = "--partitions wants 1.." + std::to_string(kMaxPartitions);
        return std::nullopt;
      }
      options.partitions = *count;
    } else if (arg == "--bootstrap-file") {
      const auto text = next_value();
      if (!text) {
        return std::nullopt;
      }
      if (text->empty()) {
        error = "--bootstrap-file wants a path";
        return std::nullopt;
      }
      options.bootstrap_file = *text;
    } else if (arg == "--topics") {
      const auto text = next_value();
      if (!text) {
        return std::nullopt;
      }
      options.topics = SplitList(*text);
    } else {
      error = flags.Unknown();
      return std::nullopt;
    }
  }
  return options;
}

// Readers poll for the file: writing a temporary and renaming it means they never see a
// half-written list.
bool WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    out.close();
    if (!out) {
      std::cerr << kProgram << ": cannot write " << tmp << ": " << std::strerror(errno) << '\n';
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::cerr << kProgram << ": cannot rename " << tmp << " to " << path << ": " << ec.message()
              << '\n';
    std::filesystem::remove(tmp, ec);
    return false;
  }
  return true;
}

int Run(int argc, char** argv) {
  std::string error;
  const auto options = ParseArgs(argc, argv, error);
  if (!options) {
    std::cerr << kProgram << ": " << error << " (see --help)\n";
    return kExitUsage;
  }
  if (options->help) {
    std::cout << kUsage;
    return EXIT_SUCCESS;
  }

  // Block the stop signals before librdkafka starts its threads, so they inherit the mask and
  // the signal can only be taken by sigwait below, never interrupting a broker thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  sigaddset(&stop_signals, SIGUSR2);
  if (const int rc = pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr); rc != 0) {
    std::cerr << kProgram << ": pthread_sigmask: " << std::strerror(rc) << '\n';
    return kExitFailure;
  }
  // A client that disconnects mid-response must not kill the broker.
  std::signal(SIGPIPE, SIG_IGN);

  std::optional<kafka::MockCluster> cluster;
  try {
    cluster.emplace(options->brokers);
    for (const auto& topic : options->topics) cluster->CreateTopic(topic, options->partitions);
  } catch (const std::exception& failure) {
    std::cerr << kProgram << ": " << failure.what() << '\n';
    return kExitFailure;
  }
  const std::string bootstraps = cluster->Bootstraps();
  if (!options->bootstrap_file.empty() &&
      !WriteFileAtomically(options->bootstrap_file, bootstraps + "\n")) {
    return kExitFailure;
  }
  std::cerr << kProgram << ": ready pid=" << ::getpid() << " brokers=" << options->brokers
            << " bootstrap=" << bootstraps << " topics=" << options->topics.size() << std::endl;

  int signal_number = 0;
  for (;;) {
    if (const int rc = sigwait(&stop_signals, &signal_number); rc != 0) {
      std::cerr << kProgram << ": sigwait: " << std::strerror(rc) << '\n';
      return kExitFailure;
    }
    if (signal_number != SIGUSR1 && signal_number != SIGUSR2) break;
    // A broker outage for tests, keeping the cluster's data and ports.
    cluster->SetBrokersUp(signal_number == SIGUSR2);
    std::cerr << kProgram << ": brokers " << (signal_number == SIGUSR2 ? "up" : "down")
              << std::endl;
  }
  // A stale bootstrap file would send the next reader to ports nobody listens on.
  if (!options->bootstrap_file.empty()) {
    std::error_code ignored;
    std::filesystem::remove(options->bootstrap_file, ignored);
  }
  std::cerr << kProgram << ": stopping on " << ::strsignal(signal_number) << std::endl;
  return EXIT_SUCCESS;
}

}  // namespace
}  // namespace nilecare::tools

int main(int argc, char** argv) { return nilecare::tools::Run(argc, argv); }
