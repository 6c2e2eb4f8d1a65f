#pragma once
// Settings structs for every component, with their defaults written here. They are filled
// in one place (config/loader.cpp) from the YAML file; tests build them directly.
// The YAML surface is documented in config/gateway.yaml and docs/configuration.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nilecare::config {

using Duration = std::chrono::milliseconds;

// service: { name, threads, shutdown_grace }
struct ServiceSettings {
  std::string name{"nilecare-gateway"};
  int threads{0};  // 0 = one per core
  Duration shutdown_grace{std::chrono::seconds(10)};
};

enum class LogFormat { kJson, kText };

// log: { level, format }
struct LogSettings {
  std::string level{"info"};  // trace|debug|info|warn|error
  LogFormat format{LogFormat::kJson};
};

struct ListenAddress {
  std::string host{"0.0.0.0"};
  std::uint16_t port{7000};
};

// http: { listen, max_header, max_body, header_timeout, body_timeout, idle_timeout,
//         max_connections }
// The HTTP listener also serves /health, /ready and /metrics, so it is always on: an
// absent `http:` section means these defaults.
struct HttpSettings {
  ListenAddress listen{};
  std::size_t max_header{16 * 1024};
  std::size_t max_body{1024 * 1024};
  Duration header_timeout{std::chrono::seconds(10)};  // first byte -> end of headers
  Duration body_timeout{std::chrono::seconds(30)};    // end of headers -> end of body
  Duration idle_timeout{std::chrono::seconds(65)};    // keep-alive wait for the next request
  std::size_t max_connections{10000};                 // accepted beyond this: closed at once
};

// jwt: { algorithms, secret, public_key_file, issuer, audience, leeway }
// Exactly the listed algorithms are accepted (pinned); HS* need `secret`, RS* need
// `public_key_file` (PEM). issuer/audience empty = not checked (the loader warns).
struct JwtSettings {
  std::vector<std::string> algorithms{"HS256"};
  std::string secret{};
  std::string public_key_file{};
  std::string issuer{};
  std::string audience{};
  Duration leeway{std::chrono::seconds(30)};
};

// auth: { jwt, validate_url, validate_cache_ttl, validate_cache_size, validate_timeout }
// Either local JWT verification (`jwt`) or remote validation through validate_url (the
// auth service's POST /api/v1/auth/validate, spec §1), with valid answers cached for
// validate_cache_ttl (never past the token's own exp) and a breaker of its own.
struct AuthSettings {
  std::optional<JwtSettings> jwt{};
  std::string validate_url{};
  std::string validate_host{};   // parsed from validate_url
  std::uint16_t validate_port{80};
  std::string validate_path{};   // e.g. /api/v1/auth/validate
  Duration validate_cache_ttl{std::chrono::seconds(30)};
  std::size_t validate_cache_size{10000};
  Duration validate_timeout{std::chrono::seconds(5)};  // the spec's `auth` timeout class
};

// timeouts: { <class>: <duration>, ... } — whole-call deadlines (retries included) by
// class; routes and upstreams name a class. A route with none uses `default_class`.
struct TimeoutSettings {
  std::map<std::string, Duration> classes{{"auth", std::chrono::seconds(5)},
                                          {"database", std::chrono::seconds(10)},
                                          {"external", std::chrono::seconds(30)},
                                          {"reports", std::chrono::seconds(120)}};
  std::string default_class{"database"};
};

// retry: { retries, base_delay, max_delay, on_status, budget_percent, budget_min }
struct RetrySettings {
  int retries{3};
  Duration base_delay{std::chrono::milliseconds(100)};
  Duration max_delay{std::chrono::seconds(2)};
  std::vector<int> on_status{429, 503};
  int budget_percent{20};  // retries in flight <= max(budget_min, percent of active calls)
  int budget_min{3};
};

