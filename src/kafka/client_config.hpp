#pragma once
// librdkafka configuration shared by the producer and the consumer (private to src/kafka).

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nilecare/config/settings.hpp"

namespace nilecare::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

struct HandleDeleter {
  void operator()(rd_kafka_t* handle) const { rd_kafka_destroy(handle); }
};
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;

// bootstrap.servers, client.id, then kafka.properties (TLS/SASL of production clusters),
// then `own` (what the caller's guarantees depend on, so the properties cannot undo it).
// Throws std::runtime_error naming the property; a refused kafka.properties value is never
// quoted (it may be a password).
ConfPtr MakeClientConfig(const config::KafkaSettings& settings, const std::string& bootstrap,
                         const std::vector<std::pair<std::string, std::string>>& own);

// Creates the handle; on failure throws (and frees `conf`).
HandlePtr MakeHandle(rd_kafka_type_t type, ConfPtr conf);

// "127.0.0.1:9092,..." from kafka.brokers unless `bootstrap` is given.
std::string BootstrapServers(const config::KafkaSettings& settings, const std::string& bootstrap);

}  // namespace nilecare::kafka
