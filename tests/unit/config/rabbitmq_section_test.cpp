// The rabbitmq: section (config/loader.cpp ParseRabbitMq), and what it changes for events:
// (task actions, the built-in rules' tasks).

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "config/event_rule_check.hpp"
#include "config_test_support.hpp"

namespace {

using nilecare::config::DeadLetterSettings;
using nilecare::config::EventAction;
using nilecare::config::EventRule;
using nilecare::config::EventRuleProblems;
using nilecare::config::GatewaySettings;
using nilecare::config::RabbitMqSettings;
using nilecare::config::Summary;
using nilecare::config::TaskQueueSettings;
using nilecare::config::TaskWorkerSettings;
using nilecare::config::test_support::Has;
using nilecare::config::test_support::kKiB;
using nilecare::config::test_support::kMiB;
using nilecare::config::test_support::Load;
using nilecare::config::test_support::ProblemOf;
using nilecare::config::test_support::ProblemsOf;
using namespace std::chrono_literals;

// rabbitmq: needs no other section. Line 1; the tests' rabbitmq: starts on line 2.
constexpr std::string_view kBase = "service: {}\n";

std::string WithBase(std::string_view rest) { return std::string(kBase) + std::string(rest); }

// The section as a one-line mapping on line 2: "rabbitmq: {<keys>}".
std::string Section(std::string_view keys) {
  return WithBase("rabbitmq: {" + std::string(keys) + "}\n");
}

RabbitMqSettings RabbitMqOf(std::string_view yaml, std::map<std::string, std::string> vars = {}) {
  GatewaySettings s = Load(yaml, std::move(vars));
  if (!s.rabbitmq) {
    ADD_FAILURE() << "no rabbitmq settings:\n" << yaml;
    return {};
  }
  return std::move(*s.rabbitmq);
}

// "name exchange priority" for each queue.
std::vector<std::string> QueuesOf(const RabbitMqSettings& rabbitmq) {
  std::vector<std::string> queues;
  for (const TaskQueueSettings& queue : rabbitmq.queues) {
    queues.push_back(queue.name + " " + queue.exchange + " " + std::to_string(queue.priority));
  }
  return queues;
}

const std::vector<std::string> kBuiltInQueues{
    "email.high nilecare.email 10",     "email.normal nilecare.email 5",
    "email.low nilecare.email 1",       "sms.urgent nilecare.sms 10",
    "sms.normal nilecare.sms 5",        "reports.pdf nilecare.reports 5",
    "reports.excel nilecare.reports 5",
};

TEST(RabbitMqSectionTest, AbsentMeansOff) {
  const GatewaySettings s = Load(kBase);
  EXPECT_FALSE(s.rabbitmq.has_value());
  EXPECT_NE(Summary(s).find("\n  rabbitmq:        off\n"), std::string::npos) << Summary(s);
}

TEST(RabbitMqSectionTest, EmptySectionTakesTheDefaults) {
  for (const char* section : {"rabbitmq: {}\n", "rabbitmq:\n", "rabbitmq:\n  # url: x\n"}) {
    SCOPED_TRACE(section);
    const GatewaySettings s = Load(WithBase(section));
    ASSERT_TRUE(s.rabbitmq.has_value());
    EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
    const RabbitMqSettings& r = *s.rabbitmq;
    EXPECT_EQ(r.url, "amqp://guest:guest@127.0.0.1:5672/");
    EXPECT_EQ(r.host, "127.0.0.1");
    EXPECT_EQ(r.port, 5672);
    EXPECT_EQ(r.vhost, "/");
    EXPECT_EQ(r.user, "guest");
    EXPECT_EQ(r.password, "guest");
    EXPECT_EQ(r.heartbeat, 30s);
    EXPECT_EQ(r.connect_timeout, 5s);
    EXPECT_EQ(r.reconnect_min, 500ms);
    EXPECT_EQ(r.reconnect_max, 30s);
    EXPECT_EQ(r.max_priority, 10);
    EXPECT_EQ(QueuesOf(r), kBuiltInQueues);
    EXPECT_EQ(r.dead_letter.exchange, "nilecare.dlq");
    EXPECT_EQ(r.dead_letter.queue, "failed.jobs");
    EXPECT_EQ(r.dead_letter.retry_after, 5min);
    EXPECT_EQ(r.dead_letter.max_rounds, 3);
    EXPECT_EQ(r.dead_letter.parking_queue, "failed.jobs.parked");
    EXPECT_EQ(r.confirm_timeout, 5s);
    EXPECT_EQ(r.max_in_flight, 10000u);
    EXPECT_EQ(r.max_task_bytes, 256 * kKiB);
    EXPECT_EQ(r.max_delay, 24h);
    EXPECT_TRUE(r.publish_roles.empty());
    EXPECT_TRUE(r.workers.empty());
  }
  const std::string summary = Summary(Load(WithBase("rabbitmq: {}\n")));
  EXPECT_NE(summary.find(R"(
  rabbitmq:        amqp://127.0.0.1:5672 vhost=/ user=guest password=(set) heartbeat=30s
                     connect_timeout=5s reconnect=500ms..30s
                   7 queues (max_priority=10): nilecare.email->email.high(10)
                     nilecare.email->email.normal(5) nilecare.email->email.low(1)
                     nilecare.sms->sms.urgent(10) nilecare.sms->sms.normal(5)
                     nilecare.reports->reports.pdf(5) nilecare.reports->reports.excel(5)
                   dead_letter: exchange=nilecare.dlq queue=failed.jobs retry_after=5m max_rounds=3
                     parking_queue=failed.jobs.parked
                   publish: confirm_timeout=5s max_in_flight=10000 max_task_bytes=256KiB
                     max_delay=24h publish_roles=(any authenticated caller)
                   workers: none (this gateway only publishes)
)"),
            std::string::npos)
      << summary;
}

TEST(RabbitMqSectionTest, ReadsEveryKey) {
  const RabbitMqSettings r = RabbitMqOf(WithBase(R"(rabbitmq:
  url: 'amqp://gw:pw@rabbitmq.internal:5673/nilecare'
  heartbeat: 0s
  connect_timeout: 2s
  reconnect_min: 1s
  reconnect_max: 1m
  max_priority: 20
  queues:
    - { name: jobs.a, exchange: nilecare.jobs, priority: 20 }
    - { name: 'jobs:b', exchange: nilecare.jobs }
  dead_letter: { exchange: dlx, queue: failed, retry_after: 'off', max_rounds: 5, parking_queue: parked }
  confirm_timeout: 10s
  max_in_flight: 100
  max_task_bytes: 1MiB
  max_delay: 1h
  publish_roles: [admin, service]
)"));
  EXPECT_EQ(r.heartbeat, 0s);
  EXPECT_EQ(r.connect_timeout, 2s);
  EXPECT_EQ(r.reconnect_min, 1s);
  EXPECT_EQ(r.reconnect_max, 1min);
  EXPECT_EQ(r.max_priority, 20);
  EXPECT_EQ(QueuesOf(r),
            (std::vector<std::string>{"jobs.a nilecare.jobs 20", "jobs:b nilecare.jobs 5"}));
  const DeadLetterSettings& d = r.dead_letter;
  EXPECT_EQ(d.exchange, "dlx");
  EXPECT_EQ(d.queue, "failed");
  EXPECT_EQ(d.retry_after, 0s);
  EXPECT_EQ(d.max_rounds, 5);
  EXPECT_EQ(d.parking_queue, "parked");
  EXPECT_EQ(r.confirm_timeout, 10s);
  EXPECT_EQ(r.max_in_flight, 100u);
  EXPECT_EQ(r.max_task_bytes, kMiB);
  EXPECT_EQ(r.max_delay, 1h);
  EXPECT_EQ(r.publish_roles, (std::vector<std::string>{"admin", "service"}));

  const std::string summary = Summary(Load(WithBase(R"(rabbitmq:
  heartbeat: 0s
  dead_letter: {retry_after: 0s}
  publish_roles: [admin]
)")));
  EXPECT_NE(summary.find(" heartbeat=off\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find(" retry_after=off (kept)\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find(" publish_roles=admin\n"), std::string::npos) << summary;
}

// ---- url ----------------------------------------------------------------------------------

TEST(RabbitMqSectionTest, UrlParts) {
  struct Case {
    const char* url;
    const char* host;
    std::uint16_t port;
    const char* vhost;
    const char* user;
    const char* password;
  };
  for (const Case& c : {
           Case{"amqp://gw:pw@mq:5673/nilecare", "mq", 5673, "nilecare", "gw", "pw"},
           Case{"amqp://mq", "mq", 5672, "/", "guest", "guest"},
           Case{"amqp://mq/", "mq", 5672, "/", "guest", "guest"},
           Case{"amqp://mq:5672/%2f", "mq", 5672, "/", "guest", "guest"},
           Case{"amqp://mq/%2Fa%20b", "mq", 5672, "/a b", "guest", "guest"},
           Case{"AMQP://mq", "mq", 5672, "/", "guest", "guest"},
           Case{"amqp://10.0.0.7:5672", "10.0.0.7", 5672, "/", "guest", "guest"},
           Case{"amqp://[::1]:5673/v", "::1", 5673, "v", "guest", "guest"},
           Case{"amqp://[fd00::7]", "fd00::7", 5672, "/", "guest", "guest"},
           // Percent-decoded; a raw '@' in the password still splits at the last one.
           Case{"amqp://us%3Aer:p%40ss%2Fw%25rd@mq", "mq", 5672, "/", "us:er", "p@ss/w%rd"},
           Case{"amqp://gw:p@ss@mq", "mq", 5672, "/", "gw", "p@ss"},
           // Absent parts are the defaults; an empty password is one.
           Case{"amqp://gw@mq", "mq", 5672, "/", "gw", "guest"},
           Case{"amqp://gw:@mq", "mq", 5672, "/", "gw", ""},
       }) {
    SCOPED_TRACE(c.url);
    const RabbitMqSettings r = RabbitMqOf(Section(std::string("url: '") + c.url + "'"));
    EXPECT_EQ(r.url, c.url);
    EXPECT_EQ(r.host, c.host);
    EXPECT_EQ(r.port, c.port);
    EXPECT_EQ(r.vhost, c.vhost);
    EXPECT_EQ(r.user, c.user);
    EXPECT_EQ(r.password, c.password);
  }
}

TEST(RabbitMqSectionTest, UrlFromTheEnvironment) {
  const RabbitMqSettings r = RabbitMqOf(
      WithBase("rabbitmq:\n  url: '${NILECARE_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}'\n"),
      {{"NILECARE_AMQP_URL", "amqp://gw:h%2Fnter2@mq.internal:5672/%2f"}});
  EXPECT_EQ(r.host, "mq.internal");
  EXPECT_EQ(r.vhost, "/");
  EXPECT_EQ(r.password, "h/nter2");
  EXPECT_EQ(RabbitMqOf(WithBase("rabbitmq:\n  url: 'amqp://gw:${RABBITMQ_PASSWORD}@mq/nilecare'\n"),
                       {{"RABBITMQ_PASSWORD", "hunter2"}})
                .password,
            "hunter2");
}

TEST(RabbitMqSectionTest, PasswordIsNeverShown) {
  const GatewaySettings s = Load(Section("url: 'amqp://gw:hunter2-amqp@mq.internal/nilecare'"));
  const std::string summary = Summary(s);
  EXPECT_EQ(summary.find("hunter2"), std::string::npos) << summary;
  EXPECT_NE(summary.find("rabbitmq:        amqp://mq.internal:5672 vhost=nilecare user=gw "
                         "password=(set) "),
            std::string::npos)
      << summary;
  EXPECT_NE(Summary(Load(Section("url: 'amqp://gw:@mq'"))).find(" password=(none) "),
            std::string::npos);
  // Nor in the messages about a URL that does not parse.
  for (const char* url :
       {"amqp://gw:hunter2-amqp@", "amqp://gw:hunter2-amqp@mq:x", "amqp://gw:hunter2/amqp@mq",
        "amqps://gw:hunter2-amqp@mq", "http://gw:hunter2-amqp@mq", "amqp://gw:hunter2-amqp@mq/a/b",
        "amqp://gw:hunter2-amqp%@mq", "amqp://gw:hunter2-amqp"}) {
    SCOPED_TRACE(url);
    const std::string problem = ProblemOf(Section(std::string("url: '") + url + "'"));
    EXPECT_EQ(problem.rfind("gw.yaml:2: rabbitmq.url: ", 0), 0u) << problem;
    EXPECT_EQ(problem.find("hunter2"), std::string::npos) << problem;
  }
}

TEST(RabbitMqSectionTest, UrlProblems) {
  const std::string prefix =
      "gw.yaml:2: rabbitmq.url: is not amqp://user:password@host:port/vhost: ";
  const std::string bad_host =
      "the part after user:password@ is not host[:port] (a name, an IPv4 address or [IPv6], "
      "port 1..65535); percent-encode '/', '@' and ':' in the user and password";
  const std::string bad_escape =
      "a '%' is not followed by two hex digits (write a literal '%' as %25; %00 is refused)";
  EXPECT_EQ(ProblemOf(Section("url: 'amqps://gw:pw@mq:5671/'")),
            "gw.yaml:2: rabbitmq.url: amqps:// (TLS) is not supported by this build: run a TLS "
            "sidecar such as stunnel next to the gateway and point an amqp:// URL at it");
  EXPECT_EQ(ProblemOf(Section("url: 'http://mq:5672'")), prefix + "it does not start with amqp://");
  EXPECT_EQ(ProblemOf(Section("url: 'amqp://mq/nilecare?heartbeat=10'")),
            prefix +
                "query parameters are not supported (heartbeat and connect_timeout are keys of "
                "rabbitmq:)");
  for (const char* url : {"amqp://", "amqp://gw:pw@", "amqp://mq:0", "amqp://mq:65536",
                          "amqp://mq:", "amqp://gw:pw/x@mq", "amqp://::1", "amqp://m q"}) {
    EXPECT_EQ(ProblemOf(Section(std::string("url: '") + url + "'")), prefix + bad_host) << url;
  }
  for (const char* url :
       {"amqp://mq/%2", "amqp://mq/%zz", "amqp://mq/%00", "amqp://g%4:pw@mq", "amqp://gw:p%@mq"}) {
    EXPECT_EQ(ProblemOf(Section(std::string("url: '") + url + "'")), prefix + bad_escape) << url;
  }
  EXPECT_EQ(ProblemOf(Section("url: 'amqp://mq/a/b'")),
            prefix + "the vhost contains '/' (percent-encode it: %2f)");
  EXPECT_EQ(ProblemOf(Section("url: 'amqp://:pw@mq'")),
            prefix + "the user name before ':' is empty (leave out user:password@ for guest)");
  EXPECT_EQ(ProblemOf(Section("url: [a]")),
            "gw.yaml:2: rabbitmq.url: expected a string, got a list");
}

// ---- Validation ---------------------------------------------------------------------------

TEST(RabbitMqSectionTest, ConnectionProblems) {
  const std::string whole =
      "must be whole seconds (AMQP negotiates it in seconds); 0s turns heartbeats off";
  EXPECT_EQ(ProblemOf(Section("heartbeat: 500ms")), "gw.yaml:2: rabbitmq.heartbeat: " + whole);
  EXPECT_EQ(ProblemOf(Section("heartbeat: 1.5s")), "gw.yaml:2: rabbitmq.heartbeat: " + whole);
  EXPECT_EQ(ProblemOf(Section("heartbeat: 65536s")),
            "gw.yaml:2: rabbitmq.heartbeat: expected a duration of at most 65535s, got "
            "\"65536s\"");
  EXPECT_EQ(RabbitMqOf(Section("heartbeat: 1s")).heartbeat, 1s);
  EXPECT_EQ(ProblemOf(Section("connect_timeout: 0s")),
            "gw.yaml:2: rabbitmq.connect_timeout: expected a duration greater than 0s, got "
            "\"0s\"");
  EXPECT_EQ(ProblemOf(Section("reconnect_min: 0s")),
            "gw.yaml:2: rabbitmq.reconnect_min: expected a duration greater than 0s, got \"0s\"");
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  reconnect_min: 5s\n  reconnect_max: 1s\n")),
            "gw.yaml:4: rabbitmq.reconnect_max: is 1s, less than reconnect_min (5s)");
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  reconnect_min: 1m\n")),
            "gw.yaml:2: rabbitmq.reconnect_max: is 30s, less than reconnect_min (1m)");
  EXPECT_EQ(RabbitMqOf(Section("reconnect_min: 30s")).reconnect_min, 30s);
}

TEST(RabbitMqSectionTest, PublishingProblems) {
  EXPECT_EQ(ProblemOf(Section("max_priority: 0")),
            "gw.yaml:2: rabbitmq.max_priority: expected an integer between 1 and 255, got \"0\"");
  EXPECT_EQ(ProblemOf(Section("max_priority: 256")),
            "gw.yaml:2: rabbitmq.max_priority: expected an integer between 1 and 255, got "
            "\"256\"");
  EXPECT_EQ(ProblemOf(Section("confirm_timeout: 0s")),
            "gw.yaml:2: rabbitmq.confirm_timeout: expected a duration greater than 0s, got "
            "\"0s\"");
  EXPECT_EQ(ProblemOf(Section("max_in_flight: 0")),
            "gw.yaml:2: rabbitmq.max_in_flight: expected an integer of at least 1, got \"0\"");
  EXPECT_EQ(ProblemOf(Section("max_task_bytes: 0")),
            "gw.yaml:2: rabbitmq.max_task_bytes: expected a size between 1 and 128MiB, got \"0\"");
  EXPECT_EQ(ProblemOf(Section("max_task_bytes: 129MiB")),
            "gw.yaml:2: rabbitmq.max_task_bytes: expected a size between 1 and 128MiB, got "
            "\"129MiB\"");
  EXPECT_EQ(RabbitMqOf(Section("max_task_bytes: 128MiB")).max_task_bytes, 128 * kMiB);
  EXPECT_EQ(RabbitMqOf(Section("max_task_bytes: 1")).max_task_bytes, 1u);
  const std::string delay_range = "expected a duration between 1ms and 720h, got ";
  EXPECT_EQ(ProblemOf(Section("max_delay: 0s")),
            "gw.yaml:2: rabbitmq.max_delay: " + delay_range + "\"0s\"");
  // 30 days: a delay queue expires its delay plus a margin after its last use, and that must
  // stay under RabbitMQ's 2^32 ms limit too.
  EXPECT_EQ(ProblemOf(Section("max_delay: 721h")),
            "gw.yaml:2: rabbitmq.max_delay: " + delay_range + "\"721h\"");
  EXPECT_EQ(RabbitMqOf(Section("max_delay: 720h")).max_delay, 720h);
  EXPECT_EQ(ProblemOf(Section("publish_roles: []")),
            "gw.yaml:2: rabbitmq.publish_roles: is empty: leave publish_roles out to let any "
            "authenticated caller publish");
  EXPECT_EQ(ProblemOf(Section("publish_roles: ['head nurse']")),
            "gw.yaml:2: rabbitmq.publish_roles[0]: expected a role name without spaces, got "
            "\"head nurse\"");
}

TEST(RabbitMqSectionTest, UnknownKeys) {
  EXPECT_EQ(ProblemOf(Section("max_priorty: 5")),
            "gw.yaml:2: rabbitmq.max_priorty: unknown key (did you mean \"max_priority\"?)");
  EXPECT_EQ(ProblemOf(Section("dead_letter: {retry: 1m}")),
            "gw.yaml:2: rabbitmq.dead_letter.retry: unknown key");
  EXPECT_EQ(ProblemOf(Section("queues: [{name: a, exchange: b, prio: 1}]")),
            "gw.yaml:2: rabbitmq.queues[0].prio: unknown key");
  EXPECT_EQ(ProblemOf(WithBase("upstreams: {n: {url: 'http://n:1'}}\nrabbitmq:\n  workers:\n"
                               "    - {queue: email.high, handler_url: 'http://n:1/', prefech: 2}\n"
                               "routes: [{prefix: /a, upstream: n, auth: none}]\n")),
            "gw.yaml:5: rabbitmq.workers[0].prefech: unknown key (did you mean \"prefetch\"?)");
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq: []\n")),
            "gw.yaml:2: rabbitmq: expected a mapping of settings, got a list");
}

// ---- queues, dead_letter --------------------------------------------------------------------

TEST(RabbitMqSectionTest, QueuesReplaceTheBuiltInList) {
  const RabbitMqSettings r = RabbitMqOf(WithBase(R"(rabbitmq:
  queues:
    - { name: email.normal, exchange: nilecare.email }
    - { name: sms.urgent, exchange: nilecare.sms, priority: 10 }
    - { name: pharmacy.refill, exchange: nilecare.pharmacy, priority: 0 }
)"));
  EXPECT_EQ(QueuesOf(r),
            (std::vector<std::string>{"email.normal nilecare.email 5", "sms.urgent nilecare.sms 10",
                                      "pharmacy.refill nilecare.pharmacy 0"}));
  EXPECT_NE(Summary(Load(WithBase("rabbitmq: {queues: [{name: a, exchange: x}]}\n")))
                .find("\n                   1 queues (max_priority=10): x->a(5)\n"),
            std::string::npos);
}

TEST(RabbitMqSectionTest, QueueProblems) {
  const std::string name_what =
      "expected a name of 1 to 200 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-', not "
      "starting with amq. (reserved by RabbitMQ) or nilecare.delay. (the gateway's delay "
      "queues), got ";
  EXPECT_EQ(ProblemsOf(WithBase(R"(rabbitmq:
  queues:
    - { name: amq.tasks, exchange: nilecare.email }
    - { name: 'a b', exchange: amq.direct }
    - { name: ok, exchange: '' }
    - { name: ok, exchange: x, priority: 11 }
    - { exchange: x, priority: -1 }
    - { name: failed.jobs, exchange: nilecare.dlq }
    - { name: failed.jobs.parked, exchange: y, priority: 256 }
    - email.high
)")),
            (std::vector<std::string>{
                "gw.yaml:4: rabbitmq.queues[0].name: " + name_what + "\"amq.tasks\"",
                "gw.yaml:5: rabbitmq.queues[1].name: " + name_what + "\"a b\"",
                "gw.yaml:5: rabbitmq.queues[1].exchange: " + name_what + "\"amq.direct\"",
                "gw.yaml:6: rabbitmq.queues[2].exchange: " + name_what + "\"\"",
                "gw.yaml:7: rabbitmq.queues[3].name: duplicate queue \"ok\" (first on line 6)",
                "gw.yaml:7: rabbitmq.queues[3].priority: is 11, more than max_priority (10)",
                "gw.yaml:8: rabbitmq.queues[4].name: required key is missing",
                "gw.yaml:8: rabbitmq.queues[4].priority: expected an integer between 0 and 255, "
                "got \"-1\"",
                "gw.yaml:9: rabbitmq.queues[5].name: is dead_letter.queue too: a work queue "
                "cannot also hold failed tasks",
                "gw.yaml:9: rabbitmq.queues[5].exchange: is dead_letter.exchange too "
                "(nilecare.dlq): give the work queues an exchange of their own",
                "gw.yaml:10: rabbitmq.queues[6].priority: expected an integer between 0 and 255, "
                "got \"256\"",
                "gw.yaml:10: rabbitmq.queues[6].name: is dead_letter.parking_queue too: a work "
                "queue cannot also hold failed tasks",
                "gw.yaml:11: rabbitmq.queues[7]: expected a mapping of settings, got "
                "\"email.high\"",
            }));
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  queues: []\n")),
            "gw.yaml:3: rabbitmq.queues: is empty: list the work queues, or leave queues out for "
            "the built-in ones");
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  queues:\n")),
            "gw.yaml:3: rabbitmq.queues: is empty: list the work queues, or leave queues out for "
            "the built-in ones");
  EXPECT_EQ(ProblemOf(Section("queues: [{name: a}]")),
            "gw.yaml:2: rabbitmq.queues[0].exchange: required key is missing");
  // 200 bytes: AMQP sends at most 255, and delay queue names add up to 26 to a queue's name.
  EXPECT_EQ(RabbitMqOf(Section("queues: [{name: " + std::string(200, 'q') + ", exchange: x}]"))
                .queues[0]
                .name.size(),
            200u);
  EXPECT_TRUE(
      Has(ProblemsOf(Section("queues: [{name: " + std::string(201, 'q') + ", exchange: x}]")),
          "rabbitmq.queues[0].name: " + name_what));
  EXPECT_TRUE(Has(ProblemsOf(Section("queues: [{name: nilecare.delay.x, exchange: x}]")),
                  "rabbitmq.queues[0].name: " + name_what + "\"nilecare.delay.x\""));
}

TEST(RabbitMqSectionTest, BuiltInQueuesAgainstOtherKeys) {
  // The built-in queues clash with what the operator wrote: reported at that key.
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  max_priority: 5\n")),
            "gw.yaml:3: rabbitmq.max_priority: is 5, less than the priority of the built-in "
            "queue email.high (10): list the queues under queues:");
  EXPECT_EQ(ProblemsOf(WithBase("rabbitmq:\n  dead_letter:\n    exchange: nilecare.sms\n")),
            (std::vector<std::string>{
                "gw.yaml:4: rabbitmq.dead_letter.exchange: is nilecare.sms, the exchange of the "
                "work queue sms.urgent (rabbitmq.queues)",
                "gw.yaml:4: rabbitmq.dead_letter.exchange: is nilecare.sms, the exchange of the "
                "work queue sms.normal (rabbitmq.queues)",
            }));
  EXPECT_EQ(
      ProblemsOf(WithBase("rabbitmq:\n  dead_letter:\n    exchange: nilecare.email\n")).size(),
      3u);  // email.high, email.normal, email.low
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  dead_letter:\n    queue: email.low\n")),
            "gw.yaml:4: rabbitmq.dead_letter.queue: is email.low, a work queue (rabbitmq.queues)");
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  dead_letter:\n    parking_queue: reports.pdf\n")),
            "gw.yaml:4: rabbitmq.dead_letter.parking_queue: is reports.pdf, a work queue "
            "(rabbitmq.queues)");
}

