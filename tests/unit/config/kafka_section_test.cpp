// The kafka: section (config/loader.cpp ParseKafka).

#include <gtest/gtest.h>

#include <algorithm>

#include "config_test_support.hpp"

namespace {

using nilecare::config::GatewaySettings;
using nilecare::config::KafkaConsumerSettings;
using nilecare::config::KafkaProducerSettings;
using nilecare::config::KafkaSettings;
using nilecare::config::Summary;
using nilecare::config::test_support::Has;
using nilecare::config::test_support::kKiB;
using nilecare::config::test_support::kMiB;
using nilecare::config::test_support::Load;
using nilecare::config::test_support::ProblemOf;
using nilecare::config::test_support::ProblemsOf;
using namespace std::chrono_literals;

// kafka: needs no other section. Line 1; the tests' kafka: starts on line 2.
constexpr std::string_view kBase = "service: {}\n";

std::string WithBase(std::string_view rest) { return std::string(kBase) + std::string(rest); }

KafkaSettings KafkaOf(std::string_view section, std::map<std::string, std::string> vars = {}) {
  GatewaySettings s = Load(WithBase(section), std::move(vars));
  if (!s.kafka) {
    ADD_FAILURE() << "no kafka settings:\n" << section;
    return {};
  }
  return std::move(*s.kafka);
}

TEST(KafkaSectionTest, AbsentMeansOff) {
  const GatewaySettings s = Load(kBase);
  EXPECT_FALSE(s.kafka.has_value());
  EXPECT_NE(Summary(s).find("\n  kafka:           off\n"), std::string::npos) << Summary(s);
}

TEST(KafkaSectionTest, EmptySectionTakesTheDefaults) {
  const GatewaySettings s = Load(WithBase("kafka:\n"));
  ASSERT_TRUE(s.kafka.has_value());
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
  const KafkaSettings& k = *s.kafka;
  EXPECT_EQ(k.brokers, (std::vector<std::string>{"127.0.0.1:9092"}));
  EXPECT_FALSE(k.embedded);
  EXPECT_EQ(k.client_id, "nilecare-gateway");
  EXPECT_EQ(k.source_service, "nilecare-gateway");
  EXPECT_EQ(k.topics, (std::map<std::string, std::string>{{"patient", "patient.events"},
                                                          {"appointment", "appointment.events"},
                                                          {"prescription", "prescription.events"},
                                                          {"payment", "payment.events"},
                                                          {"lab", "lab.events"},
                                                          {"audit", "audit.events"},
                                                          {"vitals", "vitals.events"},
                                                          {"device", "device.events"}}));
  EXPECT_EQ(k.dead_letter_topic, "nilecare.dlq");
  EXPECT_TRUE(k.properties.empty());
  EXPECT_TRUE(k.publish_roles.empty());

  const KafkaProducerSettings& p = k.producer;
  EXPECT_EQ(p.compression, "gzip");
  EXPECT_EQ(p.linger, 5ms);
  EXPECT_EQ(p.delivery_timeout, 10s);
  EXPECT_EQ(p.queue_max_messages, 100000u);
  EXPECT_EQ(p.max_event_bytes, 256 * kKiB);

  ASSERT_TRUE(k.consumer.has_value());
  const KafkaConsumerSettings& c = *k.consumer;
  EXPECT_EQ(c.group, "nilecare-gateway");
  EXPECT_EQ(c.topics,
            (std::vector<std::string>{"patient.events", "appointment.events", "prescription.events",
                                      "payment.events", "lab.events"}));
  EXPECT_EQ(c.auto_offset_reset, "latest");
  EXPECT_EQ(c.session_timeout, 10s);
  EXPECT_EQ(c.commit_interval, 1s);
  EXPECT_EQ(c.retries, 3);
  EXPECT_EQ(c.retry_min, 200ms);
  EXPECT_EQ(c.retry_max, 5s);
  EXPECT_EQ(c.max_event_bytes, kMiB);
  EXPECT_EQ(c.dedupe_ttl, 24h);
  EXPECT_EQ(c.dedupe_max_entries, 100000u);

  // Empty nested mappings take their defaults too.
  const KafkaSettings nested = KafkaOf("kafka: {producer: {}, consumer: {}, properties: {}}\n");
  EXPECT_EQ(nested.producer.compression, "gzip");
  ASSERT_TRUE(nested.consumer.has_value());
  EXPECT_EQ(nested.consumer->group, "nilecare-gateway");
  // `consumer:` with nothing (every key commented out) is the defaults, not off.
  EXPECT_TRUE(KafkaOf("kafka:\n  consumer:\n").consumer.has_value());
}

TEST(KafkaSectionTest, ReadsEveryKey) {
  const GatewaySettings s = Load(WithBase(R"(kafka:
  brokers: [kafka-1.internal:9092, '10.0.0.7:9093', '[::1]:9094']
  client_id: gw-2.ward_3
  source_service: nilecare-gateway-2
  topics: {patient: site-a.patient.events, lab_v2: Lab_Events-2}
  dead_letter_topic: site-a.dlq
  properties:
    security.protocol: sasl_ssl
    sasl.mechanism: SCRAM-SHA-512
    sasl.username: gateway
    sasl.password: '${KAFKA_PASSWORD}'
    socket.keepalive.enable: true
    reconnect.backoff.ms: 100
  publish_roles: [admin, service]
  producer:
    compression: zstd
    linger: 0s
    delivery_timeout: 5m
    queue_max_messages: 10000000
    max_event_bytes: 16MiB
  consumer:
    group: gw-group.a
    topics: [lab.events, site-a.patient.events]
    auto_offset_reset: earliest
    session_timeout: 6s
    commit_interval: 10ms
    retries: 20
    retry_min: 1s
    retry_max: 1m
    max_event_bytes: 64MiB
    dedupe_ttl: 720h
    dedupe_max_entries: 10000000
)"),
                                 {{"KAFKA_PASSWORD", "p@ss: #1"}});
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
  ASSERT_TRUE(s.kafka.has_value());
  const KafkaSettings& k = *s.kafka;
  EXPECT_EQ(k.brokers,
            (std::vector<std::string>{"kafka-1.internal:9092", "10.0.0.7:9093", "[::1]:9094"}));
  EXPECT_FALSE(k.embedded);
  EXPECT_EQ(k.client_id, "gw-2.ward_3");
  EXPECT_EQ(k.source_service, "nilecare-gateway-2");
  // The map replaces the built-in one: no other entity is left.
  EXPECT_EQ(k.topics, (std::map<std::string, std::string>{{"patient", "site-a.patient.events"},
                                                          {"lab_v2", "Lab_Events-2"}}));
  EXPECT_EQ(k.dead_letter_topic, "site-a.dlq");
  // Numbers and booleans arrive as the text written, which is what librdkafka reads.
  EXPECT_EQ(k.properties, (std::map<std::string, std::string>{
                              {"security.protocol", "sasl_ssl"},
                              {"sasl.mechanism", "SCRAM-SHA-512"},
                              {"sasl.username", "gateway"},
                              {"sasl.password", "p@ss: #1"},
                              {"socket.keepalive.enable", "true"},
                              {"reconnect.backoff.ms", "100"},
                          }));
  EXPECT_EQ(k.publish_roles, (std::vector<std::string>{"admin", "service"}));
  EXPECT_EQ(k.producer.compression, "zstd");
  EXPECT_EQ(k.producer.linger, 0ms);
  EXPECT_EQ(k.producer.delivery_timeout, 5min);
  EXPECT_EQ(k.producer.queue_max_messages, 10000000u);
  EXPECT_EQ(k.producer.max_event_bytes, 16 * kMiB);
  ASSERT_TRUE(k.consumer.has_value());
  const KafkaConsumerSettings& c = *k.consumer;
  EXPECT_EQ(c.group, "gw-group.a");
  EXPECT_EQ(c.topics, (std::vector<std::string>{"lab.events", "site-a.patient.events"}));
  EXPECT_EQ(c.auto_offset_reset, "earliest");
  EXPECT_EQ(c.session_timeout, 6s);
  EXPECT_EQ(c.commit_interval, 10ms);
  EXPECT_EQ(c.retries, 20);
  EXPECT_EQ(c.retry_min, 1s);
  EXPECT_EQ(c.retry_max, 1min);
  EXPECT_EQ(c.max_event_bytes, 64 * kMiB);
  EXPECT_EQ(c.dedupe_ttl, 720h);
  EXPECT_EQ(c.dedupe_max_entries, 10000000u);
}

TEST(KafkaSectionTest, BrokersAsAListOrACommaSeparatedString) {
  EXPECT_EQ(KafkaOf("kafka: {brokers: '127.0.0.1:9092'}\n").brokers,
            (std::vector<std::string>{"127.0.0.1:9092"}));
  // What the local stack's NILECARE_KAFKA_BROKERS holds; blanks around the commas are fine.
  EXPECT_EQ(KafkaOf("kafka: {brokers: '${BROKERS}'}\n",
                    {{"BROKERS", "127.0.0.1:39001,127.0.0.1:39002, broker-3:9092"}})
                .brokers,
            (std::vector<std::string>{"127.0.0.1:39001", "127.0.0.1:39002", "broker-3:9092"}));

  const std::string list_what =
      "expected host:port like 127.0.0.1:9092 (or brokers: embedded, not in a list), got ";
  EXPECT_EQ(ProblemsOf(WithBase(R"(kafka:
  brokers:
    - 127.0.0.1:9092
    - broker
    - broker:0
    - embedded
    - 'tcp://broker:9092'
)")),
            (std::vector<std::string>{
                "gw.yaml:5: kafka.brokers[1]: " + list_what + "\"broker\"",
                "gw.yaml:6: kafka.brokers[2]: " + list_what + "\"broker:0\"",
                "gw.yaml:7: kafka.brokers[3]: " + list_what + "\"embedded\"",
                "gw.yaml:8: kafka.brokers[4]: " + list_what + "\"tcp://broker:9092\"",
            }));
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  brokers: 'a:9092,b'\n")),
            "gw.yaml:3: kafka.brokers: expected host:port like 127.0.0.1:9092, a list of them, a "
            "comma-separated \"host:port,host:port\" or embedded, got \"a:9092,b\"");
  EXPECT_TRUE(Has(ProblemsOf(WithBase("kafka:\n  brokers: 'a:9092,'\n")),
                  "gw.yaml:3: kafka.brokers: expected host:port"));
  for (const char* empty : {"[]", "''"}) {
    EXPECT_EQ(ProblemOf(WithBase(std::string("kafka:\n  brokers: ") + empty + "\n")),
              "gw.yaml:3: kafka.brokers: is empty: list at least one broker, like "
              "[127.0.0.1:9092], or write brokers: embedded")
        << empty;
  }
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  brokers: {a: 1}\n")),
            "gw.yaml:3: kafka.brokers: expected a list of strings like [a, b], got a mapping");
}

