// The mqtt: section (config/loader.cpp ParseMqtt).

#include <gtest/gtest.h>

#include <algorithm>

#include "config_test_support.hpp"

namespace {

using nilecare::config::GatewaySettings;
using nilecare::config::MqttSettings;
using nilecare::config::test_support::Has;
using nilecare::config::test_support::kKiB;
using nilecare::config::test_support::kMiB;
using nilecare::config::test_support::Load;
using nilecare::config::test_support::ProblemOf;
using nilecare::config::test_support::ProblemsOf;
using namespace std::chrono_literals;

// What mqtt: needs (auth.jwt, database:), and realtime: so that there is no warning. Lines 1-4.
constexpr std::string_view kBase =
    "service: {}\n"
    "auth: {jwt: {secret: '0123456789abcdef0123456789abcdef', issuer: i, audience: a}}\n"
    "database: {url: 'postgres://nilecare:hunter2@127.0.0.1:5432/nilecare'}\n"
    "realtime: {}\n";

std::string WithBase(std::string_view rest) {
  return std::string(kBase) + std::string(rest);
}

TEST(MqttSectionTest, AbsentMeansOff) {
  EXPECT_FALSE(Load(kBase).mqtt.has_value());
}

TEST(MqttSectionTest, EmptySectionTakesTheDefaults) {
  const GatewaySettings s = Load(WithBase("mqtt:\n"));
  ASSERT_TRUE(s.mqtt.has_value());
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
  const MqttSettings& m = *s.mqtt;
  EXPECT_EQ(m.urls, (std::vector<std::string>{"tcp://127.0.0.1:1883"}));
  EXPECT_EQ(m.client_id, "nilecare-gateway");
  EXPECT_EQ(m.username, "");
  EXPECT_EQ(m.password, "");
  EXPECT_FALSE(m.tls.has_value());
  EXPECT_EQ(m.shared_group, "");
  EXPECT_EQ(m.topic_root, "devices");
  EXPECT_EQ(m.keep_alive, 30s);
  EXPECT_EQ(m.connect_timeout, 10s);
  EXPECT_EQ(m.reconnect_min, 1s);
  EXPECT_EQ(m.reconnect_max, 30s);
  EXPECT_EQ(m.max_payload, 4 * kKiB);
  EXPECT_EQ(m.journal_dir, "/var/lib/nilecare-gateway/journal");
  EXPECT_EQ(m.journal_max_bytes, 1024 * kMiB);
  EXPECT_EQ(m.journal_segment_bytes, 64 * kMiB);
  EXPECT_FALSE(m.journal_fsync);
  EXPECT_EQ(m.batch_max_rows, 5000u);
  EXPECT_EQ(m.batch_max_delay, 20ms);
  EXPECT_EQ(m.db_retry_min, 200ms);
  EXPECT_EQ(m.db_retry_max, 5s);
  EXPECT_EQ(m.device_refresh, 30s);
  EXPECT_EQ(m.max_devices, 100000u);
  EXPECT_EQ(m.command_timeout, 5s);
  EXPECT_EQ(m.max_command_bytes, 16 * kKiB);
  EXPECT_EQ(m.read_roles, (std::vector<std::string>{"doctor", "nurse", "admin"}));
  EXPECT_EQ(m.write_roles, (std::vector<std::string>{"nurse", "admin"}));
}

TEST(MqttSectionTest, ReadsEveryKey) {
  const GatewaySettings s = Load(WithBase(R"(mqtt:
  urls: ['ssl://broker-a.internal:8883', 'tcp://[::1]:1883']
  client_id: gw-2.ward_3
  username: gateway
  password: 's3cret pass'
  tls:
    ca_file: /etc/nilecare/mqtt-ca.pem
    cert_file: /etc/nilecare/mqtt.pem
    key_file: /etc/nilecare/mqtt.key
    verify: true
  shared_group: gateways
  topic_root: site-a/devices
  keep_alive: 1m
  connect_timeout: 3s
  reconnect_min: 500ms
  reconnect_max: 500ms
  max_payload: 1MiB
  journal_dir: /data/journal
  journal_max_bytes: 1MiB
  journal_segment_bytes: 64KiB
  journal_fsync: true
  batch_max_rows: 100000
  batch_max_delay: 0s
  db_retry_min: 1s
  db_retry_max: 1m
  device_refresh: 5m
  max_devices: 10000000
  command_timeout: 2s
  max_command_bytes: 64
  read_roles: [doctor]
  write_roles: [admin, biomed]
)"));
  ASSERT_TRUE(s.mqtt.has_value());
  const MqttSettings& m = *s.mqtt;
  EXPECT_EQ(m.urls, (std::vector<std::string>{"ssl://broker-a.internal:8883", "tcp://[::1]:1883"}));
  EXPECT_EQ(m.client_id, "gw-2.ward_3");
  EXPECT_EQ(m.username, "gateway");
  EXPECT_EQ(m.password, "s3cret pass");
  ASSERT_TRUE(m.tls.has_value());
  EXPECT_EQ(m.tls->ca_file, "/etc/nilecare/mqtt-ca.pem");
  EXPECT_EQ(m.tls->cert_file, "/etc/nilecare/mqtt.pem");
  EXPECT_EQ(m.tls->key_file, "/etc/nilecare/mqtt.key");
  EXPECT_TRUE(m.tls->verify);
  EXPECT_EQ(m.shared_group, "gateways");
  EXPECT_EQ(m.topic_root, "site-a/devices");
  EXPECT_EQ(m.keep_alive, 60s);
  EXPECT_EQ(m.connect_timeout, 3s);
  EXPECT_EQ(m.reconnect_min, 500ms);
  EXPECT_EQ(m.reconnect_max, 500ms);
  EXPECT_EQ(m.max_payload, kMiB);
  EXPECT_EQ(m.journal_dir, "/data/journal");
  EXPECT_EQ(m.journal_max_bytes, kMiB);
  EXPECT_EQ(m.journal_segment_bytes, 64 * kKiB);
  EXPECT_TRUE(m.journal_fsync);
  EXPECT_EQ(m.batch_max_rows, 100000u);
  EXPECT_EQ(m.batch_max_delay, 0ms);
  EXPECT_EQ(m.db_retry_min, 1s);
  EXPECT_EQ(m.db_retry_max, 1min);
  EXPECT_EQ(m.device_refresh, 5min);
  EXPECT_EQ(m.max_devices, 10000000u);
  EXPECT_EQ(m.command_timeout, 2s);
  EXPECT_EQ(m.max_command_bytes, 64u);
  EXPECT_EQ(m.read_roles, (std::vector<std::string>{"doctor"}));
  EXPECT_EQ(m.write_roles, (std::vector<std::string>{"admin", "biomed"}));
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
}

TEST(MqttSectionTest, CredentialsFromTheEnvironment) {
  const GatewaySettings s =
      Load(WithBase("mqtt:\n  username: '${MQTT_USERNAME:-}'\n  password: '${MQTT_PASSWORD:-}'\n"),
           {{"MQTT_USERNAME", "gw"}, {"MQTT_PASSWORD", "p@ss: #1"}});
  EXPECT_EQ(s.mqtt->username, "gw");
  EXPECT_EQ(s.mqtt->password, "p@ss: #1");
  // Unset: anonymous.
  const GatewaySettings anonymous =
      Load(WithBase("mqtt:\n  username: '${MQTT_USERNAME:-}'\n  password: '${MQTT_PASSWORD:-}'\n"));
  EXPECT_EQ(anonymous.mqtt->username, "");
  EXPECT_EQ(anonymous.mqtt->password, "");
}

TEST(MqttSectionTest, NeedsTheDatabaseSection) {
  EXPECT_EQ(ProblemOf("service: {}\n"
                      "auth: {jwt: {secret: '0123456789abcdef0123456789abcdef', issuer: i, "
                      "audience: a}}\n"
                      "realtime: {}\n"
                      "mqtt: {}\n"),
            "gw.yaml:4: mqtt: requires the database section (readings are stored in PostgreSQL)");
}

TEST(MqttSectionTest, NeedsJwtVerification) {
  EXPECT_EQ(ProblemOf("service: {}\n"
                      "database: {url: 'postgres://127.0.0.1/nilecare'}\n"
                      "mqtt: {}\n"),
            "gw.yaml:3: mqtt: requires auth.jwt (the device API verifies bearer tokens)");
  // Remote validation is not enough.
  EXPECT_EQ(ProblemOf("service: {}\n"
                      "auth: {validate_url: 'http://127.0.0.1:7020/api/v1/auth/validate'}\n"
                      "database: {url: 'postgres://127.0.0.1/nilecare'}\n"
                      "mqtt: {}\n"),
            "gw.yaml:4: mqtt: requires auth.jwt (the device API verifies bearer tokens)");
  // Both missing: both reported.
  EXPECT_EQ(ProblemsOf("service: {}\nmqtt: {}\n"),
            (std::vector<std::string>{
                "gw.yaml:2: mqtt: requires the database section (readings are stored in "
                "PostgreSQL)",
                "gw.yaml:2: mqtt: requires auth.jwt (the device API verifies bearer tokens)",
            }));
}

TEST(MqttSectionTest, WithoutRealtimeWarns) {
  const GatewaySettings s = Load(
      "service: {}\n"
      "auth: {jwt: {secret: '0123456789abcdef0123456789abcdef', issuer: i, audience: a}}\n"
      "database: {url: 'postgres://127.0.0.1/nilecare'}\n"
      "\n"
      "mqtt:\n"
      "  topic_root: devices\n");
  ASSERT_TRUE(s.mqtt.has_value());
  EXPECT_EQ(s.warnings, (std::vector<std::string>{
                            "gw.yaml:5: mqtt: no realtime section, so readings and alerts are "
                            "stored but not pushed to clients live",
                        }));
  EXPECT_NE(nilecare::config::Summary(s).find("  warnings:\n    gw.yaml:5: mqtt: no realtime"),
            std::string::npos);
}

TEST(MqttSectionTest, Urls) {
  EXPECT_EQ(
      Load(WithBase("mqtt: {urls: ['tcp://broker:1883', 'ssl://10.0.0.7:8883']}\n")).mqtt->urls,
      (std::vector<std::string>{"tcp://broker:1883", "ssl://10.0.0.7:8883"}));
  const auto problems = ProblemsOf(WithBase(R"(mqtt:
  urls:
    - tcp://broker:1883
    - mqtt://broker:1883
    - tcp://broker
    - ssl://broker:0
    - tcp://broker:1883/x
    - TCP://broker:1883
)"));
  EXPECT_EQ(problems, (std::vector<std::string>{
                          "gw.yaml:8: mqtt.urls[1]: expected tcp://host:port or ssl://host:port, "
                          "got \"mqtt://broker:1883\"",
                          "gw.yaml:9: mqtt.urls[2]: expected tcp://host:port or ssl://host:port, "
                          "got \"tcp://broker\"",
                          "gw.yaml:10: mqtt.urls[3]: expected tcp://host:port or ssl://host:port, "
                          "got \"ssl://broker:0\"",
                          "gw.yaml:11: mqtt.urls[4]: expected tcp://host:port or ssl://host:port, "
                          "got \"tcp://broker:1883/x\"",
                          "gw.yaml:12: mqtt.urls[5]: expected tcp://host:port or ssl://host:port, "
                          "got \"TCP://broker:1883\"",
                      }));
  EXPECT_EQ(ProblemOf(WithBase("mqtt:\n  urls: []\n")),
            "gw.yaml:6: mqtt.urls: is empty: list at least one broker, like tcp://127.0.0.1:1883");
  EXPECT_EQ(ProblemOf(WithBase("mqtt:\n  urls: tcp://broker:1883\n")),
            "gw.yaml:6: mqtt.urls: expected a list of strings like [a, b], got "
            "\"tcp://broker:1883\"");
}

TEST(MqttSectionTest, CredentialsInAUrlAreRefusedWithoutQuotingThem) {
  const std::string problem =
      ProblemOf(WithBase("mqtt:\n  urls: ['tcp://gw:hunter3@broker:1883']\n"));
  EXPECT_EQ(problem,
            "gw.yaml:6: mqtt.urls: credentials do not belong in a broker URL "
            "(\"tcp://(set)@broker:1883\"): set mqtt.username and mqtt.password");
  EXPECT_EQ(problem.find("hunter3"), std::string::npos);
}

TEST(MqttSectionTest, ClientIdSharedGroupAndTopicRoot) {
  const std::string id128(128, 'a');
  EXPECT_EQ(Load(WithBase("mqtt: {client_id: " + id128 + "}\n")).mqtt->client_id, id128);
  EXPECT_EQ(Load(WithBase("mqtt: {shared_group: ''}\n")).mqtt->shared_group, "");
  EXPECT_EQ(Load(WithBase("mqtt: {shared_group: Gw_1-a}\n")).mqtt->shared_group, "Gw_1-a");
  EXPECT_EQ(Load(WithBase("mqtt: {topic_root: a/b/c}\n")).mqtt->topic_root, "a/b/c");

  const auto problems =
      ProblemsOf(WithBase("mqtt:\n"
                          "  client_id: " +
                          std::string(129, 'a') +
                          "\n"
                          "  shared_group: 'a/b'\n"
                          "  topic_root: /devices\n"));
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "gw.yaml:6: mqtt.client_id: expected 1 to 128 characters of A-Z, a-z, 0-9, '.', "
                "'_' and '-', got \"" +
                    std::string(60, 'a') + "...\"",
                "gw.yaml:7: mqtt.shared_group: expected \"\" or a group name of A-Z, a-z, 0-9, "
                "'_' and '-', got \"a/b\"",
                "gw.yaml:8: mqtt.topic_root: expected a topic prefix like devices or "
                "site-a/devices (no '+' or '#', no empty levels, no leading or trailing '/'), "
                "got \"/devices\"",
            }));
  for (const char* bad_id : {"''", "'gw 1'", "gw/1", "'gw+1'"}) {
    EXPECT_TRUE(Has(ProblemsOf(WithBase(std::string("mqtt: {client_id: ") + bad_id + "}\n")),
                    "mqtt.client_id: expected"))
        << bad_id;
  }
  for (const char* bad_root : {"''", "devices/", "a//b", "a/+/b", "'a/#'", "'#'"}) {
    EXPECT_TRUE(Has(ProblemsOf(WithBase(std::string("mqtt: {topic_root: ") + bad_root + "}\n")),
                    "mqtt.topic_root: expected"))
        << bad_root;
  }
}

