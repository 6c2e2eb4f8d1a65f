#!/usr/bin/env bash
# RabbitMQ task benchmark (docs/tasks.md). One run, its own RabbitMQ node (scripts/stack.sh,
# test profile, a private state dir and free loopback ports, stopped at the end), every
# baseline measured in the same run. Tasks are persistent JSON bodies of --size bytes on
# durable queues declared as the gateway declares its work queues (x-max-priority 10,
# x-dead-letter-exchange), bound to the direct exchange nilecare-bench.
#
#   (a) publisher path  nilecare-amqp-bench publish: --tasks tasks as fast as possible, at most
#                       --window unconfirmed, then every confirm awaited. raw = plain rabbitmq-c,
#                       one connection and thread, confirm.select, pre-built messages with the
#                       gateway's properties (the baseline); gateway = amqp::TaskPublisher (its
#                       thread and connection, max_in_flight --window) with what
#                       TaskQueues::Enqueue builds per task (new task id, headers table, body).
#                       Then both with a window of the first --connections (what (b) can keep
#                       unconfirmed) and paced at --paced-rate (confirm latency below
#                       saturation). A fresh queue per run, which must then hold exactly the
#                       confirmed tasks, deleted afterwards. Target: >= 10,000 confirmed tasks/s.
#   (b) HTTP path       POST /api/v1/tasks/bench.http (HS256 JWT, {"payload": ~--size bytes},
#                       202 once the broker confirmed) from wrk at each --connections; baseline:
#                       nginx answering the same POST with a static 202 JSON. Gateway:
#                       service.threads 2, no workers; nginx: 2 workers. The queue must hold
#                       exactly the tasks the gateway counted as confirmed (then purged).
#   (c) worker path     --drain-tasks tasks filled into a queue (raw publisher), then drained.
#                       Baselines: a plain rabbitmq-c consumer that only acks (upper bound), and
#                       one that POSTs each body to the same nginx `return 200` handler
#                       (keep-alive, as many connections as the worker's concurrency) and acks
#                       after the answer (the fair baseline). Gateway: one worker for the queue
#                       (handler_url -> nginx) per --workers PREFETCH:CONCURRENCY setting;
#                       nilecare_tasks_acked_total{queue} scraped from /metrics every 50 ms,
#                       the clock runs from the first scrape with an ack to the last ack.
#   (d) latency         --paced-rate tasks/s for --paced-seconds (after a 0.5 s warm-up whose
#                       tasks are not sampled), each carrying its send time, to a small Node
#                       handler (bench/node/task_handler.mjs) that records publish -> handler:
#                       raw publisher + the plain consumer POSTing (baseline); TaskPublisher + a
#                       gateway worker; POST /api/v1/tasks from the handler's own process + a
#                       gateway worker (client -> handler). Worker settings: the first of
#                       --workers.
#
#   bench/tasks.sh [--build-dir build] [--no-build] [--tasks 100000] [--size 1024]
#                  [--window 10000] [--duration 8] [--connections 64,256] [--drain-tasks 50000]
#                  [--workers 50:32,200:64] [--paced-rate 2000] [--paced-seconds 3]
#                  [--parts a,b,c,d]
#
# The build dir is --build-dir, else $NILECARE_BUILD_DIR, else build. Default run: about
# 2 minutes on 2 cores (RabbitMQ takes ~5 s to start, ~3 s to stop). The load generators
# (nilecare-amqp-bench, wrk, Node) and the servers (RabbitMQ, gateway, nginx) share this
# machine's cores; CPU columns say who used what. No timing is asserted. Exit 1 when a step
# failed or tasks were lost (not confirmed, not in the queue, not acked, not handled); the
# tables are printed anyway.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
cmdline=$(bench_cmdline bench/tasks.sh "$@")
build_dir=${NILECARE_BUILD_DIR:-build}
do_build=1
tasks=100000
size=1024
window=10000
duration=8
connections=64,256
drain_tasks=50000
workers=50:32,200:64
paced_rate=2000
paced_seconds=3
parts=a,b,c,d
while (($#)); do
  case "$1" in
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --tasks) tasks=$2; shift ;;
    --size) size=$2; shift ;;
    --window) window=$2; shift ;;
    --duration) duration=$2; shift ;;
    --connections) connections=$2; shift ;;
    --drain-tasks) drain_tasks=$2; shift ;;
    --workers) workers=$2; shift ;;
    --paced-rate) paced_rate=$2; shift ;;
    --paced-seconds) paced_seconds=$2; shift ;;
    --parts) parts=$2; shift ;;
    -h|--help) sed -n '2,49p' "$0"; exit 0 ;;
    *) echo "tasks.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
