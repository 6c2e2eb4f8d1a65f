#pragma once
// librdkafka's own log lines go through the gateway's structured log (private to src/kafka).

#include <librdkafka/rdkafka.h>

namespace nilecare::kafka {

// Routes the client's log (librdkafka never logs message content) to observability::log,
// with the client's name (client.id#producer-1, #consumer-2).
void InstallClientLog(rd_kafka_conf_t* conf);

}  // namespace nilecare::kafka