TEST(RabbitMqSectionTest, DeadLetterProblems) {
  const std::string retry_what = "expected a duration like 5m, or off, got ";
  EXPECT_EQ(ProblemOf(Section("dead_letter: {retry_after: 5}")),
            "gw.yaml:2: rabbitmq.dead_letter.retry_after: " + retry_what + "\"5\"");
  EXPECT_EQ(ProblemOf(Section("dead_letter: {retry_after: never}")),
            "gw.yaml:2: rabbitmq.dead_letter.retry_after: " + retry_what + "\"never\"");
  EXPECT_EQ(ProblemOf(Section("dead_letter: {retry_after: 4294967296ms}")),
            "gw.yaml:2: rabbitmq.dead_letter.retry_after: expected a duration of at most "
            "4294967295ms (RabbitMQ's limit for x-message-ttl), or off, got \"4294967296ms\"");
  EXPECT_EQ(RabbitMqOf(Section("dead_letter: {retry_after: 4294967295ms}")).dead_letter.retry_after,
            4294967295ms);
  EXPECT_EQ(RabbitMqOf(Section("dead_letter: {retry_after: 0s}")).dead_letter.retry_after, 0s);
  EXPECT_EQ(RabbitMqOf(Section("dead_letter: {retry_after: 'off'}")).dead_letter.retry_after, 0s);
  EXPECT_EQ(ProblemOf(Section("dead_letter: {max_rounds: 0}")),
            "gw.yaml:2: rabbitmq.dead_letter.max_rounds: expected an integer of at least 1, got "
            "\"0\"");
  EXPECT_EQ(ProblemOf(Section("dead_letter: {exchange: amq.fanout}")),
            "gw.yaml:2: rabbitmq.dead_letter.exchange: expected a name of 1 to 200 characters of "
            "A-Z, a-z, 0-9, '.', '_', ':' and '-', not starting with amq. (reserved by RabbitMQ) "
            "or nilecare.delay. (the gateway's delay queues), got \"amq.fanout\"");
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  dead_letter:\n    queue: x\n    parking_queue: x\n")),
            "gw.yaml:5: rabbitmq.dead_letter.parking_queue: parking_queue and queue are both x: "
            "parked tasks would go back to work after retry_after");
  EXPECT_EQ(ProblemOf(WithBase("rabbitmq:\n  dead_letter:\n    queue: failed.jobs.parked\n")),
            "gw.yaml:4: rabbitmq.dead_letter.queue: parking_queue and queue are both "
            "failed.jobs.parked: parked tasks would go back to work after retry_after");
  EXPECT_EQ(ProblemOf(Section("dead_letter: off")),
            "gw.yaml:2: rabbitmq.dead_letter: expected a mapping of settings, got \"off\"");
}

