#include "mqtt_connection.hpp"

#include <MQTTAsync.h>

#include <cstring>
#include <stdexcept>

#include "nilecare/observability/log.hpp"

namespace nilecare::mqtt {
namespace log = observability::log;

namespace {

int Seconds(std::chrono::milliseconds duration) {
  return static_cast<int>(std::max<long long>(1, (duration.count() + 999) / 1000));
}

std::string FailureText(MQTTAsync_failureData* response) {
  if (response == nullptr) return "unknown error";
  if (response->message != nullptr) return response->message;
  return MQTTAsync_strerror(response->code);
}

// Heap-held completion for one publish: Paho's context pointer carries it.
struct PublishContext {
  MqttConnection::PublishDone done;
};

}  // namespace

struct MqttConnection::Native {
  MQTTAsync handle{nullptr};
  std::vector<const char*> uris;  // into settings_.urls
  MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
};

struct MqttConnection::Callbacks {
  static int OnMessage(void* context, char* topic, int topic_length, MQTTAsync_message* message) {
    auto* self = static_cast<MqttConnection*>(context);
    const std::string_view topic_view(
        topic, topic_length > 0 ? static_cast<std::size_t>(topic_length) : std::strlen(topic));
    const std::string_view payload(static_cast<const char*>(message->payload),
                                   static_cast<std::size_t>(message->payloadlen));
    try {
      self->on_message_(topic_view, payload);  // returns once the message is durable
    } catch (const std::exception& error) {
      // The handler journals before anything that can throw (the push to clinicians), so
      // what is lost here is a push, not a reading.
      log::Error("mqtt message handler failed", {{"error", error.what()}});
    }
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic);
    return 1;
  }

  static void OnConnectionLost(void* context, char* cause) {
    auto* self = static_cast<MqttConnection*>(context);
    self->connected_ = false;
    if (self->on_state_) self->on_state_(false, cause != nullptr ? cause : "connection lost");
  }

  // After the first connect and after every automatic reconnect.
  static void OnConnected(void* context, char* /*cause*/) {
    auto* self = static_cast<MqttConnection*>(context);
    {
      std::lock_guard lock(self->retry_mutex_);
      self->retry_delay_ = self->settings_.reconnect_min;
    }
    self->Subscribe();
  }

  static void OnConnectFailure(void* context, MQTTAsync_failureData* response) {
    auto* self = static_cast<MqttConnection*>(context);
    if (self->on_state_) self->on_state_(false, FailureText(response));
    std::lock_guard lock(self->retry_mutex_);
    self->retry_due_ = true;
    self->retry_wake_.notify_all();
  }

  static void OnSubscribed(void* context, MQTTAsync_successData* /*response*/) {
    auto* self = static_cast<MqttConnection*>(context);
    self->connected_ = true;
    if (self->on_state_) self->on_state_(true, "subscribed");
  }

  static void OnSubscribeFailure(void* context, MQTTAsync_failureData* response) {
    auto* self = static_cast<MqttConnection*>(context);
    log::Error("mqtt subscribe failed", {{"error", FailureText(response)}});
    if (self->on_state_) self->on_state_(false, "subscribe failed");
  }

  static void OnPublished(void* context, MQTTAsync_successData* /*response*/) {
    std::unique_ptr<PublishContext> publish(static_cast<PublishContext*>(context));
    publish->done(true, {});
  }

  static void OnPublishFailure(void* context, MQTTAsync_failureData* response) {
    std::unique_ptr<PublishContext> publish(static_cast<PublishContext*>(context));
    publish->done(false, FailureText(response));
  }
};