TEST(KafkaSectionTest, CredentialsInABrokerAddressAreRefusedWithoutQuotingThem) {
  for (const char* brokers : {"['gw:hunter3@broker:9092']", "'gw:hunter3@broker:9092,b:9092'"}) {
    const std::string problem =
        ProblemOf(WithBase(std::string("kafka:\n  brokers: ") + brokers + "\n"));
    EXPECT_EQ(problem,
              "gw.yaml:3: kafka.brokers: credentials do not belong in a broker address: set "
              "kafka.properties sasl.username and sasl.password");
    EXPECT_EQ(problem.find("hunter3"), std::string::npos);
  }
}

TEST(KafkaSectionTest, EmbeddedBrokers) {
  const GatewaySettings s = Load(WithBase("kafka:\n  brokers: embedded\n"));
  ASSERT_TRUE(s.kafka.has_value());
  EXPECT_TRUE(s.kafka->embedded);
  EXPECT_TRUE(s.kafka->brokers.empty());
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
  EXPECT_NE(Summary(s).find("  kafka:           brokers=embedded (in-process, local use only) "),
            std::string::npos)
      << Summary(s);
  // Through the environment's default, as config/gateway.dev.yaml has it.
  EXPECT_TRUE(KafkaOf("kafka: {brokers: '${NILECARE_KAFKA_BROKERS:-embedded}'}\n").embedded);
  const KafkaSettings stack = KafkaOf("kafka: {brokers: '${NILECARE_KAFKA_BROKERS:-embedded}'}\n",
                                      {{"NILECARE_KAFKA_BROKERS", "127.0.0.1:9092"}});
  EXPECT_FALSE(stack.embedded);
  EXPECT_EQ(stack.brokers, (std::vector<std::string>{"127.0.0.1:9092"}));
}

