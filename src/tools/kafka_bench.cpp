// nilecare-kafka-bench: load generator and baselines for the domain-event benchmarks
// (bench/events.sh).
//
//   produce --engine raw|gateway   as many events as it can (or --rate per second) with at most
//                                  --window produced and not yet reported, then waits for every
//                                  delivery report: events/s, delivery latency (produce call ->
//                                  delivery report) p50/p99/max, failures, CPU per event.
//       raw      plain librdkafka C producer with the settings kafka::EventProducer uses
//                (enable.idempotence, acks=all, gzip level 1, linger.ms 5, message.timeout.ms 10000,
//                queue.buffering.max.messages 100000, the same message.max.bytes, one poll
//                thread for delivery reports) and pre-serialized gateway envelopes (a pool of
//                1,024 built once, same size, same three headers, key = the patient id): the
//                floor set by librdkafka and the broker.
//       gateway  kafka::EventProducer, and for every event core::NewDomainEvent + EventRecord
//                (UUIDs, timestamp, envelope JSON, headers, partition key): the gateway's
//                producer path without HTTP. --threads T produces from T threads.
//   fill                           --events gateway envelopes of appointment.scheduled with
//                                  data.patient_id = PAT-bench-<i % patients>, through the gateway
//                                  engine, for the consumer benchmark.
//   consume                        plain librdkafka consumer (a fresh --group, from the beginning,
//                                  the gateway consumer's fetch settings and per-record offset
//                                  store) reading --events records: events/s from the first
//                                  record to the last. --parse also parses each record as a
//                                  DomainEvent (core::ParseDomainEvent).
//
// The last line of output is machine-readable: `RESULT key=value ...`. Exit code 0 when every
// event was delivered (consume: read); 1 otherwise.

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "bench_stats.hpp"
#include "flag_reader.hpp"
#include "nilecare/config/settings.hpp"
#include "nilecare/core/domain_event.hpp"
#include "nilecare/kafka/event_producer.hpp"
#include "nilecare/observability/log.hpp"
#include "nilecare/observability/metrics.hpp"