TEST(MqttSectionTest, RangesNameFileKeyAndLine) {
  const auto problems = ProblemsOf(WithBase(R"(mqtt:
  keep_alive: 1500ms
  connect_timeout: 0s
  reconnect_min: 10
  max_payload: 63
  journal_dir: ''
  journal_max_bytes: 1048575
  journal_segment_bytes: 2GiB
  journal_fsync: 1
  batch_max_rows: 0
  batch_max_delay: -1ms
  device_refresh: 0s
  max_devices: 10000001
  command_timeout: 0s
  max_command_bytes: 1025KiB
  read_roles: ['bad role']
  write_roles: []
  keepalive: 30s
)"));
  const std::vector<std::string> expected{
      "gw.yaml:6: mqtt.keep_alive: must be whole seconds (MQTT sends it in seconds)",
      "gw.yaml:7: mqtt.connect_timeout: expected a duration greater than 0s, got \"0s\"",
      "gw.yaml:8: mqtt.reconnect_min: expected a duration with a unit",
      "gw.yaml:9: mqtt.max_payload: expected a size between 64 and 1MiB, got \"63\"",
      "gw.yaml:10: mqtt.journal_dir: expected a non-empty directory path, got \"\"",
      "gw.yaml:11: mqtt.journal_max_bytes: expected a size of at least 1MiB, got \"1048575\"",
      "gw.yaml:12: mqtt.journal_segment_bytes: expected a size between 64KiB and 1GiB, got "
      "\"2GiB\"",
      "gw.yaml:13: mqtt.journal_fsync: expected true or false, got \"1\"",
      "gw.yaml:14: mqtt.batch_max_rows: expected an integer between 1 and 100000, got \"0\"",
      "gw.yaml:15: mqtt.batch_max_delay: expected a duration like 10s or 250ms, got \"-1ms\"",
      "gw.yaml:16: mqtt.device_refresh: expected a duration greater than 0s, got \"0s\"",
      "gw.yaml:17: mqtt.max_devices: expected an integer between 1 and 10000000, got "
      "\"10000001\"",
      "gw.yaml:18: mqtt.command_timeout: expected a duration greater than 0s, got \"0s\"",
      "gw.yaml:19: mqtt.max_command_bytes: expected a size between 64 and 1MiB, got "
      "\"1025KiB\"",
      "gw.yaml:20: mqtt.read_roles[0]: expected a role name without spaces, got \"bad role\"",
      "gw.yaml:21: mqtt.write_roles: is empty: list the roles that may change devices and send "
      "commands",
      "gw.yaml:22: mqtt.keepalive: unknown key (did you mean \"keep_alive\"?)",
  };
  EXPECT_EQ(problems.size(), expected.size()) << ::testing::PrintToString(problems);
  for (const std::string& text : expected) {
    EXPECT_TRUE(Has(problems, text)) << text << "\nin: " << ::testing::PrintToString(problems);
  }
  EXPECT_TRUE(Has(ProblemsOf(WithBase("mqtt: {keep_alive: 0s}\n")),
                  "mqtt.keep_alive: expected a duration between 1s and 65535s"));
  EXPECT_TRUE(Has(ProblemsOf(WithBase("mqtt: {keep_alive: 65536s}\n")),
                  "mqtt.keep_alive: expected a duration between 1s and 65535s"));
  EXPECT_EQ(Load(WithBase("mqtt: {keep_alive: 65535s}\n")).mqtt->keep_alive, 65535s);
  EXPECT_EQ(ProblemOf(WithBase("mqtt: {read_roles: []}\n")),
            "gw.yaml:5: mqtt.read_roles: is empty: list the roles that may read devices and "
            "vitals");
}

TEST(MqttSectionTest, MinimumsMustNotExceedMaximums) {
  EXPECT_EQ(ProblemsOf(WithBase(R"(mqtt:
  reconnect_min: 5s
  reconnect_max: 1s
  db_retry_min: 2s
  db_retry_max: 1s
  journal_max_bytes: 10MiB
  journal_segment_bytes: 11MiB
)")),
            (std::vector<std::string>{
                "gw.yaml:7: mqtt.reconnect_max: is 1s, less than reconnect_min (5s)",
                "gw.yaml:9: mqtt.db_retry_max: is 1s, less than db_retry_min (2s)",
                "gw.yaml:11: mqtt.journal_segment_bytes: is 11MiB, more than journal_max_bytes "
                "(10MiB)",
            }));
  // Against the defaults too: reconnect_max defaults to 30s.
  EXPECT_EQ(ProblemOf(WithBase("mqtt:\n  reconnect_min: 1m\n")),
            "gw.yaml:5: mqtt.reconnect_max: is 30s, less than reconnect_min (1m)");
}

TEST(MqttSectionTest, PasswordNeedsAUsernameAndIsNeverQuoted) {
  const std::string problem = ProblemOf(WithBase("mqtt:\n  password: 'hunter3'\n"));
  EXPECT_EQ(problem,
            "gw.yaml:6: mqtt.password: needs a username (MQTT 3.1.1 sends a password only with "
            "one)");
  EXPECT_EQ(problem.find("hunter3"), std::string::npos);
  EXPECT_EQ(ProblemOf(WithBase("mqtt:\n  password: [hunter3]\n")),
            "gw.yaml:6: mqtt.password: expected a string, got a list");
}

TEST(MqttSectionTest, Tls) {
  // ssl:// without tls: the system's CAs, verified.
  EXPECT_FALSE(Load(WithBase("mqtt: {urls: ['ssl://broker:8883']}\n")).mqtt->tls.has_value());
  const GatewaySettings empty_tls =
      Load(WithBase("mqtt: {urls: ['ssl://broker:8883'], tls: {}}\n"));
  ASSERT_TRUE(empty_tls.mqtt->tls.has_value());
  EXPECT_TRUE(empty_tls.mqtt->tls->verify);
  EXPECT_EQ(empty_tls.mqtt->tls->ca_file, "");
  EXPECT_TRUE(empty_tls.warnings.empty()) << ::testing::PrintToString(empty_tls.warnings);

  const GatewaySettings no_verify = Load(WithBase(R"(mqtt:
  urls: ['ssl://broker:8883']
  tls:
    verify: false
)"));
  EXPECT_EQ(no_verify.warnings,
            (std::vector<std::string>{
                "gw.yaml:8: mqtt.tls.verify: false, so the broker's certificate is not checked",
            }));
  const GatewaySettings unused = Load(WithBase("mqtt:\n  tls: {ca_file: /etc/ca.pem}\n"));
  EXPECT_EQ(unused.warnings,
            (std::vector<std::string>{
                "gw.yaml:6: mqtt.tls: set, but no url is ssl://, so it is not used",
            }));

  EXPECT_EQ(ProblemsOf(WithBase(R"(mqtt:
  urls: ['ssl://broker:8883']
  tls:
    key_file: /etc/mqtt.key
    verfy: true
)")),
            (std::vector<std::string>{
                "gw.yaml:8: mqtt.tls.key_file: needs cert_file (the client certificate the key "
                "belongs to)",
                "gw.yaml:9: mqtt.tls.verfy: unknown key (did you mean \"verify\"?)",
            }));
  EXPECT_EQ(ProblemOf(WithBase("mqtt:\n  tls: on\n")),
            "gw.yaml:6: mqtt.tls: expected a mapping of settings, got \"on\"");
}

TEST(MqttSectionTest, SummaryNeverPrintsThePassword) {
  const GatewaySettings s = Load(WithBase(R"(mqtt:
  urls: ['ssl://broker:8883', 'tcp://127.0.0.1:1883']
  username: gw
  password: 'hunter3-secret'
  tls: {ca_file: /etc/ca.pem}
  shared_group: gateways
)"));
  const std::string summary = nilecare::config::Summary(s);
  EXPECT_NE(summary.find(R"(
  mqtt:            urls=ssl://broker:8883,tcp://127.0.0.1:1883 client_id=nilecare-gateway
                   topic_root=devices shared_group=gateways username=gw password=(set) tls=on ca_file=/etc/ca.pem verify=on
                   keep_alive=30s connect_timeout=10s reconnect=1s..30s max_payload=4KiB
                   journal=/var/lib/nilecare-gateway/journal (max 1GiB, segments 64MiB, fsync off)
                   batch_max_rows=5000 batch_max_delay=20ms db_retry=200ms..5s
                   device_refresh=30s max_devices=100000 command_timeout=5s max_command_bytes=16KiB
                   read_roles=doctor,nurse,admin write_roles=nurse,admin
)"),
            std::string::npos)
      << summary;
  EXPECT_EQ(summary.find("hunter3"), std::string::npos) << summary;

  const std::string anonymous = nilecare::config::Summary(Load(WithBase("mqtt: {}\n")));
  EXPECT_NE(anonymous.find("topic_root=devices username=(none) password=(none) tls=off\n"),
            std::string::npos)
      << anonymous;
}

}  // namespace
