// nilecare-devsim: simulates N bedside monitors that publish vitals over MQTT, for demos,
// integration tests and benchmarks of the gateway's device ingest.
//
// Device i (1..N) is <device-prefix><i> and publishes, at QoS --qos (default 1),
//
//   devices/<id>/vitals   {"hr":72,"spo2":98,"temp":36.8,"bp":"118/76","patient_id":"P-3",
//                          "timestamp":"2026-12-04T21:00:00.123456Z","seq":42}
//   devices/<id>/status   online | offline   (retained, QoS 1)
//
// `timestamp` is the send time with microseconds (benchmarks compute MQTT -> WebSocket latency
// from it); `seq` counts the device's messages from --seq-start (default 1) and never skips:
// a message that could not be published still used its seq, so the gateway sees the gap.
// Readings drift as mean-reverting random walks so that a dashboard looks plausible; every
// --critical-every-th message of a device has hr=150, above the gateway's 120 threshold.
//
// Last wills. MQTT has one will per connection, not per device. With one connection per
// device (the default up to 50 devices, or --connections equal to --devices) each
// connection's will is the retained `offline` of its device, so kill -9 of the simulator
// looks to the gateway like monitors dropping off the network. Above that the devices share
// --connections pooled connections (default 8) and no will can speak for them: a crash then
// leaves their `online` standing. On every clean end each device publishes a retained
// `offline` itself, whatever the connection layout.
//
// Pacing. Message k (over all devices) goes to device k % N and is due at start + k / rate:
// each device publishes every N / rate seconds, devices staggered evenly. One thread
// (the main one) sleeps until the next message is due, but wakes at most once per
// millisecond, and then publishes the messages whose time has come: up to 1000 msgs/s each
// message leaves at its own time, above that the messages of one millisecond leave
// together. After a late wake-up (a busy machine, Paho's mutex) it catches up at no more
// than twice the rate, i.e. no millisecond carries more than two milliseconds' worth.
// When it falls more than kMaxLag behind (a stalled machine, a broker holding back acks)
// it gives up on the backlog instead of firing it: the schedule restarts from now and the
// lost time is reported as "behind schedule", so the achieved rate shows the shortfall.
//
// Back-pressure. Publishing is asynchronous (Paho's async client, one listener per
// connection counts acks). At most --max-inflight unacknowledged vitals per connection: at
// the bound the pacer waits for an ack instead of queueing without limit inside Paho.
// A connection that is down (Paho reconnects automatically) fails its devices' messages at
// once rather than blocking the others.
//
// The end (duration or count reached, SIGINT/SIGTERM): wait at most --drain for the
// outstanding acks, publish the retained `offline` statuses, disconnect. A second signal
// exits at once (the brokers then publish the wills). Exit code 0 only if every vitals
// message and every status message was acknowledged (for QoS 0: written to the socket).
//
// The summary goes to stdout; its last line is machine-readable: `RESULT key=value ...`.

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <mqtt/async_client.h>
#include <nlohmann/json.hpp>

#include "bench_stats.hpp"
#include "flag_reader.hpp"