namespace nilecare::tools {
namespace {

constexpr std::string_view kProgram = "nilecare-kafka-bench";
constexpr int kExitFailure = 1;
constexpr std::size_t kRawPool = 1024;
// What kafka::EventProducer sets for message.max.bytes with the default settings
// (consumer.max_event_bytes 1 MiB + 64 KiB of framing).
constexpr std::size_t kGatewayMessageMaxBytes = 1024 * 1024 + 64 * 1024;

constexpr std::string_view kUsage =
    "usage: nilecare-kafka-bench produce --engine raw|gateway --brokers B --events N\n"
    "                            [--topic appointment.events] [--value-bytes 600]\n"
    "                            [--patients 1000] [--window 100000] [--threads 1]\n"
    "                            [--rate 0] [--label L]\n"
    "       nilecare-kafka-bench fill --brokers B --topic T --events N --patients P\n"
    "                            [--value-bytes 600] [--window 100000]\n"
    "       nilecare-kafka-bench consume --brokers B --topic T --events N --group G\n"
    "                            [--parse] [--timeout 120] [--label L]\n"
    "\n"
    "Benchmarks the gateway's Kafka paths against plain librdkafka (bench/events.sh).\n"
    "\n"
    "  --engine E         produce: raw (librdkafka C API, pre-serialized envelopes, the\n"
    "                     baseline) or gateway (kafka::EventProducer + DomainEvent per event)\n"
    "  --brokers B        bootstrap servers, host:port[,host:port...]\n"
    "  --events N         events to produce, or records to read\n"
    "  --topic T          topic (default appointment.events)\n"
    "  --value-bytes B    envelope size to pad to (default 600)\n"
    "  --patients P       distinct data.patient_id / keys, PAT-bench-<i % P> (default 1000)\n"
    "  --window W         at most W events produced and not yet reported (default 100000)\n"
    "  --threads T        gateway engine: producing threads (default 1)\n"
    "  --rate R           events/s in total, paced (default 0: as fast as possible)\n"
    "  --group G          consume: consumer group (use a fresh one per run)\n"
    "  --parse            consume: also parse each record as a DomainEvent\n"
    "  --timeout S        give up after S seconds (default 120)\n"
    "  --label L          printed in the RESULT line\n"
    "  --help             this text\n";

using Clock = std::chrono::steady_clock;

struct Options {
  std::string mode;
  std::string engine;
  std::string brokers;
  std::string topic{"appointment.events"};
  std::string group;
  std::string label;
  std::int64_t events{0};
  std::int64_t value_bytes{600};
  std::int64_t patients{1000};
  std::int64_t window{100000};
  std::int64_t threads{1};
  double rate{0};
  std::int64_t timeout_s{120};
  bool parse{false};
  bool help{false};
};

std::optional<Options> ParseArgs(int argc, char** argv, std::string& error) {
  Options o;
  FlagReader flags(argc, argv);
  while (flags.Next()) {
    const std::string_view arg = flags.Flag();
    if (flags.IsHelp()) {
      o.help = true;
      continue;
    }
    if (flags.TakeMode(o.mode)) {
      if (!flags.Error().empty()) {
        error = flags.Error();
        return std::nullopt;
      }
      continue;
    }
    if (flags.Switch("--parse", o.parse)) continue;
    const auto flag_value = flags.Value();
    if (!flag_value) {
      error = flags.Error();
      return std::nullopt;
    }
    const std::string_view value = *flag_value;
    bool ok = true;
    if (arg == "--engine") {
      o.engine = value;
      ok = o.engine == "raw" || o.engine == "gateway";
    } else if (arg == "--brokers") {
      o.brokers = value;
      ok = !o.brokers.empty();
    } else if (arg == "--topic") {
      o.topic = value;
      ok = !o.topic.empty();
    } else if (arg == "--group") {
      o.group = value;
      ok = !o.group.empty();
    } else if (arg == "--label") {
      o.label = value;
    } else if (arg == "--events") {
      ok = ParseNumber(value, o.events) && o.events > 0;
    } else if (arg == "--value-bytes") {
      ok = ParseNumber(value, o.value_bytes) && o.value_bytes > 0 && o.value_bytes <= 200000;
    } else if (arg == "--patients") {
      ok = ParseNumber(value, o.patients) && o.patients > 0;
    } else if (arg == "--window") {
      ok = ParseNumber(value, o.window) && o.window > 0;
    } else if (arg == "--threads") {
      ok = ParseNumber(value, o.threads) && o.threads > 0 && o.threads <= 64;
    } else if (arg == "--rate") {
      ok = ParseNumber(value, o.rate) && o.rate >= 0;
    } else if (arg == "--timeout") {
      ok = ParseNumber(value, o.timeout_s) && o.timeout_s > 0;
    } else {
      error = flags.Unknown();
      return std::nullopt;
    }
    if (!ok) {
      error = "bad value for " + std::string(arg) + ": " + std::string(value);
      return std::nullopt;
    }
  }
  if (o.help) return o;
  if (o.mode != "produce" && o.mode != "fill" && o.mode != "consume") {
    error = "the first argument is the mode: produce, fill or consume";
    return std::nullopt;
  }
  if (o.brokers.empty() || o.events == 0) {
    error = "--brokers and --events are required";
    return std::nullopt;
  }
  if (o.mode == "produce" && o.engine.empty()) {
    error = "produce needs --engine raw|gateway";
    return std::nullopt;
  }
  if (o.mode == "fill") o.engine = "gateway";
  if (o.mode == "consume" && o.group.empty()) {
    error = "consume needs --group";
    return std::nullopt;
  }
  if (o.engine == "raw" && o.threads != 1) {
    error = "--threads is for the gateway engine";
    return std::nullopt;
  }
  return o;
}

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// ---- events --------------------------------------------------------------------------------

// A notes string that makes the envelopes --value-bytes long: lower-case words, so that compression
// sees text rather than a run of one byte.
std::string Filler(std::size_t size) {
  static constexpr std::string_view kWords[] = {
      "follow", "up", "review", "blood", "pressure", "clinic", "room", "bring", "previous",
      "results", "fasting", "required", "morning", "slot", "confirmed", "by", "phone"};
  std::mt19937 rng(42);
  std::string text;
  while (text.size() < size) {
    if (!text.empty()) text += ' ';
    text += kWords[rng() % std::size(kWords)];
  }
  text.resize(size);
  return text;
}

class EventFactory {
 public:
  EventFactory(std::int64_t value_bytes, std::int64_t patients) : patients_(patients) {
    // One event without notes tells how much padding the size asks for.
    const auto sample = Make(0);
    const auto size = static_cast<std::int64_t>(sample.value.size());
    filler_ = Filler(static_cast<std::size_t>(std::max<std::int64_t>(value_bytes - size, 0)));
  }

