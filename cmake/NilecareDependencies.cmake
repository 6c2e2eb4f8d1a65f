# Every third-party library comes from Debian 12 packages (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS system)
find_package(OpenSSL REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(spdlog 1.10 REQUIRED)
find_package(yaml-cpp 0.7 REQUIRED)
find_package(PahoMqttCpp 1.2 REQUIRED)  # PahoMqttCpp::paho-mqttpp3 (nilecare-devsim)
# The C API for the ingest: no per-message copy into a shared message object, and the
# handle's lifetime under our control (src/mqtt/mqtt_connection.hpp).
find_package(eclipse-paho-mqtt-c 1.3 REQUIRED)  # eclipse-paho-mqtt-c::paho-mqtt3as
find_package(rabbitmq-c 0.11 REQUIRED)  # rabbitmq::rabbitmq, header <amqp.h>
find_package(PkgConfig REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx libpq)
if(NILECARE_BUILD_TESTS)
  find_package(GTest 1.12 REQUIRED)
endif()
