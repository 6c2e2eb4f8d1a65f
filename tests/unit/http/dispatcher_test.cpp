#include "nilecare/http/dispatcher.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace nilecare::http {
namespace {

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto named = [this](std::string name) {
      return [this, name](RequestContext&, Request&, Responder respond) {
        hit_ = name;
        Response response{Status::ok, 11};
        respond(std::move(response));
      };
    };
    dispatcher_.AddExact("/health", {Verb::get}, "health", named("health"));
    dispatcher_.AddPrefix("/api/v1/staff", {}, "staff", named("staff"));
    dispatcher_.AddPrefix("/api/v1/staff/reports/", {Verb::get}, "staff-reports",
                          named("staff-reports"));
    dispatcher_.AddPrefix("/api/v1", {Verb::get, Verb::post}, "api", named("api"));
    dispatcher_.AddPattern("/api/v1/staff/*/vitals/latest", {Verb::get}, "staff-vitals",
                           named("staff-vitals"));
  }

  Response Dispatch(Verb method, std::string target) {
    Request request{method, target, 11};
    RequestContext context;
    context.request_id = "r";
    Response result;
    hit_.clear();
    dispatcher_.Dispatch(context, request, [&](Response&& response) { result = std::move(response); });
    route_ = context.route;
    return result;
  }

  Dispatcher dispatcher_;
  std::string hit_;
  std::string route_;
};

TEST_F(DispatcherTest, ExactAndLongestPrefixWin) {
  EXPECT_EQ(Dispatch(Verb::get, "/health").result(), Status::ok);
  EXPECT_EQ(hit_, "health");
  Dispatch(Verb::delete_, "/api/v1/staff/7");
  EXPECT_EQ(hit_, "staff");
  EXPECT_EQ(route_, "staff");
  Dispatch(Verb::get, "/api/v1/staff/reports/monthly?x=1");
  EXPECT_EQ(hit_, "staff-reports");
  Dispatch(Verb::get, "/api/v1/staff");
  EXPECT_EQ(hit_, "staff");
  Dispatch(Verb::get, "/api/v1/staff/");
  EXPECT_EQ(hit_, "staff");
}

TEST_F(DispatcherTest, PrefixesMatchWholeSegmentsOnly) {
  Dispatch(Verb::get, "/api/v1/staffing");
  EXPECT_EQ(hit_, "api");
}

TEST_F(DispatcherTest, UnknownPathIs404) {
  const auto response = Dispatch(Verb::get, "/nope");
  EXPECT_EQ(response.result(), Status::not_found);
  EXPECT_TRUE(hit_.empty());
  EXPECT_EQ(route_, "unmatched");
  EXPECT_EQ(nlohmann::json::parse(response.body())["error"]["code"], "NOT_FOUND");
}

TEST_F(DispatcherTest, WrongMethodIs405WithAllow) {
  const auto response = Dispatch(Verb::delete_, "/api/v1/other");
  EXPECT_EQ(response.result(), Status::method_not_allowed);
  EXPECT_EQ(response[beast_http::field::allow], "GET, POST");
  EXPECT_TRUE(hit_.empty());
}

TEST_F(DispatcherTest, HeadIsAllowedWhereGetIs) {
  Dispatch(Verb::head, "/health");
  EXPECT_EQ(hit_, "health");
}

TEST_F(DispatcherTest, PatternsWinOverPrefixesAndMatchOneSegmentPerStar) {
  EXPECT_EQ(Dispatch(Verb::get, "/api/v1/staff/P-1/vitals/latest").result(), Status::ok);
  EXPECT_EQ(hit_, "staff-vitals");
  EXPECT_EQ(route_, "staff-vitals");
  Dispatch(Verb::get, "/api/v1/staff/P-1/vitals/latest/");
  EXPECT_EQ(hit_, "staff-vitals");
  Dispatch(Verb::get, "/api/v1/staff/P-1/x/vitals/latest");
  EXPECT_EQ(hit_, "staff");
  Dispatch(Verb::get, "/api/v1/staff/P-1/vitals");
  EXPECT_EQ(hit_, "staff");
  EXPECT_EQ(Dispatch(Verb::post, "/api/v1/staff/P-1/vitals/latest").result(),
            Status::method_not_allowed);
}

TEST(PathSegmentsTest, SplitsOnSlashes) {
  EXPECT_EQ(PathSegments("/a/b/"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(PathSegments("/"), (std::vector<std::string_view>{}));
  EXPECT_EQ(PathSegments("/api/v1/devices/d-1/vitals"),
            (std::vector<std::string_view>{"api", "v1", "devices", "d-1", "vitals"}));
}

TEST(DispatcherSafePathTest, AcceptsOrdinaryPaths) {
  EXPECT_EQ(Dispatcher::SafePath("/"), "/");
  EXPECT_EQ(Dispatcher::SafePath("/api/v1/staff/7?x=../y"), "/api/v1/staff/7");
  EXPECT_EQ(Dispatcher::SafePath("/a/b/"), "/a/b/");
  EXPECT_EQ(Dispatcher::SafePath("/a/..b/c.d"), "/a/..b/c.d");
  EXPECT_EQ(Dispatcher::SafePath("/files/report%20q3.pdf"), "/files/report%20q3.pdf");
}

TEST(DispatcherSafePathTest, RefusesWhatCouldBypassPrefixRouting) {
  for (const char* target :
       {"", "*", "http://evil/x", "/a/../b", "/a/./b", "/a/..", "/a/%2e%2e/b", "/a/%2E./b",
        "/a/.%2e", "/a%2fb", "/a%2Fb", "/a%5cb", "/a\\b", "/a//b", "//a", "/a%00b", "/a b",
        "/a\tb", "/a#b"}) {
    EXPECT_EQ(Dispatcher::SafePath(target), std::nullopt) << target;
  }
}

}  // namespace
}  // namespace nilecare::http

namespace nilecare::http {
namespace {

TEST(DispatcherUpgradeTest, UpgradeHandlersMatchWholeSegments) {
  Dispatcher dispatcher;
  dispatcher.AddUpgrade("/socket.io/", "realtime_websocket", [](WebSocketUpgrade&) {});
  std::string_view label;
  EXPECT_NE(dispatcher.FindUpgrade("/socket.io/", label), nullptr);
  EXPECT_EQ(label, "realtime_websocket");
  EXPECT_NE(dispatcher.FindUpgrade("/socket.io", label), nullptr);
  EXPECT_EQ(dispatcher.FindUpgrade("/socket.iox/", label), nullptr);
  EXPECT_EQ(dispatcher.FindUpgrade("/api/v1", label), nullptr);
  Dispatcher none;
  EXPECT_EQ(none.FindUpgrade("/socket.io/", label), nullptr);
}

}  // namespace
}  // namespace nilecare::http