  static std::string Patient(std::int64_t i, std::int64_t patients) {
    return "PAT-bench-" + std::to_string(i % patients);
  }

  // The gateway's per-event work: a new DomainEvent (id, correlation id, timestamp) and its
  // record (envelope JSON, headers, key = data.patient_id).
  kafka::ProduceRecord Make(std::int64_t i, const std::string& topic = "appointment.events") const {
    nlohmann::json data = {{"patient_id", Patient(i, patients_)},
                           {"appointment_id", "APT-" + std::to_string(i)},
                           {"doctor_name", "Dr. Bench"},
                           {"status", "scheduled"},
                           {"scheduled_at", "2026-12-04T09:30:00Z"},
                           {"notes", filler_}};
    auto event = core::NewDomainEvent("appointment.scheduled", "nilecare-gateway", {},
                                      std::move(data));
    event.user_id = "USR-bench";
    return kafka::EventRecord(event, topic);
  }

 private:
  std::int64_t patients_;
  std::string filler_;
};

// ---- delivery bookkeeping --------------------------------------------------------------------

struct Tally {
  explicit Tally(std::int64_t n) : sent_ns(static_cast<std::size_t>(n)), latency_us(static_cast<std::size_t>(n), 0) {}

  // Delivery report of event i (poll thread).
  void Report(std::int64_t i, bool ok, std::string_view error) {
    const auto now = NowNs();
    latency_us[static_cast<std::size_t>(i)] =
        ok ? std::max<std::int64_t>((now - sent_ns[static_cast<std::size_t>(i)]) / 1000, 0) : -1;
    if (ok) {
      delivered.fetch_add(1, std::memory_order_relaxed);
    } else {
      failed.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(mutex);
      if (first_error.empty()) first_error = error;
    }
    last_report_ns.store(now, std::memory_order_relaxed);
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    reported.fetch_add(1, std::memory_order_release);
  }

  std::vector<std::int64_t> sent_ns;
  std::vector<std::int64_t> latency_us;  // -1: failed
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::int64_t> reported{0};
  std::atomic<std::int64_t> delivered{0};
  std::atomic<std::int64_t> failed{0};
  std::atomic<std::int64_t> queue_full{0};
  std::atomic<std::int64_t> last_report_ns{0};
  std::atomic<std::int64_t> value_bytes{0};
  std::mutex mutex;
  std::string first_error;
};

// Paces event i of a run started at `start` (ns) at `rate` per second, and bounds the window.
void WaitTurn(Tally& tally, const Options& o, std::int64_t i, std::int64_t start) {
  if (o.rate > 0) {
    const auto due = start + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / o.rate);
    const auto now = NowNs();
    if (due > now) std::this_thread::sleep_for(std::chrono::nanoseconds(due - now));
  }
  while (tally.in_flight.load(std::memory_order_relaxed) >= o.window) {
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// ---- raw engine: librdkafka C API ------------------------------------------------------------

class RawProducer {
 public:
  RawProducer(const Options& o, Tally& tally) : tally_(tally) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    const std::pair<const char*, std::string> settings[] = {
        {"bootstrap.servers", o.brokers},
        {"client.id", "nilecare-kafka-bench-raw"},
        {"enable.idempotence", "true"},
        {"acks", "all"},
        // The gateway producer's defaults (config::KafkaProducerSettings): gzip at level 1.
        {"compression.type", config::KafkaProducerSettings{}.compression},
        {"compression.level", config::KafkaProducerSettings{}.compression == "gzip" ? "1" : "-1"},
        {"linger.ms", "5"},
        {"message.timeout.ms", "10000"},
        {"queue.buffering.max.messages", "100000"},
        {"message.max.bytes", std::to_string(kGatewayMessageMaxBytes)},
    };
    char errstr[512] = {};
    for (const auto& [name, value] : settings) {
      if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        throw std::runtime_error(std::string("librdkafka refused ") + name + ": " + errstr);
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, &RawProducer::OnDelivery);
    handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (handle_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("rd_kafka_new: ") + errstr);
    }
    // Like EventProducer: one thread serves the delivery reports.
    poll_ = std::thread([this] {
      while (!stopping_.load()) rd_kafka_poll(handle_, 100);
    });
  }