TEST(KafkaSectionTest, Topics) {
  EXPECT_EQ(KafkaOf("kafka:\n  topics: {lab: lab.events}\n").topics,
            (std::map<std::string, std::string>{{"lab", "lab.events"}}));
  const std::string topic_what =
      "expected a Kafka topic name of 1 to 249 characters of A-Z, a-z, 0-9, '.', '_' and '-', "
      "got ";
  EXPECT_EQ(ProblemsOf(WithBase(R"(kafka:
  topics:
    Patient: patient.events
    2fa: auth.events
    lab: 'lab events'
    device: '..'
    vitals: ''
    audit: [a]
  dead_letter_topic: 'dlq/x'
)")),
            (std::vector<std::string>{
                "gw.yaml:4: kafka.topics.Patient: entity names are a-z, 0-9 and '_', starting "
                "with a letter (the first part of an event type: lab in lab.result.critical)",
                "gw.yaml:5: kafka.topics.2fa: entity names are a-z, 0-9 and '_', starting with a "
                "letter (the first part of an event type: lab in lab.result.critical)",
                "gw.yaml:6: kafka.topics.lab: " + topic_what + "\"lab events\"",
                "gw.yaml:7: kafka.topics.device: " + topic_what + "\"..\"",
                "gw.yaml:8: kafka.topics.vitals: " + topic_what + "\"\"",
                "gw.yaml:9: kafka.topics.audit: " + topic_what + "a list",
                "gw.yaml:10: kafka.dead_letter_topic: " + topic_what + "\"dlq/x\"",
            }));
  EXPECT_EQ(KafkaOf("kafka: {topics: {lab: " + std::string(249, 'x') + "}}\n").topics.at("lab"),
            std::string(249, 'x'));
  EXPECT_TRUE(Has(ProblemsOf(WithBase("kafka: {topics: {lab: " + std::string(250, 'x') + "}}\n")),
                  "kafka.topics.lab: expected a Kafka topic name"));
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  topics: {}\n")),
            "gw.yaml:3: kafka.topics: is empty: map each entity to its topic, or leave topics "
            "out for the built-in map");
}