IFS=, read -r -a conn_list <<<"$connections"
IFS=, read -r -a worker_list <<<"$workers"
for setting in "${worker_list[@]}"; do
  [[ $setting =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] ||
    { echo "tasks.sh: --workers takes PREFETCH:CONCURRENCY[,...], got '$setting'" >&2; exit 2; }
done
require_positive_ints tasks.sh "$tasks" "$size" "$window" "$duration" "$drain_tasks" "$paced_rate" \
  "$paced_seconds" "${conn_list[@]}"
part() { [[ ,$parts, == *,$1,* ]]; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS

if ((do_build)); then
  bench_build "$build_dir" nilecare-gateway nilecare-jwt-mint nilecare-amqp-bench
fi
gateway_bin=$(realpath -m "$build_dir/nilecare-gateway")
mint_bin=$(realpath -m "$build_dir/nilecare-jwt-mint")
bench_bin=$(realpath -m "$build_dir/nilecare-amqp-bench")
require_executables tasks.sh "drop --no-build, or --build-dir" "$gateway_bin" "$mint_bin" "$bench_bin"
for tool in wrk nginx node curl; do
  command -v "$tool" >/dev/null || { echo "tasks.sh: $tool is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
done

bench_init
trap 'exit 130' INT TERM

failures=()
fail() { fail_with_logs tasks.sh "$*" "$work"/gateway-*.log "$work/stack.log" "$work"/*.err; }

read -r gw_port nginx_port handler_port amqp_port amqp_dist_port < <(free_ports 5)
gw_url=http://127.0.0.1:$gw_port
broker=127.0.0.1:$amqp_port
secret="bench-secret-0123456789abcdef0123456789"
export JWT_SECRET=$secret
clk_tck=$(getconf CLK_TCK)
wrk_threads=2

declare -A R  # kv, get (bench/lib.sh)

# --- broker -----------------------------------------------------------------------------------
stack() {  # up|down: the private RabbitMQ node
  NILECARE_STACK_DIR="$work/stack" NILECARE_AMQP_PORT=$amqp_port NILECARE_AMQP_DIST_PORT=$amqp_dist_port \
    NILECARE_BUILD_DIR=$build_dir bash scripts/stack.sh --profile test --only amqp "$1" >>"$work/stack.log" 2>&1
}
say "starting a private RabbitMQ node on $broker"
on_exit stack down
stack up || fail "scripts/stack.sh could not start RabbitMQ"
broker_pid=$(cat "$work/stack/pids/amqp.pid")
rabbit_version=$(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?')

# bench_tool NAME MODE ARGS...: nilecare-amqp-bench MODE --broker ... --label NAME ARGS, output to
# $work/NAME.out, R[NAME.*] from its RESULT line; R[NAME.status] its exit code; R[NAME.broker_cpu]
# (% of one core), R[NAME.tool_cpu] and R[NAME.others] (the rest of the machine).
bench_tool() {
  local name=$1 mode=$2 b0 b1 m0 m1 t0 t1 status=0 s
  shift 2
  b0=$(ticks "$broker_pid"); m0=$(machine_ticks); t0=$(now)
  "$bench_bin" "$mode" --broker "$broker" --label "$name" "$@" >"$work/$name.out" 2>&1 || status=$?
  b1=$(ticks "$broker_pid"); m1=$(machine_ticks); t1=$(now)
  kv "$name" "$(grep '^RESULT ' "$work/$name.out" || true)"
  R[$name.status]=$status
  if [[ -z ${R[$name.rate]:-} ]]; then
    cat "$work/$name.out" >&2
    fail "nilecare-amqp-bench $mode ($name) printed no result (exit $status)"
  fi
  s=$(secs_between "$t0" "$t1")
  R[$name.broker_cpu]=$(cpu_pct $((b1 - b0)) "$s")
  R[$name.machine]=$(cpu_pct $((m1 - m0)) "$s")
  R[$name.tool_cpu]=$(awk -v c="${R[$name.cpu_s]}" -v s="$s" 'BEGIN { printf "%.0f", 100 * c / s }')
  R[$name.others]=$(awk -v m="${R[$name.machine]}" -v a="${R[$name.broker_cpu]}" -v b="${R[$name.tool_cpu]}" \
    'BEGIN { v = m - a - b; printf "%.0f", (v > 0 ? v : 0) }')
}
# queue_op QUEUE [--purge|--delete]: $q_messages, the ready messages of the queue (before the
# purge or delete).
queue_op() {
  local out
  out=$("$bench_bin" queue --broker "$broker" --queue "$@" 2>&1) || fail "nilecare-amqp-bench queue $*: $out"
  read -r q_messages _ < <(awk '/^RESULT/ { for (i = 2; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] }
                                            print v["messages"] }' <<<"$out")
}
# wait_consumer QUEUE: until QUEUE has a consumer (at most 20 s).
wait_consumer() {
  local deadline=$((SECONDS + 20)) consumers
  while :; do
    # The queue may not exist yet: no line, consumers 0.
    read -r _ consumers < <("$bench_bin" queue --broker "$broker" --queue "$1" 2>/dev/null |
      awk '/^RESULT/ { for (i = 2; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] } print v["messages"], v["consumers"] }') ||
      consumers=0
    [[ ${consumers:-0} -ge 1 ]] && return 0
    ((SECONDS < deadline)) || fail "nobody consumes $1 after 20 s"
    sleep 0.1
  done
}

# --- gateway ----------------------------------------------------------------------------------
gw_pid=
# write_gateway NAME QUEUE [PREFETCH CONCURRENCY HANDLER_URL]: a gateway with one work queue
# (on nilecare-bench, the default dead-letter names: what nilecare-amqp-bench declares) and,
# given a handler, one worker for it (plus the upstream and the route the REST adapter needs).
write_gateway() {
  local name=$1 queue=$2 prefetch=${3:-} concurrency=${4:-} handler=${5:-}
  {
    cat <<YAML
service: { name: bench-tasks-$name, threads: 2, shutdown_grace: 2s }
log: { level: warn, format: json }
http: { listen: 127.0.0.1:$gw_port }
auth:
  jwt: { algorithms: [HS256], secret: "$secret", issuer: nilecare-auth, audience: nilecare }
YAML
    if [[ -n $handler ]]; then
      cat <<YAML
upstreams:
  handler: { url: "${handler%/tasks*}", max_connections: 256, max_pending: 10000 }
routes:
  - { prefix: /api/v1/unused, upstream: handler }
YAML
    fi
    cat <<YAML
rabbitmq:
  url: "amqp://guest:guest@$broker/"
  max_in_flight: $window
  queues: [{ name: $queue, exchange: nilecare-bench }]
YAML
    if [[ -n $handler ]]; then
      echo "  workers: [{ queue: $queue, handler_url: \"$handler\", prefetch: $prefetch, concurrency: $concurrency }]"
    fi
  } >"$work/gateway-$name.yaml"
}
start_gateway() {  # NAME: until /ready (the rabbitmq component is up)
  "$gateway_bin" --config "$work/gateway-$1.yaml" >>"$work/gateway-$1.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
  wait_until "$gw_pid" 20 "the gateway ($1) exited at start" "the gateway ($1) is not ready after 20 s" \
    curl -sf -o /dev/null --max-time 1 "$gw_url/ready"
}

# --- nginx: the HTTP baseline (b) and the fast task handler (c) --------------------------------
nginx_pid=
nginx_workers=
if part b || part c; then
  cat >"$work/nginx.conf" <<NGINX
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path $work/body;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /api/v1/tasks/bench.http {
      default_type application/json;
      return 202 '{"success":true,"data":{"task_id":"3f8a1c52-7d4e-4b9a-9c1e-5a2b6d8e0f14","queue":"bench.http"},"message":"Task queued","meta":{"request_id":"9b2f6c1e-0d4a-4e8b-a1f3-7c5d2e9b8a60","timestamp":"2026-12-04T09:30:00.000Z"}}';
    }
    location = /tasks/fast { default_type application/json; return 200 '{}'; }
    location / { return 200 'ok'; }
  }
}
NGINX
  nginx -c "$work/nginx.conf" -p "$work" &
  nginx_pid=$!
  pids+=("$nginx_pid")
  wait_http "http://127.0.0.1:$nginx_port/"
  nginx_workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
fi
fast_handler=http://127.0.0.1:$nginx_port/tasks/fast

# --- (a) publisher path -------------------------------------------------------------------------
publish_rows=()
declare -A P_DESC
run_publish() {  # NAME DESCRIPTION ARGS...
  local name=$1
  publish_rows+=("$name")
  P_DESC[$name]=$2
  shift 2
  say "publisher path: ${P_DESC[$name]}"
  bench_tool "$name" publish --queue "bench.publish.$name" --size "$size" --window "$window" --verify --delete "$@"
  if ((R[$name.status] != 0)); then
    failures+=("publisher $name: $(get "$name.confirmed") of $(get "$name.tasks") confirmed, failed $(get "$name.failed"), returned $(get "$name.returned"), in the queue $(get "$name.queued")")
  fi
}
if part a; then
  paced_tasks=$((paced_rate * paced_seconds))
  run_publish raw "raw rabbitmq-c, max" --mode raw --tasks "$tasks"
  run_publish gw "gateway TaskPublisher, max" --mode gateway --tasks "$tasks"
  small=${conn_list[0]}
  run_publish raw_w "raw rabbitmq-c, $small unconfirmed" --mode raw --tasks $((tasks / 4)) --window "$small"
  run_publish gw_w "gateway TaskPublisher, $small unconfirmed" --mode gateway --tasks $((tasks / 4)) --window "$small"
  run_publish raw_paced "raw rabbitmq-c, $paced_rate/s" --mode raw --tasks "$paced_tasks" --rate "$paced_rate"
  run_publish gw_paced "gateway TaskPublisher, $paced_rate/s" --mode gateway --tasks "$paced_tasks" --rate "$paced_rate"
fi

# --- (b) HTTP path ------------------------------------------------------------------------------
http_rows=()
if part b; then
  write_gateway http bench.http
  start_gateway http
  token=$("$mint_bin" --secret-env JWT_SECRET --sub svc-bench --role admin --ttl 3600)
  # {"payload": ...} whose payload (the task body) is about --size bytes.
  pad=$(printf '%*s' $((size > 80 ? size - 80 : 1)) '' | tr ' ' x)
  cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"payload":{"seq":1,"sent_at_us":0,"patient_id":"PAT-bench-1","kind":"reminder","pad":"$pad"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
  say "HTTP path: warm-up"
  wrk -t"$wrk_threads" -c"${conn_list[0]}" -d2s -s "$work/post.lua" "http://127.0.0.1:$nginx_port/api/v1/tasks/bench.http" >/dev/null
  wrk -t"$wrk_threads" -c"${conn_list[0]}" -d2s -s "$work/post.lua" "$gw_url/api/v1/tasks/bench.http" >/dev/null
  for connections in "${conn_list[@]}"; do
    for target in nginx gateway; do
      name=$target-$connections
      http_rows+=("$name")
      say "HTTP path: $target, $connections connections, ${duration}s"
      if [[ $target == nginx ]]; then
        url="http://127.0.0.1:$nginx_port/api/v1/tasks/bench.http"
        # shellcheck disable=SC2086  # the worker pids
        s0=$(ticks $nginx_workers)
      else
        url="$gw_url/api/v1/tasks/bench.http"
        sleep 0.5  # the warm-up's (or last run's) publishes confirmed
        queue_op bench.http --purge
        m0=$(scrape)
        s0=$(ticks "$gw_pid")
      fi
      b0=$(ticks "$broker_pid"); t0=$(now)
      read -r rps req p50 p99 non2xx sock < <(run_wrk2 "$url" "$work/post.lua")
      t1=$(now); b1=$(ticks "$broker_pid")
      s=$(secs_between "$t0" "$t1")
      if [[ $target == nginx ]]; then
        # shellcheck disable=SC2086
        R[$name.server_cpu]=$(cpu_pct $(($(ticks $nginx_workers) - s0)) "$s")
        R[$name.confirmed]=-; R[$name.queued]=-
      else
        R[$name.server_cpu]=$(cpu_pct $(($(ticks "$gw_pid") - s0)) "$s")
        # Requests in flight when wrk stopped are confirmed a little later.
        deadline=$((SECONDS + 10))
        until [[ $(scrape | metric nilecare_amqp_publisher_in_flight) == 0 ]] || ((SECONDS >= deadline)); do sleep 0.1; done
        m1=$(scrape)
        R[$name.confirmed]=$(($(metric nilecare_tasks_confirmed_total 'queue="bench.http"' <<<"$m1") -
          $(metric nilecare_tasks_confirmed_total 'queue="bench.http"' <<<"$m0")))
        R[$name.not_confirmed]=$(($(awk '$1 ~ /^nilecare_tasks_publish_failed_total/ { v += $2 } END { printf "%.0f", v + 0 }' <<<"$m1") -
          $(awk '$1 ~ /^nilecare_tasks_publish_failed_total/ { v += $2 } END { printf "%.0f", v + 0 }' <<<"$m0")))
        queue_op bench.http --purge
        R[$name.queued]=$q_messages
        if ((non2xx > 0 || sock > 0 || R[$name.not_confirmed] > 0 || R[$name.queued] != R[$name.confirmed] ||
             R[$name.confirmed] < req - non2xx)); then
          failures+=("HTTP $name: $non2xx non-2xx, $sock socket errors, ${R[$name.not_confirmed]} not confirmed (metrics), ${R[$name.confirmed]} confirmed, ${R[$name.queued]} in the queue, $req requests")
        fi
      fi
      R[$name.broker_cpu]=$(cpu_pct $((b1 - b0)) "$s")
      R[$name.rps]=$rps; R[$name.requests]=$req; R[$name.p50]=$p50; R[$name.p99]=$p99
      R[$name.non2xx]=$non2xx; R[$name.sock]=$sock; R[$name.conns]=$connections
    done
  done
  stop_gateway
fi

# --- (c) worker path ----------------------------------------------------------------------------
drain_rows=()
declare -A D_DESC
fill() {  # QUEUE: --drain-tasks tasks in it, through the raw publisher
  say "worker path: filling $1 with $drain_tasks tasks"
  bench_tool "fill-$1" publish --mode raw --queue "$1" --tasks "$drain_tasks" --size "$size" --window "$window" --verify
  ((R[fill-$1.status] == 0)) || fail "filling $1: $(get "fill-$1.confirmed") of $drain_tasks confirmed, $(get "fill-$1.queued") in the queue"
  R[fill.rate]=${R[fill-$1.rate]}
}
check_drained() {  # NAME QUEUE: nothing left in the queue (deleted)
  queue_op "$2" --delete
  R[$1.left]=$q_messages
  ((q_messages == 0)) || failures+=("worker path $1: $q_messages tasks left in $2")
}
run_consumer() {  # NAME DESCRIPTION PREFETCH [CONCURRENCY (POST to nginx)]
  local name=$1 queue=bench.drain.$1 args=(--prefetch "$3")
  drain_rows+=("$name")
  D_DESC[$name]=$2
  [[ -n ${4:-} ]] && args+=(--post "$fast_handler" --http-concurrency "$4")
  fill "$queue"
  say "worker path: ${D_DESC[$name]}"
  # shellcheck disable=SC2086  # the worker pids
  s0=$(ticks $nginx_workers)
  bench_tool "$name" consume --queue "$queue" --tasks "$drain_tasks" --timeout 120 "${args[@]}"
  # shellcheck disable=SC2086
  R[$name.handler_ticks]=$(($(ticks $nginx_workers) - s0))
  ((R[$name.status] == 0)) || failures+=("$name: acked $(get "$name.acked") of $drain_tasks, $(get "$name.http_errors") HTTP errors")
  R[$name.us]=${R[$name.cpu_us_per_task]}
  R[$name.handler_cpu]=$(cpu_pct "${R[$name.handler_ticks]}" "${R[$name.seconds]}")
  R[$name.prefetch]=$3; R[$name.concurrency]=${4:--}
  check_drained "$name" "$queue"
}
run_worker() {  # NAME PREFETCH CONCURRENCY
  local name=$1 queue=bench.drain.$1 m0 m1 t t_first='' t_done='' a_first=0 acked=0 g_first=0 g_done=0 b_first=0 b_done=0 n_first=0 n_done=0
  drain_rows+=("$name")
  D_DESC[$name]="gateway worker"
  fill "$queue"
  say "worker path: gateway worker, prefetch $2, concurrency $3"
  write_gateway "$name" "$queue" "$2" "$3" "$fast_handler"
  start_gateway "$name"
  m0=$(scrape)
  local deadline=$((SECONDS + 120))
  while :; do
    acked=$(scrape | metric nilecare_tasks_acked_total "queue=\"$queue\"")
    t=$(now)
    # shellcheck disable=SC2086  # the worker pids
    if [[ -z $t_first ]] && ((acked > 0)); then
      t_first=$t; a_first=$acked; g_first=$(ticks "$gw_pid"); b_first=$(ticks "$broker_pid"); n_first=$(ticks $nginx_workers)
    fi
    # shellcheck disable=SC2086
    if ((acked >= drain_tasks)); then
      t_done=$t; g_done=$(ticks "$gw_pid"); b_done=$(ticks "$broker_pid"); n_done=$(ticks $nginx_workers)
      break
    fi
    kill -0 "$gw_pid" 2>/dev/null || fail "the gateway exited while draining $queue"
    if ((SECONDS >= deadline)); then
      failures+=("gateway worker $name: only $acked of $drain_tasks acked after 120 s")
      break
    fi
    sleep 0.05
  done
  m1=$(scrape)
  R[$name.acked]=$acked; R[$name.prefetch]=$2; R[$name.concurrency]=$3
  R[$name.delivered]=$(metric nilecare_tasks_delivered_total "queue=\"$queue\"" <<<"$m1")
  local what
  R[$name.not_done]=0
  for what in retried parked requeued; do
    R[$name.not_done]=$((R[$name.not_done] + $(metric "nilecare_tasks_${what}_total" "queue=\"$queue\"" <<<"$m1")))
  done
  R[$name.not_done]=$((R[$name.not_done] + $(awk '$1 ~ /^nilecare_tasks_dead_lettered_total/ { v += $2 } END { printf "%.0f", v + 0 }' <<<"$m1")))
  if [[ -n $t_first && -n $t_done ]]; then
    R[$name.seconds]=$(secs_between "$t_first" "$t_done")
    R[$name.rate]=$(awk -v n=$((drain_tasks - a_first)) -v s="${R[$name.seconds]}" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
    R[$name.us]=$(awk -v t=$((g_done - g_first)) -v n=$((drain_tasks - a_first)) -v hz="$clk_tck" \
      'BEGIN { printf "%.1f", (n > 0 ? 1e6 * t / hz / n : 0) }')
    R[$name.gw_cpu]=$(cpu_pct $((g_done - g_first)) "${R[$name.seconds]}")
    R[$name.broker_cpu]=$(cpu_pct $((b_done - b_first)) "${R[$name.seconds]}")
    R[$name.handler_cpu]=$(cpu_pct $((n_done - n_first)) "${R[$name.seconds]}")
  fi
  ((R[$name.not_done] == 0)) || failures+=("gateway worker $name: ${R[$name.not_done]} tasks retried, requeued, parked or dead-lettered")
  ((R[$name.delivered] == drain_tasks)) || failures+=("gateway worker $name: ${R[$name.delivered]} deliveries for $drain_tasks tasks")
  has_warnings "$work/gateway-$name.log" && R[$name.warnings]=$(grep -cE '"level":"(warn|error|critical)"' "$work/gateway-$name.log")
  stop_gateway
  check_drained "$name" "$queue"
}
if part c; then
  IFS=: read -r first_prefetch _ <<<"${worker_list[0]}"
  run_consumer base-ack "rabbitmq-c consumer, ack only (upper bound)" "$first_prefetch"
  for setting in "${worker_list[@]}"; do
    IFS=: read -r prefetch concurrency <<<"$setting"
    run_consumer "base-post-$prefetch-$concurrency" "rabbitmq-c consumer, POST + ack (baseline)" "$prefetch" "$concurrency"
    run_worker "gw-$prefetch-$concurrency" "$prefetch" "$concurrency"
  done
fi

# --- (d) publish -> handler latency -------------------------------------------------------------
lat_rows=()
declare -A L_DESC
paced_tasks=$((paced_rate * paced_seconds))
warm_tasks=$(((paced_rate + 1) / 2))      # 0.5 s, not sampled
lat_tasks=$((warm_tasks + paced_tasks))   # sent, and expected by the handler
start_handler() {  # NAME [POSTER ARGS...]: bench/node/task_handler.mjs on $handler_port
  local name=$1
  shift
  node bench/node/task_handler.mjs --port "$handler_port" --expect "$lat_tasks" --skip "$warm_tasks" --timeout 60 \
    --label "$name" --out "$work/handler-$name.json" "$@" >"$work/handler-$name.out" 2>"$work/handler-$name.err" &
  handler_pid=$!
  pids+=("$handler_pid")
  wait_ready "$handler_pid" "$work/handler-$name.out" "$work/handler-$name.err" "the task handler ($name)"
}
finish_handler() {  # NAME: its result
  local status=0
  wait "$handler_pid" || status=$?
  kv "$1" "$(grep '^RESULT ' "$work/handler-$1.out" || true)"
  if ((status != 0)); then
    failures+=("latency $1: the handler got $(get "$1.distinct") of $lat_tasks tasks ($(get "$1.post_failed") POSTs failed: $(grep -o '"first_post_error": *"[^"]*"' "$work/handler-$1.json" 2>/dev/null || echo none))")
  fi
  [[ $(get "$1.duplicates") == 0 ]] || failures+=("latency $1: $(get "$1.duplicates") tasks handled twice")
}
if part d; then
  IFS=: read -r lat_prefetch lat_concurrency <<<"${worker_list[0]}"
  handler_url=http://127.0.0.1:$handler_port/tasks/latency

  name=lat-raw; lat_rows+=("$name"); L_DESC[$name]="raw publish -> rabbitmq-c consumer POST"
  say "latency: ${L_DESC[$name]}"
  start_handler "$name"
  "$bench_bin" consume --broker "$broker" --queue bench.lat.raw --tasks "$lat_tasks" --prefetch "$lat_prefetch" \
    --post "$handler_url" --http-concurrency "$lat_concurrency" --timeout 60 --label lat-consumer \
    >"$work/lat-consumer.out" 2>&1 &
  consumer_pid=$!
  pids+=("$consumer_pid")
  wait_consumer bench.lat.raw
  bench_tool "$name-pub" publish --mode raw --queue bench.lat.raw --tasks "$lat_tasks" --rate "$paced_rate" --stamp
  [[ ${R[$name-pub.status]} == 0 ]] || failures+=("latency $name: $(get "$name-pub.confirmed") of $lat_tasks confirmed")
  finish_handler "$name"
  wait "$consumer_pid" || failures+=("latency $name: the consumer acked $(grep -o 'acked=[0-9]*' "$work/lat-consumer.out" || echo '?') of $lat_tasks")
  queue_op bench.lat.raw --delete

  name=lat-gw; lat_rows+=("$name"); L_DESC[$name]="TaskPublisher -> gateway worker"
  say "latency: ${L_DESC[$name]}"
  write_gateway "$name" bench.lat.gw "$lat_prefetch" "$lat_concurrency" "$handler_url"
  start_gateway "$name"
  wait_consumer bench.lat.gw
  start_handler "$name"
  bench_tool "$name-pub" publish --mode gateway --queue bench.lat.gw --tasks "$lat_tasks" --rate "$paced_rate" --stamp
  [[ ${R[$name-pub.status]} == 0 ]] || failures+=("latency $name: $(get "$name-pub.confirmed") of $lat_tasks confirmed")
  finish_handler "$name"
  stop_gateway
  queue_op bench.lat.gw --delete

  name=lat-http; lat_rows+=("$name"); L_DESC[$name]="POST /api/v1/tasks -> gateway worker"
  say "latency: ${L_DESC[$name]}"
  write_gateway "$name" bench.lat.http "$lat_prefetch" "$lat_concurrency" "$handler_url"
  start_gateway "$name"
  wait_consumer bench.lat.http
  start_handler "$name" --post-url "$gw_url/api/v1/tasks/bench.lat.http" --rate "$paced_rate" \
    --count "$lat_tasks" --size "$size" --connections 64
  finish_handler "$name"
  stop_gateway
  queue_op bench.lat.http --delete
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------------------
report_header "RabbitMQ task benchmark" \
  "RabbitMQ $rabbit_version, rabbitmq-c $(pkg-config --modversion librabbitmq 2>/dev/null || echo '?'), $(nginx -v 2>&1 | sed 's/.*: //'), node $(node --version)"
echo "broker: a private RabbitMQ node (scripts/stack.sh, test profile, default settings); tasks: persistent,"
echo "$size B JSON bodies, durable queues with x-max-priority 10 (the gateway's work-queue declaration)."
echo "Load generators and servers share the $(nproc) cores; CPU columns are % of one core."
if part a; then
  echo
  f1='| %-38s | %7s | %6s | %8s | %6s | %8s | %8s | %8s | %8s | %6s | %6s |'
  h=$(row "$f1" "publisher path" tasks failed "tasks/s" "x raw" "p50 ms" "p99 ms" "max ms" "us/task" broker others)
  echo "(a) Publisher path: nilecare-amqp-bench publish, at most $(fmt_int "$window") unconfirmed (unless said); confirm latency ="
  echo "    publish call -> broker ack (basic.ack, multiple); every confirmed task found in its queue."
  echo "$h"; sep "$h"
  for name in "${publish_rows[@]}"; do
    base=raw  # the raw row of the same load: raw, raw_w, raw_paced
    [[ $name == *_* ]] && base=raw_${name#*_}
    row "$f1" "${P_DESC[$name]}" "$(fmt_int "$(get "$name.tasks")")" "$(get "$name.failed")" \
      "$(fmt_int "$(get "$name.rate")")" "$(ratio "$(get "$name.rate")" "$(get "$base.rate")")" \
      "$(fmt_ms "$(get "$name.p50_ms")")" "$(fmt_ms "$(get "$name.p99_ms")")" "$(fmt_ms "$(get "$name.max_ms")")" \
      "$(get "$name.cpu_us_per_task")" "$(get "$name.broker_cpu")" "$(get "$name.others")"
  done
  echo
  echo "tasks/s: confirmed / (first publish -> last confirm). x raw: against the raw row of the same load."
  echo "us/task: CPU (user + system) of nilecare-amqp-bench per confirmed task (gateway: the producing"
  echo "thread building tasks + TaskPublisher's thread). broker: RabbitMQ's CPU. others: the rest of the machine."
  verdict="NOT met"
  awk -v r="$(get gw.rate)" 'BEGIN { exit !(r + 0 >= 10000) }' && verdict=met
  echo "Target >= 10,000 confirmed tasks/s through the gateway's publisher: $(fmt_int "$(get gw.rate)") tasks/s -> $verdict" \
    "(raw rabbitmq-c against the same broker: $(fmt_int "$(get raw.rate)") tasks/s)."
fi
if part b; then
  echo
  f2='| %-30s | %5s | %9s | %8s | %7s | %7s | %8s | %7s | %4s | %9s | %9s | %6s | %6s |'
  h=$(row "$f2" "HTTP path" conns requests "req/s" "x nginx" "p50 ms" "p99 ms" non-2xx sock confirmed queued server broker)
  echo "(b) HTTP path: POST /api/v1/tasks/bench.http, wrk -t$wrk_threads -d${duration}s --latency (HS256 JWT, payload ~$size B;"
  echo "    the gateway answers 202 once the broker confirmed). Baseline: nginx (2 workers), static 202 JSON."
  echo "$h"; sep "$h"
  for name in "${http_rows[@]}"; do
    target=${name%%-*}
    desc="nginx static 202 (baseline)"
    [[ $target == gateway ]] && desc="gateway POST /api/v1/tasks/{q}"
    row "$f2" "$desc" "$(get "$name.conns")" "$(fmt_int "$(get "$name.requests")")" "$(fmt_int "$(get "$name.rps")")" \
      "$(ratio "$(get "$name.rps")" "$(get "nginx-$(get "$name.conns").rps")")" "$(get "$name.p50")" "$(get "$name.p99")" \
      "$(get "$name.non2xx")" "$(get "$name.sock")" "$(fmt_int "$(get "$name.confirmed")")" \
      "$(fmt_int "$(get "$name.queued")")" "$(get "$name.server_cpu")" "$(get "$name.broker_cpu")"
  done
  echo
  echo "requests: completed by wrk. confirmed: nilecare_tasks_confirmed_total delta (includes requests still in"
  echo "flight when wrk stopped); queued: messages found in the queue afterwards (must equal confirmed)."
  echo "server/broker: CPU of the gateway (or the nginx workers) and of RabbitMQ; wrk's own is not shown."
  echo "Each connection waits for its confirm: at C connections at most C tasks are unconfirmed (compare"
  echo "(a)'s rows with that window)."
  best=0
  for name in "${http_rows[@]}"; do
    [[ $name == gateway-* ]] && best=$(awk -v a="$best" -v b="$(get "$name.rps")" 'BEGIN { print (b + 0 > a + 0 ? b : a) }')
  done
  verdict="NOT met"
  awk -v r="$best" 'BEGIN { exit !(r + 0 >= 10000) }' && verdict=met
  echo "Target >= 10,000 confirmed tasks/s through POST /api/v1/tasks: best $(fmt_int "$best") req/s -> $verdict."
fi
if part c; then
  echo
  f3='| %-44s | %8s | %5s | %7s | %9s | %6s | %8s | %7s | %6s | %7s |'
  h=$(row "$f3" "worker path" prefetch conc. tasks "tasks/s" "x base" "us/task" "process" broker handler)
  echo "(c) Worker path: $(fmt_int "$drain_tasks") tasks in a queue (filled at ~$(fmt_int "$(get fill.rate)") tasks/s), drained;"
  echo "    handler: nginx \`return 200 '{}'\` (2 workers). x base: against the POST + ack consumer of the same setting."
  echo "$h"; sep "$h"
  for name in "${drain_rows[@]}"; do
    base=$name
    [[ $name == gw-* ]] && base=base-post-${name#gw-}
    [[ $name == base-ack ]] && base=base-post-${worker_list[0]/:/-}
    if [[ $name == gw-* ]]; then process=$(get "$name.gw_cpu"); else process=$(get "$name.tool_cpu"); fi
    row "$f3" "${D_DESC[$name]}" "$(get "$name.prefetch")" "$(get "$name.concurrency")" \
      "$(fmt_int "$(get "$name.acked")")" "$(fmt_int "$(get "$name.rate")")" \
      "$(ratio "$(get "$name.rate")" "$(get "$base.rate")")" "$(get "$name.us")" "$process" \
      "$(get "$name.broker_cpu")" "$(get "$name.handler_cpu")"
  done
  echo
  echo "tasks/s: consumers: first delivery -> last ack; gateway: first /metrics scrape with an ack ->"
  echo "the scrape with all acked (50 ms polls). us/task and process: CPU of the consumer (the gateway:"
  echo "all its threads) per task and in % of one core; broker: RabbitMQ; handler: the nginx workers."
  echo "Every task was acked once: no redelivery, retry or dead letter, nothing left in the queue."
fi
if part d; then
  echo
  f4='| %-40s | %7s | %7s | %5s | %7s | %7s | %7s | %9s | %9s | %15s |'
  h=$(row "$f4" "publish -> handler (paced)" "handled" "sampled" "dupl." "p50 ms" "p99 ms" "max ms" "x raw p50" "x raw p99" "confirm p50/p99")
  echo "(d) Publish -> handler latency: $(fmt_int "$paced_rate") tasks/s, 0.5 s warm-up then ${paced_seconds}s sampled; handler"
  echo "    bench/node/task_handler.mjs (Node, 200 '{}'): its clock at receipt - sent_at_us in the task (stamped at"
  echo "    publish, or before the POST). Consumers: prefetch $lat_prefetch, $lat_concurrency handler calls at once."
  echo "$h"; sep "$h"
  for name in "${lat_rows[@]}"; do
    if [[ $name == lat-http ]]; then
      confirm="$(fmt_ms "$(get "$name.post_p50_ms")")/$(fmt_ms "$(get "$name.post_p99_ms")")"
    else
      confirm="$(fmt_ms "$(get "$name-pub.p50_ms")")/$(fmt_ms "$(get "$name-pub.p99_ms")")"
    fi
    row "$f4" "${L_DESC[$name]}" "$(fmt_int "$(get "$name.distinct")")" "$(fmt_int "$(get "$name.samples")")" "$(get "$name.duplicates")" \
      "$(fmt_ms "$(get "$name.p50_ms")")" "$(fmt_ms "$(get "$name.p99_ms")")" "$(fmt_ms "$(get "$name.max_ms")")" \
      "$(ratio "$(get "$name.p50_ms")" "$(get lat-raw.p50_ms)")" "$(ratio "$(get "$name.p99_ms")" "$(get lat-raw.p99_ms)")" "$confirm"
  done
  echo
  echo "confirm p50/p99: publish -> broker confirm (nilecare-amqp-bench), or POST -> 202 as the client saw it"
  echo "(POST row). The POST row's latency includes the HTTP request, the confirm wait and the worker path."
fi

exit_code=0
report_failures || exit_code=1
for log in "$work"/gateway-*.log; do
  [[ -e $log ]] || continue
  if has_warnings "$log"; then
    echo
    echo "${log##*/}, warnings and errors by message:"
    warnings_by_message "$log"
    echo "first: $(grep -m 1 -E '"level":"(warn|error|critical)"' "$log" | cut -c1-400)"
  fi
done
echo "run time: $((SECONDS - started)) s"
exit "$exit_code"