  ~RawProducer() {
    stopping_.store(true);
    if (poll_.joinable()) poll_.join();
    rd_kafka_flush(handle_, 10000);
    rd_kafka_destroy(handle_);
  }

  // Queues one record; retries on a full queue after a short wait (the poll thread drains it).
  void Produce(std::int64_t i, const kafka::ProduceRecord& record, std::string_view key) {
    for (;;) {
      rd_kafka_headers_t* headers = rd_kafka_headers_new(record.headers.size());
      for (const auto& header : record.headers) {
        rd_kafka_header_add(headers, header.name.data(), static_cast<ssize_t>(header.name.size()),
                            header.value.data(), static_cast<ssize_t>(header.value.size()));
      }
      tally_.sent_ns[static_cast<std::size_t>(i)] = NowNs();
      tally_.in_flight.fetch_add(1, std::memory_order_relaxed);
      const auto err = rd_kafka_producev(
          handle_, RD_KAFKA_V_TOPIC(record.topic.c_str()),
          RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(record.value.data()), record.value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
          RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<std::intptr_t>(i))),
          RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;
      tally_.in_flight.fetch_sub(1, std::memory_order_relaxed);
      rd_kafka_headers_destroy(headers);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        tally_.in_flight.fetch_add(1, std::memory_order_relaxed);  // Report() takes it back
        tally_.Report(i, false, rd_kafka_err2str(err));
        return;
      }
      tally_.queue_full.fetch_add(1, std::memory_order_relaxed);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

 private:
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    auto& self = *static_cast<RawProducer*>(opaque);
    const auto i = static_cast<std::int64_t>(reinterpret_cast<std::intptr_t>(message->_private));
    self.tally_.Report(i, message->err == RD_KAFKA_RESP_ERR_NO_ERROR,
                       message->err == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : rd_kafka_err2str(message->err));
  }

  Tally& tally_;
  rd_kafka_t* handle_{nullptr};
  std::atomic<bool> stopping_{false};
  std::thread poll_;
};

// ---- produce / fill ------------------------------------------------------------------------------