// ---- workers --------------------------------------------------------------------------------

// Upstreams for the workers' handler URLs, on line 2; the tests' rabbitmq: starts on line 3
// and its first worker is on line 5.
constexpr std::string_view kUpstreams =
    "upstreams: {notifications: {url: 'http://notify.internal:7060'}, "
    "reports: {url: 'http://127.0.0.1:7070/api/v1'}, "
    "reports-pdf: {url: 'http://127.0.0.1:7070/api/v1/pdf'}}\n";

// Workers need the REST adapter, which runs with routes only: one after the workers.
constexpr std::string_view kRoute =
    "routes: [{prefix: /api/v1/notifications, upstream: "
    "notifications, auth: none}]\n";

std::string WithWorkers(std::string_view workers) {
  return std::string(kBase) + std::string(kUpstreams) + "rabbitmq:\n  workers:\n" +
         std::string(workers) + std::string(kRoute);
}

// The one worker of `worker` (its mapping).
TaskWorkerSettings WorkerOf(std::string_view worker) {
  const RabbitMqSettings r = RabbitMqOf(WithWorkers("    - " + std::string(worker) + "\n"));
  if (r.workers.size() != 1) {
    ADD_FAILURE() << "expected one worker:\n" << worker;
    return {};
  }
  return r.workers[0];
}