TEST(KafkaSectionTest, PropertiesTheGatewaySetsAreRefusedWithTheKeyToUse) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"bootstrap.servers", "set kafka.brokers instead"},
      {"metadata.broker.list", "set kafka.brokers instead"},
      {"client.id", "set kafka.client_id instead"},
      {"enable.idempotence",
       "the producer is always idempotent, so that a retried send is not stored twice"},
      {"acks",
       "the producer always waits for every in-sync replica (acks=all), so that an "
       "acknowledged event is not lost"},
      {"request.required.acks",
       "the producer always waits for every in-sync replica (acks=all), so that an "
       "acknowledged event is not lost"},
      {"group.id", "set kafka.consumer.group instead"},
      {"enable.auto.commit",
       "offsets are stored only once an event is handled; set kafka.consumer.commit_interval "
       "instead"},
      {"enable.auto.offset.store",
       "offsets are stored only once an event is handled; set kafka.consumer.commit_interval "
       "instead"},
      {"auto.commit.interval.ms", "set kafka.consumer.commit_interval instead"},
      {"auto.offset.reset", "set kafka.consumer.auto_offset_reset instead"},
      {"session.timeout.ms", "set kafka.consumer.session_timeout instead"},
      {"compression.type", "set kafka.producer.compression instead"},
      {"compression.codec", "set kafka.producer.compression instead"},
      {"linger.ms", "set kafka.producer.linger instead"},
      {"queue.buffering.max.ms", "set kafka.producer.linger instead"},
      {"message.timeout.ms", "set kafka.producer.delivery_timeout instead"},
      {"delivery.timeout.ms", "set kafka.producer.delivery_timeout instead"},
      {"queue.buffering.max.messages", "set kafka.producer.queue_max_messages instead"},
      {"message.max.bytes", "set kafka.producer.max_event_bytes instead"},
      {"heartbeat.interval.ms", "it follows kafka.consumer.session_timeout (a third of it)"},
      {"statistics.interval.ms",
       "the gateway reads the client's statistics every second (metrics)"},
      {"queued.max.messages.kbytes", "the gateway bounds the consumer's prefetch buffer itself"},
      {"fetch.wait.max.ms",
       "the gateway keeps fetches short (100ms), so that events reach clients without delay"},
  };
  for (const auto& [name, instead] : cases) {
    EXPECT_EQ(ProblemOf(WithBase("kafka:\n  properties:\n    " + name + ": 'x'\n")),
              "gw.yaml:4: kafka.properties." + name + ": is set by the gateway; " + instead);
  }
}

