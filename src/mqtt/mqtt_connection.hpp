#pragma once
// One MQTT client connection (private to src/mqtt), on the Eclipse Paho C asynchronous API.
//
// Paho (C 1.3) sends a QoS 1 message's PUBACK right after its message callback returns, and
// whatever the callback answers: a callback that declines a message ("0") still gets it
// acknowledged, and Paho keeps it only in memory. So the only control a subscriber has is
// *when* the callback returns: the handler returns once the message is durable, and a handler
// that can never make it durable (the gateway stops with a full journal) does not return at
// all; Stop(abandon=true) then leaves the connection to die with the process, so the broker
// redelivers the message to the next session.
//
// Paho calls the callbacks with its library-wide lock held: while a handler waits, every
// Paho call in the process waits too. Publish() therefore never calls Paho on the caller's
// thread: commands go through a bounded queue to a publisher thread.
//
// The C API rather than Paho's C++ wrapper: the wrapper copies every message into a shared
// message object before calling back, and its destructor destroys the handle, which an
// abandoned connection must not do.
//
// YAML: mqtt.urls, client_id, username, password, tls, keep_alive, connect_timeout,
// reconnect_min, reconnect_max (see nilecare/mqtt/mqtt_ingest.hpp).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
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
  // Runs on Paho's receive thread, one message at a time; the PUBACK is sent when it returns.
  // Must not throw.
  using MessageHandler = std::function<void(std::string_view topic, std::string_view payload)>;
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
  // no handler runs after it returns. With `abandon` (a handler is parked and must never
  // return), nothing of Paho is touched: the handle is left to the process's exit, and so
  // must this object be (Paho's threads hold it as their callback context; it stays
  // reachable through Paho's client list).
  void Stop(std::chrono::milliseconds timeout, bool abandon = false);

  bool Connected() const { return connected_.load(); }

  // QoS 1/0 publish; `done` runs exactly once, on the publisher or a Paho thread, or inline
  // when the queue (kMaxQueuedPublishes) is full or the connection is stopped.
  void Publish(std::string topic, std::string payload, int qos, bool retained, PublishDone done);

  static constexpr std::size_t kMaxQueuedPublishes = 1024;

 private:
  struct Native;     // the Paho handle and the C strings its options point into
  struct Callbacks;  // Paho's C callbacks (mqtt_connection.cpp)
  struct Outgoing {
    std::string topic;
    std::string payload;
    int qos{1};
    bool retained{false};
    PublishDone done;
  };
  void Connect();
  void RetryLoop();
  void PublishLoop();
  void Send(Outgoing& message);
  void Subscribe();

  config::MqttSettings settings_;
  std::string client_id_;
  std::vector<std::string> subscriptions_;
  MessageHandler on_message_;
  StateHandler on_state_;
  std::unique_ptr<Native> native_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopping_{false};
  bool abandoned_{false};
  std::chrono::milliseconds retry_delay_;
  bool retry_due_{false};
  std::mutex retry_mutex_;
  std::condition_variable retry_wake_;
  std::thread retry_thread_;  // first-connect retries only
  std::mutex publish_mutex_;
  std::condition_variable publish_wake_;
  std::deque<Outgoing> outgoing_;
  bool publisher_stopping_{false};
  std::thread publish_thread_;
};

}  // namespace nilecare::mqtt