std::string WorkerProblem(std::string_view worker) {
  return ProblemOf(WithWorkers("    - " + std::string(worker) + "\n"));
}

TEST(RabbitMqSectionTest, WorkerDefaults) {
  const TaskWorkerSettings w =
      WorkerOf("{queue: email.normal, handler_url: 'http://notify.internal:7060/tasks/email'}");
  EXPECT_EQ(w.queue, "email.normal");
  EXPECT_EQ(w.handler_url, "http://notify.internal:7060/tasks/email");
  EXPECT_EQ(w.upstream, "notifications");
  EXPECT_EQ(w.path, "/tasks/email");
  EXPECT_EQ(w.prefetch, 5u);
  EXPECT_EQ(w.concurrency, 5u);
  EXPECT_EQ(w.max_retries, 3);
  EXPECT_EQ(w.retry_min, 1s);
  EXPECT_EQ(w.retry_max, 1min);
  EXPECT_EQ(w.timeout, 0s);
  EXPECT_EQ(w.pause_on_open, 5s);
}

TEST(RabbitMqSectionTest, ReadsWorkers) {
  const RabbitMqSettings r = RabbitMqOf(WithWorkers(R"(    - queue: email.normal
      handler_url: http://notify.internal:7060/tasks/email
      prefetch: 20
      concurrency: 8
      max_retries: 0
      retry_min: 2s
      retry_max: 10m
      timeout: 45s
      pause_on_open: 30s
    - { queue: reports.pdf, handler_url: 'http://127.0.0.1:7070/api/v1/pdf/render?format=a4' }
)"));
  ASSERT_EQ(r.workers.size(), 2u);
  const TaskWorkerSettings& w = r.workers[0];
  EXPECT_EQ(w.prefetch, 20u);
  EXPECT_EQ(w.concurrency, 8u);
  EXPECT_EQ(w.max_retries, 0);
  EXPECT_EQ(w.retry_min, 2s);
  EXPECT_EQ(w.retry_max, 10min);
  EXPECT_EQ(w.timeout, 45s);
  EXPECT_EQ(w.pause_on_open, 30s);
  EXPECT_EQ(r.workers[1].upstream, "reports-pdf");
  EXPECT_EQ(r.workers[1].path, "/render?format=a4");

  const std::string summary = Summary(Load(WithWorkers(R"(    - queue: email.normal
      handler_url: http://notify.internal:7060/tasks/email
      timeout: 45s
    - { queue: reports.pdf, handler_url: 'http://127.0.0.1:7070/api/v1/pdf/render?format=a4' }
)")));
  EXPECT_NE(summary.find(R"(
                   worker email.normal -> notifications/tasks/email prefetch=5 concurrency=5
                     max_retries=3 retry=1s..1m timeout=45s pause_on_open=5s
                   worker reports.pdf -> reports-pdf/render?format=a4 prefetch=5 concurrency=5
                     max_retries=3 retry=1s..1m timeout=(the upstream's) pause_on_open=5s
)"),
            std::string::npos)
      << summary;
}

TEST(RabbitMqSectionTest, HandlerUrlResolvesToAnUpstream) {
  struct Case {
    const char* url;
    const char* upstream;
    const char* path;
  };
  for (const Case& c : {
           Case{"http://notify.internal:7060/tasks/email", "notifications", "/tasks/email"},
           Case{"http://notify.internal:7060", "notifications", "/"},
           Case{"http://notify.internal:7060/", "notifications", "/"},
           Case{"http://NOTIFY.internal:7060/a", "notifications", "/a"},
           Case{"http://notify.internal:7060?x=1", "notifications", "/?x=1"},
           Case{"http://notify.internal:7060/a?x=1&y=%20", "notifications", "/a?x=1&y=%20"},
           // Below the base path, at a segment boundary; the longest base path wins.
           Case{"http://127.0.0.1:7070/api/v1/tasks", "reports", "/tasks"},
           Case{"http://127.0.0.1:7070/api/v1", "reports", "/"},
           Case{"http://127.0.0.1:7070/api/v1/pdfs", "reports", "/pdfs"},
           Case{"http://127.0.0.1:7070/api/v1/pdf", "reports-pdf", "/"},
           Case{"http://127.0.0.1:7070/api/v1/pdf/x", "reports-pdf", "/x"},
       }) {
    SCOPED_TRACE(c.url);
    const TaskWorkerSettings w =
        WorkerOf(std::string("{queue: email.high, handler_url: '") + c.url + "'}");
    EXPECT_EQ(w.handler_url, c.url);
    EXPECT_EQ(w.upstream, c.upstream);
    EXPECT_EQ(w.path, c.path);
  }
}

TEST(RabbitMqSectionTest, HandlerUrlProblems) {
  const std::string no_upstream_end =
      "; add one (its pool, timeouts and circuit breaker apply to the handler)";
  for (const char* url : {"http://x:1/y", "http://notify.internal:7061/a", "http://notify:7060/a",
                          "http://127.0.0.1:7070/api", "http://127.0.0.1:7070/api/v2/x",
                          "http://127.0.0.1:7070/", "http://x:1/"}) {
    EXPECT_EQ(WorkerProblem(std::string("{queue: email.high, handler_url: '") + url + "'}"),
              "gw.yaml:5: rabbitmq.workers[0].handler_url: no upstream in upstreams: serves " +
                  std::string(url) + no_upstream_end);
  }
  // An upstream whose url was refused serves nothing.
  EXPECT_EQ(ProblemsOf(WithBase("upstreams: {x: {url: 'https://x:1'}}\nrabbitmq:\n  workers: "
                                "[{queue: email.high, handler_url: 'http://x:1/y'}]\n"
                                "routes: [{prefix: /a, upstream: x, auth: none}]\n")),
            (std::vector<std::string>{
                "gw.yaml:2: upstreams.x.url: https upstreams are not supported: terminate TLS in "
                "a sidecar",
                "gw.yaml:4: rabbitmq.workers[0].handler_url: no upstream in upstreams: serves "
                "http://x:1/y" +
                    no_upstream_end,
            }));
  // Without upstreams: (and so without routes:).
  EXPECT_EQ(ProblemsOf(WithBase("rabbitmq:\n  workers: [{queue: email.high, handler_url: "
                                "'http://x:1/y'}]\n")),
            (std::vector<std::string>{
                "gw.yaml:3: rabbitmq.workers[0].handler_url: no upstream in upstreams: serves "
                "http://x:1/y" +
                    no_upstream_end,
                "gw.yaml:3: rabbitmq.workers: need the REST adapter, which runs only with routes: "
                "(handlers are called through its upstreams); add a route",
            }));
  EXPECT_EQ(WorkerProblem("{queue: email.high, handler_url: 'https://notify.internal:7060/a'}"),
            "gw.yaml:5: rabbitmq.workers[0].handler_url: https is not supported: terminate TLS "
            "in a sidecar and point an upstream at it");
  for (const char* url : {"notify.internal:7060/a", "http://notify.internal:7060/a b",
                          "http://notify.internal:7060/a//b", "http://notify.internal:7060/a#b",
                          "http://notify.internal:7060/a?b#c", "http://u:p@notify.internal:7060/",
                          "http://notify.internal:7060/a?b c"}) {
    EXPECT_EQ(WorkerProblem(std::string("{queue: email.high, handler_url: '") + url + "'}"),
              "gw.yaml:5: rabbitmq.workers[0].handler_url: expected an http URL like "
              "http://notifications:7060/tasks/email, got \"" +
                  std::string(url) + "\"");
  }
}

TEST(RabbitMqSectionTest, WorkerProblems) {
  const std::string url = "handler_url: 'http://notify.internal:7060/t'";
  EXPECT_EQ(ProblemsOf(WithWorkers("    - {}\n")),
            (std::vector<std::string>{
                "gw.yaml:5: rabbitmq.workers[0].queue: required key is missing",
                "gw.yaml:5: rabbitmq.workers[0].handler_url: required key is missing",
            }));
  EXPECT_EQ(WorkerProblem("{queue: email.urgent, " + url + "}"),
            "gw.yaml:5: rabbitmq.workers[0].queue: unknown queue \"email.urgent\" (known: "
            "email.high, email.normal, email.low, sms.urgent, sms.normal, reports.pdf, "
            "reports.excel)");
  EXPECT_EQ(ProblemsOf(WithWorkers("    - {queue: sms.urgent, " + url +
                                   "}\n    - {queue: "
                                   "sms.normal, " +
                                   url + "}\n    - {queue: sms.urgent, " + url + "}\n"))
                .back(),
            "gw.yaml:7: rabbitmq.workers[2].queue: has a worker already (line 5): one worker per "
            "queue; raise its concurrency instead");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", prefetch: 0}"),
            "gw.yaml:5: rabbitmq.workers[0].prefetch: expected an integer between 1 and 65535, "
            "got \"0\"");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", prefetch: 65536}"),
            "gw.yaml:5: rabbitmq.workers[0].prefetch: expected an integer between 1 and 65535, "
            "got \"65536\"");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", concurrency: 0}"),
            "gw.yaml:5: rabbitmq.workers[0].concurrency: expected an integer between 1 and "
            "65535, got \"0\"");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", prefetch: 4, concurrency: 5}"),
            "gw.yaml:5: rabbitmq.workers[0].concurrency: is 5, more than prefetch (4): the broker "
            "never hands this worker more tasks at once");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", max_retries: 101}"),
            "gw.yaml:5: rabbitmq.workers[0].max_retries: expected an integer between 0 and 100, "
            "got \"101\"");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", retry_min: 0s}"),
            "gw.yaml:5: rabbitmq.workers[0].retry_min: expected a duration between 1ms and "
            "720h, got \"0s\"");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", retry_max: 1200h}"),
            "gw.yaml:5: rabbitmq.workers[0].retry_max: expected a duration between 1ms and "
            "720h, got \"1200h\"");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", retry_min: 2m}"),
            "gw.yaml:5: rabbitmq.workers[0].retry_max: is 1m, less than retry_min (2m)");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", timeout: -1s}"),
            "gw.yaml:5: rabbitmq.workers[0].timeout: expected a duration like 10s or 250ms, got "
            "\"-1s\"");
  EXPECT_EQ(WorkerProblem("{queue: sms.urgent, " + url + ", pause_on_open: 0s}"),
            "gw.yaml:5: rabbitmq.workers[0].pause_on_open: expected a duration greater than 0s, "
            "got \"0s\"");
  EXPECT_EQ(ProblemOf(Section("workers: {queue: a}")),
            "gw.yaml:2: rabbitmq.workers: expected a list of mappings (one \"- { ... }\" per "
            "item), got a mapping");
  // No workers: publish only.
  EXPECT_TRUE(RabbitMqOf(Section("workers: []")).workers.empty());
}