namespace nilecare::tools {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr std::string_view kProgram = "nilecare-devsim";
constexpr int kExitFailure = 1;

// Above this many devices the default is pooled connections (no per-device last will):
// hundreds of TCP connections from one tool only measure the broker's connection handling.
constexpr std::size_t kMaxDefaultPerDeviceConnections = 50;
constexpr std::size_t kDefaultPooledConnections = 8;
// How far the pacer may fall behind before it restarts the schedule instead of catching up.
constexpr auto kMaxLag = milliseconds(20);
// The pacer wakes at most once per tick (the burst granularity at high rates) ...
constexpr auto kTick = milliseconds(1);
// ... and at least every kMaxSleep, to notice signals however low the rate.
constexpr auto kMaxSleep = milliseconds(100);
// Paho numbers in-flight messages with 16-bit ids.
constexpr std::size_t kMaxInflightLimit = 65000;
constexpr int kHeartRateCritical = 150;
// Device and patient id prefixes; they bound the payload size.
constexpr std::size_t kMaxPrefix = 64;
constexpr std::size_t kMaxPayload = 1024;

constexpr std::string_view kUsage =
    "usage: nilecare-devsim [options]\n"
    "\n"
    "Simulates N bedside monitors publishing vitals over MQTT:\n"
    "  <topic-root>/<id>/vitals  {\"hr\":72,\"spo2\":98,\"temp\":36.8,\"bp\":\"118/76\",\n"
    "                             \"patient_id\":\"P-3\",\"timestamp\":\"<UTC, microseconds>\","
    "\"seq\":42}\n"
    "  <topic-root>/<id>/status  online on connect, offline at the end (retained, QoS 1)\n"
    "Device i (1..N) is <device-prefix><i>, its patient <patient-prefix><i>.\n"
    "\n"
    "  --url URL              broker (default tcp://127.0.0.1:1883)\n"
    "  --devices N            simulated devices (default 10)\n"
    "  --rate R               messages per second, all devices together (default 10);\n"
    "                         each device sends every N/R s, devices evenly staggered\n"
    "  --duration D           stop after D (e.g. 30s, 2m, 1h, 500ms; default 0 = until\n"
    "                         SIGINT/SIGTERM or --count)\n"
    "  --count M              stop after M messages in total (default 0 = no limit);\n"
    "                         with --duration too, whichever comes first\n"
    "  --critical-every K     every K-th message of a device has hr=150 (default 0 = never)\n"
    "  --device-prefix S      device id prefix (default sim-); a device's own connection\n"
    "                         uses the device id as MQTT client id, so two simulators\n"
    "                         with the same prefix take over each other's connections\n"
    "  --patient-prefix S     patient id prefix (default P-)\n"
    "  --no-patient-id        omit patient_id: the gateway maps devices through its table\n"
    "  --seq-start S          first seq of every device (default 1)\n"
    "  --qos Q                QoS of the vitals, 0..2 (default 1; statuses always use 1)\n"
    "  --username U           broker user (default $MQTT_USERNAME)\n"
    "  --password P           broker password (default $MQTT_PASSWORD; visible to `ps`)\n"
    "  --topic-root T         topic prefix (default devices)\n"
    "  --connections C        MQTT connections the devices are spread over (default: one per\n"
    "                         device up to 50 devices, else 8). With one connection per\n"
    "                         device (C = N) each has a last will, a retained offline on\n"
    "                         its status topic, so kill -9 marks the devices offline;\n"
    "                         pooled connections (C < N) have no will: after a crash their\n"
    "                         devices stay online until a clean run publishes offline\n"
    "  --max-inflight K       unacknowledged messages per connection before the sender waits\n"
    "                         (back-pressure; default 1000)\n"
    "  --drain D              at the end, wait at most D for outstanding acks (default 10s)\n"
    "  --connect-timeout D    give up when a connection is not up after D (default 10s)\n"
    "  --seed S               random seed of the readings (default: random)\n"
    "  --quiet                no progress line on stderr\n"
    "  --summary-json FILE    write the summary as JSON to FILE as well\n"
    "  --help                 this text\n"
    "\n"
    "Messages are paced on a steady schedule, at most one wake-up per ms; a late sender\n"
    "catches up at no more than twice the rate, and when more than 20 ms behind it skips\n"
    "ahead rather than bursting (reported as \"behind schedule\").\n"
    "A progress line goes to stderr once per second; the summary to stdout. At the end\n"
    "(duration, count, SIGINT/SIGTERM) it waits --drain for acks, publishes offline and\n"
    "disconnects; a second signal exits at once. Exit code: 0 when every message was\n"
    "acknowledged, 1 otherwise, 2 for bad flags.\n"
    "\n"
    "  e.g. nilecare-devsim --devices 20 --rate 40 --critical-every 30      (demo)\n"
    "       nilecare-devsim --devices 1000 --rate 20000 --duration 60s --quiet\n";

// ---- options ------------------------------------------------------------------------------

struct Options {
  std::string url{"tcp://127.0.0.1:1883"};
  std::size_t devices{10};
  double rate{10};
  double duration{0};  // seconds; 0 = no limit
  std::uint64_t count{0};
  std::uint64_t critical_every{0};
  std::string device_prefix{"sim-"};
  std::string patient_prefix{"P-"};
  bool patient_id{true};
  std::uint64_t seq_start{1};
  int qos{1};
  std::string username;
  std::string password;
  std::string topic_root{"devices"};
  std::size_t connections{0};  // 0 = the default layout
  std::size_t max_inflight{1000};
  double drain{10};
  double connect_timeout{10};
  std::optional<std::uint64_t> seed;
  bool quiet{false};
  std::string summary_json;
  bool help{false};
};

// "30s", "2m", "1h", "500ms", "1.5s"; a bare number is seconds.
bool ParseDuration(std::string_view text, double& seconds) {
  double scale = 1;
  if (text.ends_with("ms")) {
    scale = 0.001;
    text.remove_suffix(2);
  } else if (text.ends_with('s')) {
    text.remove_suffix(1);
  } else if (text.ends_with('m')) {
    scale = 60;
    text.remove_suffix(1);
  } else if (text.ends_with('h')) {
    scale = 3600;
    text.remove_suffix(1);
  }
  double value = 0;
  if (text.empty() || !ParseNumber(text, value)) return false;
  seconds = value * scale;
  return seconds <= 366.0 * 24 * 3600;  // keeps time arithmetic far from overflow
}

// MQTT topics and JSON strings must be UTF-8.
bool IsUtf8(std::string_view text) {
  try {
    static_cast<void>(nlohmann::json(std::string(text)).dump());
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// Topic levels may not hold '/', and wildcards are not allowed in a published topic.
bool IsTopicLevelSafe(std::string_view text) {
  return text.find_first_of("/+#") == std::string_view::npos && IsUtf8(text);
}

// Flags that take a value (checked before taking one, so that a misspelt flag is reported
// as unknown rather than as missing its value).
constexpr std::string_view kValueFlags[] = {
    "--url",           "--devices",         "--rate",
    "--duration",      "--count",           "--critical-every",
    "--device-prefix", "--patient-prefix",  "--seq-start",
    "--qos",           "--username",        "--password",
    "--topic-root",    "--connections",     "--max-inflight",
    "--drain",         "--connect-timeout", "--seed",
    "--summary-json"};

std::optional<Options> ParseArgs(int argc, char** argv, std::string& error) {
  Options o;
  if (const char* env = std::getenv("MQTT_USERNAME"); env != nullptr) o.username = env;
  if (const char* env = std::getenv("MQTT_PASSWORD"); env != nullptr) o.password = env;
  nilecare::tools::FlagReader flags(argc, argv);
  while (flags.Next()) {
    const std::string_view arg = flags.Flag();
    // Flags without a value.
    if (flags.IsHelp()) {
      o.help = true;
      continue;
    }
    if (arg == "--quiet") {
      o.quiet = true;
      continue;
    }
    if (arg == "--no-patient-id") {
      o.patient_id = false;
      continue;
    }
    if (std::ranges::find(kValueFlags, arg) == std::end(kValueFlags)) {
      error = flags.Unknown();
      return std::nullopt;
    }
    const auto flag_value = flags.Value();
    if (!flag_value) {
      error = flags.Error();
      return std::nullopt;
    }
    const std::string_view value = *flag_value;
    // What a good value looks like, for the error message.
    std::string_view want;
    bool ok = true;
    if (arg == "--url") {
      o.url = value;
      want = "a broker URL such as tcp://127.0.0.1:1883";
      ok = !o.url.empty();
    } else if (arg == "--devices") {
      want = "a whole number from 1 to 1000000";
      ok = ParseNumber(value, o.devices) && o.devices >= 1 && o.devices <= 1'000'000;
    } else if (arg == "--rate") {
      want = "messages per second, more than 0 and at most 10000000";
      ok = ParseNumber(value, o.rate) && o.rate > 0 && o.rate <= 1e7;
    } else if (arg == "--duration") {
      want = "a duration such as 30s, 2m, 1h, 500ms or 0";
      ok = ParseDuration(value, o.duration);
    } else if (arg == "--count") {
      want = "a whole number of messages (0 = no limit)";
      ok = ParseNumber(value, o.count);
    } else if (arg == "--critical-every") {
      want = "a whole number (0 = never)";
      ok = ParseNumber(value, o.critical_every);
    } else if (arg == "--device-prefix") {
      o.device_prefix = value;
      want = "at most 64 bytes without '/', '+' or '#' (it becomes a topic level)";
      ok = value.size() <= kMaxPrefix && IsTopicLevelSafe(value);
    } else if (arg == "--patient-prefix") {
      o.patient_prefix = value;
      want = "at most 64 bytes of UTF-8 text";
      ok = value.size() <= kMaxPrefix && IsUtf8(value);
    } else if (arg == "--seq-start") {
      want = "a whole number >= 0";
      ok = ParseNumber(value, o.seq_start) && o.seq_start <= (std::uint64_t{1} << 62);
    } else if (arg == "--qos") {
      want = "0, 1 or 2";
      ok = ParseNumber(value, o.qos) && o.qos >= 0 && o.qos <= 2;
    } else if (arg == "--username") {
      o.username = value;
    } else if (arg == "--password") {
      o.password = value;
    } else if (arg == "--topic-root") {
      o.topic_root = value;
      want = "a topic prefix without '+', '#' or a trailing '/', e.g. devices";
      ok = !value.empty() && value.find_first_of("+#") == std::string_view::npos &&
           !value.ends_with('/') && IsUtf8(value);
    } else if (arg == "--connections") {
      want = "a whole number >= 1";
      ok = ParseNumber(value, o.connections) && o.connections >= 1;
    } else if (arg == "--max-inflight") {
      want = "a whole number from 1 to 65000";
      ok = ParseNumber(value, o.max_inflight) && o.max_inflight >= 1 &&
           o.max_inflight <= kMaxInflightLimit;
    } else if (arg == "--drain") {
      want = "a duration such as 10s";
      ok = ParseDuration(value, o.drain);
    } else if (arg == "--connect-timeout") {
      want = "a duration such as 10s, more than 0";
      ok = ParseDuration(value, o.connect_timeout) && o.connect_timeout > 0;
    } else if (arg == "--seed") {
      want = "a whole number";
      std::uint64_t seed = 0;
      ok = ParseNumber(value, seed);
      o.seed = seed;
    } else if (arg == "--summary-json") {
      o.summary_json = value;
      want = "a file name";
      ok = !value.empty();
    } else {
      error = flags.Unknown();
      return std::nullopt;
    }
    if (!ok) {
      error = "bad value for " + std::string(arg) + ": '" + std::string(value) + "' (want " +
              std::string(want) + ")";
      return std::nullopt;
    }
  }
  if (o.connections == 0) {
    o.connections = o.devices <= kMaxDefaultPerDeviceConnections
                        ? o.devices
                        : std::min(o.devices, kDefaultPooledConnections);
  }
  // More connections than devices would only add idle clients.
  o.connections = std::min(o.connections, o.devices);
  return o;
}

// ---- signals ------------------------------------------------------------------------------

std::atomic<int> g_signals{0};
static_assert(std::atomic<int>::is_always_lock_free);

extern "C" void OnSignal(int) {
  if (g_signals.fetch_add(1) >= 1) {
    constexpr char kMessage[] = "nilecare-devsim: second signal, exiting without cleanup\n";
    [[maybe_unused]] const auto ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    _exit(kExitFailure);
  }
}

void InstallSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool Stopping() { return g_signals.load(std::memory_order_relaxed) > 0; }

// ---- readings -----------------------------------------------------------------------------

// One vital sign as a mean-reverting random walk: each step pulls it a little toward the
// device's own baseline and adds noise, so values wander like a real monitor's instead of
// jumping uniformly across the range.
class Walk {
 public:
  Walk(double baseline, double noise, double low, double high)
      : value_(baseline), baseline_(baseline), noise_(noise), low_(low), high_(high) {}

  double Step(std::mt19937_64& rng) {
    std::normal_distribution<double> normal(0.0, noise_);
    value_ += 0.05 * (baseline_ - value_) + normal(rng);
    value_ = std::clamp(value_, low_, high_);
    return value_;
  }

 private:
  double value_;
  double baseline_;
  double noise_;
  double low_;
  double high_;
};

double Uniform(std::mt19937_64& rng, double low, double high) {
  return std::uniform_real_distribution<double>(low, high)(rng);
}

class Connection;

// Each device its own generator: the readings of device i depend on --seed and i only.
std::mt19937_64 DeviceRng(std::uint64_t seed, std::size_t index) {
  std::seed_seq sequence{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                         static_cast<std::uint32_t>(index)};
  return std::mt19937_64(sequence);
}

struct Device {
  Device(std::size_t index, std::uint64_t seed, const Options& options)
      : rng(DeviceRng(seed, index)),
        hr(Uniform(rng, 62, 88), 1.2, 55, 100),
        spo2(Uniform(rng, 96.5, 99), 0.35, 94, 100),
        temp(Uniform(rng, 36.5, 37.0), 0.03, 36.0, 37.5),
        systolic(Uniform(rng, 110, 128), 1.0, 100, 140),
        diastolic(Uniform(rng, 70, 82), 0.8, 60, 90) {
    id = options.device_prefix + std::to_string(index + 1);
    vitals_topic = mqtt::string_ref(options.topic_root + "/" + id + "/vitals");
    status_topic = mqtt::string_ref(options.topic_root + "/" + id + "/status");
    if (options.patient_id) {
      // dump() escapes whatever the prefix holds into a valid JSON string.
      patient_field = "\"patient_id\":" +
                      nlohmann::json(options.patient_prefix + std::to_string(index + 1)).dump() +
                      ",";
    }
  }

  std::string id;
  mqtt::string_ref vitals_topic;
  mqtt::string_ref status_topic;
  std::string patient_field;  // `"patient_id":"P-3",` or empty
  Connection* connection{nullptr};
  std::uint64_t messages{0};  // generated so far; the next seq is seq_start + messages
  std::mt19937_64 rng;
  Walk hr;
  Walk spo2;
  Walk temp;
  Walk systolic;
  Walk diastolic;
};

// ISO 8601 UTC with exactly six fraction digits. The date part is cached per second:
// gmtime_r for every message would be most of the formatting cost at high rates.
class TimestampFormatter {
 public:
  // Writes 27 characters and returns them.
  std::string_view Format(std::chrono::system_clock::time_point now) {
    const auto micros = duration_cast<microseconds>(now.time_since_epoch()).count();
    const std::int64_t seconds = micros / 1'000'000;
    const auto fraction = static_cast<int>(micros % 1'000'000);
    if (seconds != cached_second_) {
      cached_second_ = seconds;
      const auto as_time_t = static_cast<std::time_t>(seconds);
      std::tm utc{};
      gmtime_r(&as_time_t, &utc);
      std::snprintf(buffer_, sizeof buffer_, "%04d-%02d-%02dT%02d:%02d:%02d", utc.tm_year + 1900,
                    utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    }
    std::snprintf(buffer_ + 19, sizeof buffer_ - 19, ".%06dZ", fraction);
    return std::string_view(buffer_, 27);
  }

 private:
  std::int64_t cached_second_{-1};
  char buffer_[40]{};
};

// ---- connections --------------------------------------------------------------------------

// Counters shared by the pacer (this thread), Paho's callback thread and the progress line.
struct Shared {
  std::atomic<std::uint64_t> sent{0};  // generated (each used a seq): published or failed
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> failed{0};  // refused by Paho, connection down, or on_failure
  std::atomic<std::uint64_t> failed_disconnected{0};  // of those: not sent, connection down
  std::atomic<std::uint64_t> status_sent{0};
  std::atomic<std::uint64_t> status_acked{0};
  std::atomic<std::uint64_t> status_failed{0};
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> connections_lost{0};
  std::atomic<bool> closing{false};  // no `online` on reconnect once the end has begun

  // The pacer (or the drain) waits here for acks; callbacks notify only when it does.
  std::mutex mutex;
  std::condition_variable acks;
  std::atomic<bool> waiting{false};

  std::mutex error_mutex;
  std::string first_error;
  std::uint64_t errors{0};

  void NoteError(const std::string& error) {
    std::lock_guard lock(error_mutex);
    if (errors++ == 0) first_error = error;
  }
  void Notify() {
    // Paired with the waiter's store of `waiting` before it checks its condition (both
    // seq_cst): either it sees our decrement or we see it waiting and wake it.
    if (waiting.load()) {
      std::lock_guard lock(mutex);
      acks.notify_all();
    }
  }
  // Waits until `done()` or `deadline`; false on timeout.
  template <typename Predicate>
  bool WaitUntil(Clock::time_point deadline, Predicate done) {
    std::unique_lock lock(mutex);
    waiting.store(true);
    bool result = true;
    while (!done()) {
      if (Clock::now() >= deadline) {
        result = false;
        break;
      }
      // Bounded: a missed notification (or a signal) costs at most this much.
      acks.wait_until(lock, std::min(deadline, Clock::now() + milliseconds(50)));
    }
    waiting.store(false);
    return result;
  }
};

// Acks of the retained status messages, counted apart from the vitals.
class StatusListener final : public mqtt::iaction_listener {
 public:
  StatusListener(Shared& shared, std::atomic<std::int64_t>& inflight)
      : shared_(shared), inflight_(inflight) {}
  void on_success(const mqtt::token&) override {
    shared_.status_acked.fetch_add(1);
    inflight_.fetch_sub(1);
    shared_.Notify();
  }
  void on_failure(const mqtt::token& token) override {
    shared_.status_failed.fetch_add(1);
    shared_.NoteError("status publish failed: " +
                      mqtt::exception::error_str(token.get_return_code()));
    inflight_.fetch_sub(1);
    shared_.Notify();
  }

 private:
  Shared& shared_;
  std::atomic<std::int64_t>& inflight_;
};

// One MQTT client connection carrying the traffic of one or more devices. It is its own
// listener for the vitals: Paho calls on_success at the PUBACK (QoS 1), PUBCOMP (QoS 2) or
// once a QoS 0 message is written, and on_failure when the message is lost with the
// connection.
class Connection final : public mqtt::iaction_listener {
 public:
  Connection(Shared& shared, const Options& options, std::string client_id)
      : shared_(shared),
        options_(options),
        client_(options.url, client_id, CreateOptions(options)),
        status_listener_(shared, status_inflight) {}

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::vector<Device*> devices;
  std::atomic<std::int64_t> inflight{0};  // vitals published, not yet acked or failed
  std::atomic<std::int64_t> status_inflight{0};
  std::atomic<bool> up{false};

  // Paho refuses a publish (MQTT error -12, "no more messages can be buffered") once
  // maxBufferedMessages publishes wait in its command queue, even while connected; the C++
  // default is 100, which a few ms of a busy send thread exceed at 20k msgs/s. Our in-flight
  // count includes the queued ones, so a buffer larger than our bound is never the limit.
  static mqtt::create_options CreateOptions(const Options& options) {
    return mqtt::create_options_builder()
        .max_buffered_messages(static_cast<int>(options.max_inflight + 2 * options.devices + 16))
        .finalize();
  }

  // Starts connecting; Paho reconnects on its own after a loss.
  mqtt::token_ptr Connect() {
    auto builder = mqtt::connect_options_builder()
                       .clean_session(true)
                       .keep_alive_interval(std::chrono::seconds(30))
                       .connect_timeout(std::chrono::seconds(
                           std::max(1L, std::lround(options_.connect_timeout))))
                       .automatic_reconnect(std::chrono::seconds(1), std::chrono::seconds(5))
                       // Our own bound applies first; the margin is for the statuses.
                       .max_inflight(static_cast<int>(std::min<std::size_t>(
                           options_.max_inflight + 2 * devices.size() + 16, 65535)));
    if (!options_.username.empty()) builder.user_name(options_.username);
    if (!options_.password.empty()) builder.password(options_.password);
    if (devices.size() == 1) {
      // A will speaks for one device only: pooled connections have none.
      builder.will(mqtt::message(devices.front()->status_topic, "offline", 1, true));
    }
    client_.set_connected_handler([this](const std::string&) { OnConnected(); });
    client_.set_connection_lost_handler([this](const std::string& cause) {
      up.store(false);
      shared_.connections_lost.fetch_add(1);
      shared_.NoteError("connection " + client_.get_client_id() + " lost" +
                        (cause.empty() ? std::string() : ": " + cause));
      shared_.Notify();  // a pacer waiting for this connection's acks moves on
    });
    return client_.connect(builder.finalize());
  }

  // Publishes one vitals message; false when it failed at once.
  bool Publish(const Device& device, const char* payload, std::size_t size) {
    if (!up.load()) {
      shared_.failed.fetch_add(1);
      shared_.failed_disconnected.fetch_add(1);
      return false;
    }
    // Counted before the call: the ack may arrive before publish() returns.
    inflight.fetch_add(1);
    try {
      client_.publish(device.vitals_topic, payload, size, options_.qos, false, nullptr, *this);
      return true;
    } catch (const mqtt::exception& error) {
      inflight.fetch_sub(1);
      shared_.failed.fetch_add(1);
      shared_.NoteError(std::string("publish: ") + error.what());
      return false;
    }
  }

  // Retained status of every device of this connection, at QoS 1.
  void PublishStatus(std::string_view status) {
    for (const Device* device : devices) {
      status_inflight.fetch_add(1);
      shared_.status_sent.fetch_add(1);
      try {
        client_.publish(device->status_topic, status.data(), status.size(), 1, true, nullptr,
                        status_listener_);
      } catch (const mqtt::exception& error) {
        status_inflight.fetch_sub(1);
        shared_.status_failed.fetch_add(1);
        shared_.NoteError("status publish: " + std::string(error.what()));
      }
    }
  }

  // Disconnects (Paho waits up to `timeout` for its own outstanding work) and waits for it.
  // Starts a clean disconnect (no will); Paho gives outstanding work up to `timeout`.
  // Null when there is nothing to disconnect.
  mqtt::token_ptr StartDisconnect(milliseconds timeout) {
    up.store(false);
    try {
      if (client_.is_connected()) return client_.disconnect(static_cast<int>(timeout.count()));
    } catch (const mqtt::exception& error) {
      shared_.NoteError("disconnect: " + std::string(error.what()));
    }
    return nullptr;
  }

  std::string ClientId() const { return client_.get_client_id(); }

  void on_success(const mqtt::token&) override {
    shared_.acked.fetch_add(1);
    inflight.fetch_sub(1);
    shared_.Notify();
  }
  void on_failure(const mqtt::token& token) override {
    shared_.failed.fetch_add(1);
    shared_.NoteError("delivery failed: " + mqtt::exception::error_str(token.get_return_code()));
    inflight.fetch_sub(1);
    shared_.Notify();
  }

 private:
  // Paho calls this after the first connect and after every automatic reconnect: a device
  // announces itself each time, since its will may have marked it offline in between.
  void OnConnected() {
    shared_.connects.fetch_add(1);
    if (!shared_.closing.load()) PublishStatus("online");
    up.store(true);
  }

  Shared& shared_;
  const Options& options_;
  mqtt::async_client client_;
  StatusListener status_listener_;
};

// ---- progress and summary -----------------------------------------------------------------

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::int64_t TotalInflight(const std::vector<std::unique_ptr<Connection>>& connections) {
  std::int64_t total = 0;
  for (const auto& c : connections) total += c->inflight.load();
  return total;
}

// Prints a line to stderr once per second until stopped.
class ProgressPrinter {
 public:
  ProgressPrinter(const Shared& shared, const std::vector<std::unique_ptr<Connection>>& conns,
                  Clock::time_point start)
      : shared_(shared), connections_(conns), start_(start), thread_([this] { Run(); }) {}
  ~ProgressPrinter() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::uint64_t last_sent = 0;
    auto last = start_;
    std::unique_lock lock(mutex_);
    for (auto next = start_ + std::chrono::seconds(1); !stop_; next += std::chrono::seconds(1)) {
      if (wake_.wait_until(lock, next, [this] { return stop_; })) break;
      const auto now = Clock::now();
      const std::uint64_t sent = shared_.sent.load();
      const double rate =
          static_cast<double>(sent - last_sent) / std::chrono::duration<double>(now - last).count();
      std::fprintf(stderr,
                   "[%7.1fs] sent %llu  acked %llu  in flight %lld  failed %llu  rate %.1f/s\n",
                   std::chrono::duration<double>(now - start_).count(),
                   static_cast<unsigned long long>(sent),
                   static_cast<unsigned long long>(shared_.acked.load()),
                   static_cast<long long>(TotalInflight(connections_)),
                   static_cast<unsigned long long>(shared_.failed.load()), rate);
      last_sent = sent;
      last = now;
    }
  }

  const Shared& shared_;
  const std::vector<std::unique_ptr<Connection>>& connections_;
  Clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_{false};
  std::thread thread_;  // last: starts after the members it reads
};

// ---- the run ------------------------------------------------------------------------------

class Simulator {
 public:
  explicit Simulator(const Options& options) : options_(options) {
    const std::uint64_t seed = options.seed ? *options.seed : std::random_device{}();
    seed_ = seed;
    devices_.reserve(options.devices);
    for (std::size_t i = 0; i < options.devices; ++i) {
      devices_.push_back(std::make_unique<Device>(i, seed, options));
    }
    const bool per_device = options.connections == options.devices;
    const std::string pool_prefix =
        options.device_prefix + "pool-" + std::to_string(getpid()) + "-";
    for (std::size_t c = 0; c < options.connections; ++c) {
      // A device's own connection uses the device id as MQTT client id, as a monitor would.
      connections_.push_back(std::make_unique<Connection>(
          shared_, options, per_device ? devices_[c]->id : pool_prefix + std::to_string(c + 1)));
    }
    for (std::size_t i = 0; i < devices_.size(); ++i) {
      Connection& connection = *connections_[i % connections_.size()];
      connection.devices.push_back(devices_[i].get());
      devices_[i]->connection = &connection;
    }
  }

  int Run() {
    if (!ConnectAll()) {
      Close();
      return kExitFailure;
    }
    const auto start = Clock::now();
    const double cpu_start = CpuSeconds();
    Clock::time_point send_end;
    {
      std::optional<ProgressPrinter> progress;
      if (!options_.quiet) progress.emplace(shared_, connections_, start);
      send_end = Pace(start);
      Drain();
    }
    Close();
    const auto end = Clock::now();
    return Summarize(start, send_end, end, CpuSeconds() - cpu_start);
  }

 private:
  bool ConnectAll() {
    const auto timeout =
        duration_cast<milliseconds>(std::chrono::duration<double>(options_.connect_timeout));
    const auto deadline = Clock::now() + timeout;
    std::vector<mqtt::token_ptr> tokens;
    try {
      for (auto& connection : connections_) tokens.push_back(connection->Connect());
    } catch (const mqtt::exception& error) {
      std::cerr << kProgram << ": cannot connect to " << options_.url << ": " << error.what()
                << '\n';
      return false;
    }
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      try {
        const auto left =
            std::max(milliseconds(1), duration_cast<milliseconds>(deadline - Clock::now()));
        if (!tokens[i]->wait_for(left)) {
          std::cerr << kProgram << ": " << connections_[i]->ClientId() << " not connected to "
                    << options_.url << " after " << options_.connect_timeout << " s\n";
          return false;
        }
      } catch (const mqtt::exception& error) {
        std::cerr << kProgram << ": " << connections_[i]->ClientId() << " cannot connect to "
                  << options_.url << ": " << error.what();
        // MQTT 3.1.1 CONNACK codes 4 and 5; mosquitto answers 5 to a wrong password too.
        if (error.get_return_code() == 4 || error.get_return_code() == 5) {
          std::cerr << " (refused: check --username/--password or MQTT_USERNAME/MQTT_PASSWORD)";
        }
        std::cerr << '\n';
        return false;
      }
      if (Stopping()) return false;
    }
    // The connected handler sets `up` and queues the `online` statuses right after the
    // token completes; vitals wait for both so that a device is online before it reports.
    const bool ready = shared_.WaitUntil(deadline, [this] {
      for (const auto& c : connections_) {
        if (!c->up.load() || c->status_inflight.load() > 0) return Stopping();
      }
      return true;
    });
    if (!ready) {
      std::cerr << kProgram << ": the online statuses were not acknowledged within "
                << options_.connect_timeout << " s\n";
      return false;
    }
    if (!options_.quiet) {
      std::cerr << kProgram << ": " << devices_.size() << " devices on " << connections_.size()
                << " connection(s) to " << options_.url
                << (connections_.size() == devices_.size() ? " (one per device, with wills)"
                                                           : " (pooled, no wills)")
                << ", " << options_.rate << " msgs/s\n";
    }
    return !Stopping();
  }

  // Sends until the duration or count is reached or a signal arrives; returns the end of
  // the sending window.
  Clock::time_point Pace(Clock::time_point start) {
    const double interval_ns = 1e9 / options_.rate;
    const auto end =
        start + duration_cast<nanoseconds>(std::chrono::duration<double>(options_.duration));
    const bool timed = options_.duration > 0;
    Clock::time_point anchor = start;  // the schedule restarts here after a slip
    std::uint64_t anchor_k = 0;
    std::uint64_t k = 0;
    Clock::time_point last_send = start;  // after the last publish
    Clock::time_point last_wake = start;
    // Catching up after a late wake-up goes at most twice as fast as the schedule: no
    // tick carries more than two ticks' worth of messages.
    const auto tick_budget = static_cast<std::uint64_t>(
        std::max(1.0, std::ceil(2 * options_.rate * std::chrono::duration<double>(kTick).count())));
    Clock::time_point tick_start = start;
    std::uint64_t tick_sent = 0;
    while (!Stopping()) {
      const auto due =
          anchor + nanoseconds(std::llround(static_cast<double>(k - anchor_k) * interval_ns));
      if (options_.count > 0 && k >= options_.count) {
        // The window ends where message `count` would be due: each message occupies one
        // interval, so an on-schedule run achieves exactly the target rate.
        SleepUntil(due);
        return Stopping() ? Clock::now() : std::max(due, last_send);
      }
      if (timed && due >= end) {
        SleepUntil(end);
        return Stopping() ? Clock::now() : end;
      }
      const auto now = Clock::now();
      if (due > now) {
        // At most one wake-up per kTick: above 1000 msgs/s the messages due within a tick
        // go out together instead of costing a nanosleep each.
        SleepUntil(std::max(due, last_wake + kTick));
        last_wake = Clock::now();
        continue;
      }
      if (now - due > kMaxLag) {
        behind_ += now - due;
        ++slips_;
        anchor = now;
        anchor_k = k;
      }
      if (now - tick_start >= kTick) {
        tick_start = now;
        tick_sent = 0;
      }
      if (tick_sent >= tick_budget) {
        SleepUntil(tick_start + kTick);
        continue;
      }
      ++tick_sent;
      if (!Send(k)) break;  // a signal while waiting for an ack slot
      last_send = Clock::now();
      ++k;
    }
    return Clock::now();
  }

  // Sleeps in slices so that a signal is noticed within kMaxSleep.
  static void SleepUntil(Clock::time_point until) {
    while (!Stopping()) {
      const auto now = Clock::now();
      if (now >= until) return;
      std::this_thread::sleep_until(std::min(until, now + kMaxSleep));
    }
  }

  // Generates and publishes message k; false when stopped before it could be sent.
  bool Send(std::uint64_t k) {
    Device& device = *devices_[k % devices_.size()];
    Connection& connection = *device.connection;
    // Back-pressure: wait for an ack slot on this device's connection.
    if (connection.inflight.load() >= static_cast<std::int64_t>(options_.max_inflight)) {
      shared_.WaitUntil(Clock::time_point::max(), [&] {
        return connection.inflight.load() < static_cast<std::int64_t>(options_.max_inflight) ||
               !connection.up.load() || Stopping();
      });
      if (Stopping()) return false;
    }
    ++device.messages;
    const std::uint64_t seq = options_.seq_start + device.messages - 1;
    const bool critical =
        options_.critical_every > 0 && device.messages % options_.critical_every == 0;
    // The walk moves on every message, so a critical reading is a spike, not a jump.
    int hr = static_cast<int>(std::lround(device.hr.Step(device.rng)));
    const int spo2 = static_cast<int>(std::lround(device.spo2.Step(device.rng)));
    const double temp = device.temp.Step(device.rng);
    const int systolic = static_cast<int>(std::lround(device.systolic.Step(device.rng)));
    const int diastolic =
        std::min(static_cast<int>(std::lround(device.diastolic.Step(device.rng))), systolic - 25);
    if (critical) {
      hr = kHeartRateCritical;
      ++critical_;
    }
    // Taken last, right before publishing: latency measurements start here.
    const std::string_view timestamp = timestamps_.Format(std::chrono::system_clock::now());
    char payload[kMaxPayload];
    const int size = std::snprintf(
        payload, sizeof payload,
        "{\"hr\":%d,\"spo2\":%d,\"temp\":%.1f,\"bp\":\"%d/%d\",%s\"timestamp\":\"%.*s\","
        "\"seq\":%llu}",
        hr, spo2, temp, systolic, diastolic, device.patient_field.c_str(),
        static_cast<int>(timestamp.size()), timestamp.data(), static_cast<unsigned long long>(seq));
    shared_.sent.fetch_add(1);
    if (size <= 0 || static_cast<std::size_t>(size) >= sizeof payload) {
      // Cannot happen with kMaxPrefix (JSON escaping at most sextuples the prefix).
      shared_.failed.fetch_add(1);
      shared_.NoteError("payload too large");
      return true;
    }
    connection.Publish(device, payload, static_cast<std::size_t>(size));
    return true;
  }

  // Waits (bounded) for the outstanding acks of the vitals.
  void Drain() {
    const auto deadline =
        Clock::now() + duration_cast<milliseconds>(std::chrono::duration<double>(options_.drain));
    const bool drained = shared_.WaitUntil(deadline, [this] {
      // A second signal exits in the handler; the first only ended the sending.
      return TotalInflight(connections_) == 0;
    });
    if (!drained && !options_.quiet) {
      std::cerr << kProgram << ": " << TotalInflight(connections_)
                << " message(s) still unacknowledged after " << options_.drain << " s\n";
    }
    drained_ = drained;
  }

  // Retained `offline` for every device whose connection is up, then disconnects.
  void Close() {
    shared_.closing.store(true);
    std::uint64_t skipped = 0;
    for (auto& connection : connections_) {
      if (connection->up.load()) {
        connection->PublishStatus("offline");
      } else {
        skipped += connection->devices.size();
      }
    }
    if (skipped > 0) {
      // Their connection is down: a will (one connection per device) has said it already.
      shared_.status_sent.fetch_add(skipped);
      shared_.status_failed.fetch_add(skipped);
      shared_.NoteError(std::to_string(skipped) + " offline status(es) not sent: not connected");
    }
    // A broker that did not ack the vitals in --drain will hardly ack these: do not make a
    // stuck broker cost another 5 s.
    const auto status_wait = drained_ ? std::chrono::seconds(5) : std::chrono::seconds(1);
    shared_.WaitUntil(Clock::now() + status_wait, [this] {
      for (const auto& c : connections_) {
        if (c->status_inflight.load() > 0) return false;
      }
      return true;
    });
    // All at once, so that a stuck broker costs the timeout once, not once per connection.
    constexpr auto kDisconnectTimeout = milliseconds(1000);
    std::vector<mqtt::token_ptr> tokens;
    for (auto& connection : connections_) {
      tokens.push_back(connection->StartDisconnect(kDisconnectTimeout));
    }
    const auto deadline = Clock::now() + 2 * kDisconnectTimeout;
    for (const auto& token : tokens) {
      if (!token) continue;
      try {
        token->wait_until(deadline);
      } catch (const mqtt::exception& error) {
        shared_.NoteError("disconnect: " + std::string(error.what()));
      }
    }
  }

  int Summarize(Clock::time_point start, Clock::time_point send_end, Clock::time_point end,
                double cpu) {
    const std::uint64_t sent = shared_.sent.load();
    const std::uint64_t acked = shared_.acked.load();
    const std::uint64_t failed = shared_.failed.load();
    const std::uint64_t unacked = sent - std::min(sent, acked + failed);
    const std::uint64_t status_sent = shared_.status_sent.load();
    const std::uint64_t status_acked = shared_.status_acked.load();
    const double sending = std::max(1e-9, std::chrono::duration<double>(send_end - start).count());
    const double total = std::chrono::duration<double>(end - start).count();
    const double achieved = static_cast<double>(sent) / sending;
    std::uint64_t per_device_min = UINT64_MAX, per_device_max = 0;
    for (const auto& device : devices_) {
      per_device_min = std::min(per_device_min, device->messages);
      per_device_max = std::max(per_device_max, device->messages);
    }
    const bool per_device = connections_.size() == devices_.size();
    const bool all_acked = acked == sent && status_acked == status_sent;
    const int exit_code = all_acked ? 0 : kExitFailure;
    const double behind_ms = std::chrono::duration<double, std::milli>(behind_).count();

    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(1);
    out << "nilecare-devsim summary\n"
        << "  broker             " << options_.url << " (vitals QoS " << options_.qos << ")\n"
        << "  devices            " << devices_.size() << " on " << connections_.size()
        << (per_device ? " connection(s), one per device, each with a last will\n"
                       : " pooled connection(s), no last wills\n")
        << "  sent               " << sent << " (" << per_device_min;
    if (per_device_max != per_device_min) out << ".." << per_device_max;
    out << " per device";
    if (per_device_max > 0) {
      out << ", highest seq " << options_.seq_start + per_device_max - 1;
    }
    out << ")\n"
        << "  acked              " << acked << '\n'
        << "  failed             " << failed << " (" << shared_.failed_disconnected.load()
        << " not sent: connection down)\n"
        << "  unacked            " << unacked << " (still in flight at the end)\n"
        << "  critical readings  " << critical_ << " (hr=" << kHeartRateCritical << ")\n"
        << "  sending time       " << std::setprecision(3) << sending << " s (total " << total
        << " s)\n"
        << "  achieved rate      " << std::setprecision(1) << achieved << " msgs/s (target "
        << options_.rate << ")\n"
        << "  behind schedule    " << behind_ms << " ms in " << slips_ << " slip(s)\n"
        << "  statuses           " << status_acked << " of " << status_sent
        << " acked (online on each connect, offline at the end)\n"
        << "  connections lost   " << shared_.connections_lost.load() << " (reconnects "
        << shared_.connects.load() -
               std::min<std::uint64_t>(shared_.connects.load(), connections_.size())
        << ")\n"
        << "  cpu                " << std::setprecision(2) << cpu << " s (" << std::setprecision(1)
        << 100.0 * cpu / std::max(1e-9, total) << " % of one core)\n";
    {
      std::lock_guard lock(shared_.error_mutex);
      if (shared_.errors > 0) {
        out << "  errors             " << shared_.errors << ", first: " << shared_.first_error
            << '\n';
      }
    }
    out << "  result             "
        << (all_acked ? "every message acknowledged" : "NOT every message acknowledged") << '\n';
    out << std::setprecision(1) << "RESULT devices=" << devices_.size()
        << " connections=" << connections_.size() << " sent=" << sent << " acked=" << acked
        << " failed=" << failed << " unacked=" << unacked << " critical=" << critical_
        << " sending_s=" << std::setprecision(3) << sending << " rate=" << std::setprecision(1)
        << achieved << " target_rate=" << options_.rate << " behind_ms=" << behind_ms
        << " cpu_s=" << std::setprecision(2) << cpu << " exit=" << exit_code << '\n';
    std::cout << out.str() << std::flush;

    if (!options_.summary_json.empty()) {
      const nlohmann::json summary = {
          {"url", options_.url},
          {"qos", options_.qos},
          {"devices", devices_.size()},
          {"connections", connections_.size()},
          {"per_device_connections", per_device},
          {"sent", sent},
          {"acked", acked},
          {"failed", failed},
          {"failed_disconnected", shared_.failed_disconnected.load()},
          {"unacked", unacked},
          {"critical", critical_},
          {"sent_per_device_min", per_device_min},
          {"sent_per_device_max", per_device_max},
          {"seq_start", options_.seq_start},
          {"sending_seconds", sending},
          {"total_seconds", total},
          {"target_rate", options_.rate},
          {"achieved_rate", achieved},
          {"behind_schedule_ms", behind_ms},
          {"schedule_slips", slips_},
          {"status_sent", status_sent},
          {"status_acked", status_acked},
          {"connections_lost", shared_.connections_lost.load()},
          {"cpu_seconds", cpu},
          {"seed", seed_},
          {"exit_code", exit_code},
      };
      std::ofstream file(options_.summary_json);
      file << summary.dump(2) << '\n';
      if (!file.flush()) {
        std::cerr << kProgram << ": cannot write " << options_.summary_json << '\n';
        return kExitFailure;
      }
    }
    return exit_code;
  }

  const Options& options_;
  std::uint64_t seed_{0};
  Shared shared_;
  std::vector<std::unique_ptr<Device>> devices_;
  // Declared after shared_ and devices_: destroyed first, so no Paho callback outlives them.
  std::vector<std::unique_ptr<Connection>> connections_;
  TimestampFormatter timestamps_;
  std::uint64_t critical_{0};
  Clock::duration behind_{};
  std::uint64_t slips_{0};
  bool drained_{true};
};

int Run(int argc, char** argv) {
  int exit_code = 0;
  const auto options = nilecare::tools::ParseCommandLine(argc, argv, ParseArgs, kProgram, kUsage,
                                                           exit_code);
  if (!options) return exit_code;
  InstallSignalHandlers();
  Simulator simulator(*options);
  return simulator.Run();
}

}  // namespace
}  // namespace nilecare::tools

int main(int argc, char** argv) {
  return nilecare::tools::RunMain(nilecare::tools::kProgram,
                                  [&] { return nilecare::tools::Run(argc, argv); });
}