TEST(KafkaSectionTest, PropertyNamesAndValues) {
  const std::vector<std::string> problems = ProblemsOf(WithBase(R"(kafka:
  properties:
    Security.Protocol: sasl_ssl
    'sasl mechanism': PLAIN
    sasl.password: [hunter3]
    ssl.key.password:
)"));
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "gw.yaml:4: kafka.properties.Security.Protocol: is not a librdkafka property name "
                "(a-z, 0-9, '.' and '_', like security.protocol)",
                "gw.yaml:5: kafka.properties.sasl mechanism: is not a librdkafka property name "
                "(a-z, 0-9, '.' and '_', like security.protocol)",
                "gw.yaml:6: kafka.properties.sasl.password: expected a string, got a list",
                "gw.yaml:7: kafka.properties.ssl.key.password: expected a string, got nothing",
            }));
  EXPECT_FALSE(Has(problems, "hunter3"));
  // A secret next to a refused key is not quoted either.
  const std::string refused =
      ProblemOf(WithBase("kafka:\n  properties: {bootstrap.servers: 'u:hunter3@b:9092'}\n"));
  EXPECT_EQ(refused.find("hunter3"), std::string::npos) << refused;
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  properties: [a]\n")),
            "gw.yaml:3: kafka.properties: expected a mapping of settings, got a list");
}

TEST(KafkaSectionTest, SummaryRedactsSecretProperties) {
  const GatewaySettings s = Load(WithBase(R"(kafka:
  properties:
    security.protocol: sasl_ssl
    sasl.mechanism: SCRAM-SHA-512
    sasl.username: gateway
    sasl.password: '${KAFKA_PASSWORD}'
    ssl.key.password: hunter4-key
    ssl.key.location: /etc/nilecare/kafka.key
    sasl.oauthbearer.client.secret: hunter5-secret
)"),
                                 {{"KAFKA_PASSWORD", "hunter3-password"}});
  const std::string summary = Summary(s);
  EXPECT_NE(summary.find(R"(
                   properties: sasl.mechanism=SCRAM-SHA-512 sasl.oauthbearer.client.secret=***
                     sasl.password=*** sasl.username=gateway security.protocol=sasl_ssl
                     ssl.key.location=*** ssl.key.password=***
)"),
            std::string::npos)
      << summary;
  for (const char* secret : {"hunter3", "hunter4", "hunter5", "/etc/nilecare/kafka.key"}) {
    EXPECT_EQ(summary.find(secret), std::string::npos) << secret << "\n" << summary;
  }
}

TEST(KafkaSectionTest, PublishRolesAndNames) {
  const std::vector<std::string> problems = ProblemsOf(WithBase(R"(kafka:
  publish_roles: ['bad role']
  client_id: 'gw 1'
  source_service: Gateway
)"));
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "gw.yaml:3: kafka.publish_roles[0]: expected a role name without spaces, got "
                "\"bad role\"",
                "gw.yaml:4: kafka.client_id: expected a client id of 1 to 249 characters of A-Z, "
                "a-z, 0-9, '.', '_' and '-', got \"gw 1\"",
                "gw.yaml:5: kafka.source_service: expected a non-empty name of a-z, 0-9, '-', '_' "
                "and '.', got \"Gateway\"",
            }));
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  publish_roles: []\n")),
            "gw.yaml:3: kafka.publish_roles: is empty: leave publish_roles out to let any "
            "authenticated caller publish");
}