TEST(RabbitMqSectionTest, WorkersNeedRoutes) {
  const std::string workers = std::string(kBase) + std::string(kUpstreams) +
                              "rabbitmq:\n  workers:\n    - {queue: email.high, handler_url: "
                              "'http://notify.internal:7060/a'}\n";
  EXPECT_EQ(ProblemOf(workers),
            "gw.yaml:4: rabbitmq.workers: need the REST adapter, which runs only with routes: "
            "(handlers are called through its upstreams); add a route");
  EXPECT_EQ(RabbitMqOf(workers + std::string(kRoute)).workers.size(), 1u);
  // Publishing alone needs no routes.
  EXPECT_TRUE(RabbitMqOf(std::string(kBase) + "rabbitmq: {workers: []}\n").workers.empty());
}

TEST(RabbitMqSectionTest, ConcurrencyDefaultsToAtMostPrefetch) {
  const std::string worker = "{queue: sms.urgent, handler_url: 'http://notify.internal:7060/t'";
  EXPECT_EQ(WorkerOf(worker + ", prefetch: 2}").concurrency, 2u);
  EXPECT_EQ(WorkerOf(worker + ", prefetch: 1}").concurrency, 1u);
  EXPECT_EQ(WorkerOf(worker + ", prefetch: 50}").concurrency, 5u);
  EXPECT_EQ(WorkerOf(worker + ", prefetch: 50, concurrency: 50}").concurrency, 50u);
  EXPECT_EQ(WorkerOf(worker + ", prefetch: 3, concurrency: 1}").concurrency, 1u);
}

