#include "kafka/client_config.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace nilecare::kafka {
namespace {

std::string Get(const ConfPtr& conf, const char* name) {
  char value[512] = {};
  std::size_t size = sizeof value;
  if (rd_kafka_conf_get(conf.get(), name, value, &size) != RD_KAFKA_CONF_OK) return "<unset>";
  return value;
}

config::KafkaSettings Settings() {
  config::KafkaSettings settings;
  settings.brokers = {"k1:9092", "k2:9093"};
  settings.client_id = "gw-test";
  return settings;
}

TEST(ClientConfigTest, SetsBootstrapClientIdAndAShortReconnectBackOff) {
  const auto conf = MakeClientConfig(Settings(), "", {});
  EXPECT_EQ(Get(conf, "bootstrap.servers"), "k1:9092,k2:9093");
  EXPECT_EQ(Get(conf, "client.id"), "gw-test");
  // librdkafka's 10 s default let a down cluster hold messages past delivery_timeout.
  EXPECT_EQ(Get(conf, "reconnect.backoff.max.ms"), "1000");
}

TEST(ClientConfigTest, AGivenBootstrapReplacesTheBrokers) {
  EXPECT_EQ(Get(MakeClientConfig(Settings(), "127.0.0.1:1", {}), "bootstrap.servers"),
            "127.0.0.1:1");
}

TEST(ClientConfigTest, PropertiesOverrideTheDefaultsButNotTheCallersOwn) {
  auto settings = Settings();
  settings.properties = {{"reconnect.backoff.max.ms", "5000"}, {"linger.ms", "50"}};
  const auto conf = MakeClientConfig(settings, "", {{"linger.ms", "5"}});
  EXPECT_EQ(Get(conf, "reconnect.backoff.max.ms"), "5000");
  EXPECT_EQ(Get(conf, "linger.ms"), "5");
}

TEST(ClientConfigTest, ARefusedPropertyIsNamedWithoutItsValue) {
  auto settings = Settings();
  settings.properties = {{"security.protocol", "s3cret-value"}};
  try {
    (void)MakeClientConfig(settings, "", {});
    FAIL() << "an invalid value must be refused";
  } catch (const std::runtime_error& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("security.protocol"), std::string::npos) << what;
    EXPECT_EQ(what.find("s3cret-value"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace nilecare::kafka
