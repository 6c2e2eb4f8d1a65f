#pragma once
// One MQTT client connection (private to src/mqtt), on the Eclipse Paho C asynchronous API.
//
// Paho's C++ wrapper (mqttpp 1.2) always tells the C library that a message was handled when
// its callback returns, so the PUBACK goes out even if the gateway could not make the reading
// durable. The C API lets the message callback answer "not handled": Paho then keeps the
// message, does not acknowledge it and calls again. That is the only acknowledgement
// control MQTT 3.1.1 clients get, and the zero-loss guarantee rests on it.
//
// YAML: mqtt.urls, client_id, username, password, tls, keep_alive, connect_timeout,
// reconnect_min, reconnect_max (see nilecare/mqtt/mqtt_ingest.hpp).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "nilecare/config/settings.hpp"

namespace nilecare::mqtt {

class MqttConnection {
 public:
  // Runs on Paho's receive thread, one message at a time. true = handled (PUBACK is sent);
  // false = not handled: Paho keeps the message and calls again.
  using MessageHandler = std::function<bool(std::string_view topic, std::string_view payload)>;
  // Connected (true, after every (re)connect and re-subscribe) or lost (false).
  using StateHandler = std::function<void(bool connected, std::string_view detail)>;
  using PublishDone = std::function<void(bool ok, std::string_view error)>;

  // `subscriptions`: topic filters subscribed at QoS 1 after every connect (the persistent
  // session keeps them too; subscribing again is harmless and covers a lost session).
  MqttConnection(const config::MqttSettings& settings, std::string client_id,
                 std::vector<std::string> subscriptions, MessageHandler on_message,
                 StateHandler on_state);
  ~MqttConnection();
  MqttConnection(const MqttConnection&) = delete;
  MqttConnection& operator=(const MqttConnection&) = delete;

  // Starts connecting in the background: the first attempt and every retry until one
  // succeeds (Paho's automatic reconnect only starts after a first success), then Paho
  // reconnects with back-off between reconnect_min and reconnect_max.
  void Start();
  // Disconnects (waiting up to `timeout` for in-flight work) and stops every Paho thread;
  // no handler runs after it returns.
  void Stop(std::chrono::milliseconds timeout);

  bool Connected() const { return connected_.load(); }

  // QoS 1/0 publish; `done` runs exactly once on a Paho thread (or inline when the publish
  // could not even be queued, e.g. while disconnected).
  void Publish(const std::string& topic, std::string_view payload, int qos, bool retained,
               PublishDone done);

 private:
  struct Native;     // the Paho handle and the C strings its options point into
  struct Callbacks;  // Paho's C callbacks (mqtt_connection.cpp)
  void Connect();
  void RetryLoop();
  void Subscribe();

  config::MqttSettings settings_;
  std::string client_id_;
  std::vector<std::string> subscriptions_;
  MessageHandler on_message_;
  StateHandler on_state_;
  std::unique_ptr<Native> native_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopping_{false};
  std::chrono::milliseconds retry_delay_;
  bool retry_due_{false};
  std::mutex retry_mutex_;
  std::condition_variable retry_wake_;
  std::thread retry_thread_;  // first-connect retries only
};

}  // namespace nilecare::mqtt