// ---- events: task actions and the built-in rules ---------------------------------------------

// kafka: with its consumer, for events:; lines 1-2, the tests' sections start on line 3.
constexpr std::string_view kEventsBase = "service: {}\nkafka: {}\n";

// One rule with `action` after `rabbitmq` (one line: the action is on line 8; or none: line 7).
std::string WithTaskAction(std::string_view rabbitmq, std::string_view action) {
  return std::string(kEventsBase) + std::string(rabbitmq) +
         "events:\n  rules:\n    - match: 'lab.*'\n      actions:\n        - " +
         std::string(action) + "\n";
}

TEST(RabbitMqSectionTest, TaskActionsGoToItsQueues) {
  const GatewaySettings s = Load(WithTaskAction(
      "rabbitmq: {max_priority: 20, queues: [{name: jobs, exchange: x}, {name: sms, exchange: "
      "x}]}\n",
      "task: {queue: sms, priority: 20}"));
  ASSERT_TRUE(s.events.has_value());
  ASSERT_EQ(s.events->rules.size(), 1u);
  const EventAction& action = s.events->rules[0].actions[0];
  EXPECT_EQ(action.kind, EventAction::Kind::kTask);
  EXPECT_EQ(action.task.queue, "sms");
  EXPECT_EQ(action.task.priority, 20);
  EXPECT_NE(Summary(s).find("\n                   lab.* -> task sms priority=20\n"),
            std::string::npos)
      << Summary(s);
  // Without priority: the queue's own (-1).
  const GatewaySettings queue_default =
      Load(WithTaskAction("rabbitmq: {}\n", "task: {queue: email.low}"));
  EXPECT_EQ(queue_default.events->rules[0].actions[0].task.priority, -1);
  EXPECT_NE(Summary(queue_default).find("lab.* -> task email.low\n"), std::string::npos);
}