TEST(KafkaSectionTest, ProducerRanges) {
  const std::vector<std::string> problems = ProblemsOf(WithBase(R"(kafka:
  producer:
    compression: brotli
    linger: 2s
    delivery_timeout: 999ms
    queue_max_messages: 0
    max_event_bytes: 17MiB
    lingr: 5ms
)"));
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "gw.yaml:4: kafka.producer.compression: expected one of "
                "none|gzip|snappy|lz4|zstd, got \"brotli\"",
                "gw.yaml:5: kafka.producer.linger: expected a duration of at most 1s, got \"2s\"",
                "gw.yaml:6: kafka.producer.delivery_timeout: expected a duration between 1s and "
                "5m, got \"999ms\"",
                "gw.yaml:7: kafka.producer.queue_max_messages: expected an integer between 1 and "
                "10000000, got \"0\"",
                "gw.yaml:8: kafka.producer.max_event_bytes: expected a size between 1KiB and "
                "16MiB, got \"17MiB\"",
                "gw.yaml:9: kafka.producer.lingr: unknown key (did you mean \"linger\"?)",
            }));
  EXPECT_TRUE(Has(ProblemsOf(WithBase("kafka: {producer: {delivery_timeout: 301s}}\n")),
                  "kafka.producer.delivery_timeout: expected a duration between 1s and 5m"));
  EXPECT_TRUE(Has(ProblemsOf(WithBase("kafka: {producer: {max_event_bytes: 1023}}\n")),
                  "kafka.producer.max_event_bytes: expected a size between 1KiB and 16MiB"));
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  producer: lz4\n")),
            "gw.yaml:3: kafka.producer: expected a mapping of settings, got \"lz4\"");
}

TEST(KafkaSectionTest, ConsumerRanges) {
  const std::vector<std::string> problems = ProblemsOf(WithBase(R"(kafka:
  consumer:
    group: 'my group'
    topics: [lab.events, 'bad topic']
    auto_offset_reset: smallest
    session_timeout: 5s
    commit_interval: 9ms
    retries: 21
    retry_min: 0s
    retry_max: 2m
    max_event_bytes: 65MiB
    dedupe_ttl: 999ms
    dedupe_max_entries: 0
)"));
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "gw.yaml:4: kafka.consumer.group: expected a group id of 1 to 249 characters of "
                "A-Z, a-z, 0-9, '.', '_' and '-', got \"my group\"",
                "gw.yaml:5: kafka.consumer.topics[1]: expected a Kafka topic name of 1 to 249 "
                "characters of A-Z, a-z, 0-9, '.', '_' and '-', got \"bad topic\"",
                "gw.yaml:6: kafka.consumer.auto_offset_reset: expected one of earliest|latest, "
                "got \"smallest\"",
                "gw.yaml:7: kafka.consumer.session_timeout: expected a duration between 6s and "
                "5m, got \"5s\"",
                "gw.yaml:8: kafka.consumer.commit_interval: expected a duration between 10ms and "
                "1m, got \"9ms\"",
                "gw.yaml:9: kafka.consumer.retries: expected an integer between 0 and 20, got "
                "\"21\"",
                "gw.yaml:10: kafka.consumer.retry_min: expected a duration between 1ms and 1m, "
                "got \"0s\"",
                "gw.yaml:11: kafka.consumer.retry_max: expected a duration between 1ms and 1m, "
                "got \"2m\"",
                "gw.yaml:12: kafka.consumer.max_event_bytes: expected a size between 1KiB and "
                "64MiB, got \"65MiB\"",
                "gw.yaml:13: kafka.consumer.dedupe_ttl: expected a duration between 1s and 720h, "
                "got \"999ms\"",
                "gw.yaml:14: kafka.consumer.dedupe_max_entries: expected an integer between 1 and "
                "10000000, got \"0\"",
            }));
  EXPECT_TRUE(Has(ProblemsOf(WithBase("kafka: {consumer: {session_timeout: 301s}}\n")),
                  "kafka.consumer.session_timeout: expected a duration between 6s and 5m"));
  EXPECT_TRUE(Has(ProblemsOf(WithBase("kafka: {consumer: {dedupe_ttl: 721h}}\n")),
                  "kafka.consumer.dedupe_ttl: expected a duration between 1s and 720h"));
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  consumer:\n    topics: []\n")),
            "gw.yaml:4: kafka.consumer.topics: is empty: list the topics whose events the rules "
            "act on");
}

