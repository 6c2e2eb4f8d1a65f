#include "client_config.hpp"

#include <stdexcept>

namespace nilecare::kafka {
namespace {

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