TEST(RabbitMqSectionTest, TaskActionProblems) {
  EXPECT_EQ(ProblemOf(WithTaskAction("rabbitmq: {}\n", "task: {queue: email.urgent}")),
            "gw.yaml:8: events.rules[0].actions[0].task.queue: unknown queue \"email.urgent\" "
            "(known: email.high, email.normal, email.low, sms.urgent, sms.normal, reports.pdf, "
            "reports.excel)");
  EXPECT_EQ(ProblemOf(WithTaskAction("rabbitmq: {}\n", "task: {queue: sms.urgent, priority: 11}")),
            "gw.yaml:8: events.rules[0].actions[0].task.priority: is 11, more than "
            "rabbitmq.max_priority (10)");
  EXPECT_EQ(ProblemOf(WithTaskAction("rabbitmq: {}\n", "task: {queue: sms.urgent, priority: -1}")),
            "gw.yaml:8: events.rules[0].actions[0].task.priority: expected an integer of at least "
            "0, got \"-1\"");
  EXPECT_EQ(ProblemOf(WithTaskAction("rabbitmq: {}\n", "task: {priority: 1}")),
            "gw.yaml:8: events.rules[0].actions[0].task.queue: required key is missing");
  EXPECT_EQ(ProblemOf(WithTaskAction("rabbitmq: {}\n", "task: {queue: sms.urgent, priorty: 1}")),
            "gw.yaml:8: events.rules[0].actions[0].task.priorty: unknown key (did you mean "
            "\"priority\"?)");
  EXPECT_EQ(ProblemOf(WithTaskAction("rabbitmq: {}\n", "task: sms.urgent")),
            "gw.yaml:8: events.rules[0].actions[0].task: expected a mapping of settings, got "
            "\"sms.urgent\"");
  // Without the section, the action itself is refused (its keys are still read).
  EXPECT_EQ(ProblemOf(WithTaskAction("", "task: {queue: sms.urgent, priority: 99}")),
            "gw.yaml:7: events.rules[0].actions[0].task: task actions need the rabbitmq: section "
            "(tasks are published to its queues)");
  // Whatever the order of the sections in the file.
  EXPECT_TRUE(Load(std::string(kEventsBase) +
                   "events:\n  rules:\n    - match: a\n      actions: [{task: {queue: x}}]\n"
                   "rabbitmq: {queues: [{name: x, exchange: y}]}\n")
                  .events.has_value());
}