// circuit_breaker: { timeout, error_threshold_percent, volume_threshold, window,
//                    reset_timeout } — opossum's semantics, one breaker per upstream.
struct CircuitBreakerSettings {
  Duration timeout{std::chrono::seconds(5)};  // a slower call counts as a failure
  int error_threshold_percent{50};
  int volume_threshold{10};  // fewer calls than this in the window never open it
  Duration window{std::chrono::seconds(10)};
  Duration reset_timeout{std::chrono::seconds(30)};
};

// upstreams: { <name>: { url, timeout, max_connections, max_pending, connect_timeout,
//                        circuit_breaker } }
struct UpstreamSettings {
  std::string name{};
  std::string url{};        // http://host:port[/base]; only http (TLS: terminate in a sidecar)
  std::string host{};       // parsed from url
  std::uint16_t port{80};   // parsed from url
  std::string base_path{};  // parsed from url, "" or "/base" (prepended to request paths)
  std::string timeout_class{};  // "" = the route's or timeouts.default_class
  std::size_t max_connections{64};
  std::size_t max_pending{256};  // requests waiting for a connection; more -> 503
  Duration connect_timeout{std::chrono::seconds(2)};
  // Kept below the usual upstream keep-alive timeout (Node.js closes idle sockets after
  // 5s), so the pool drops a connection before the upstream does.
  Duration idle_timeout{std::chrono::seconds(4)};
  std::size_t max_response_body{16 * 1024 * 1024};  // larger replies -> 502
  std::optional<CircuitBreakerSettings> circuit_breaker{};  // overrides the global one
};

enum class RouteAuth { kRequired, kNone };

// routes: [ { prefix, upstream, auth, timeout, methods, roles } ] — longest prefix wins.
struct RouteSettings {
  std::string prefix{};
  std::string upstream{};
  RouteAuth auth{RouteAuth::kRequired};
  std::string timeout_class{};          // "" = the upstream's, else timeouts.default_class
  std::vector<std::string> methods{};   // empty = any
  std::vector<std::string> roles{};     // empty = any authenticated user
};

// rate_limit: { per_user, per_user_burst, per_ip, per_ip_burst, max_tracked_keys }
// Token buckets: requests per second and burst size; authenticated callers are keyed by
// user id, anonymous ones by client address.
struct RateLimitSettings {
  double per_user{50.0};
  double per_user_burst{100.0};
  double per_ip{20.0};
  double per_ip_burst{40.0};
  std::size_t max_tracked_keys{100000};
};

// redis: { url, connect_timeout, command_timeout, key_prefix }
struct RedisSettings {
  std::string url{"redis://127.0.0.1:6379"};
  Duration connect_timeout{std::chrono::seconds(2)};
  Duration command_timeout{std::chrono::seconds(1)};
  std::string key_prefix{"nilecare:"};
};

// idempotency: { ttl, max_stored_body } — needs `redis`.
struct IdempotencySettings {
  Duration ttl{std::chrono::hours(24)};
  std::size_t max_stored_body{1024 * 1024};  // larger replies are not stored (not replayable)
};

// realtime: the Socket.IO-compatible server (Engine.IO v4 / Socket.IO v5) on the HTTP port.
struct PatientAccessSettings {
  // Roles that may join patient:{id} rooms at all.
  std::vector<std::string> roles{"doctor", "nurse", "admin"};
  // Optional care-team check: GET <url>?user_id=..&patient_id=.. -> 2xx allowed, 403/404
  // denied, anything else (or no answer in `timeout`) denied. "" = roles only.
  std::string care_team_url{};
  std::string care_team_host{};    // parsed from care_team_url
  std::uint16_t care_team_port{80};
  std::string care_team_path{};
  Duration cache_ttl{std::chrono::seconds(60)};
  std::size_t cache_size{100000};
  Duration timeout{std::chrono::seconds(2)};
};

