// The realtime: section (config/loader.cpp ParseRealtime).

#include <gtest/gtest.h>

#include "config_test_support.hpp"

namespace {

using nilecare::config::GatewaySettings;
using nilecare::config::test_support::kKiB;
using nilecare::config::test_support::Load;
using nilecare::config::test_support::ProblemOf;
using nilecare::config::test_support::ProblemsOf;
using namespace std::chrono_literals;

constexpr std::string_view kAuth =
    "service: {}\n"
    "auth: {jwt: {secret: '0123456789abcdef0123456789abcdef', issuer: i, audience: a}}\n";

std::string WithAuth(std::string_view rest) { return std::string(kAuth) + std::string(rest); }

TEST(RealtimeSectionTest, AbsentMeansOff) {
  EXPECT_FALSE(Load(kAuth).realtime.has_value());
}

TEST(RealtimeSectionTest, EmptySectionTakesTheDefaults) {
  const GatewaySettings s = Load(WithAuth("realtime:\n"));
  ASSERT_TRUE(s.realtime.has_value());
  EXPECT_EQ(s.realtime->path, "/socket.io/");
  EXPECT_EQ(s.realtime->ping_interval, 25s);
  EXPECT_EQ(s.realtime->ping_timeout, 20s);
  EXPECT_EQ(s.realtime->max_payload, 1000000u);
  EXPECT_EQ(s.realtime->recovery_window, 2min);
  EXPECT_EQ(s.realtime->patient_access.roles,
            (std::vector<std::string>{"doctor", "nurse", "admin"}));
  EXPECT_TRUE(s.realtime->internal_token.empty());
  EXPECT_FALSE(s.realtime->redis_fanout);
}

TEST(RealtimeSectionTest, ReadsEveryKey) {
  const GatewaySettings s = Load(WithAuth(R"(redis: {url: 'redis://127.0.0.1:6379'}
realtime:
  path: /ws
  ping_interval: 5s
  ping_timeout: 3s
  connect_timeout: 10s
  upgrade_timeout: 4s
  max_payload: 64KiB
  max_packets_per_poll: 10
  send_queue_packets: 100
  send_queue_bytes: 1MiB
  max_rooms_per_client: 20
  max_sessions: 300
  cors_origins: ['https://app.example', '*']
  recovery_window: 0s
  recovery_max_packets: 500
  patient_access:
    roles: [doctor]
    care_team_url: http://127.0.0.1:7010/api/v1/care-team/check
    cache_ttl: 10s
    cache_size: 50
    timeout: 1s
  internal_token: 'abcdefghijklmnopqrstuvwxyz0123456789'
  alert_ack_timeout: 15s
  alert_max_resends: 5
  redis_fanout: true
  redis_channel: rt
)"));
  const auto& rt = *s.realtime;
  EXPECT_EQ(rt.path, "/ws/");
  EXPECT_EQ(rt.ping_interval, 5s);
  EXPECT_EQ(rt.ping_timeout, 3s);
  EXPECT_EQ(rt.connect_timeout, 10s);
  EXPECT_EQ(rt.upgrade_timeout, 4s);
  EXPECT_EQ(rt.max_payload, 64 * kKiB);
  EXPECT_EQ(rt.max_packets_per_poll, 10u);
  EXPECT_EQ(rt.send_queue_packets, 100u);
  EXPECT_EQ(rt.send_queue_bytes, 1024 * kKiB);
  EXPECT_EQ(rt.max_rooms_per_client, 20u);
  EXPECT_EQ(rt.max_sessions, 300u);
  EXPECT_EQ(rt.cors_origins, (std::vector<std::string>{"https://app.example", "*"}));
  EXPECT_EQ(rt.recovery_window, 0s);
  EXPECT_EQ(rt.recovery_max_packets, 500u);
  EXPECT_EQ(rt.patient_access.roles, (std::vector<std::string>{"doctor"}));
  EXPECT_EQ(rt.patient_access.care_team_host, "127.0.0.1");
  EXPECT_EQ(rt.patient_access.care_team_port, 7010);
  EXPECT_EQ(rt.patient_access.care_team_path, "/api/v1/care-team/check");
  EXPECT_EQ(rt.patient_access.cache_ttl, 10s);
  EXPECT_EQ(rt.patient_access.cache_size, 50u);
  EXPECT_EQ(rt.patient_access.timeout, 1s);
  EXPECT_EQ(rt.internal_token, "abcdefghijklmnopqrstuvwxyz0123456789");
  EXPECT_EQ(rt.alert_ack_timeout, 15s);
  EXPECT_EQ(rt.alert_max_resends, 5);
  EXPECT_TRUE(rt.redis_fanout);
  EXPECT_EQ(rt.redis_channel, "rt");
}

TEST(RealtimeSectionTest, PathGetsOneTrailingSlash) {
  EXPECT_EQ(Load(WithAuth("realtime: {path: /socket.io/}\n")).realtime->path, "/socket.io/");
  EXPECT_EQ(Load(WithAuth("realtime: {path: /rt/v1}\n")).realtime->path, "/rt/v1/");
}

TEST(RealtimeSectionTest, NeedsJwtVerification) {
  EXPECT_EQ(ProblemOf("service: {}\nrealtime: {ping_interval: 5s}\n"),
            "gw.yaml:2: realtime: requires auth.jwt (Socket.IO clients send a JWT in their "
            "CONNECT packet)");
}

TEST(RealtimeSectionTest, FanoutNeedsRedis) {
  EXPECT_EQ(ProblemOf(WithAuth("realtime:\n  redis_fanout: true\n")),
            "gw.yaml:4: realtime.redis_fanout: requires the redis section (broadcasts go through "
            "Redis pub/sub)");
}

TEST(RealtimeSectionTest, ShortInternalTokenIsRefusedWithoutQuotingIt) {
  const std::string problem =
      ProblemOf(WithAuth("realtime:\n  internal_token: 'short-secret'\n"));
  EXPECT_EQ(problem,
            "gw.yaml:4: realtime.internal_token: must be at least 32 characters (or empty: "
            "loopback only)");
  EXPECT_EQ(problem.find("short-secret"), std::string::npos);
}

TEST(RealtimeSectionTest, BadValuesNameFileKeyAndLine) {
  const auto problems = ProblemsOf(WithAuth(R"(realtime:
  path: socket.io
  ping_interval: 0s
  cors_origins: ['app.example']
  patient_access:
    roles: ['bad role']
    care_team_url: ftp://x/y
  alert_max_resends: -1
  pign_timeout: 5s
)"));
  const auto has = [&](std::string_view text) {
    return std::any_of(problems.begin(), problems.end(), [&](const std::string& problem) {
      return problem.find(text) != std::string::npos;
    });
  };
  EXPECT_TRUE(has("gw.yaml:4: realtime.path: expected an absolute path")) << ::testing::PrintToString(problems);
  EXPECT_TRUE(has("gw.yaml:5: realtime.ping_interval:")) << ::testing::PrintToString(problems);
  EXPECT_TRUE(has("gw.yaml:6: realtime.cors_origins[0]: expected an origin"))
      << ::testing::PrintToString(problems);
  EXPECT_TRUE(has("gw.yaml:8: realtime.patient_access.roles[0]:"))
      << ::testing::PrintToString(problems);
  EXPECT_TRUE(has("gw.yaml:9: realtime.patient_access.care_team_url: expected an http URL"))
      << ::testing::PrintToString(problems);
  EXPECT_TRUE(has("gw.yaml:10: realtime.alert_max_resends:")) << ::testing::PrintToString(problems);
  EXPECT_TRUE(has("gw.yaml:11: realtime.pign_timeout: unknown key"))
      << ::testing::PrintToString(problems);
}

TEST(RealtimeSectionTest, SummaryNeverPrintsTheInternalToken) {
  const GatewaySettings s = Load(
      WithAuth("realtime:\n  internal_token: 'abcdefghijklmnopqrstuvwxyz0123456789'\n"));
  const std::string summary = nilecare::config::Summary(s);
  EXPECT_NE(summary.find("realtime:        path=/socket.io/"), std::string::npos) << summary;
  EXPECT_NE(summary.find("service token (set)"), std::string::npos) << summary;
  EXPECT_EQ(summary.find("abcdefghijklmnop"), std::string::npos) << summary;
}

}  // namespace
