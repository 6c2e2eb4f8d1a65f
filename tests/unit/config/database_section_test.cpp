// The database: section (config/loader.cpp ParseDatabase).

#include <gtest/gtest.h>

#include <algorithm>

#include "config_test_support.hpp"

namespace {

using nilecare::config::DatabaseSettings;
using nilecare::config::GatewaySettings;
using nilecare::config::test_support::Load;
using nilecare::config::test_support::ProblemOf;
using nilecare::config::test_support::ProblemsOf;
using namespace std::chrono_literals;

constexpr std::string_view kUrl = "postgres://nilecare:hunter2@127.0.0.1:5432/nilecare";

TEST(DatabaseSectionTest, AbsentMeansOff) {
  EXPECT_FALSE(Load("service: {}\n").database.has_value());
}

TEST(DatabaseSectionTest, UrlIsRequired) {
  EXPECT_EQ(ProblemOf("service: {}\ndatabase: {}\n"),
            "gw.yaml:2: database.url: required key is missing");
  // A section whose keys are all commented out is empty, so the URL is missing too.
  EXPECT_EQ(ProblemOf("service: {}\ndatabase:\n  # url: postgres://db/x\n"),
            "gw.yaml:2: database.url: required key is missing");
}

TEST(DatabaseSectionTest, UrlAloneTakesTheDefaults) {
  const GatewaySettings s = Load("service: {}\ndatabase:\n  url: '" + std::string(kUrl) + "'\n");
  ASSERT_TRUE(s.database.has_value());
  const DatabaseSettings built_in;
  EXPECT_EQ(s.database->url, kUrl);
  EXPECT_EQ(s.database->connect_timeout, built_in.connect_timeout);
  EXPECT_EQ(s.database->statement_timeout, built_in.statement_timeout);
  EXPECT_EQ(s.database->query_connections, built_in.query_connections);
  EXPECT_EQ(s.database->max_pending_queries, built_in.max_pending_queries);
  EXPECT_EQ(s.database->timescale, built_in.timescale);
  EXPECT_EQ(built_in.connect_timeout, 5s);
  EXPECT_EQ(built_in.statement_timeout, 10s);
  EXPECT_EQ(built_in.query_connections, 2);
  EXPECT_EQ(built_in.max_pending_queries, 256u);
  EXPECT_TRUE(built_in.timescale);
  EXPECT_TRUE(s.warnings.empty()) << ::testing::PrintToString(s.warnings);
}

TEST(DatabaseSectionTest, ReadsEveryKey) {
  const GatewaySettings s = Load(R"(service: {}
database:
  url: postgresql://gw@db.internal/vitals?sslmode=require
  connect_timeout: 3s
  statement_timeout: 1500ms
  query_connections: 64
  max_pending_queries: 100000
  timescale: false
)");
  const DatabaseSettings& db = *s.database;
  EXPECT_EQ(db.url, "postgresql://gw@db.internal/vitals?sslmode=require");
  EXPECT_EQ(db.connect_timeout, 3s);
  EXPECT_EQ(db.statement_timeout, 1500ms);
  EXPECT_EQ(db.query_connections, 64);
  EXPECT_EQ(db.max_pending_queries, 100000u);
  EXPECT_FALSE(db.timescale);
}

TEST(DatabaseSectionTest, UrlFromTheEnvironment) {
  const GatewaySettings s = Load("service: {}\ndatabase:\n  url: '${NILECARE_PG_URL}'\n",
                                 {{"NILECARE_PG_URL", std::string(kUrl)}});
  EXPECT_EQ(s.database->url, kUrl);
  EXPECT_EQ(ProblemOf("service: {}\ndatabase:\n  url: '${NILECARE_PG_URL}'\n"),
            "gw.yaml:3: ${NILECARE_PG_URL}: environment variable NILECARE_PG_URL is not set and "
            "has no default (write ${NILECARE_PG_URL:-default} to give one)");
}

TEST(DatabaseSectionTest, OtherSchemesAreRefusedWithoutQuotingThePassword) {
  const std::string problem =
      ProblemOf("service: {}\ndatabase:\n  url: 'mysql://gw:hunter2@db:3306/x'\n");
  EXPECT_EQ(problem,
            "gw.yaml:3: database.url: expected a libpq URL like "
            "postgres://user:password@host:5432/db (postgres:// or postgresql://), got "
            "\"mysql://(set)@db:3306/x\"");
  // A libpq key/value string is not a URL; its password is not quoted either.
  const std::string keywords =
      ProblemOf("service: {}\ndatabase:\n  url: 'host=db user=gw password=hunter2'\n");
  EXPECT_NE(keywords.find("got \"host=db user=gw password=(set)\""), std::string::npos) << keywords;
  // Nor one passed as a URL parameter.
  const std::string parameter =
      ProblemOf("service: {}\ndatabase:\n  url: 'pg://db/x?password=hunter2&sslmode=require'\n");
  EXPECT_NE(parameter.find("got \"pg://db/x?password=(set)&sslmode=require\""), std::string::npos)
      << parameter;
  for (const std::string& text : {problem, keywords, parameter}) {
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  }
  EXPECT_EQ(ProblemOf("service: {}\ndatabase: {url: ''}\n"),
            "gw.yaml:2: database.url: expected a libpq URL like "
            "postgres://user:password@host:5432/db (postgres:// or postgresql://), got \"\"");
}

TEST(DatabaseSectionTest, BadValuesNameFileKeyAndLine) {
  const auto problems = ProblemsOf(R"(service: {}
database:
  url: postgres://127.0.0.1/nilecare
  connect_timeout: 0s
  statement_timeout: 10
  query_connections: 65
  max_pending_queries: 0
  timescale: yes
  timescal: true
)");
  EXPECT_EQ(problems,
            (std::vector<std::string>{
                "gw.yaml:4: database.connect_timeout: expected a duration greater than 0s, got "
                "\"0s\"",
                "gw.yaml:5: database.statement_timeout: expected a duration with a unit like 10s "
                "or 250ms (a bare number is ambiguous: seconds or milliseconds?), got \"10\"",
                "gw.yaml:6: database.query_connections: expected an integer between 1 and 64, "
                "got \"65\"",
                "gw.yaml:7: database.max_pending_queries: expected an integer between 1 and "
                "100000, got \"0\"",
                "gw.yaml:8: database.timescale: expected true or false, got \"yes\"",
                "gw.yaml:9: database.timescal: unknown key (did you mean \"timescale\"?)",
            }));
}

TEST(DatabaseSectionTest, SummaryNeverPrintsThePassword) {
  const GatewaySettings s = Load("service: {}\ndatabase:\n  url: '" + std::string(kUrl) + "'\n");
  const std::string summary = nilecare::config::Summary(s);
  EXPECT_NE(summary.find("  database:        url=postgres://(set)@127.0.0.1:5432/nilecare "
                         "timescale=on\n"
                         "                   connect_timeout=5s statement_timeout=10s "
                         "queries: 2 connections, 256 pending\n"),
            std::string::npos)
      << summary;
  EXPECT_EQ(summary.find("hunter2"), std::string::npos) << summary;

  const GatewaySettings parameter =
      Load("service: {}\ndatabase:\n  url: 'postgres://db/x?sslmode=require&password=hunter2'\n");
  const std::string parameter_summary = nilecare::config::Summary(parameter);
  EXPECT_NE(parameter_summary.find("url=postgres://db/x?sslmode=require&password=(set) "),
            std::string::npos)
      << parameter_summary;
  EXPECT_EQ(parameter_summary.find("hunter2"), std::string::npos) << parameter_summary;
}

}  // namespace
