#include "client_log.hpp"

#include <syslog.h>

#include "nilecare/observability/log.hpp"

namespace nilecare::kafka {
namespace log = observability::log;

namespace {
void OnLog(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  if (level <= LOG_ERR) {
    log::Error("kafka client", {{"client", rd_kafka_name(rk)}, {"facility", facility}, {"message", text}});
  } else if (level <= LOG_WARNING) {
    log::Warn("kafka client", {{"client", rd_kafka_name(rk)}, {"facility", facility}, {"message", text}});
  } else {
    log::Debug("kafka client", {{"client", rd_kafka_name(rk)}, {"facility", facility}, {"message", text}});
  }
}
}  // namespace

void InstallClientLog(rd_kafka_conf_t* conf) {
  rd_kafka_conf_set_log_cb(conf, &OnLog);
}

}  // namespace nilecare::kafka