struct RealtimeSettings {
  std::string path{"/socket.io/"};
  Duration ping_interval{std::chrono::seconds(25)};
  Duration ping_timeout{std::chrono::seconds(20)};
  Duration connect_timeout{std::chrono::seconds(45)};  // Engine.IO open -> Socket.IO CONNECT
  Duration upgrade_timeout{std::chrono::seconds(10)};  // polling -> websocket probe
  std::size_t max_payload{1000000};       // one Engine.IO packet / one polling POST body
  std::size_t max_packets_per_poll{256};  // packets in one long-polling GET answer
  std::size_t send_queue_packets{1024};   // per-connection queue bound (packets)
  std::size_t send_queue_bytes{4 * 1024 * 1024};  // ... and bytes
  std::size_t max_rooms_per_client{256};
  std::size_t max_sessions{20000};  // Engine.IO sessions at once; more -> refused (503)
  std::vector<std::string> cors_origins{};  // polling from browsers; empty = no CORS headers
  Duration recovery_window{std::chrono::minutes(2)};  // 0 = connection state recovery off
  std::size_t recovery_max_packets{100000};          // room packets kept for recovery
  PatientAccessSettings patient_access{};
  // /internal/notifications and /internal/emit: "" = loopback callers only; else callers
  // must send Authorization: Bearer <token> (from anywhere, loopback included).
  std::string internal_token{};
  Duration alert_ack_timeout{std::chrono::seconds(30)};  // alert:critical unacknowledged ->
  int alert_max_resends{3};                              // re-sent and escalated, this often
  bool redis_fanout{false};  // room broadcasts through Redis pub/sub (needs `redis:`)
  std::string redis_channel{"realtime"};  // prefixed with redis.key_prefix
};

// database: { url, connect_timeout, statement_timeout, query_connections, max_pending_queries,
//             timescale }
// PostgreSQL for device vitals (mqtt:). The URL is a libpq connection URI; put the password
// in the environment (`url: ${NILECARE_PG_URL}`): it is never logged.
struct DatabaseSettings {
  std::string url{};
  Duration connect_timeout{std::chrono::seconds(5)};
  Duration statement_timeout{std::chrono::seconds(10)};  // API reads and each batch write
  int query_connections{2};                // connections serving the REST device API
  std::size_t max_pending_queries{256};    // API queries waiting for a connection; more -> 503
  bool timescale{true};  // device_vitals as a TimescaleDB hypertable when the extension exists
};

// mqtt.tls: { ca_file, cert_file, key_file, verify }
struct MqttTlsSettings {
  std::string ca_file{};
  std::string cert_file{};  // client certificate (optional)
  std::string key_file{};
  bool verify{true};
};

// mqtt: device ingest (spec §5). Needs `database:`; the live push needs `realtime:`.
struct MqttSettings {
  std::vector<std::string> urls{"tcp://127.0.0.1:1883"};  // tcp:// or ssl://; tried in order
  // The broker keeps the persistent session (clean_session=false) under this id: stable
  // across restarts and unique per gateway instance.
  std::string client_id{"nilecare-gateway"};
  std::string username{};  // from the environment: ${MQTT_USERNAME}
  std::string password{};  // from the environment: ${MQTT_PASSWORD}; never logged
  std::optional<MqttTlsSettings> tls{};
  std::string shared_group{};   // "" = plain subscriptions; else $share/<group>/...
  std::string topic_root{"devices"};  // <root>/{id}/vitals|alerts|status|commands
  Duration keep_alive{std::chrono::seconds(30)};
  Duration connect_timeout{std::chrono::seconds(10)};
  Duration reconnect_min{std::chrono::seconds(1)};
  Duration reconnect_max{std::chrono::seconds(30)};
  std::size_t max_payload{4096};  // larger messages are rejected (counted, stored truncated)
  // Zero loss: a message is made durable here before the broker gets its PUBACK.
  std::string journal_dir{"/var/lib/nilecare-gateway/journal"};
  std::size_t journal_max_bytes{std::size_t{1} << 30};  // full -> ingest pauses (no PUBACK)
  std::size_t journal_segment_bytes{std::size_t{64} << 20};
  bool journal_fsync{false};  // fsync each entry: survives power loss, costs throughput
  std::size_t batch_max_rows{5000};   // rows per COPY transaction
  Duration batch_max_delay{std::chrono::milliseconds(20)};  // wait for more rows this long
  Duration db_retry_min{std::chrono::milliseconds(200)};    // back-off while PostgreSQL is down
  Duration db_retry_max{std::chrono::seconds(5)};
  Duration device_refresh{std::chrono::seconds(30)};  // devices table re-read this often
  std::size_t max_devices{100000};                    // tracked for threshold re-arm
  Duration command_timeout{std::chrono::seconds(5)};  // PUBACK for POST .../commands
  std::size_t max_command_bytes{16 * 1024};
  std::vector<std::string> read_roles{"doctor", "nurse", "admin"};  // device API reads
  std::vector<std::string> write_roles{"nurse", "admin"};  // PUT devices, POST commands
};