int Produce(const Options& o) {
  const bool raw = o.engine == "raw";
  const std::string& topic = o.topic;
  Tally tally(o.events);
  EventFactory factory(o.value_bytes, o.patients);

  // raw: a pool of gateway envelopes built before the clock starts (distinct ids, so that compression
  // sees what it would see from the gateway); keys cycle over the patients.
  std::vector<kafka::ProduceRecord> pool;
  std::vector<std::string> keys;
  std::unique_ptr<RawProducer> raw_producer;
  std::unique_ptr<observability::MetricsRegistry> metrics;
  std::unique_ptr<kafka::EventProducer> producer;
  std::int64_t pool_bytes = 0;
  if (raw) {
    pool.reserve(kRawPool);
    for (std::size_t j = 0; j < kRawPool; ++j) {
      pool.push_back(factory.Make(static_cast<std::int64_t>(j), topic));
      pool_bytes += static_cast<std::int64_t>(pool.back().value.size());
    }
    for (std::int64_t p = 0; p < std::min<std::int64_t>(o.patients, 1 << 20); ++p) {
      keys.push_back(EventFactory::Patient(p, o.patients));
    }
    raw_producer = std::make_unique<RawProducer>(o, tally);
  } else {
    config::KafkaSettings settings;
    settings.brokers = {o.brokers};
    settings.client_id = "nilecare-kafka-bench-gateway";
    metrics = std::make_unique<observability::MetricsRegistry>();
    producer = std::make_unique<kafka::EventProducer>(settings, std::string(), *metrics);
    producer->Start();
  }

  const double cpu0 = CpuSeconds();
  const std::int64_t start = NowNs();
  const auto threads = raw ? 1 : o.threads;
  std::vector<std::thread> workers;
  std::atomic<std::int64_t> value_bytes{0};
  for (std::int64_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::int64_t bytes = 0;
      for (std::int64_t i = t; i < o.events; i += threads) {
        WaitTurn(tally, o, i, start);
        if (raw) {
          raw_producer->Produce(i, pool[static_cast<std::size_t>(i) % kRawPool],
                                keys[static_cast<std::size_t>(i % static_cast<std::int64_t>(keys.size()))]);
          continue;
        }
        for (;;) {
          // As POST /api/v1/events does: a new event, its record moved into Produce (a full
          // queue, rare with --window <= queue_max_messages, costs a new event).
          auto record = factory.Make(i, topic);
          const auto size = static_cast<std::int64_t>(record.value.size());
          tally.sent_ns[static_cast<std::size_t>(i)] = NowNs();
          tally.in_flight.fetch_add(1, std::memory_order_relaxed);
          const auto queued = producer->Produce(
              std::move(record), [&tally, i](const kafka::DeliveryReport& report) {
                tally.Report(i, report.Delivered(), report.error);
              });
          if (queued == kafka::EnqueueResult::kQueued) {
            bytes += size;
            break;
          }
          tally.in_flight.fetch_sub(1, std::memory_order_relaxed);
          if (queued != kafka::EnqueueResult::kQueueFull) {
            tally.in_flight.fetch_add(1, std::memory_order_relaxed);
            tally.Report(i, false, "not queued");
            break;
          }
          tally.queue_full.fetch_add(1, std::memory_order_relaxed);
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      }
      value_bytes.fetch_add(bytes);
    });
  }
  for (auto& worker : workers) worker.join();
  const std::int64_t produced_at = NowNs();
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  while (tally.reported.load(std::memory_order_acquire) < o.events && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const double cpu1 = CpuSeconds();
  const auto reported = tally.reported.load();
  if (producer) producer->Stop(std::chrono::milliseconds(1000));
  raw_producer.reset();

  const auto delivered = tally.delivered.load();
  const auto failed = tally.failed.load() + (o.events - reported);  // unreported = failed
  const double produce_s = static_cast<double>(produced_at - start) / 1e9;
  const double total_s = static_cast<double>(std::max(tally.last_report_ns.load(), produced_at) - start) / 1e9;
  const double rate = total_s > 0 ? static_cast<double>(delivered) / total_s : 0;
  const double cpu = cpu1 - cpu0;
  const auto q = LatencyQuantiles(tally.latency_us);
  const double avg_bytes = raw ? static_cast<double>(pool_bytes) / kRawPool
                               : static_cast<double>(value_bytes.load()) / static_cast<double>(o.events);

  std::cout << kProgram << " " << o.mode << " engine=" << o.engine << " topic=" << topic
            << " threads=" << threads << " window=" << o.window
            << (o.rate > 0 ? " rate=" + Fixed(o.rate, 0) + "/s" : std::string(" rate=max")) << '\n'
            << "  events        " << o.events << " (value " << Fixed(avg_bytes, 0) << " bytes avg)\n"
            << "  delivered     " << delivered << ", failed " << failed << ", queue-full retries "
            << tally.queue_full.load() << '\n'
            << "  time          " << Fixed(total_s, 3) << " s to the last report (" << Fixed(produce_s, 3)
            << " s producing)\n"
            << "  events/s      " << Fixed(rate, 0) << '\n'
            << "  delivery ms   p50 " << Fixed(q.p50_ms, 2) << "  p99 " << Fixed(q.p99_ms, 2) << "  max "
            << Fixed(q.max_ms, 2) << '\n'
            << "  cpu           " << Fixed(cpu, 2) << " s (" << Fixed(delivered > 0 ? cpu * 1e6 / static_cast<double>(delivered) : 0, 2)
            << " us/event, this process)\n";
  if (!tally.first_error.empty()) std::cout << "  first error   " << tally.first_error << '\n';
  std::cout << "RESULT label=" << (o.label.empty() ? o.mode + "-" + o.engine : o.label)
            << " mode=" << o.mode << " engine=" << o.engine << " threads=" << threads
            << " events=" << o.events << " delivered=" << delivered << " failed=" << failed
            << " queue_full=" << tally.queue_full.load() << " value_bytes=" << Fixed(avg_bytes, 0)
            << " seconds=" << Fixed(total_s, 3) << " produce_seconds=" << Fixed(produce_s, 3)
            << " rate=" << Fixed(rate, 0) << " target_rate=" << Fixed(o.rate, 0)
            << " p50_ms=" << Fixed(q.p50_ms, 3) << " p99_ms=" << Fixed(q.p99_ms, 3)
            << " max_ms=" << Fixed(q.max_ms, 3) << " cpu_s=" << Fixed(cpu, 2)
            << " cpu_us_per_event=" << Fixed(delivered > 0 ? cpu * 1e6 / static_cast<double>(delivered) : 0, 2)
            << std::endl;
  return delivered == o.events ? 0 : kExitFailure;
}