TEST(KafkaSectionTest, ConsumerCrossChecks) {
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  consumer:\n    retry_min: 2s\n    retry_max: 1s\n")),
            "gw.yaml:5: kafka.consumer.retry_max: is 1s, less than retry_min (2s)");
  // Against the default too: retry_max defaults to 5s.
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  consumer:\n    retry_min: 10s\n")),
            "gw.yaml:3: kafka.consumer.retry_max: is 5s, less than retry_min (10s)");
  EXPECT_EQ(Load(WithBase("kafka: {consumer: {retry_min: 5s}}\n")).kafka->consumer->retry_min, 5s);
  // Consuming the dead-letter topic would dead-letter its events again, for ever.
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n"
                               "  dead_letter_topic: dlq\n"
                               "  consumer:\n"
                               "    topics: [lab.events, dlq]\n")),
            "gw.yaml:5: kafka.consumer.topics: lists the dead-letter topic (dlq): its events "
            "would be consumed and dead-lettered again");
}

TEST(KafkaSectionTest, ConsumerOff) {
  for (const char* off : {"off", "false"}) {
    const GatewaySettings s = Load(WithBase(std::string("kafka:\n  consumer: ") + off + "\n"));
    ASSERT_TRUE(s.kafka.has_value()) << off;
    EXPECT_FALSE(s.kafka->consumer.has_value()) << off;
    EXPECT_NE(Summary(s).find("\n                   consumer: off\n"), std::string::npos)
        << Summary(s);
  }
  for (const char* bad : {"on", "true", "no", "'off '"}) {
    EXPECT_EQ(ProblemOf(WithBase(std::string("kafka:\n  consumer: ") + bad + "\n")),
              std::string("gw.yaml:3: kafka.consumer: expected a mapping of settings, or off, got "
                          "\"") +
                  (std::string(bad) == "'off '" ? "off " : bad) + "\"")
        << bad;
  }
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  consumer: [a]\n")),
            "gw.yaml:3: kafka.consumer: expected a mapping of settings, got a list");
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  consumer: {gruop: a}\n")),
            "gw.yaml:3: kafka.consumer.gruop: unknown key (did you mean \"group\"?)");
}

TEST(KafkaSectionTest, UnknownKeys) {
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  broker: 127.0.0.1:9092\n")),
            "gw.yaml:3: kafka.broker: unknown key (did you mean \"brokers\"?)");
  EXPECT_EQ(ProblemOf(WithBase("kafka:\n  dead_letter: dlq\n")),
            "gw.yaml:3: kafka.dead_letter: unknown key");
  EXPECT_EQ(ProblemOf(WithBase("kafka: 9092\n")),
            "gw.yaml:2: kafka: expected a mapping of settings, got \"9092\"");
}

TEST(KafkaSectionTest, Summary) {
  const std::string summary = Summary(Load(WithBase(R"(kafka:
  brokers: 'kafka-1:9092,kafka-2:9092'
  properties: {security.protocol: sasl_ssl, sasl.password: hunter3}
  publish_roles: [admin, service]
  consumer: {group: gw, topics: [lab.events, payment.events], auto_offset_reset: earliest}
)")));
  EXPECT_NE(summary.find(R"(
  kafka:           brokers=kafka-1:9092,kafka-2:9092 client_id=nilecare-gateway
                     source_service=nilecare-gateway
                   topics: appointment=appointment.events audit=audit.events device=device.events
                     lab=lab.events patient=patient.events payment=payment.events
                     prescription=prescription.events vitals=vitals.events
                     dead_letter_topic=nilecare.dlq
                   properties: sasl.password=*** security.protocol=sasl_ssl
                   publish_roles=admin,service
                   producer: compression=gzip linger=5ms delivery_timeout=10s
                     queue_max_messages=100000 max_event_bytes=256KiB
                   consumer: group=gw topics=lab.events,payment.events auto_offset_reset=earliest
                     session_timeout=10s commit_interval=1s retries=3 retry=200ms..5s
                     max_event_bytes=1MiB dedupe_ttl=24h dedupe_max_entries=100000
)"),
            std::string::npos)
      << summary;
  EXPECT_EQ(summary.find("hunter3"), std::string::npos) << summary;

  const std::string defaults = Summary(Load(WithBase("kafka: {}\n")));
  EXPECT_NE(defaults.find("\n                   properties: (none)\n"
                          "                   publish_roles=(any authenticated caller)\n"),
            std::string::npos)
      << defaults;
}

}  // namespace
