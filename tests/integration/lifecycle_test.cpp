// Process lifecycle against the real binary: SIGTERM drains in-flight requests and exits
// 0, the grace period bounds the drain, start-up failures are clear, JSON logs are JSON.

#include <gtest/gtest.h>
#include <signal.h>

#include <sstream>

#include "support/gateway_process.hpp"
#include "support/raw_http_client.hpp"

namespace nilecare::testing {
namespace {

std::string Config(const std::string& grace, const std::string& listen = "127.0.0.1:0",
                   const std::string& format = "text") {
  return "service: { name: lifecycle-test, threads: 2, shutdown_grace: " + grace +
         " }\nlog: { level: info, format: " + format + " }\nhttp:\n  listen: " + listen +
         "\n  body_timeout: 20s\n  header_timeout: 20s\n";
}

// The /metrics request itself is in flight while it renders, hence `expected` counts it.
bool WaitForInFlight(GatewayProcess& gateway, int expected) {
  const std::string line = "nilecare_http_requests_in_flight " + std::to_string(expected) + "\n";
  return WaitFor(
      [&] {
        auto metrics = HttpRequest(gateway.Port(), "GET", "/metrics");
        return metrics && metrics->body.find(line) != std::string::npos;
      },
      5s);
}

TEST(LifecycleTest, SigtermFinishesTheInFlightRequestThenExitsZero) {
  GatewayProcess gateway(Config("10s"));
  ASSERT_TRUE(gateway.Start()) << gateway.Output();
  ASSERT_TRUE(gateway.WaitReady()) << gateway.Output();

  // In flight: headers and half of the body sent.
  RawConnection in_flight(gateway.Port());
  ASSERT_TRUE(in_flight.Connected());
  ASSERT_TRUE(in_flight.Send("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde"));
  // Idle keep-alive connection that has finished its request.
  RawConnection idle(gateway.Port());
  ASSERT_TRUE(idle.Connected());
  ASSERT_TRUE(idle.Send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(idle.ReadResponse());
  ASSERT_TRUE(WaitFor([&] { return gateway.Output().find("route=health") != std::string::npos; }, 5s));

  gateway.Signal(SIGTERM);
  EXPECT_TRUE(idle.WaitClosed(3s)) << "idle connections are closed at once";
  EXPECT_TRUE(WaitFor([&] { return !RawConnection(gateway.Port()).Connected(); }, 3s))
      << "no new connections once draining";
  EXPECT_TRUE(gateway.Running()) << "must wait for the in-flight request";

  ASSERT_TRUE(in_flight.Send("fghij"));
  const auto response = in_flight.ReadResponse();
  ASSERT_TRUE(response) << gateway.Output();
  EXPECT_EQ(response->status, 404);
  EXPECT_FALSE(response->keep_alive) << "replies while draining carry Connection: close";

  EXPECT_EQ(gateway.WaitExit(5s), std::optional<int>(0)) << gateway.Output();
  EXPECT_NE(gateway.Output().find("shutdown requested"), std::string::npos);
  EXPECT_NE(gateway.Output().find("gateway stopped"), std::string::npos);
}

TEST(LifecycleTest, GraceBoundsTheDrain) {
  GatewayProcess gateway(Config("500ms"));
  ASSERT_TRUE(gateway.Start()) << gateway.Output();
  ASSERT_TRUE(gateway.WaitReady()) << gateway.Output();
  RawConnection stuck(gateway.Port());
  ASSERT_TRUE(stuck.Send("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"));
  ASSERT_TRUE(WaitForInFlight(gateway, 2));

  const auto signalled = std::chrono::steady_clock::now();
  gateway.Signal(SIGTERM);
  EXPECT_EQ(gateway.WaitExit(5s), std::optional<int>(0)) << gateway.Output();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 4s);
  EXPECT_NE(gateway.Output().find("shutdown grace expired"), std::string::npos)
      << gateway.Output();
  EXPECT_TRUE(stuck.WaitClosed(2s));
}

TEST(LifecycleTest, SecondSignalStopsWithoutWaiting) {
  GatewayProcess gateway(Config("60s"));
  ASSERT_TRUE(gateway.Start()) << gateway.Output();
  ASSERT_TRUE(gateway.WaitReady());
  RawConnection stuck(gateway.Port());
  ASSERT_TRUE(stuck.Send("POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"));
  ASSERT_TRUE(WaitForInFlight(gateway, 2));
  gateway.Signal(SIGTERM);
  ASSERT_TRUE(WaitFor([&] { return gateway.Output().find("shutdown requested") != std::string::npos; }, 5s));
  gateway.Signal(SIGINT);
  EXPECT_EQ(gateway.WaitExit(5s), std::optional<int>(0)) << gateway.Output();
}

TEST(LifecycleTest, PortInUseIsAClearStartupFailure) {
  GatewayProcess first(Config("1s"));
  ASSERT_TRUE(first.Start()) << first.Output();
  const std::string listen = "127.0.0.1:" + std::to_string(first.Port());
  GatewayProcess second(Config("1s", listen));
  second.Start(3s);
  EXPECT_EQ(second.WaitExit(10s), std::optional<int>(1)) << second.Output();
  EXPECT_NE(second.Output().find("cannot listen on " + listen), std::string::npos)
      << second.Output();
}

TEST(LifecycleTest, JsonLogLinesAreJsonWithRequestIds) {
  GatewayProcess gateway(Config("1s", "127.0.0.1:0", "json"));
  ASSERT_TRUE(gateway.Start()) << gateway.Output();
  ASSERT_TRUE(gateway.WaitReady());
  ASSERT_TRUE(HttpRequest(gateway.Port(), "GET", "/health",
                          {{"X-Request-ID", "json-log-probe"}, {"X-Correlation-ID", "c-1"}}));
  ASSERT_TRUE(WaitFor([&] { return gateway.Output().find("json-log-probe") != std::string::npos; }, 5s));
  gateway.Signal(SIGTERM);
  ASSERT_EQ(gateway.WaitExit(5s), std::optional<int>(0));

  std::istringstream lines(gateway.Output());
  std::string line;
  int parsed = 0;
  bool found_request = false;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const auto entry = nlohmann::json::parse(line);  // throws (fails) on a non-JSON line
    EXPECT_TRUE(entry.contains("ts"));
    EXPECT_TRUE(entry.contains("level"));
    EXPECT_TRUE(entry.contains("msg"));
    ++parsed;
    if (entry.value("request_id", "") == "json-log-probe") {
      found_request = true;
      EXPECT_EQ(entry["correlation_id"], "c-1");
      EXPECT_EQ(entry["route"], "health");
      EXPECT_EQ(entry["status"], 200);
    }
  }
  EXPECT_GE(parsed, 3);
  EXPECT_TRUE(found_request);
}

}  // namespace
}  // namespace nilecare::testing
