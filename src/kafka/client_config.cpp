#include "client_config.hpp"

#include <chrono>
#include <stdexcept>
#include <string>

namespace nilecare::kafka {
namespace {

constexpr std::chrono::milliseconds kReconnectBackoffMax{1000};

void Set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value,
         bool quote_error) {
  char errstr[512] = {};
  if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    throw std::runtime_error("kafka: property " + name +
                             (quote_error ? std::string(": ") + errstr
                                          : std::string(" was refused by librdkafka")));
  }
}

}  // namespace

std::string BootstrapServers(const config::KafkaSettings& settings, const std::string& bootstrap) {
  if (!bootstrap.empty()) return bootstrap;
  std::string joined;
  for (const auto& broker : settings.brokers) {
    if (!joined.empty()) joined += ',';
    joined += broker;
  }
  return joined;
}

ConfPtr MakeClientConfig(const config::KafkaSettings& settings, const std::string& bootstrap,
                         const std::vector<std::pair<std::string, std::string>>& own) {
  ConfPtr conf(rd_kafka_conf_new());
  Set(conf.get(), "bootstrap.servers", BootstrapServers(settings, bootstrap), true);
  Set(conf.get(), "client.id", settings.client_id, true);
  // While its brokers are down librdkafka times queued messages out only between connection
  // attempts, whose back-off grows to reconnect.backoff.max.ms (default 10 s): a 2 s
  // delivery_timeout was answered after up to 10 s. 1 s keeps delivery_timeout honest and
  // reconnects promptly after a broker restart; kafka.properties may still change it.
  Set(conf.get(), "reconnect.backoff.max.ms", std::to_string(kReconnectBackoffMax.count()), true);
  for (const auto& [name, value] : settings.properties) {
    Set(conf.get(), name, value, /*quote_error=*/false);
  }
  for (const auto& [name, value] : own) Set(conf.get(), name, value, true);
  return conf;
}

HandlePtr MakeHandle(rd_kafka_type_t type, ConfPtr conf) {
  char errstr[512] = {};
  rd_kafka_t* handle = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
  if (handle == nullptr) throw std::runtime_error(std::string("kafka: ") + errstr);
  (void)conf.release();  // rd_kafka_new owns it now
  return HandlePtr(handle);
}

}  // namespace nilecare::kafka