MqttConnection::MqttConnection(const config::MqttSettings& settings, std::string client_id,
                               std::vector<std::string> subscriptions, MessageHandler on_message,
                               StateHandler on_state)
    : settings_(settings),
      client_id_(std::move(client_id)),
      subscriptions_(std::move(subscriptions)),
      on_message_(std::move(on_message)),
      on_state_(std::move(on_state)),
      native_(std::make_unique<Native>()),
      retry_delay_(settings.reconnect_min) {
  for (const std::string& url : settings_.urls) native_->uris.push_back(url.c_str());
  MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
  create.MQTTVersion = MQTTVERSION_3_1_1;
  // Our journal is the persistence for received messages; outgoing commands are answered
  // only after their PUBACK, so Paho needs none of its own.
  const int rc = MQTTAsync_createWithOptions(&native_->handle, settings_.urls.front().c_str(),
                                             client_id_.c_str(), MQTTCLIENT_PERSISTENCE_NONE,
                                             nullptr, &create);
  if (rc != MQTTASYNC_SUCCESS) {
    throw std::runtime_error(std::string("mqtt: cannot create the client: ") +
                             MQTTAsync_strerror(rc));
  }
  MQTTAsync_setCallbacks(native_->handle, this, &Callbacks::OnConnectionLost,
                         &Callbacks::OnMessage, nullptr);
  MQTTAsync_setConnected(native_->handle, this, &Callbacks::OnConnected);
}

MqttConnection::~MqttConnection() { Stop(std::chrono::milliseconds(0)); }

void MqttConnection::Start() {
  retry_thread_ = std::thread([this] { RetryLoop(); });
  publish_thread_ = std::thread([this] { PublishLoop(); });
  Connect();
}

void MqttConnection::Connect() {
  MQTTAsync_connectOptions options = MQTTAsync_connectOptions_initializer;
  options.keepAliveInterval = Seconds(settings_.keep_alive);
  options.cleansession = 0;  // the broker keeps our subscriptions and unacked messages
  options.connectTimeout = Seconds(settings_.connect_timeout);
  options.serverURIcount = static_cast<int>(native_->uris.size());
  options.serverURIs = const_cast<char* const*>(native_->uris.data());
  options.automaticReconnect = 1;
  options.minRetryInterval = Seconds(settings_.reconnect_min);
  options.maxRetryInterval = Seconds(settings_.reconnect_max);
  options.MQTTVersion = MQTTVERSION_3_1_1;
  if (!settings_.username.empty()) options.username = settings_.username.c_str();
  if (!settings_.password.empty()) options.password = settings_.password.c_str();
  if (settings_.tls) {
    MQTTAsync_SSLOptions& ssl = native_->ssl;
    ssl = MQTTAsync_SSLOptions_initializer;
    if (!settings_.tls->ca_file.empty()) ssl.trustStore = settings_.tls->ca_file.c_str();
    if (!settings_.tls->cert_file.empty()) ssl.keyStore = settings_.tls->cert_file.c_str();
    if (!settings_.tls->key_file.empty()) ssl.privateKey = settings_.tls->key_file.c_str();
    ssl.enableServerCertAuth = settings_.tls->verify ? 1 : 0;
    ssl.verify = settings_.tls->verify ? 1 : 0;
    options.ssl = &ssl;
  }
  options.onFailure = &Callbacks::OnConnectFailure;
  options.context = this;
  const int rc = MQTTAsync_connect(native_->handle, &options);
  if (rc != MQTTASYNC_SUCCESS) {
    if (on_state_) on_state_(false, MQTTAsync_strerror(rc));
    std::lock_guard lock(retry_mutex_);
    retry_due_ = true;
    retry_wake_.notify_all();
  }
}

void MqttConnection::RetryLoop() {
  std::unique_lock lock(retry_mutex_);
  while (!stopping_) {
    retry_wake_.wait(lock, [this] { return retry_due_ || stopping_; });
    if (stopping_) return;
    const auto delay = retry_delay_;
    retry_delay_ = std::min(settings_.reconnect_max, retry_delay_ * 2);
    if (retry_wake_.wait_for(lock, delay, [this] { return stopping_.load(); })) return;
    retry_due_ = false;
    lock.unlock();
    Connect();
    lock.lock();
  }
}