// One vital's alert band: a reading below `low` or above `high` is critical.
struct ThresholdRange {
  std::optional<double> low{};
  std::optional<double> high{};
};

// thresholds: { hr, spo2, temp, bp_systolic, bp_diastolic: { low, high }, rearm } (spec §5:
// hr > 120 or < 40). After an alert, the same device does not alert again for the same
// vital within `rearm` (a patient who stays out of band does not flood clinicians).
struct ThresholdSettings {
  ThresholdRange hr{40.0, 120.0};
  ThresholdRange spo2{90.0, std::nullopt};
  ThresholdRange temp{35.0, 39.5};
  ThresholdRange bp_systolic{90.0, 180.0};
  ThresholdRange bp_diastolic{std::nullopt, 110.0};
  Duration rearm{std::chrono::minutes(5)};
};

// kafka: domain events (spec §2). Producer for POST /api/v1/events and the gateway's own
// events; consumer group feeding `events.rules`. See docs/events.md.
struct KafkaProducerSettings {
  // none | gzip | snappy | lz4 | zstd. gzip (at level 1, cheap) because kafkajs — what the
  // platform's Node services consume with — reads it without a codec plugin; lz4/zstd cost
  // less CPU once every consumer can read them.
  std::string compression{"gzip"};
  Duration linger{std::chrono::milliseconds(5)};  // batch small messages this long
  // No delivery report by then (broker unreachable) -> the message fails: 503 to REST callers.
  Duration delivery_timeout{std::chrono::seconds(10)};
  std::size_t queue_max_messages{100000};  // produced, not yet acknowledged; full -> 503
  std::size_t max_event_bytes{256 * 1024};  // POST /api/v1/events body, and any event produced
};

struct KafkaConsumerSettings {
  std::string group{"nilecare-gateway"};
  std::vector<std::string> topics{"patient.events", "appointment.events",
                                  "prescription.events", "payment.events", "lab.events"};
  std::string auto_offset_reset{"latest"};  // earliest | latest: where a new group starts
  Duration session_timeout{std::chrono::seconds(10)};
  Duration commit_interval{std::chrono::seconds(1)};  // handled offsets committed this often
  int retries{3};  // a failing rule action is tried 1 + retries times, then dead-lettered
  Duration retry_min{std::chrono::milliseconds(200)};  // back-off doubles from here ...
  Duration retry_max{std::chrono::seconds(5)};         // ... up to here
  std::size_t max_event_bytes{1024 * 1024};  // larger events are dead-lettered unread
  Duration dedupe_ttl{std::chrono::hours(24)};  // event_ids remembered this long ...
  std::size_t dedupe_max_entries{100000};       // ... in memory (plus Redis when configured)
};