TEST(RabbitMqSectionTest, TaskActionsHaveTheSameTextsAsTheSharedChecks) {
  const std::string rabbitmq =
      "rabbitmq: {max_priority: 3, queues: [{name: a, exchange: x, "
      "priority: 1}, {name: b, exchange: x, priority: 1}]}\n";
  const std::vector<std::string> loader =
      ProblemsOf(std::string(kEventsBase) + rabbitmq + R"(events:
  rules:
    - match: 'lab.*'
      actions:
        - task: {queue: c, priority: 2}
        - task: {queue: a, priority: 4}
        - task: {queue: b}
)");
  EventRule rule{"lab.*", {}, ""};
  for (const auto& [queue, priority] : {std::pair<const char*, int>{"c", 2}, {"a", 4}, {"b", -1}}) {
    EventAction task;
    task.kind = EventAction::Kind::kTask;
    task.task = {queue, priority};
    rule.actions.push_back(task);
  }
  RabbitMqSettings settings;
  settings.max_priority = 3;
  settings.queues = {{"a", "x", 1}, {"b", "x", 1}};
  std::vector<std::string> shared;
  for (const std::string& problem : EventRuleProblems(rule, {}, settings)) {
    shared.push_back("events.rules[0]." + problem);
  }
  std::vector<std::string> stripped;
  for (const std::string& problem : loader) {
    stripped.push_back(problem.substr(problem.find(": ") + 2));
  }
  EXPECT_EQ(stripped, shared);
  EXPECT_EQ(shared.size(), 2u) << ::testing::PrintToString(shared);
}

TEST(RabbitMqSectionTest, BuiltInEventRulesSendTheirTasks) {
  const GatewaySettings s = Load(std::string(kEventsBase) + "rabbitmq: {}\n");
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
  EXPECT_NE(Summary(s).find(R"(
  events:          built-in rules (no events: section):
                   appointment.*        -> emit appointment:updated to user:{data.patient_id},user:{data.doctor_id}; task email.normal
                   lab.result.critical  -> emit alert:critical (critical) to patient:{data.patient_id},role:doctor; task sms.urgent priority=10
                   lab.result.available -> emit notification:new to user:{data.patient_id},user:{data.doctor_id}
)"),
            std::string::npos)
      << Summary(s);
}

TEST(RabbitMqSectionTest, BuiltInEventRulesWithoutTheirQueues) {
  const std::string warning =
      "gw.yaml:3: rabbitmq: the built-in event rules run without their tasks, as "
      "rabbitmq.queues lacks ";
  for (const auto& [rabbitmq, missing] : {
           std::pair<const char*, const char*>{
               "rabbitmq: {queues: [{name: email.normal, exchange: e}]}\n", "sms.urgent (add it"},
           {"rabbitmq: {queues: [{name: sms.urgent, exchange: s}]}\n", "email.normal (add it"},
           {"rabbitmq: {queues: [{name: a, exchange: s}]}\n",
            "email.normal and sms.urgent (add them"},
       }) {
    SCOPED_TRACE(rabbitmq);
    const GatewaySettings s = Load(std::string(kEventsBase) + rabbitmq);
    const std::string expected = warning + missing + ", or write events.rules)";
    EXPECT_EQ(s.warnings, std::vector<std::string>{expected});
    const std::string summary = Summary(s);
    EXPECT_EQ(summary.find("; task "), std::string::npos) << summary;
    EXPECT_NE(summary.find("  warnings:\n    " + expected + "\n"), std::string::npos) << summary;
  }
  // Only the names count: the broker caps sms.urgent's priority 10 at max_priority.
  const GatewaySettings capped = Load(std::string(kEventsBase) +
                                      "rabbitmq: {max_priority: 9, queues: [{name: email.normal, "
                                      "exchange: e}, {name: sms.urgent, exchange: s, priority: "
                                      "9}]}\n");
  EXPECT_TRUE(capped.warnings.empty()) << ::testing::PrintToString(capped.warnings);
  EXPECT_NE(Summary(capped).find("; task sms.urgent priority=10\n"), std::string::npos);
  // Only when the built-in rules apply: not with rules of one's own, nor without a consumer.
  const char* queues = "rabbitmq: {queues: [{name: a, exchange: e}]}\n";
  EXPECT_TRUE(Load(std::string(kEventsBase) + queues + "events: {rules: []}\n").warnings.empty());
  EXPECT_TRUE(Load(std::string("service: {}\nkafka: {consumer: off}\n") + queues).warnings.empty());
  EXPECT_TRUE(Load(WithBase(queues)).warnings.empty());
}

}  // namespace
