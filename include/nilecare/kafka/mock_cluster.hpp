#pragma once
// librdkafka's Kafka-protocol mock cluster (the one its own test suite uses): a broker for
// local runs and tests, since Debian ships no Kafka. In memory only: never for production.
// Used by `kafka.brokers: embedded` and by the nilecare-dev-kafka tool.

#include <string>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace nilecare::kafka {

class MockCluster {
 public:
  // Starts `brokers` mock brokers on 127.0.0.1 (random ports). Throws std::runtime_error.
  explicit MockCluster(int brokers);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // Creates a topic (the mock refuses CreateTopics requests, and auto-created topics get
  // one partition). Throws std::runtime_error naming the topic.
  void CreateTopic(const std::string& topic, int partitions);

  // "host:port,host:port" for bootstrap.servers.
  std::string Bootstraps() const;

  // Takes every broker down (connections closed, new ones refused) or up again: a broker
  // outage without losing the cluster's data or its ports.
  void SetBrokersUp(bool up);

  int Brokers() const { return brokers_; }

 private:
  rd_kafka_s* handle_{nullptr};
  rd_kafka_mock_cluster_s* cluster_{nullptr};
  int brokers_{0};
};

}  // namespace nilecare::kafka