struct KafkaSettings {
  std::vector<std::string> brokers{"127.0.0.1:9092"};  // host:port list
  bool embedded{false};  // brokers: embedded -> in-process mock cluster (local/dev only)
  std::string client_id{"nilecare-gateway"};
  std::string source_service{"nilecare-gateway"};  // DomainEvent.source_service of our events
  // Entity -> topic (spec "Event Topics"); an event type's entity must be listed here.
  std::map<std::string, std::string> topics{{"patient", "patient.events"},
                                            {"appointment", "appointment.events"},
                                            {"prescription", "prescription.events"},
                                            {"payment", "payment.events"},
                                            {"lab", "lab.events"},
                                            {"audit", "audit.events"},
                                            {"vitals", "vitals.events"},
                                            {"device", "device.events"}};
  std::string dead_letter_topic{"nilecare.dlq"};
  // Passed to librdkafka as is (security.protocol, sasl.*, ssl.*): production clusters.
  // Values containing secrets come from the environment; they are never logged.
  std::map<std::string, std::string> properties{};
  std::vector<std::string> publish_roles{};  // POST /api/v1/events: empty = any valid token
  KafkaProducerSettings producer{};
  std::optional<KafkaConsumerSettings> consumer{KafkaConsumerSettings{}};  // consumer: off
};

// events.rules: what the consumer does with an event whose type matches.
struct EventEmitAction {
  std::string event;                // Socket.IO event name, e.g. appointment:updated
  std::vector<std::string> rooms;   // templates: user:{data.patient_id}, role:doctor
  bool critical{false};             // alert:critical with ack, re-send and escalation
};
struct EventTaskAction {
  std::string queue;  // RabbitMQ queue (rabbitmq: section)
  int priority{-1};   // -1 = the queue's default
};
struct EventHttpAction {
  std::string upstream;        // a name from `upstreams:`
  std::string method{"POST"};  // POST | PUT | PATCH
  std::string path;            // template, e.g. /api/v1/notifications/{data.patient_id}
};
struct EventAction {
  enum class Kind { kEmit, kTask, kHttp };
  Kind kind{Kind::kEmit};
  EventEmitAction emit{};
  EventTaskAction task{};
  EventHttpAction http{};
};
struct EventRule {
  std::string match;  // event_type glob: "*" matches within and across dots ("lab.*")
  std::vector<EventAction> actions;
  std::string origin{};  // "<file>:<line>" of the rule, for logs
};
// events: { rules: [...] } — absent: DefaultEventRules() (spec "Event Topics & Subscribers").
struct EventsSettings {
  std::vector<EventRule> rules{};
};
// The spec's subscribers, as rules (task actions only when the rabbitmq adapter exists).
std::vector<EventRule> DefaultEventRules(bool with_tasks);

