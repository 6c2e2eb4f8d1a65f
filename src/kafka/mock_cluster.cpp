#include "nilecare/kafka/mock_cluster.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace nilecare::kafka {
namespace {
// Kafka's usual production replication factor; the mock cannot place more replicas than it
// has brokers.
constexpr int kMaxReplication = 3;
}  // namespace

MockCluster::MockCluster(int brokers) : brokers_(brokers) {
  char errstr[512] = {};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle never talks to a cluster; it only owns the mock. Level 4 hides the notice
  // that it has no bootstrap.servers, which would mislead whoever reads the log.
  for (const auto& [name, value] : {std::pair{"client.id", "nilecare-mock-kafka"},
                                    std::pair{"log_level", "4"}}) {
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("mock kafka: ") + errstr);
    }
  }
  handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (handle_ == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new only takes ownership on success
    throw std::runtime_error(std::string("mock kafka: rd_kafka_new: ") + errstr);
  }
  cluster_ = rd_kafka_mock_cluster_new(handle_, brokers);
  if (cluster_ == nullptr) {
    rd_kafka_destroy(handle_);
    throw std::runtime_error("mock kafka: rd_kafka_mock_cluster_new failed");
  }
}

MockCluster::~MockCluster() {
  // The cluster must go before the handle that owns its bookkeeping.
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(handle_);
}

void MockCluster::CreateTopic(const std::string& topic, int partitions) {
  const int replication = std::min(brokers_, kMaxReplication);
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, replication);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("mock kafka: cannot create topic " + topic + ": " +
                             rd_kafka_err2str(err));
  }
}

std::string MockCluster::Bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

void MockCluster::SetBrokersUp(bool up) {
  // Mock broker ids are 1..N.
  for (int id = 1; id <= brokers_; ++id) {
    if (up) {
      rd_kafka_mock_broker_set_up(cluster_, id);
    } else {
      rd_kafka_mock_broker_set_down(cluster_, id);
    }
  }
}

}  // namespace nilecare::kafka
