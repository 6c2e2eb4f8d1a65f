#!/usr/bin/env bash
# MQTT vitals benchmark (docs/devices.md). nilecare-devsim plays a ward of bedside monitors
# publishing paced QoS 1 vitals (seq + µs timestamp) to a mosquitto of this script's own; the
# gateway journals them, stores them in a PostgreSQL of this script's own and pushes each one
# to 10 socket.io-client clinicians subscribed to every patient (bench/node/vitals_clients.mjs).
#
#   rates          devsim at 1,000 / 5,000 / 10,000 / 20,000 msg/s (--rates), 20 devices, for
#                  --duration s each, a fresh --device-prefix per scenario. Persistence: sent and
#                  acked (devsim), rows stored, lost (sent - stored), duplicate rows and the
#                  nilecare_vitals_duplicates_total delta, stored rows/s, drain lag (the last
#                  reading's publish -> its commit) and publish -> commit p50/p99 (PostgreSQL runs
#                  with track_commit_timestamp, so every row's commit time is known).
#                  Live push: delivered/expected (clients x sent), lost, duplicates, shed
#                  (nilecare_realtime_vitals_dropped_total delta), publish -> vitals:update
#                  p50/p99. Sustained = 0 lost and drain lag < 1 s.
#   fsync          1,000 msg/s again with mqtt.journal_fsync: true (power-loss mode).
#   persist drain  PostgreSQL stopped (pg_ctl stop) while devsim publishes --drain-count readings
#                  as fast as it can: the gateway journals them (/health degraded). PostgreSQL
#                  started: rows/s from the first batch to the last commit. This isolates
#                  journal -> PostgreSQL, which devsim cannot load enough on 2 cores (it tops out
#                  near 20k msg/s, about 45 µs of CPU per message).
#   ingest drain   gateway stopped (SIGTERM) while devsim publishes --drain-count readings; the
#                  broker queues them for the gateway's persistent session (same client_id,
#                  max_queued_messages 0). Gateway started: readings journaled and acknowledged
#                  per second (from the rows' received_at) and end-to-end rows/s to the last
#                  commit, MQTT -> journal -> PostgreSQL without devsim competing for CPU.
#
# Baselines in the same run: an `mqtt` npm subscriber on the broker itself (devices/+/vitals,
# QoS 1) measuring the same publish -> receive latency during the same rate scenarios (ratio
# gateway/direct); for the persist path, psql \copy of the persist-drain rows into an empty
# table with device_vitals' columns and indexes (ratio gateway/COPY).
#
#   bench/vitals.sh [--quick] [--build-dir build] [--no-build] [--no-baseline]
#                   [--duration 10] [--rates 1000,5000,10000,20000] [--devices 20]
#                   [--clients 10] [--direct-clients 1] [--drain-count 300000]
#                   [--no-capacity] [--no-fsync]
#
# --direct-clients: subscribers of the direct baseline (--clients gives it the gateway path's
# fan-out: the same number of deliveries into one Node process).
# --quick: 3 s per rate and 100,000-reading drains (about a minute); the default run takes
# about 2.5 minutes. Servers run as the mosquitto and postgres users when run as root (like
# scripts/stack.sh), on free loopback ports, with their data in a scratch dir removed at exit.
# Everything (devsim, broker, gateway, PostgreSQL, Node clients) shares this machine's cores:
# the CPU table says who used what. No timing is asserted. Exit 1 when a step failed or a
# reading was lost (acknowledged to devsim, never stored); the tables are printed anyway.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
cmdline=$(bench_cmdline bench/vitals.sh "$@")
quick=0
build_dir=build
do_build=1
baseline=1
duration=
rates=1000,5000,10000,20000
devices=20
clients=10
direct_clients=1
drain_count=
capacity=1
fsync_row=1
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --no-baseline) baseline=0 ;;
    --duration) duration=$2; shift ;;
    --rates) rates=$2; shift ;;
    --devices) devices=$2; shift ;;
    --clients) clients=$2; shift ;;
    --direct-clients) direct_clients=$2; shift ;;
    --drain-count) drain_count=$2; shift ;;
    --no-capacity) capacity=0 ;;
    --no-fsync) fsync_row=0 ;;
    -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
    *) echo "vitals.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z $duration ]]; then duration=$((quick ? 3 : 10)); fi
if [[ -z $drain_count ]]; then drain_count=$((quick ? 100000 : 300000)); fi
IFS=, read -r -a rate_list <<<"$rates"
require_positive_ints vitals.sh "$duration" "$devices" "$clients" "$direct_clients" "$drain_count" "${rate_list[@]}"

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS

if ((do_build)); then
  bench_build "$build_dir" nilecare-gateway nilecare-devsim
fi
gateway_bin=$(realpath -m "$build_dir/nilecare-gateway")
devsim_bin=$(realpath -m "$build_dir/nilecare-devsim")
require_executables vitals.sh "drop --no-build" "$gateway_bin" "$devsim_bin"
PG_BIN=/usr/lib/postgresql/15/bin
require_executables vitals.sh "scripts/install-deps.sh --bench" "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/psql" \
  "$(command -v mosquitto || echo mosquitto)" "$(command -v node || echo node)" "$(command -v curl || echo curl)"