// rabbitmq: background tasks (spec §3). Publisher with confirms for POST /api/v1/tasks/{queue},
// event rules and alert escalation; workers that hand tasks to services. See docs/tasks.md.
struct TaskQueueSettings {
  std::string name;      // e.g. email.high; also its routing key
  std::string exchange;  // direct exchange it is bound to, e.g. nilecare.email
  int priority{5};       // priority of tasks published without one (0..max_priority)
};
// One worker per queue: each task is POSTed to `handler_url` through the REST adapter's
// upstream (its pool, timeouts and circuit breaker), so the URL must lie under one of
// `upstreams:` — the loader resolves it into `upstream` + `path`.
struct TaskWorkerSettings {
  std::string queue;
  std::string handler_url;        // as written, e.g. http://notifications:7060/tasks/email
  std::string upstream{};         // resolved: the upstream serving handler_url
  std::string path{};             // resolved: handler_url's path below the upstream's base
  std::size_t prefetch{5};        // unacknowledged deliveries the broker sends (spec: 5)
  std::size_t concurrency{5};     // handler calls at once (at most prefetch)
  int max_retries{3};             // a failing task is tried 1 + max_retries times per round
  Duration retry_min{std::chrono::seconds(1)};  // back-off before retry n: min * 2^(n-1) ...
  Duration retry_max{std::chrono::minutes(1)};  // ... capped here (real delays: TTL queues)
  Duration timeout{};             // handler call; 0 = the upstream's timeout class
  // The handler's circuit breaker is open: stop consuming this queue this long, then try.
  Duration pause_on_open{std::chrono::seconds(5)};
};
struct DeadLetterSettings {
  std::string exchange{"nilecare.dlq"};  // fanout; queues' x-dead-letter-exchange
  std::string queue{"failed.jobs"};      // bound to it
  // spec "retry after 5min": failed.jobs holds a task this long (x-message-ttl), then it
  // goes back to its work queue for another round; 0 = keep it until an operator acts.
  Duration retry_after{std::chrono::minutes(5)};
  int max_rounds{3};  // rounds through failed.jobs before the task is parked for good
  std::string parking_queue{"failed.jobs.parked"};
};
struct RabbitMqSettings {
  // amqp://user:password@host:port/vhost (vhost percent-encoded: %2f = "/"); password from
  // ${ENV}, never logged.
  std::string url{"amqp://guest:guest@127.0.0.1:5672/"};
  std::string host{"127.0.0.1"};  // parsed from url
  std::uint16_t port{5672};
  std::string vhost{"/"};
  std::string user{"guest"};
  std::string password{"guest"};
  Duration heartbeat{std::chrono::seconds(30)};
  Duration connect_timeout{std::chrono::seconds(5)};
  Duration reconnect_min{std::chrono::milliseconds(500)};  // back-off doubles from here ...
  Duration reconnect_max{std::chrono::seconds(30)};        // ... up to here
  int max_priority{10};  // x-max-priority of every work queue
  std::vector<TaskQueueSettings> queues{
      {"email.high", "nilecare.email", 10}, {"email.normal", "nilecare.email", 5},
      {"email.low", "nilecare.email", 1},   {"sms.urgent", "nilecare.sms", 10},
      {"sms.normal", "nilecare.sms", 5},    {"reports.pdf", "nilecare.reports", 5},
      {"reports.excel", "nilecare.reports", 5}};
  DeadLetterSettings dead_letter{};
  // Publishing: a task is confirmed by the broker within confirm_timeout or fails (503).
  Duration confirm_timeout{std::chrono::seconds(5)};
  std::size_t max_in_flight{10000};  // waiting + unconfirmed publishes; full -> 503 at once
  std::size_t max_task_bytes{256 * 1024};          // task body (the payload as JSON)
  Duration max_delay{std::chrono::hours(24)};      // POST ... {delay}
  std::vector<std::string> publish_roles{};        // POST /api/v1/tasks: empty = any token
  std::vector<TaskWorkerSettings> workers{};       // empty: this gateway only publishes
};

struct GatewaySettings {
  std::string source;  // the file the settings came from, for messages
  // Legal but risky choices ("<file>:<line>: <key.path>: ..."), e.g. an unset auth.jwt.issuer:
  // printed by --check-config, to be logged at start-up.
  std::vector<std::string> warnings{};
  ServiceSettings service{};
  LogSettings log{};
  HttpSettings http{};
  std::optional<AuthSettings> auth{};
  TimeoutSettings timeouts{};
  RetrySettings retry{};
  CircuitBreakerSettings circuit_breaker{};
  std::vector<UpstreamSettings> upstreams{};
  std::vector<RouteSettings> routes{};
  std::optional<RateLimitSettings> rate_limit{};
  std::optional<RedisSettings> redis{};
  std::optional<IdempotencySettings> idempotency{};
  std::optional<RealtimeSettings> realtime{};
  std::optional<DatabaseSettings> database{};
  std::optional<MqttSettings> mqtt{};
  ThresholdSettings thresholds{};  // used by mqtt:; the section may be absent (defaults)
  std::optional<KafkaSettings> kafka{};
  std::optional<EventsSettings> events{};  // absent: DefaultEventRules()
  std::optional<RabbitMqSettings> rabbitmq{};
};

}  // namespace nilecare::config