void MqttConnection::Subscribe() {
  std::vector<char*> topics;
  std::vector<int> qos(subscriptions_.size(), 1);
  for (std::string& topic : subscriptions_) topics.push_back(topic.data());
  MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
  response.onSuccess = &Callbacks::OnSubscribed;
  response.onFailure = &Callbacks::OnSubscribeFailure;
  response.context = this;
  const int rc = MQTTAsync_subscribeMany(native_->handle, static_cast<int>(topics.size()),
                                         topics.data(), qos.data(), &response);
  if (rc != MQTTASYNC_SUCCESS) {
    log::Error("mqtt subscribe failed", {{"error", MQTTAsync_strerror(rc)}});
  }
}

void MqttConnection::Publish(std::string topic, std::string payload, int qos, bool retained,
                             PublishDone done) {
  {
    std::lock_guard lock(publish_mutex_);
    if (!publisher_stopping_ && outgoing_.size() < kMaxQueuedPublishes) {
      outgoing_.push_back({std::move(topic), std::move(payload), qos, retained, std::move(done)});
      publish_wake_.notify_one();
      return;
    }
  }
  done(false, "too many messages waiting to be published");
}

void MqttConnection::PublishLoop() {
  std::unique_lock lock(publish_mutex_);
  while (true) {
    publish_wake_.wait(lock, [this] { return publisher_stopping_ || !outgoing_.empty(); });
    if (publisher_stopping_) break;
    Outgoing message = std::move(outgoing_.front());
    outgoing_.pop_front();
    lock.unlock();
    Send(message);
    lock.lock();
  }
  std::deque<Outgoing> left;
  left.swap(outgoing_);
  lock.unlock();
  for (Outgoing& message : left) message.done(false, "the gateway is stopping");
}

void MqttConnection::Send(Outgoing& outgoing) {
  auto context = std::make_unique<PublishContext>(PublishContext{std::move(outgoing.done)});
  MQTTAsync_message message = MQTTAsync_message_initializer;
  message.payload = outgoing.payload.data();
  message.payloadlen = static_cast<int>(outgoing.payload.size());
  message.qos = outgoing.qos;
  message.retained = outgoing.retained ? 1 : 0;
  MQTTAsync_responseOptions response = MQTTAsync_responseOptions_initializer;
  response.onSuccess = &Callbacks::OnPublished;
  response.onFailure = &Callbacks::OnPublishFailure;
  response.context = context.get();
  // Paho copies the message before returning.
  const int rc = MQTTAsync_sendMessage(native_->handle, outgoing.topic.c_str(), &message, &response);
  if (rc != MQTTASYNC_SUCCESS) {
    context->done(false, MQTTAsync_strerror(rc));
    return;
  }
  context.release();  // owned by the callback now
}

void MqttConnection::Stop(std::chrono::milliseconds timeout, bool abandon) {
  if (abandoned_ || native_ == nullptr || native_->handle == nullptr) return;
  {
    std::lock_guard lock(retry_mutex_);
    stopping_ = true;
    retry_wake_.notify_all();
  }
  {
    std::lock_guard lock(publish_mutex_);
    publisher_stopping_ = true;
    publish_wake_.notify_all();
  }
  if (abandon) {
    // Both threads may be stuck behind Paho's lock, which the parked handler holds.
    if (retry_thread_.joinable()) retry_thread_.detach();
    if (publish_thread_.joinable()) publish_thread_.detach();
    connected_ = false;
    abandoned_ = true;  // the handle and its strings stay valid until the process exits
    return;
  }
  if (retry_thread_.joinable()) retry_thread_.join();
  if (publish_thread_.joinable()) publish_thread_.join();
  if (MQTTAsync_isConnected(native_->handle)) {
    MQTTAsync_disconnectOptions options = MQTTAsync_disconnectOptions_initializer;
    options.timeout = static_cast<int>(timeout.count());
    if (MQTTAsync_disconnect(native_->handle, &options) == MQTTASYNC_SUCCESS) {
      // Disconnect is asynchronous; wait for it (bounded) so that no callback runs on a
      // destroyed handler.
      const auto deadline = std::chrono::steady_clock::now() + timeout +
                            std::chrono::milliseconds(500);
      while (MQTTAsync_isConnected(native_->handle) &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }
  connected_ = false;
  MQTTAsync_destroy(&native_->handle);  // joins Paho's threads
  native_->handle = nullptr;
}

}  // namespace nilecare::mqtt
