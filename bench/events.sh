#!/usr/bin/env bash
# Domain-event (Kafka) benchmark (docs/configuration.md "Domain events"). One run, its own
# nilecare-dev-kafka (librdkafka's mock cluster, 1 broker, 3 partitions per topic) on private
# loopback ports, every baseline measured in the same run:
#
#   (a) producer path   nilecare-kafka-bench produce: --events events as fast as possible
#                       (at most 100,000 unacknowledged), then every delivery report awaited.
#                       gateway = kafka::EventProducer + a new DomainEvent envelope per event
#                       (one thread, then 2); raw = plain librdkafka with the same settings and
#                       pre-serialized envelopes of the same size (the baseline). Then both
#                       paced at --paced-rate for the delivery latency below saturation.
#                       Target: >= 100,000 events/s through the gateway's producer path.
#   (b) HTTP path       POST /api/v1/events (HS256 JWT, 202 once the broker acknowledged) from
#                       wrk at each --connections; baseline: nginx answering the same POST with a
#                       static 202 JSON, same wrk settings. Gateway: service.threads 2, kafka
#                       consumer off; nginx: 2 workers.
#   (c) consumer path   --fill-events appointment.scheduled envelopes for --clients patients
#                       (nilecare-kafka-bench fill) on topic bench.consume; baseline: a plain
#                       librdkafka consumer (the gateway consumer's settings) reading them, and
#                       the same parsing each record as a DomainEvent. Then a gateway with the
#                       consumer on (fresh group, earliest, built-in rules: appointment.* ->
#                       appointment:updated to user:{data.patient_id}, no redis: in-memory
#                       dedupe) and --clients socket.io-client clients (bench/node/
#                       event_clients.mjs), client k with sub PAT-bench-<k>: consumed events/s
#                       (nilecare_kafka_events_total{result="handled"} scraped from /metrics every
#                       50 ms) and appointment:updated received/s by the clients. The gateway and
#                       the clients connect while the broker is down (SIGUSR1), so that the
#                       backlog is consumed with everyone in their rooms; the broker comes up
#                       (SIGUSR2) and the clock starts with the first handled event. The mock
#                       broker keeps at most 5 MiB (compressed) per partition and drops older
#                       batches: about 40,000 of these envelopes per partition, so --fill-events
#                       stays near 100,000 (the baseline consumer then reports what it missed).
#
#   bench/events.sh [--build-dir build] [--no-build] [--events 500000] [--paced-rate 20000]
#                   [--paced-seconds 3] [--duration 8] [--connections 64,256]
#                   [--fill-events 100000] [--clients 100] [--parts a,b,c]
#
# The build dir is --build-dir, else $NILECARE_BUILD_DIR, else build. Default run: about
# 2.5 minutes. The load generators (nilecare-kafka-bench, wrk, Node) and the servers (broker,
# gateway, nginx) share this machine's cores; CPU columns say who used what. No timing is
# asserted. Exit 1 when a step failed or events were lost (not delivered / not consumed /
# not received); the tables are printed anyway.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
cmdline=$(bench_cmdline bench/events.sh "$@")
build_dir=${NILECARE_BUILD_DIR:-build}
do_build=1
events=500000
paced_rate=20000
paced_seconds=3
duration=8
connections=64,256
fill_events=100000
clients=100
parts=a,b,c
while (($#)); do
  case "$1" in
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --events) events=$2; shift ;;
    --paced-rate) paced_rate=$2; shift ;;
    --paced-seconds) paced_seconds=$2; shift ;;
    --duration) duration=$2; shift ;;
    --connections) connections=$2; shift ;;
    --fill-events) fill_events=$2; shift ;;
    --clients) clients=$2; shift ;;
    --parts) parts=$2; shift ;;
    -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
    *) echo "events.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
IFS=, read -r -a conn_list <<<"$connections"
require_positive_ints events.sh "$events" "$paced_rate" "$paced_seconds" "$duration" "$fill_events" "$clients" \
  "${conn_list[@]}"