if [[ ! -d bench/node/node_modules/socket.io-client || ! -d bench/node/node_modules/mqtt ]]; then
  (cd bench/node && npm ci --no-audit --no-fund --silent) >/dev/null
fi
clients_js=$repo/bench/node/vitals_clients.mjs

bench_init
is_root=0
[[ $(id -u) -eq 0 ]] && is_root=1
pg_pid=
# shellcheck disable=SC2317  # the EXIT trap runs it
cleanup() {
  if [[ -n $pg_pid ]] && kill -0 "$pg_pid" 2>/dev/null; then
    as_postgres "$PG_BIN/pg_ctl" -D "$work/pg/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  bench_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=()
fail() { fail_with_logs vitals.sh "$*" "$work/gateway.log" "$work/pg/postgres.log" "$work/mosquitto.log"; }
# Runs a command as the postgres user (when root; else as ourselves), from / (root's home
# may be 0700).
as_postgres() {
  if ((is_root)); then (cd / && runuser -u postgres -- "$@"); else (cd / && "$@"); fi
}

# Free loopback ports, from the kernel.
read -r mqtt_port pg_port gw_port < <(free_ports 3)
secret="bench-secret-0123456789abcdef0123456789"
export JWT_SECRET=$secret
mqtt_url=tcp://127.0.0.1:$mqtt_port
gw_url=http://127.0.0.1:$gw_port
pg_url=postgres://nilecare:nilecare@127.0.0.1:$pg_port/nilecare
clk_tck=$(getconf CLK_TCK)

# --- mosquitto ----------------------------------------------------------------------------
# As in scripts/stack.sh launch_mqtt: the gateway's persistent session must keep every QoS 1
# message queued while it is away, and enough must be in flight for throughput.
mkdir -p "$work/mqtt"
{
  ((is_root)) && echo "user mosquitto"
  echo "listener $mqtt_port 127.0.0.1"
  echo "allow_anonymous true"
  echo "persistence false"
  echo "max_queued_messages 0"
  echo "max_queued_bytes 0"
  echo "max_inflight_messages 1000"
  echo "log_dest stderr"
} >"$work/mqtt/mosquitto.conf"
mosquitto -c "$work/mqtt/mosquitto.conf" >"$work/mosquitto.log" 2>&1 </dev/null &
mqtt_pid=$!
pids+=("$mqtt_pid")

# --- PostgreSQL 15 (as scripts/stack.sh launch_pg / wait_pg; server defaults, fsync on) ----
# track_commit_timestamp: each row's commit time (pg_xact_commit_timestamp(xmin)) times the
# drains and the publish -> committed latency without polling.
mkdir -p "$work/pg/run"
((is_root)) && chown -R postgres: "$work/pg"
as_postgres "$PG_BIN/initdb" -D "$work/pg/data" --username=postgres --auth-local=trust \
  --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$work/pg/initdb.log" 2>&1 ||
  { cat "$work/pg/initdb.log" >&2; fail "initdb failed"; }
pg_start() {
  as_postgres "$PG_BIN/pg_ctl" -D "$work/pg/data" -l "$work/pg/postgres.log" -w -t 60 \
    -o "-p $pg_port -k $work/pg/run -c listen_addresses=127.0.0.1 -c track_commit_timestamp=on" \
    start >/dev/null ||
    fail "PostgreSQL did not start on 127.0.0.1:$pg_port"
  pg_pid=$(head -n 1 "$work/pg/data/postmaster.pid")
}
pg_stop() {
  as_postgres "$PG_BIN/pg_ctl" -D "$work/pg/data" -m fast -w -t 60 stop >/dev/null ||
    fail "pg_ctl stop failed"
}
pg_start
as_postgres "$PG_BIN/psql" -h "$work/pg/run" -p "$pg_port" -U postgres -d postgres -XAtq \
  -v ON_ERROR_STOP=1 -c "CREATE ROLE nilecare LOGIN PASSWORD 'nilecare'" \
  -c "CREATE DATABASE nilecare OWNER nilecare" >/dev/null || fail "creating role/database failed"
sql() { PGPASSWORD=nilecare "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U nilecare -d nilecare \
  -XAtq -F' ' -v ON_ERROR_STOP=1 "$@"; }

# shellcheck disable=SC2317  # wait_until runs it
mqtt_listening() { (exec 3<>"/dev/tcp/127.0.0.1/$mqtt_port") 2>/dev/null; }
wait_until "$mqtt_pid" 10 "mosquitto exited at start" "mosquitto is not listening on $mqtt_port" mqtt_listening

# --- gateway ------------------------------------------------------------------------------
write_config() {  # NAME FSYNC
  cat >"$work/$1.yaml" <<YAML
service: { name: bench-vitals, shutdown_grace: 2s }
log: { level: warn, format: json }
http: { listen: 127.0.0.1:$gw_port }
auth:
  jwt: { algorithms: [HS256], secret: "$secret", issuer: nilecare-auth, audience: nilecare }
realtime: { ping_interval: 25s }
database: { url: "$pg_url" }
mqtt:
  urls: [$mqtt_url]
  client_id: nilecare-bench-vitals
  journal_dir: $work/journal
  journal_fsync: $2
  db_retry_max: 1s
YAML
}
write_config gateway false
write_config gateway-fsync true

gw_pid=
start_gateway() {  # CONFIG_NAME
  "$gateway_bin" --config "$work/$1.yaml" >>"$work/gateway.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
  gw_started=$(now)
}
wait_gateway_up() {
  local deadline=$((SECONDS + 30)) health=
  until [[ $health == *'"mqtt":{"state":"up"'* ]]; do
    kill -0 "$gw_pid" 2>/dev/null || fail "the gateway exited"
    ((SECONDS < deadline)) || fail "/health components.mqtt is not up after 30 s: $health"
    sleep 0.05
    health=$(curl -s --max-time 2 "$gw_url/health" || true)
  done
}
mqtt_health() { curl -s --max-time 2 "$gw_url/health" | grep -o '"mqtt":{[^}]*}' || true; }

# CPU ticks of PostgreSQL: the postmaster, its finished children and its live ones.
pg_ticks() {
  local children=()
  mapfile -t children < <(pgrep -P "$pg_pid" 2>/dev/null || true)
  ticks_reaper=$pg_pid ticks "$pg_pid" "${children[@]}"
}
# cap_cpu NAME 0|1: CPU samples of gateway, broker, PostgreSQL and the machine for a drain.
cap_cpu() {
  R[$1.cpu$2]="$(ticks "$gw_pid") $(ticks "$mqtt_pid") $(pg_ticks) $(machine_ticks) $(now)"
}
# cap_cpu_report NAME ROWS: R[NAME.us_gw|us_mqtt|us_pg] = CPU µs per row, R[NAME.others] = %
# of one core used by everything else meanwhile.
cap_cpu_report() {
  local a b
  read -r -a a <<<"${R[$1.cpu0]}"
  read -r -a b <<<"${R[$1.cpu1]}"
  R[$1.us_gw]=$(awk -v t=$((b[0] - a[0])) -v n="$2" -v hz="$clk_tck" 'BEGIN { printf "%.1f", 1e6 * t / hz / n }')
  R[$1.us_mqtt]=$(awk -v t=$((b[1] - a[1])) -v n="$2" -v hz="$clk_tck" 'BEGIN { printf "%.1f", 1e6 * t / hz / n }')
  R[$1.us_pg]=$(awk -v t=$((b[2] - a[2])) -v n="$2" -v hz="$clk_tck" 'BEGIN { printf "%.1f", 1e6 * t / hz / n }')
  R[$1.others]=$(awk -v m=$((b[3] - a[3])) -v o=$((b[0] - a[0] + b[1] - a[1] + b[2] - a[2])) \
    -v s="$(awk -v x="${a[4]}" -v y="${b[4]}" 'BEGIN { print y - x }')" -v hz="$clk_tck" \
    'BEGIN { v = 100 * (m - o) / hz / s; printf "%.0f", (v > 0 ? v : 0) }')
}

declare -A R  # kv, get (bench/lib.sh)

# start_clients NAME MODE CLIENTS: the Node clients, returned once they are READY.
client_pid=
start_clients() {
  local name=$1 mode=$2 n=$3 url=$gw_url out=$work/clients-$1-$2.out
  [[ $mode == mqtt ]] && url=$mqtt_url
  node "$clients_js" --mode "$mode" --url "$url" --clients "$n" --patients "$devices" \
    --label "$name" --out "$work/clients-$name-$mode.json" --expect-json "$work/devsim-$name.json" \
    >"$out" 2>"$work/clients-$name-$mode.err" &
  client_pid=$!
  pids+=("$client_pid")
  wait_ready "$client_pid" "$out" "$work/clients-$name-$mode.err" "$mode clients"
}
stop_clients() {  # PID NAME MODE
  kill -INT "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  kv "$2.$3" "$(grep '^RESULT ' "$work/clients-$2-$3.out" || true)"
}

# run_devsim NAME RATE [ARGS...]: devsim in the background (its pid in devsim_pid); the
# summary's RESULT line goes to R[NAME.devsim.*] in finish_devsim.
devsim_pid=
run_devsim() {
  local name=$1 rate=$2
  shift 2
  "$devsim_bin" --url "$mqtt_url" --devices "$devices" --rate "$rate" --device-prefix "$name-" \
    --quiet --summary-json "$work/devsim-$name.json" "$@" >"$work/devsim-$name.out" 2>&1 &
  devsim_pid=$!
  pids+=("$devsim_pid")
}
finish_devsim() {  # NAME
  local status=0
  wait "$devsim_pid" || status=$?
  kv "$1.devsim" "$(grep '^RESULT ' "$work/devsim-$1.out" || true)"
  if [[ -z ${R[$1.devsim.sent]:-} ]]; then
    cat "$work/devsim-$1.out" >&2
    fail "devsim ($1) printed no summary (exit $status)"
  fi
  ((status == 0)) || say "devsim ($1) exited $status: not every message was acknowledged"
}

# wait_rows NAME BASE COUNT DEADLINE_S: polls nilecare_vitals_rows_written_total until it is
# BASE + COUNT; R[NAME.done_at] = when (epoch s), else a LOSS.
wait_rows() {
  local name=$1 base=$2 count=$3 limit=$4 rows deadline
  deadline=$((SECONDS + limit))
  while :; do
    rows=$(scrape | metric nilecare_vitals_rows_written_total)
    if ((rows - base >= count)); then R[$name.done_at]=$(now); return 0; fi
    if ((SECONDS >= deadline)); then
      failures+=("$name: only $((rows - base)) of $count rows stored ${limit} s after devsim ended")
      R[$name.done_at]=
      return 0
    fi
    kill -0 "$gw_pid" 2>/dev/null || fail "the gateway exited during $name"
    sleep 0.05
  done
}

# sql_stats NAME: rows of NAME's devices in device_vitals.
sql_stats() {
  local line
  line=$(sql -c "
    WITH v AS (
      SELECT device_id, seq, ts, received_at, stored_at, pg_xact_commit_timestamp(xmin) AS committed
        FROM device_vitals WHERE device_id LIKE '$1-%')
    SELECT count(*), count(DISTINCT (device_id, seq)),
           coalesce(extract(epoch FROM min(stored_at)), 0),
           coalesce(extract(epoch FROM max(committed)), 0),
           coalesce(extract(epoch FROM max(ts)), 0),
           coalesce(extract(epoch FROM min(received_at)), 0),
           coalesce(extract(epoch FROM max(received_at)), 0),
           coalesce(1000 * extract(epoch FROM percentile_disc(0.5) WITHIN GROUP (ORDER BY committed - ts)), 0),
           coalesce(1000 * extract(epoch FROM percentile_disc(0.99) WITHIN GROUP (ORDER BY committed - ts)), 0),
           coalesce(1000 * extract(epoch FROM percentile_disc(0.99) WITHIN GROUP (ORDER BY received_at - ts)), 0)
      FROM v") || fail "query on device_vitals failed"
  local keys=(rows distinct first_stored last_commit last_ts first_recv last_recv commit_p50 commit_p99
    recv_p99) values i
  read -r -a values <<<"$line"
  for i in "${!keys[@]}"; do R[$1.${keys[i]}]=${values[i]:-0}; done
}

# --- rate scenarios -------------------------------------------------------------------------
scenarios=()
declare -A S_DESC S_RATE
rate_scenario() {  # NAME DESCRIPTION RATE
  local name=$1 rate=$3 m0 m1 t0 t1 cpu0 cpu1 c_sio c_mq
  scenarios+=("$name")
  S_DESC[$name]=$2
  S_RATE[$name]=$rate
  say "$name: $rate msg/s from $devices devices for $duration s, $clients WebSocket clients"
  start_clients "$name" socketio "$clients"
  c_sio=$client_pid
  c_mq=
  if ((baseline)); then start_clients "$name" mqtt "$direct_clients"; c_mq=$client_pid; fi
  m0=$(scrape)
  t0=$(now)
  cpu0=("$(ticks "$gw_pid")" "$(ticks "$mqtt_pid")" "$(pg_ticks)" "$(ticks "$c_sio")" \
    "$(ticks ${c_mq:+"$c_mq"})" "$(machine_ticks)")
  run_devsim "$name" "$rate" --duration "${duration}s"
  finish_devsim "$name"
  t1=$(now)
  cpu1=("$(ticks "$gw_pid")" "$(ticks "$mqtt_pid")" "$(pg_ticks)" "$(ticks "$c_sio")" \
    "$(ticks ${c_mq:+"$c_mq"})" "$(machine_ticks)")
  R[$name.devsim_end]=$t1
  wait_rows "$name" "$(metric nilecare_vitals_rows_written_total <<<"$m0")" \
    "${R[$name.devsim.sent]}" 60
  stop_clients "$c_sio" "$name" socketio
  [[ -n $c_mq ]] && stop_clients "$c_mq" "$name" mqtt
  m1=$(scrape)
  local key
  for key in nilecare_vitals_duplicates_total nilecare_realtime_vitals_dropped_total \
    nilecare_vitals_rows_written_total; do
    R[$name.$key]=$(($(metric "$key" <<<"$m1") - $(metric "$key" <<<"$m0")))
  done
  local secs i ours names=(gw mqtt pg sio direct machine)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  for i in 0 1 2 3 4 5; do R[$name.cpu_${names[i]}]=$(cpu_pct $((cpu1[i] - cpu0[i])) "$secs"); done
  R[$name.cpu_devsim]=$(awk -v c="${R[$name.devsim.cpu_s]}" -v s="$secs" 'BEGIN { printf "%.0f", 100 * c / s }')
  # Everything else on the machine (other users' builds and tests, the kernel's own work).
  ours=$((R[$name.cpu_gw] + R[$name.cpu_mqtt] + R[$name.cpu_pg] + R[$name.cpu_sio] +
    R[$name.cpu_direct] + R[$name.cpu_devsim]))
  R[$name.cpu_others]=$((R[$name.cpu_machine] > ours ? R[$name.cpu_machine] - ours : 0))
  ((baseline)) || R[$name.cpu_direct]=-
  sql_stats "$name"
}

start_gateway gateway
wait_gateway_up
for rate in "${rate_list[@]}"; do
  rate_scenario "r$rate" "$rate msg/s" "$rate"
done

# --- capacity scenarios ---------------------------------------------------------------------
if ((capacity)); then
  # (1) persist drain: PostgreSQL away while the journal fills.
  name=pd
  say "persist drain: PostgreSQL stopped, $drain_count readings journaled, PostgreSQL started"
  pg_stop
  m0=$(scrape)
  run_devsim "$name" 1000000 --count "$drain_count" --duration 0
  finish_devsim "$name"
  t_dv=$(now)
  # devsim's PUBACKs come from the broker: wait until the gateway has taken (journaled) them all.
  acc0=$(metric nilecare_mqtt_messages_accepted_total 'kind="vitals"' <<<"$m0")
  deadline=$((SECONDS + 120))
  until (($(scrape | metric nilecare_mqtt_messages_accepted_total 'kind="vitals"') - acc0 >= \
    R[$name.devsim.sent])); do
    ((SECONDS < deadline)) || fail "persist drain: the gateway did not journal every reading in 120 s"
    kill -0 "$gw_pid" 2>/dev/null || fail "the gateway exited during the persist drain"
    sleep 0.05
  done
  R[$name.journal_wait]=$(awk -v a="$t_dv" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
  m1=$(scrape)
  R[$name.pending]=$(metric nilecare_mqtt_journal_pending_entries <<<"$m1")
  R[$name.pending_bytes]=$(metric nilecare_mqtt_journal_pending_bytes <<<"$m1")
  R[$name.health]=$(mqtt_health)
  R[$name.write_failures]=$(($(metric nilecare_vitals_write_failures_total <<<"$m1") -
    $(metric nilecare_vitals_write_failures_total <<<"$m0")))
  t_pg=$(now)
  pg_start
  R[$name.pg_up]=$(now)
  cap_cpu "$name" 0
  wait_rows "$name" "$(metric nilecare_vitals_rows_written_total <<<"$m0")" \
    "${R[$name.devsim.sent]}" 300
  cap_cpu "$name" 1
  sql_stats "$name"
  if [[ -n ${R[$name.done_at]} ]]; then
    R[$name.secs]=$(awk -v a="${R[$name.first_stored]}" -v b="${R[$name.last_commit]}" 'BEGIN { printf "%.3f", b - a }')
    R[$name.rate]=$(awk -v n="${R[$name.rows]}" -v s="${R[$name.secs]}" 'BEGIN { printf "%.0f", n / s }')
    R[$name.total]=$(awk -v a="$t_pg" -v b="${R[$name.last_commit]}" 'BEGIN { printf "%.2f", b - a }')
    cap_cpu_report "$name" "${R[$name.rows]}"
    R[$name.backoff]=$(awk -v a="${R[$name.pg_up]}" -v b="${R[$name.first_stored]}" 'BEGIN { printf "%.2f", b - a }')
  fi
  R[$name.health_after]=$(mqtt_health)

  # Baseline: COPY of the same rows into an empty table with device_vitals' columns and indexes.
  if ((baseline)); then
    cols="device_id, patient_id, ts, seq, hr, spo2, temp, bp_systolic, bp_diastolic, device_time, received_at"
    sql -c "\\copy (SELECT $cols FROM device_vitals WHERE device_id LIKE 'pd-%') TO '$work/pd.csv' WITH (FORMAT csv)" \
      -c "CREATE TABLE bench_copy (LIKE device_vitals INCLUDING ALL)" >/dev/null || fail "COPY baseline setup failed"
    pg0=$(pg_ticks)
    t0=$(now)
    sql -c "\\copy bench_copy ($cols) FROM '$work/pd.csv' WITH (FORMAT csv)" >/dev/null || fail "COPY baseline failed"
    t1=$(now)
    pg1=$(pg_ticks)
    R[copy.rows]=$(sql -c "SELECT count(*) FROM bench_copy")
    R[copy.indexes]=$(sql -c "SELECT count(*) FROM pg_indexes WHERE tablename = 'bench_copy'")
    sql -c "DROP TABLE bench_copy" >/dev/null
    R[copy.secs]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    R[copy.rate]=$(awk -v n="${R[copy.rows]}" -v s="${R[copy.secs]}" 'BEGIN { printf "%.0f", n / s }')
    R[copy.us_pg]=$(awk -v t=$((pg1 - pg0)) -v n="${R[copy.rows]}" -v hz="$clk_tck" 'BEGIN { printf "%.1f", 1e6 * t / hz / n }')
  fi

  # (2) ingest drain: the gateway away while the broker queues for its persistent session.
  name=id
  say "ingest drain: gateway stopped, $drain_count readings queued by the broker, gateway started"
  stop_gateway
  run_devsim "$name" 1000000 --count "$drain_count" --duration 0
  finish_devsim "$name"
  start_gateway gateway
  t_start=$gw_started
  sent=${R[$name.devsim.sent]}
  deadline=$((SECONDS + 300))
  all_rows='' peak_acc=0 prev_acc=0 prev_t=''
  cap_cpu "$name" 0
  while :; do
    m=$(scrape)
    t=$(now)
    if [[ -n $m ]]; then
      acc=$(metric nilecare_mqtt_messages_accepted_total 'kind="vitals"' <<<"$m")
      rows=$(metric nilecare_vitals_rows_written_total <<<"$m")
      if [[ -n $prev_t ]]; then
        peak_acc=$(awk -v p="$peak_acc" -v a="$acc" -v b="$prev_acc" -v t="$t" -v u="$prev_t" \
          'BEGIN { r = (t - u > 0.2) ? (a - b) / (t - u) : 0; printf "%.0f", (r > p ? r : p) }')
      fi
      if [[ -z $prev_t ]] || awk -v t="$t" -v u="$prev_t" 'BEGIN { exit !(t - u > 0.2) }'; then
        prev_t=$t; prev_acc=$acc
      fi
      if ((rows >= sent)); then all_rows=$t; break; fi
    fi
    kill -0 "$gw_pid" 2>/dev/null || fail "the gateway exited during the ingest drain"
    if ((SECONDS >= deadline)); then
      failures+=("ingest drain: only ${rows:-0} of $sent rows stored 300 s after the gateway started")
      break
    fi
    sleep 0.05
  done
  cap_cpu "$name" 1
  R[$name.peak_acc]=$peak_acc
  R[$name.accepted]=$acc
  sql_stats "$name"
  if [[ -n $all_rows ]]; then
    # received_at: the gateway's receive time of each reading; commit times from PostgreSQL.
    R[$name.acc_secs]=$(awk -v a="${R[$name.first_recv]}" -v b="${R[$name.last_recv]}" 'BEGIN { printf "%.2f", b - a }')
    R[$name.acc_rate]=$(awk -v n="${R[$name.rows]}" -v s="${R[$name.acc_secs]}" 'BEGIN { printf "%.0f", n / s }')
    R[$name.secs]=$(awk -v a="${R[$name.first_recv]}" -v b="${R[$name.last_commit]}" 'BEGIN { printf "%.2f", b - a }')
    R[$name.rate]=$(awk -v n="${R[$name.rows]}" -v s="${R[$name.secs]}" 'BEGIN { printf "%.0f", n / s }')
    R[$name.total]=$(awk -v a="$t_start" -v b="${R[$name.last_commit]}" 'BEGIN { printf "%.2f", b - a }')
    R[$name.startup]=$(awk -v a="$t_start" -v b="${R[$name.first_recv]}" 'BEGIN { printf "%.2f", b - a }')
    cap_cpu_report "$name" "$sent"
  fi
  wait_gateway_up
fi

# --- journal_fsync: true -------------------------------------------------------------------
if ((fsync_row)); then
  stop_gateway
  start_gateway gateway-fsync
  wait_gateway_up
  rate_scenario fs1000 "1000 msg/s, journal_fsync" 1000
fi
stop_gateway
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------------------
ms() { if [[ $1 == - || -z $1 ]]; then echo -; else awk -v v="$1" 'BEGIN { printf "%.2f", v }'; fi; }

exit_code=0
sustained_best=
sustained_name=
declare -A LOST
for name in "${scenarios[@]}"; do
  sent=$(get "$name.devsim.sent")
  rows=$(get "$name.rows")
  LOST[$name]=$((sent - rows))
  if ((sent != rows)); then
    failures+=("$name: LOSS: devsim sent $sent, $rows stored")
  fi
  R[$name.dup_rows]=$(($(get "$name.rows") - $(get "$name.distinct")))
  R[$name.store_rate]=$(awk -v n="$rows" -v a="$(get "$name.first_stored")" -v b="$(get "$name.last_commit")" \
    'BEGIN { printf "%.0f", (b > a ? n / (b - a) : 0) }')
  if [[ -n ${R[$name.done_at]:-} ]]; then
    R[$name.lag]=$(awk -v a="${R[$name.last_ts]}" -v b="${R[$name.last_commit]}" 'BEGIN { d = b - a; printf "%.3f", (d > 0 ? d : 0) }')
  fi
  R[$name.sustained]=no
  if ((LOST[$name] == 0)) && [[ -n ${R[$name.lag]:-} ]] &&
    awk -v l="${R[$name.lag]}" 'BEGIN { exit !(l < 1) }'; then
    R[$name.sustained]=yes
    if [[ $name != fs* ]] && { [[ -z $sustained_best ]] ||
      awk -v a="$(get "$name.devsim.rate")" -v b="$sustained_best" 'BEGIN { exit !(a > b) }'; }; then
      sustained_best=$(get "$name.devsim.rate")
      sustained_name=$name
    fi
  fi
  expected=$((sent * clients))
  R[$name.ws_expected]=$expected
  # The clients' own count against devsim's summary (every (device, seq) devsim sent that a
  # client never got); else expected - distinct.
  R[$name.ws_lost]=$(get "$name.socketio.lost")
  if [[ ${R[$name.ws_lost]} == - ]]; then
    R[$name.ws_lost]=$((expected - $(get "$name.socketio.distinct" | sed 's/^-$/0/')))
  fi
  if [[ $(get "$name.socketio.unexpected") != [0-] ]]; then
    failures+=("$name: WebSocket clients got $(get "$name.socketio.unexpected") readings devsim did not send")
  fi
  if ((baseline)); then
    R[$name.direct_lost]=$(get "$name.mqtt.lost")
    if [[ ${R[$name.direct_lost]} == - ]]; then
      R[$name.direct_lost]=$((sent * direct_clients - $(get "$name.mqtt.distinct" | sed 's/^-$/0/')))
    fi
  fi
done

versions="$(mosquitto -h 2>&1 | head -n 1 | sed 's/ version / /'), PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }')"
report_header "MQTT vitals benchmark" "$versions (fsync on), node $(node --version)"
echo "setup: $devices devices (one MQTT connection each), $clients socket.io-client clients each" \
  "subscribed to all $devices patients; direct baseline: $direct_clients mqtt subscriber(s); $duration s" \
  "per rate; gateway service.threads = cores"
echo

f1='| %-26s | %8s | %8s | %7s | %7s | %7s | %5s | %8s | %8s | %9s | %15s | %9s |'
h=$(row "$f1" scenario "target/s" "sent/s" sent acked stored lost "dup rows" "stored/s" "drain lag" \
  "pub->commit ms" sustained)
echo "Persistence (devsim -> mosquitto -> gateway journal -> PostgreSQL)"
echo "$h"; sep "$h"
for name in "${scenarios[@]}"; do
  row "$f1" "${S_DESC[$name]}" "${S_RATE[$name]}" "$(get "$name.devsim.rate")" \
    "$(get "$name.devsim.sent")" "$(get "$name.devsim.acked")" "$(get "$name.rows")" \
    "${LOST[$name]}" "$(get "$name.dup_rows")/$(get "$name.nilecare_vitals_duplicates_total")" \
    "$(get "$name.store_rate")" "$(get "$name.lag") s" \
    "$(ms "$(get "$name.commit_p50")")/$(ms "$(get "$name.commit_p99")")" "$(get "$name.sustained")"
done
echo
echo "dup rows: count(*) - count(distinct (device_id, seq)) / nilecare_vitals_duplicates_total delta."
echo "stored/s: rows / (first batch's start -> last commit). drain lag: the last reading's timestamp"
echo "(devsim done sending) -> the last commit. pub->commit: devsim timestamp -> the row's commit"
echo "time (track_commit_timestamp), p50/p99. sent/s below target/s: devsim could not keep up (it"
echo "waits for PUBACKs, at most 1,000 in flight per connection, and shares the cores)."
echo

f2='| %-26s | %8s | %21s | %7s | %4s | %7s | %4s | %9s | %9s | %10s | %10s | %12s | %6s | %6s |'
h=$(row "$f2" scenario "sent/s" "WS delivered/expected" "WS lost" dups shed disc "WS p50 ms" \
  "WS p99 ms" "direct p50" "direct p99" "MQTT->gw p99" "p50 x" "p99 x")
echo "Live push (publish -> vitals:update at $clients socket.io-client clients; direct = $direct_clients mqtt"
echo "subscriber(s) on the broker, devices/+/vitals QoS 1, in one Node process at the same time;"
echo "x = gateway/direct)"
echo "$h"; sep "$h"
for name in "${scenarios[@]}"; do
  row "$f2" "${S_DESC[$name]}" "$(get "$name.devsim.rate")" \
    "$(get "$name.socketio.distinct")/$(get "$name.ws_expected")" "$(get "$name.ws_lost")" \
    "$(get "$name.socketio.duplicates")" "$(get "$name.nilecare_realtime_vitals_dropped_total")" \
    "$(get "$name.socketio.disconnects")" "$(get "$name.socketio.p50_ms")" "$(get "$name.socketio.p99_ms")" \
    "$(get "$name.mqtt.p50_ms")" "$(get "$name.mqtt.p99_ms")" "$(ms "$(get "$name.recv_p99")")" \
    "$(ratio "$(get "$name.socketio.p50_ms")" "$(get "$name.mqtt.p50_ms")")" \
    "$(ratio "$(get "$name.socketio.p99_ms")" "$(get "$name.mqtt.p99_ms")")"
done
echo
echo "WS lost: (device, seq) pairs devsim sent that a client never got, summed over the clients."
echo "shed: readings the gateway dropped from slow clients' send queues"
echo "(nilecare_realtime_vitals_dropped_total delta). disc: clients disconnected before the end."
echo "MQTT->gw p99: devsim timestamp -> the gateway's received_at (from device_vitals)."
for name in "${scenarios[@]}"; do
  if [[ $(get "$name.socketio.disconnects") != 0 ]]; then
    echo "WebSocket clients $name: $(get "$name.socketio.disconnects") disconnect(s):" \
      "$(node -e 'const r = require(process.argv[1]); console.log(r.errors.slice(0, 3).join("; "))' \
        "$work/clients-$name-socketio.json" 2>/dev/null || true)"
  fi
done
if ((baseline)); then
  for name in "${scenarios[@]}"; do
    if [[ $(get "$name.direct_lost") != 0 || $(get "$name.mqtt.duplicates") != 0 ]]; then
      echo "direct subscriber(s) $name: $(get "$name.direct_lost") lost, $(get "$name.mqtt.duplicates") duplicates"
    fi
  done
fi
echo

f3='| %-26s | %8s | %7s | %9s | %10s | %7s | %9s | %6s | %7s | %7s |'
h=$(row "$f3" scenario "sent/s" gateway mosquitto postgresql devsim "WS client" direct others machine)
echo "CPU while devsim ran (% of one core; $(nproc) cores = $(($(nproc) * 100)) %; others = the machine's"
echo "busy time less this benchmark's processes: other users' builds and tests)"
echo "$h"; sep "$h"
for name in "${scenarios[@]}"; do
  row "$f3" "${S_DESC[$name]}" "$(get "$name.devsim.rate")" "$(get "$name.cpu_gw")" \
    "$(get "$name.cpu_mqtt")" "$(get "$name.cpu_pg")" "$(get "$name.cpu_devsim")" \
    "$(get "$name.cpu_sio")" "$(get "$name.cpu_direct")" "$(get "$name.cpu_others")" \
    "$(get "$name.cpu_machine")"
done

if ((capacity)); then
  echo
  f4='| %-36s | %8s | %8s | %8s | %11s | %6s | %9s | %9s | %11s | %6s |'
  h=$(row "$f4" "capacity" readings "time" "rows/s" "COPY rows/s" "x COPY" "gw us/row" \
    "PG us/row" "mqtt us/row" others)
  echo "Capacity (no devsim running during the timed part; target >= 50,000 vitals/s stored)"
  echo "$h"; sep "$h"
  row "$f4" "persist drain: journal -> PostgreSQL" "$(get pd.rows)" "$(get pd.secs) s" \
    "$(get pd.rate)" "$(get copy.rate)" "$(ratio "$(get pd.rate)" "$(get copy.rate)")" \
    "$(get pd.us_gw)" "$(get pd.us_pg)" "-" "$(get pd.others)%"
  row "$f4" "ingest drain: MQTT -> journal (acks)" "$(get id.accepted)" "$(get id.acc_secs) s" \
    "$(get id.acc_rate)" "-" "-" "-" "-" "-" "-"
  row "$f4" "ingest drain: MQTT -> PostgreSQL" "$(get id.rows)" "$(get id.secs) s" \
    "$(get id.rate)" "$(get copy.rate)" "$(ratio "$(get id.rate)" "$(get copy.rate)")" \
    "$(get id.us_gw)" "$(get id.us_pg)" "$(get id.us_mqtt)" "$(get id.others)%"
  row "$f4" "baseline: psql \\copy (one statement)" "$(get copy.rows)" "$(get copy.secs) s" \
    "$(get copy.rate)" "$(get copy.rate)" "1.00" "-" "$(get copy.us_pg)" "-" "-"
  echo
  echo "persist drain: with PostgreSQL stopped, devsim published $(get pd.devsim.sent) readings at" \
    "$(get pd.devsim.rate) msg/s; the gateway had journaled them all $(get pd.journal_wait) s after devsim exited"
  echo "  (journal then: $(get pd.pending) entries, $(awk -v b="$(get pd.pending_bytes)" 'BEGIN { printf "%.1f MiB", b / 1048576 }');" \
    "health: $(get pd.health); write failures counted: $(get pd.write_failures))."
  echo "  time = the first batch's start (min stored_at) -> the last commit. pg_ctl start -> first batch:" \
    "$(get pd.backoff) s (the writer's reconnect back-off, db_retry_max 1s); -> last commit: $(get pd.total) s."
  echo "  health after: $(get pd.health_after)."
  echo "COPY baseline: psql \\copy of the same rows (CSV) into an empty table with device_vitals' columns" \
    "and $(get copy.indexes) indexes (LIKE ... INCLUDING ALL), timed around psql."
  echo "ingest drain: with the gateway stopped, devsim published $(get id.devsim.sent) readings at" \
    "$(get id.devsim.rate) msg/s to the broker. Gateway start -> first received: $(get id.startup) s;"
  echo "  time = the first reading's received_at -> the last one's (peak $(get id.peak_acc)/s over >= 0.2 s" \
    "polls of /metrics), and -> the last commit; gateway start -> last commit: $(get id.total) s."
  echo "us/row: CPU time (user + system) of the process(es) per row over the timed part; others: % of one"
  echo "core used meanwhile by everything but the gateway, mosquitto and PostgreSQL."
fi

echo
if [[ -n $sustained_best ]]; then
  echo "Highest sustained rate (0 lost, drain lag < 1 s): $sustained_best msg/s" \
    "(scenario ${S_DESC[$sustained_name]}; devsim's achieved rate)."
else
  echo "Highest sustained rate: none of the rate scenarios was sustained."
fi
if ((capacity)); then
  echo "Stored vitals/s (target >= 50,000): persist drain $(get pd.rate), ingest drain end to end $(get id.rate)."
fi
for name in "${scenarios[@]}"; do
  if [[ ${S_RATE[$name]} == 10000 ]]; then
    echo "p99 MQTT -> WebSocket at 10,000 msg/s target (target <= 10 ms): $(get "$name.socketio.p99_ms") ms" \
      "at $(get "$name.devsim.rate") msg/s achieved (direct subscriber: $(get "$name.mqtt.p99_ms") ms)."
  fi
done
report_failures || exit_code=1
if has_warnings "$work/gateway.log"; then
  echo
  echo "gateway log, warnings and errors by message (the persist drain stops PostgreSQL on purpose:"
  echo "'database unavailable' is expected there):"
  warnings_by_message "$work/gateway.log"
  echo "first error: $(grep -m 1 -E '"level":"(error|critical)"' "$work/gateway.log" || echo none)"
fi
echo "run time: $((SECONDS - started)) s"
exit "$exit_code"