// ---- consume -----------------------------------------------------------------------------------

int Consume(const Options& o) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The gateway consumer's settings (src/kafka/event_consumer.cpp), statistics aside.
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", o.brokers},
      {"client.id", "nilecare-kafka-bench-consume"},
      {"group.id", o.group},
      {"enable.auto.commit", "true"},
      {"enable.auto.offset.store", "false"},
      {"auto.commit.interval.ms", "1000"},
      {"auto.offset.reset", "earliest"},
      {"session.timeout.ms", "10000"},
      {"heartbeat.interval.ms", "3333"},
      {"queued.max.messages.kbytes", "16384"},
      {"fetch.wait.max.ms", "100"},
  };
  char errstr[512] = {};
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("librdkafka refused ") + name + ": " + errstr);
    }
  }
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (handle == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("rd_kafka_new: ") + errstr);
  }
  rd_kafka_poll_set_consumer(handle);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, o.topic.c_str(), RD_KAFKA_PARTITION_UA);
  const double cpu_start = CpuSeconds();
  const auto subscribed = NowNs();
  if (const auto err = rd_kafka_subscribe(handle, topics); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rd_kafka_topic_partition_list_destroy(topics);
    rd_kafka_destroy(handle);
    throw std::runtime_error(std::string("subscribe: ") + rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(topics);

  std::int64_t read = 0, bytes = 0, errors = 0, parse_failed = 0, first_ns = 0, last_ns = 0;
  std::vector<std::int64_t> per_partition;
  double cpu0 = 0;
  std::string first_error;
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  while (read < o.events && Clock::now() < deadline) {
    rd_kafka_message_t* message = rd_kafka_consumer_poll(handle, 100);
    if (message == nullptr) continue;
    if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ++errors;
        if (first_error.empty()) first_error = rd_kafka_message_errstr(message);
      }
      rd_kafka_message_destroy(message);
      continue;
    }
    if (read == 0) {
      first_ns = NowNs();
      cpu0 = CpuSeconds();
    }
    ++read;
    bytes += static_cast<std::int64_t>(message->len);
    {
      const auto partition = static_cast<std::size_t>(std::max<std::int32_t>(message->partition, 0));
      if (per_partition.size() <= partition) per_partition.resize(partition + 1, 0);
      ++per_partition[partition];
    }
    if (o.parse) {
      const auto parsed = core::ParseDomainEvent(
          std::string_view(static_cast<const char*>(message->payload), message->len));
      if (!std::holds_alternative<core::DomainEvent>(parsed)) ++parse_failed;
    }
    // As the gateway does: the next offset is stored once the record is handled.
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(message->rkt), message->partition)
        ->offset = message->offset + 1;
    rd_kafka_offsets_store(handle, list);
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_message_destroy(message);
    last_ns = NowNs();
  }
  const double cpu1 = CpuSeconds();
  rd_kafka_consumer_close(handle);
  rd_kafka_destroy(handle);

  const double secs = read > 1 ? static_cast<double>(last_ns - first_ns) / 1e9 : 0;
  const double rate = secs > 0 ? static_cast<double>(read) / secs : 0;
  const double join_s = first_ns > 0 ? static_cast<double>(first_ns - subscribed) / 1e9 : 0;
  const double cpu = read > 0 ? cpu1 - cpu0 : cpu1 - cpu_start;
  std::cout << kProgram << " consume topic=" << o.topic << " group=" << o.group
            << (o.parse ? " (parsing each record)" : "") << '\n'
            << "  read          " << read << " of " << o.events << " (" << Fixed(read > 0 ? static_cast<double>(bytes) / static_cast<double>(read) : 0, 0)
            << " bytes avg), errors " << errors << ", parse failures " << parse_failed << '\n'
            << "  per partition " << [&] {
                 std::string text;
                 for (std::size_t p = 0; p < per_partition.size(); ++p) {
                   text += (p ? ", " : "") + std::to_string(p) + ": " + std::to_string(per_partition[p]);
                 }
                 return text.empty() ? std::string("-") : text;
               }() << '\n'
            << "  subscribe -> first record " << Fixed(join_s, 3) << " s\n"
            << "  first -> last record      " << Fixed(secs, 3) << " s\n"
            << "  events/s      " << Fixed(rate, 0) << '\n'
            << "  cpu           " << Fixed(cpu, 2) << " s (" << Fixed(read > 0 ? cpu * 1e6 / static_cast<double>(read) : 0, 2)
            << " us/event, this process)\n";
  if (!first_error.empty()) std::cout << "  first error   " << first_error << '\n';
  std::cout << "RESULT label=" << (o.label.empty() ? std::string(o.parse ? "consume-parse" : "consume") : o.label)
            << " mode=consume parse=" << (o.parse ? 1 : 0) << " events=" << o.events << " read=" << read
            << " errors=" << errors << " parse_failed=" << parse_failed << " join_s=" << Fixed(join_s, 3)
            << " seconds=" << Fixed(secs, 3) << " rate=" << Fixed(rate, 0) << " cpu_s=" << Fixed(cpu, 2)
            << " cpu_us_per_event=" << Fixed(read > 0 ? cpu * 1e6 / static_cast<double>(read) : 0, 2)
            << std::endl;
  return read == o.events && parse_failed == 0 ? 0 : kExitFailure;
}

int Run(const Options& o) {
  observability::log::Init("warn", observability::log::Format::kJson);
  const int code = o.mode == "consume" ? Consume(o) : Produce(o);
  observability::log::Shutdown();
  return code;
}

}  // namespace
}  // namespace nilecare::tools

int main(int argc, char** argv) {
  return nilecare::tools::RunMain(nilecare::tools::kProgram, [&] {
    int exit_code = 0;
    const auto options = nilecare::tools::ParseCommandLine(argc, argv, nilecare::tools::ParseArgs,
                                                           nilecare::tools::kProgram,
                                                           nilecare::tools::kUsage, exit_code);
    if (!options) return exit_code;
    return nilecare::tools::Run(*options);
  });
}