part() { [[ ,$parts, == *,$1,* ]]; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS

if ((do_build)); then
  bench_build "$build_dir" nilecare-gateway nilecare-dev-kafka nilecare-jwt-mint nilecare-kafka-bench
fi
gateway_bin=$(realpath -m "$build_dir/nilecare-gateway")
kafka_bin=$(realpath -m "$build_dir/nilecare-dev-kafka")
mint_bin=$(realpath -m "$build_dir/nilecare-jwt-mint")
bench_bin=$(realpath -m "$build_dir/nilecare-kafka-bench")
require_executables events.sh "drop --no-build, or --build-dir" "$gateway_bin" "$kafka_bin" "$mint_bin" "$bench_bin"
for tool in wrk nginx node curl; do
  command -v "$tool" >/dev/null || { echo "events.sh: $tool is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
if part c && [[ ! -d bench/node/node_modules/socket.io-client ]]; then
  (cd bench/node && npm ci --no-audit --no-fund --silent) >/dev/null
fi

bench_init
trap 'exit 130' INT TERM

failures=()
fail() { fail_with_logs events.sh "$*" "$work"/gateway-*.log "$work/kafka.log"; }

read -r gw_port nginx_port < <(free_ports 2)
gw_url=http://127.0.0.1:$gw_port
secret="bench-secret-0123456789abcdef0123456789"
export JWT_SECRET=$secret
clk_tck=$(getconf CLK_TCK)
wrk_threads=2

declare -A R  # kv, get (bench/lib.sh)

# --- broker ---------------------------------------------------------------------------------
topics=patient.events,appointment.events,prescription.events,payment.events,lab.events
topics+=,audit.events,vitals.events,device.events,nilecare.dlq,bench.consume
"$kafka_bin" --brokers 1 --partitions 3 --topics "$topics" --bootstrap-file "$work/bootstrap" \
  >"$work/kafka.log" 2>&1 </dev/null &
kafka_pid=$!
pids+=("$kafka_pid")
wait_until "$kafka_pid" 10 "nilecare-dev-kafka exited at start" "nilecare-dev-kafka wrote no bootstrap file in 10 s" \
  test -s "$work/bootstrap"
brokers=$(head -n 1 "$work/bootstrap")

# --- gateway --------------------------------------------------------------------------------
gw_pid=
# write_gateway NAME: gateway config; $1 = http (consumer off) or consume (consumer + realtime).
write_gateway() {
  {
    cat <<YAML
service: { name: bench-events-$1, threads: 2, shutdown_grace: 1s }
log: { level: warn, format: json }
http: { listen: 127.0.0.1:$gw_port }
auth:
  jwt: { algorithms: [HS256], secret: "$secret", issuer: nilecare-auth, audience: nilecare }
YAML
    if [[ $1 == http ]]; then
      cat <<YAML
kafka:
  brokers: "$brokers"
  consumer: off
YAML
    else
      cat <<YAML
realtime: { ping_interval: 25s }
kafka:
  brokers: "$brokers"
  # The broker is down while the clients connect: reconnect within a second of it coming back.
  properties: { reconnect.backoff.max.ms: 500 }
  consumer:
    group: bench-gateway-$$-$RANDOM
    topics: [bench.consume]
    auto_offset_reset: earliest
YAML
    fi
  } >"$work/gateway-$1.yaml"
}
start_gateway() {  # NAME
  "$gateway_bin" --config "$work/gateway-$1.yaml" >>"$work/gateway-$1.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
  wait_until "$gw_pid" 20 "the gateway ($1) exited at start" "the gateway ($1) does not answer /health" \
    curl -s -o /dev/null --max-time 1 "$gw_url/health"
}

# --- (a) producer path ----------------------------------------------------------------------
# run_produce NAME ARGS...: nilecare-kafka-bench produce; R[NAME.*] from its RESULT line, plus
# R[NAME.broker_cpu] (% of one core) and R[NAME.others] (everything else on the machine).
produce_rows=()
declare -A P_DESC
run_produce() {
  local name=$1 desc=$2 b0 b1 m0 m1 t0 t1 status=0
  shift 2
  produce_rows+=("$name")
  P_DESC[$name]=$desc
  say "producer path: $desc"
  b0=$(ticks "$kafka_pid"); m0=$(machine_ticks); t0=$(now)
  "$bench_bin" produce --brokers "$brokers" --label "$name" "$@" >"$work/produce-$name.out" 2>&1 || status=$?
  b1=$(ticks "$kafka_pid"); m1=$(machine_ticks); t1=$(now)
  kv "$name" "$(grep '^RESULT ' "$work/produce-$name.out" || true)"
  if [[ -z ${R[$name.rate]:-} ]]; then
    cat "$work/produce-$name.out" >&2
    fail "nilecare-kafka-bench produce ($name) printed no result (exit $status)"
  fi
  ((status == 0)) || failures+=("producer $name: $(get "$name.failed") of $(get "$name.events") events not delivered ($(grep -m1 'first error' "$work/produce-$name.out" || echo 'no error text'))")
  local s; s=$(secs_between "$t0" "$t1")
  R[$name.broker_cpu]=$(cpu_pct $((b1 - b0)) "$s")
  R[$name.machine]=$(cpu_pct $((m1 - m0)) "$s")
  R[$name.tool_cpu]=$(awk -v c="${R[$name.cpu_s]}" -v s="$s" 'BEGIN { printf "%.0f", 100 * c / s }')
  R[$name.others]=$(awk -v m="${R[$name.machine]}" -v a="${R[$name.broker_cpu]}" -v b="${R[$name.tool_cpu]}" \
    'BEGIN { v = m - a - b; printf "%.0f", (v > 0 ? v : 0) }')
}

if part a; then
  paced_events=$((paced_rate * paced_seconds))
  run_produce raw "raw librdkafka, max" --engine raw --events "$events"
  run_produce gw "gateway path, max" --engine gateway --events "$events"
  run_produce gw2 "gateway path, 2 threads, max" --engine gateway --threads 2 --events "$events"
  run_produce raw_paced "raw librdkafka, $paced_rate/s" --engine raw --events "$paced_events" --rate "$paced_rate"
  run_produce gw_paced "gateway path, $paced_rate/s" --engine gateway --events "$paced_events" --rate "$paced_rate"
fi

# --- (b) HTTP path ------------------------------------------------------------------------------
http_rows=()
if part b; then
  cat >"$work/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/body;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /api/v1/events {
      default_type application/json;
      return 202 '{"success":true,"data":{"event_id":"3f8a1c52-7d4e-4b9a-9c1e-5a2b6d8e0f14","topic":"appointment.events","partition":1,"offset":123456},"message":"Event published"}';
    }
    location / { return 200 'ok'; }
  }
}
NGINX
  nginx -c "$work/nginx.conf" -p "$work" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_http "http://127.0.0.1:$nginx_port/"
  write_gateway http
  start_gateway http
  deadline=$((SECONDS + 15))
  until curl -sf -o /dev/null --max-time 1 "$gw_url/ready"; do
    ((SECONDS < deadline)) || fail "the gateway is not ready 15 s after start: $(curl -s "$gw_url/health")"
    sleep 0.05
  done
  token=$("$mint_bin" --secret-env JWT_SECRET --sub USR-bench --role doctor --ttl 3600)
  cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"event_type":"appointment.scheduled","data":{"patient_id":"PAT-1","appointment_id":"APT-98765","doctor_id":"DOC-67890","status":"scheduled","scheduled_at":"2026-12-04T09:30:00Z"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
  # Warm-up: connections, the producer's broker connection and batches.
  say "HTTP path: warm-up"
  wrk -t"$wrk_threads" -c"${conn_list[0]}" -d2s -s "$work/post.lua" "http://127.0.0.1:$nginx_port/api/v1/events" >/dev/null
  wrk -t"$wrk_threads" -c"${conn_list[0]}" -d2s -s "$work/post.lua" "$gw_url/api/v1/events" >/dev/null
  nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
  for connections in "${conn_list[@]}"; do
    for target in nginx gateway; do
      name=$target-$connections
      http_rows+=("$name")
      say "HTTP path: $target, $connections connections, ${duration}s"
      if [[ $target == nginx ]]; then
        url="http://127.0.0.1:$nginx_port/api/v1/events"
        # shellcheck disable=SC2086  # the worker pids
        s0=$(ticks $nginx_workers)
      else
        url="$gw_url/api/v1/events"
        m0=$(scrape)
        s0=$(ticks "$gw_pid")
      fi
      b0=$(ticks "$kafka_pid"); t0=$(now)
      read -r rps req p50 p99 non2xx sock < <(run_wrk2 "$url" "$work/post.lua")
      t1=$(now); b1=$(ticks "$kafka_pid")
      s=$(secs_between "$t0" "$t1")
      if [[ $target == nginx ]]; then
        # shellcheck disable=SC2086
        R[$name.server_cpu]=$(cpu_pct $(($(ticks $nginx_workers) - s0)) "$s")
        R[$name.delivered]=-
      else
        R[$name.server_cpu]=$(cpu_pct $(($(ticks "$gw_pid") - s0)) "$s")
        # Responses still in flight when wrk stopped are delivered a little later.
        sleep 0.3
        m1=$(scrape)
        R[$name.delivered]=$(($(metric nilecare_kafka_produced_total 'result="delivered"' <<<"$m1") -
          $(metric nilecare_kafka_produced_total 'result="delivered"' <<<"$m0")))
        R[$name.rejected]=$(($(metric nilecare_events_api_rejected_total <<<"$m1") -
          $(metric nilecare_events_api_rejected_total <<<"$m0")))
        R[$name.not_delivered]=0
        for result in failed timed_out queue_full stopped too_large; do
          R[$name.not_delivered]=$((R[$name.not_delivered] +
            $(metric nilecare_kafka_produced_total "result=\"$result\"" <<<"$m1") -
            $(metric nilecare_kafka_produced_total "result=\"$result\"" <<<"$m0")))
        done
        if ((non2xx > 0 || sock > 0 || R[$name.not_delivered] > 0)); then
          failures+=("HTTP $name: $non2xx non-2xx, $sock socket errors, ${R[$name.not_delivered]} events not delivered (metrics)")
        fi
      fi
      R[$name.broker_cpu]=$(cpu_pct $((b1 - b0)) "$s")
      R[$name.rps]=$rps; R[$name.requests]=$req; R[$name.p50]=$p50; R[$name.p99]=$p99
      R[$name.non2xx]=$non2xx; R[$name.sock]=$sock; R[$name.conns]=$connections
    done
  done
  if has_warnings "$work/gateway-http.log"; then
    R[http.warnings]=$(grep -cE '"level":"(warn|error|critical)"' "$work/gateway-http.log")
  fi
  stop_gateway
  kill "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
fi

# --- (c) consumer path ----------------------------------------------------------------------------
if part c; then
  say "consumer path: filling bench.consume with $fill_events events for $clients patients"
  run_produce fill "fill (gateway path) -> bench.consume" --engine gateway --events "$fill_events" \
    --topic bench.consume --patients "$clients"
  unset 'produce_rows[-1]'  # reported with the consumer path
  for mode in base parse; do
    say "consumer path: librdkafka consumer ($mode)"
    args=()
    [[ $mode == parse ]] && args+=(--parse)
    b0=$(ticks "$kafka_pid"); t0=$(now); status=0
    "$bench_bin" consume --brokers "$brokers" --topic bench.consume --events "$fill_events" \
      --group "bench-consume-$mode-$$-$RANDOM" --label "consume-$mode" --timeout 30 "${args[@]}" \
      >"$work/consume-$mode.out" 2>&1 || status=$?
    t1=$(now); b1=$(ticks "$kafka_pid")
    kv "consume-$mode" "$(grep '^RESULT ' "$work/consume-$mode.out" || true)"
    [[ -n ${R[consume-$mode.rate]:-} ]] || { cat "$work/consume-$mode.out" >&2; fail "consume ($mode) printed no result (exit $status)"; }
    # The mock broker keeps at most 5 MiB (compressed) per partition and drops the oldest
    # batches beyond: about 40,000 of these envelopes per partition.
    ((status == 0)) || failures+=("librdkafka consumer ($mode): read $(get "consume-$mode.read") of $fill_events in 30 s (beyond ~120,000 events the mock broker's 5 MiB per partition drops the oldest)")
    R[consume-$mode.broker_cpu]=$(cpu_pct $((b1 - b0)) "$(secs_between "$t0" "$t1")")
  done

  # The gateway and the clients come up while the broker is down.
  say "consumer path: gateway + $clients socket.io clients, broker down meanwhile"
  kill -USR1 "$kafka_pid"
  write_gateway consume
  start_gateway consume
  m0=$(scrape)
  base_handled=$(metric nilecare_kafka_events_total 'result="handled"' <<<"$m0")
  # Receipts expected: events of patients 0..clients-1 (fill cycles i % clients).
  node bench/node/event_clients.mjs --url "$gw_url" --clients "$clients" --expect "$fill_events" \
    --timeout 180 --label gateway --out "$work/clients.json" >"$work/clients.out" 2>"$work/clients.err" &
  client_pid=$!
  pids+=("$client_pid")
  wait_ready "$client_pid" "$work/clients.out" "$work/clients.err" "socket.io clients"
  g0=$(ticks "$gw_pid"); b0=$(ticks "$kafka_pid"); mt0=$(machine_ticks)
  kill -USR2 "$kafka_pid"
  t_up=$(now)
  t_first='' h_first=0 t_done='' handled=0 g_first=0 g_done=0
  deadline=$((SECONDS + 180))
  while :; do
    handled=$(($(scrape | metric nilecare_kafka_events_total 'result="handled"') - base_handled))
    t=$(now)
    if [[ -z $t_first ]] && ((handled > 0)); then t_first=$t; h_first=$handled; g_first=$(ticks "$gw_pid"); fi
    if ((handled >= fill_events)); then t_done=$t; g_done=$(ticks "$gw_pid"); break; fi
    kill -0 "$gw_pid" 2>/dev/null || fail "the gateway exited while consuming"
    if ((SECONDS >= deadline)); then
      failures+=("gateway consumer: only $handled of $fill_events events handled after 180 s")
      break
    fi
    sleep 0.05
  done
  g1=$(ticks "$gw_pid"); b1=$(ticks "$kafka_pid"); mt1=$(machine_ticks); t_end=$(now)
  status=0
  wait "$client_pid" || status=$?
  kv clients "$(grep '^RESULT ' "$work/clients.out" || true)"
  ((status == 0)) || failures+=("socket.io clients: received $(get clients.received) of $fill_events appointment:updated ($(get clients.disconnects) disconnects)")
  m1=$(scrape)
  R[gwc.handled]=$handled
  for result in duplicate unmatched dead_lettered; do
    R[gwc.$result]=$(($(metric nilecare_kafka_events_total "result=\"$result\"" <<<"$m1") -
      $(metric nilecare_kafka_events_total "result=\"$result\"" <<<"$m0")))
  done
  R[gwc.consumed]=$(awk '$1 ~ /^nilecare_kafka_consumed_total/ { v += $2 } END { printf "%.0f", v + 0 }' <<<"$m1")
  if [[ -n $t_first && -n $t_done ]]; then
    R[gwc.seconds]=$(secs_between "$t_first" "$t_done")
    R[gwc.rate]=$(awk -v n=$((fill_events - h_first)) -v s="${R[gwc.seconds]}" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    R[gwc.start]=$(secs_between "$t_up" "$t_first")
    # Gateway CPU while it consumed (first handled -> all handled), per event handled meanwhile.
    R[gwc.gw_cpu_run]=$(cpu_pct $((g_done - g_first)) "${R[gwc.seconds]}")
    R[gwc.gw_us]=$(awk -v t=$((g_done - g_first)) -v n=$((fill_events - h_first)) -v hz="$clk_tck" \
      'BEGIN { printf "%.1f", (n > 0 ? 1e6 * t / hz / n : 0) }')
  fi
  s=$(secs_between "$t_up" "$t_end")
  R[gwc.gw_cpu]=$(cpu_pct $((g1 - g0)) "$s")
  R[gwc.broker_cpu]=$(cpu_pct $((b1 - b0)) "$s")
  R[gwc.machine]=$(cpu_pct $((mt1 - mt0)) "$s")
  [[ ${R[gwc.dead_lettered]} == 0 ]] || failures+=("gateway consumer: ${R[gwc.dead_lettered]} events dead-lettered")
  if [[ $(get clients.duplicates) != 0 || $(get clients.misrouted) != 0 ]]; then
    failures+=("socket.io clients: $(get clients.duplicates) duplicates, $(get clients.misrouted) misrouted")
  fi
  stop_gateway
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------------------
report_header "Domain events (Kafka) benchmark" \
  "librdkafka $(pkg-config --modversion rdkafka 2>/dev/null || echo '?'), $(nginx -v 2>&1 | sed 's/.*: //'), node $(node --version)"
echo "broker: nilecare-dev-kafka (librdkafka mock cluster, in memory), 1 broker, 3 partitions per topic."
echo "Load generators and servers share the $(nproc) cores; CPU columns are % of one core."
if part a; then
  echo
  f1='| %-30s | %7s | %7s | %6s | %9s | %6s | %8s | %8s | %8s | %9s | %6s | %6s |'
  h=$(row "$f1" "producer path" events "value B" failed "events/s" "x raw" "p50 ms" "p99 ms" "max ms" "us/event" broker others)
  echo "(a) Producer path: nilecare-kafka-bench produce, at most 100,000 unacknowledged events;"
  echo "    delivery latency = produce call -> delivery report (acks=all, linger.ms 5, gzip level 1, idempotent)"
  echo "$h"; sep "$h"
  for name in "${produce_rows[@]}"; do
    base=raw
    [[ $name == *_paced ]] && base=raw_paced
    row "$f1" "${P_DESC[$name]}" "$(fmt_int "$(get "$name.events")")" "$(get "$name.value_bytes")" \
      "$(get "$name.failed")" "$(fmt_int "$(get "$name.rate")")" "$(ratio "$(get "$name.rate")" "$(get "$base.rate")")" \
      "$(get "$name.p50_ms")" "$(get "$name.p99_ms")" "$(get "$name.max_ms")" \
      "$(get "$name.cpu_us_per_event")" "$(get "$name.broker_cpu")" "$(get "$name.others")"
  done
  echo
  echo "events/s: delivered / (first produce call -> last delivery report). x raw: against the raw row"
  echo "of the same load. us/event: CPU (user + system) of nilecare-kafka-bench per delivered event"
  echo "(producing threads, librdkafka's threads, delivery callbacks). broker: nilecare-dev-kafka's CPU."
  echo "others: the rest of the machine meanwhile (other users' builds and tests included)."
  best=$(awk -v a="$(get gw.rate)" -v b="$(get gw2.rate)" 'BEGIN { printf "%.0f", (b + 0 > a + 0 ? b : a) }')
  verdict="NOT met"
  awk -v r="$best" 'BEGIN { exit !(r >= 100000) }' && verdict=met
  echo "Target >= 100,000 events/s through the gateway's producer path: best $(fmt_int "$best") events/s -> $verdict" \
    "(raw librdkafka against the same broker: $(fmt_int "$(get raw.rate)") events/s)."
fi
if part b; then
  echo
  f2='| %-28s | %5s | %9s | %8s | %7s | %8s | %8s | %7s | %6s | %9s | %6s | %6s |'
  h=$(row "$f2" "HTTP path" conns requests "req/s" "x nginx" "p50 ms" "p99 ms" non-2xx "sock" delivered server broker)
  echo "(b) HTTP path: POST /api/v1/events, wrk -t$wrk_threads -d${duration}s --latency (HS256 JWT; the gateway"
  echo "    answers 202 once the broker acknowledged the event). Baseline: nginx (2 workers), static 202 JSON."
  echo "$h"; sep "$h"
  for name in "${http_rows[@]}"; do
    target=${name%%-*}
    desc="nginx static 202 (baseline)"
    [[ $target == gateway ]] && desc="gateway POST /api/v1/events"
    row "$f2" "$desc" "$(get "$name.conns")" "$(fmt_int "$(get "$name.requests")")" "$(fmt_int "$(get "$name.rps")")" \
      "$(ratio "$(get "$name.rps")" "$(get "nginx-$(get "$name.conns").rps")")" "$(get "$name.p50")" "$(get "$name.p99")" \
      "$(get "$name.non2xx")" "$(get "$name.sock")" "$(fmt_int "$(get "$name.delivered")")" \
      "$(get "$name.server_cpu")" "$(get "$name.broker_cpu")"
  done
  echo
  echo "requests: completed by wrk; delivered: nilecare_kafka_produced_total{result=\"delivered\"} delta"
  echo "(every 2xx is a delivered event). sock: wrk socket errors. server/broker: CPU of the gateway"
  echo "(or the nginx workers) and of nilecare-dev-kafka. wrk's own CPU is not shown (about one core)."
  [[ -n ${R[http.warnings]:-} ]] && echo "gateway log: ${R[http.warnings]} warning/error lines (see below)."
fi
if part c; then
  echo
  f3='| %-42s | %7s | %9s | %6s | %8s | %8s | %6s |'
  h=$(row "$f3" "consumer path" events "events/s" "x base" "start s" "us/event" broker)
  echo "(c) Consumer path: $(fmt_int "$fill_events") appointment.scheduled envelopes ($(get fill.value_bytes) B) on bench.consume" \
    "(3 partitions), $clients patients;"
  echo "    filled through the gateway's producer path at $(fmt_int "$(get fill.rate)") events/s."
  echo "$h"; sep "$h"
  row "$f3" "librdkafka consumer (baseline)" "$(fmt_int "$(get consume-base.read)")" "$(fmt_int "$(get consume-base.rate)")" \
    "1.00" "$(get consume-base.join_s)" "$(get consume-base.cpu_us_per_event)" "$(get consume-base.broker_cpu)"
  row "$f3" "librdkafka consumer + ParseDomainEvent" "$(fmt_int "$(get consume-parse.read)")" "$(fmt_int "$(get consume-parse.rate)")" \
    "$(ratio "$(get consume-parse.rate)" "$(get consume-base.rate)")" "$(get consume-parse.join_s)" \
    "$(get consume-parse.cpu_us_per_event)" "$(get consume-parse.broker_cpu)"
  row "$f3" "gateway consumer: events handled" "$(fmt_int "$(get gwc.handled)")" "$(fmt_int "$(get gwc.rate)")" \
    "$(ratio "$(get gwc.rate)" "$(get consume-base.rate)")" "$(get gwc.start)" "$(get gwc.gw_us)" "$(get gwc.broker_cpu)"
  row "$f3" "-> appointment:updated received ($clients cl.)" "$(fmt_int "$(get clients.received)")" "$(fmt_int "$(get clients.rate)")" \
    "$(ratio "$(get clients.rate)" "$(get consume-base.rate)")" "-" "-" "-"
  echo
  echo "events/s: librdkafka consumer: first record -> last record; gateway: first scrape of /metrics with"
  echo "handled > 0 -> the scrape with all $(fmt_int "$fill_events") handled (50 ms polls); received: the clients' first -> last"
  echo "receipt. start s: subscribe (gateway: broker up) -> first record (group join, reconnect)."
  echo "us/event: CPU of the consumer process per event (gateway: all its threads, emits included, while consuming)."
  echo "gateway consumer: handled $(get gwc.handled), duplicate $(get gwc.duplicate), unmatched $(get gwc.unmatched)," \
    "dead-lettered $(get gwc.dead_lettered); records read $(get gwc.consumed). CPU: gateway $(get gwc.gw_cpu_run)% while"
  echo "consuming; from broker up to the end: gateway $(get gwc.gw_cpu)%, broker $(get gwc.broker_cpu)%, machine $(get gwc.machine)%" \
    "(all cores); the clients' Node process $(get clients.cpu_s) s in all."
  echo "socket.io clients: received $(get clients.received) (distinct $(get clients.distinct), duplicates" \
    "$(get clients.duplicates), misrouted $(get clients.misrouted), disconnects $(get clients.disconnects)," \
    "per client $(get clients.per_client_min)..$(get clients.per_client_max)); dedupe: in memory (no redis: section)."
  echo "Consumer setup: the gateway (realtime on, service.threads 2, kafka.properties" \
    "reconnect.backoff.max.ms 500) and the clients connected while the broker was down."
fi

exit_code=0
report_failures || exit_code=1
for log in "$work"/gateway-*.log; do
  [[ -e $log ]] || continue
  if has_warnings "$log"; then
    echo
    echo "${log##*/}, warnings and errors by message:"
    [[ $log == *consume.log ]] && echo "(the broker is down on purpose while this gateway starts: 'Connection refused' is expected)"
    warnings_by_message "$log"
    echo "first: $(grep -m 1 -E '"level":"(warn|error|critical)"' "$log" | cut -c1-400)"
  fi
done
echo "run time: $((SECONDS - started)) s"
exit "$exit_code"
