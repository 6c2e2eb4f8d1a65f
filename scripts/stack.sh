#!/usr/bin/env bash
# Local stack of real servers for nilecare-gateway, started by hand (no systemd) on
# 127.0.0.1 with all their data in a state dir: mosquitto, PostgreSQL 15, Redis, RabbitMQ
# and the Kafka-protocol dev broker (build/nilecare-dev-kafka, librdkafka's mock cluster).
#
#   scripts/stack.sh [--profile dev|test] [--only mqtt,pg,redis,amqp,kafka] up|down|status|env
#   scripts/stack.sh [--profile dev|test] amqp-ctl ARGS...
#
#   up      start what is not running yet, wait until each server is ready, write stack.env
#   down    stop what up started (by pid: TERM, wait, then KILL)
#   status  one line per server; exits 3 when any selected server is stopped
#   env     print <state>/stack.env (KEY=VALUE lines, sourceable)
#   amqp-ctl  rabbitmqctl ARGS against this stack's RabbitMQ node (e.g. set_vm_memory_high_watermark
#             0.000001 to raise a memory alarm in a test; the rest of the line goes to rabbitmqctl)
#
# Profiles (ports: mqtt pg redis amqp amqp-dist):
#   dev   (default) 1883 5432 6379 5672 25672, state ${NILECARE_STACK_DIR:-~/.local/state/nilecare-stack}
#   test  21883 25432 26379 25682 25683, state ${NILECARE_STACK_DIR:-${NILECARE_BUILD_DIR:-build}/stack-test}
# Port overrides: NILECARE_MQTT_PORT NILECARE_PG_PORT NILECARE_REDIS_PORT NILECARE_AMQP_PORT
# NILECARE_AMQP_DIST_PORT. Also: NILECARE_BUILD_DIR (where nilecare-dev-kafka is),
# NILECARE_STACK_TIMEOUT (seconds each server may take to get ready; default per server),
# NILECARE_KAFKA_BROKER_COUNT (mock brokers, default 1).
set -Eeuo pipefail

readonly SERVERS=(mqtt pg redis amqp kafka)
readonly KAFKA_TOPICS="patient.events,appointment.events,prescription.events,payment.events,lab.events,audit.events,vitals.events,device.events,nilecare.dlq"
readonly KAFKA_PARTITIONS=3
readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly RABBIT_BIN=/usr/lib/rabbitmq/bin
# Seconds a server gets between the stop signal and SIGKILL.
readonly STOP_DEADLINE=20
# up/down hold <state>/.lock on fd 9 so two of them never race on one state dir. Every
# server is started with fd 9 closed ("9>&-"): a daemon that inherited it would hold the
# lock for its whole life.
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly REPO_DIR

# Progress goes to stdout, except for `env`, whose stdout is the env file alone.
export LC_ALL=C.UTF-8

say() { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: %s\n' "$*" >&2; }
die() {
  printf 'stack: error: %s\n' "$*" >&2
  exit 1
}
trap 'warn "error: command failed (exit $?) at ${BASH_SOURCE[0]}:${LINENO}: ${BASH_COMMAND}"' ERR

# The header comment above is the help text.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }

now_us() { printf '%s' "${EPOCHREALTIME/./}"; }
# Seconds since a now_us mark, with one decimal.
since() {
  local us=$(($(now_us) - $1))
  printf '%d.%ds' $((us / 1000000)) $((us % 1000000 / 100000))
}

# --- command line -----------------------------------------------------------------------

profile=dev
only=""
command=""
ctl_args=()
while (($# > 0)); do
  case $1 in
    --profile) (($# >= 2)) || die "--profile needs dev or test"; profile=$2; shift 2 ;;
    --profile=*) profile=${1#*=}; shift ;;
    --only) (($# >= 2)) || die "--only needs a list, e.g. --only pg,redis"; only=$2; shift 2 ;;
    --only=*) only=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    up | down | status | env)
      [[ -z $command ]] || die "one command at a time (got $command and $1)"
      command=$1
      shift
      ;;
    amqp-ctl)
      [[ -z $command ]] || die "one command at a time (got $command and $1)"
      command=amqp_ctl
      shift
      ctl_args=("$@")
      break
      ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n $command ]] || { usage >&2; exit 2; }

selected=()
if [[ -z $only || $only == all ]]; then
  selected=("${SERVERS[@]}")
else
  IFS=, read -r -a wanted <<<"$only"
  for s in "${wanted[@]}"; do
    [[ " ${SERVERS[*]} " == *" $s "* ]] || die "--only: unknown server '$s' (known: ${SERVERS[*]})"
    selected+=("$s")
  done
fi

BUILD_DIR=${NILECARE_BUILD_DIR:-$REPO_DIR/build}
case $profile in
  dev)
    default_state=${HOME:-/root}/.local/state/nilecare-stack
    default_ports=(1883 5432 6379 5672 25672)
    ;;
  test)
    default_state=$BUILD_DIR/stack-test
    default_ports=(21883 25432 26379 25682 25683)
    ;;
  *) die "--profile must be dev or test, not '$profile'" ;;
esac
STATE_DIR=$(realpath -m -- "${NILECARE_STACK_DIR:-$default_state}")
MQTT_PORT=${NILECARE_MQTT_PORT:-${default_ports[0]}}
PG_PORT=${NILECARE_PG_PORT:-${default_ports[1]}}
REDIS_PORT=${NILECARE_REDIS_PORT:-${default_ports[2]}}
AMQP_PORT=${NILECARE_AMQP_PORT:-${default_ports[3]}}
AMQP_DIST_PORT=${NILECARE_AMQP_DIST_PORT:-${default_ports[4]}}
for p in "$MQTT_PORT" "$PG_PORT" "$REDIS_PORT" "$AMQP_PORT" "$AMQP_DIST_PORT"; do
  if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then die "bad port '$p'"; fi
done
KAFKA_BIN=$BUILD_DIR/nilecare-dev-kafka
KAFKA_BROKER_COUNT=${NILECARE_KAFKA_BROKER_COUNT:-1}
# The node name carries the port so a dev and a test stack can share epmd.
RABBIT_NODE=nilecare${AMQP_PORT}@localhost
PIDS_DIR=$STATE_DIR/pids
ENV_FILE=$STATE_DIR/stack.env
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

timeout_for() {
  if [[ -n ${NILECARE_STACK_TIMEOUT:-} ]]; then
    printf '%s' "$NILECARE_STACK_TIMEOUT"
    return
  fi
  case $1 in
    amqp) printf 120 ;;
    pg) printf 60 ;;
    *) printf 30 ;;
  esac
}

# --- processes ----------------------------------------------------------------------------

# /proc/PID/comm of each server's main process (15 characters at most), so a pid file whose
# pid was reused by an unrelated process is never mistaken for ours.
comm_of() {
  case $1 in
    mqtt) printf mosquitto ;;
    pg) printf postgres ;;
    redis) printf redis-server ;;
    amqp) printf beam.smp ;;
    kafka) printf nilecare-dev-ka ;;
  esac
}

read_pid() {
  local pid
  [[ -r $1 ]] || return 1
  read -r pid <"$1" || [[ -n ${pid:-} ]] || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  printf '%s' "$pid"
}

# True while PID is alive (not a zombie) and is the program COMM.
pid_is() {
  local pid=$1 comm=$2 stat actual
  actual=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ $actual == "$comm" ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# Prints the pid of SERVER when it runs from this state dir.
running_pid() {
  local pid
  pid=$(read_pid "$PIDS_DIR/$1.pid") || return 1
  pid_is "$pid" "$(comm_of "$1")" || return 1
  printf '%s' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_free_port() {
  local name=$1 port=$2 var=$3
  if port_open "$port"; then
    warn "error: $name: 127.0.0.1:$port is already taken by a process this state dir did not start:"
    ss -ltnp "sport = :$port" 2>/dev/null | sed 's/^/    /' >&2 || true
    die "$name: stop that process or pick another port with $var=..."
  fi
}

wait_gone() {
  local pid=$1 comm=$2 deadline=$(($(now_us) + $3 * 1000000))
  while pid_is "$pid" "$comm"; do
    (($(now_us) < deadline)) || return 1
    sleep 0.1
  done
}

# Stops SERVER by the pid in its pid file: SIGNAL, wait, then KILL.
stop_pid() {
  local name=$1 signal=$2 pid comm
  comm=$(comm_of "$name")
  if ! pid=$(read_pid "$PIDS_DIR/$name.pid") || ! pid_is "$pid" "$comm"; then
    rm -f "$PIDS_DIR/$name.pid"
    return 0
  fi
  kill -s "$signal" "$pid" 2>/dev/null || true
  if ! wait_gone "$pid" "$comm" "$STOP_DEADLINE"; then
    warn "$name: pid $pid still running ${STOP_DEADLINE}s after SIG$signal; sending KILL"
    kill -s KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" "$comm" 10 || die "$name: pid $pid survived SIGKILL"
  fi
  rm -f "$PIDS_DIR/$name.pid"
}

# For a server that did not get ready: prints the last lines of each log to stderr, stops
# whatever of the server did start (so it is not left half-up with no pid file), exits 1.
#   fail_server SERVER MESSAGE LOG...
fail_server() {
  local name=$1 message=$2 log
  shift 2
  warn "error: $message"
  for log in "$@"; do
    [[ -s $log ]] || continue
    printf -- '----- last 40 lines of %s -----\n' "$log" >&2
    tail -n 40 -- "$log" >&2 || true
  done
  if running_pid "$name" >/dev/null; then
    warn "$name: stopping what did start"
    stop_server "$name" || true
  fi
  exit 1
}

stop_server() {
  case $1 in
    amqp) stop_amqp ;;
    pg) stop_pid pg INT ;; # fast shutdown: TERM would wait for clients to disconnect
    *) stop_pid "$1" TERM ;;
  esac
}

# --- users and directories ---------------------------------------------------------------

home_of() { getent passwd "$1" | cut -d: -f6; }

# Runs a command as USER (when we are root; otherwise as ourselves) with USER's HOME, from /
# so that a cwd under root's 0700 home does not get in the way.
as_user() {
  local user=$1
  shift
  if ((IS_ROOT)) && [[ $user != root ]]; then
    (cd / && runuser -u "$user" -- env HOME="$(home_of "$user")" "$@")
  else
    (cd / && "$@")
  fi
}

# Prints the directory for SERVER's data, owned by USER, creating it if needed. It is
# <state>/NAME, unless USER cannot reach the state dir (e.g. it is under root's 0700 home):
# then the data lives under /var/tmp and <state>/NAME is a symlink to it.
service_dir() {
  local name=$1 user=$2 dir=$STATE_DIR/$1 key real
  if ((IS_ROOT == 0)) || [[ $user == root ]]; then
    mkdir -p -- "$dir"
    printf '%s' "$dir"
    return
  fi
  if [[ ! -e $dir && ! -L $dir ]]; then
    if as_user "$user" test -x "$STATE_DIR"; then
      mkdir -p -- "$dir"
    else
      key=$(printf '%s' "$STATE_DIR" | cksum | cut -d' ' -f1)
      real=/var/tmp/nilecare-stack-$(id -u)/$key/$name
      mkdir -p -- "$real"
      ln -s -- "$real" "$dir"
      warn "$name: $user cannot reach $STATE_DIR; its data lives in $real"
    fi
  fi
  dir=$(realpath -- "$dir")
  mkdir -p -- "$dir"
  chown -R "$user:" -- "$dir"
  printf '%s' "$dir"
}

# --- mosquitto ---------------------------------------------------------------------------

launch_mqtt() {
  local user=mosquitto dir conf log
  ((IS_ROOT)) || user=$(id -un)
  require_free_port mqtt "$MQTT_PORT" NILECARE_MQTT_PORT
  dir=$(service_dir mqtt "$user")
  conf=$dir/mosquitto.conf
  log=$dir/mosquitto.log
  {
    echo "# Written by scripts/stack.sh; rewritten on every up."
    ((IS_ROOT)) && echo "user $user"
    echo "listener $MQTT_PORT 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence true"
    echo "persistence_location $dir/"
    # Zero loss for the gateway's persistent session: keep every QoS 1 message queued while
    # it is away (the default drops beyond 1000), and let enough be in flight to it for
    # throughput (default 20). docs/devices.md asks the same of production brokers.
    echo "max_queued_messages 0"
    echo "max_queued_bytes 0"
    echo "max_inflight_messages 1000"
    echo "log_dest stderr"
    echo "log_timestamp_format %Y-%m-%dT%H:%M:%S"
  } >"$conf"
  # setsid: a Ctrl-C or hangup on the terminal that ran `up` must not stop the servers.
  setsid mosquitto -c "$conf" >>"$log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDS_DIR/mqtt.pid"
}

wait_mqtt() {
  local deadline log=$STATE_DIR/mqtt/mosquitto.log
  deadline=$(($(now_us) + $(timeout_for mqtt) * 1000000))
  until port_open "$MQTT_PORT"; do
    running_pid mqtt >/dev/null || fail_server mqtt "mqtt: mosquitto exited during startup" "$log"
    (($(now_us) < deadline)) ||
      fail_server mqtt "mqtt: not listening on 127.0.0.1:$MQTT_PORT after $(timeout_for mqtt)s" "$log"
    sleep 0.05
  done
  running_pid mqtt >/dev/null || fail_server mqtt "mqtt: mosquitto exited during startup" "$log"
}

# --- PostgreSQL --------------------------------------------------------------------------

pg_user() { if ((IS_ROOT)); then printf postgres; else id -un; fi; }

# The unix socket path must stay under the kernel's 107-byte limit.
pg_socket_dir() {
  local dir=$1/run
  if ((${#dir} + 18 > 107)); then
    dir=/tmp/nilecare-pg-$(printf '%s' "$STATE_DIR" | cksum | cut -d' ' -f1)
  fi
  printf '%s' "$dir"
}

launch_pg() {
  local user dir data sock log
  user=$(pg_user)
  require_free_port pg "$PG_PORT" NILECARE_PG_PORT
  dir=$(service_dir pg "$user")
  data=$dir/data
  sock=$(pg_socket_dir "$dir")
  log=$dir/postgres.log
  if [[ ! -s $data/PG_VERSION ]]; then
    # trust on the socket (our admin connection), passwords over TCP like production.
    as_user "$user" "$PG_BIN/initdb" -D "$data" --username=postgres --auth-local=trust \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 9>&- ||
      fail_server pg "pg: initdb failed" "$dir/initdb.log"
  fi
  mkdir -p -- "$sock"
  ((IS_ROOT)) && chown "$user:" -- "$sock"
  # -w: pg_ctl returns once the server accepts connections (or fails by the deadline).
  if ! as_user "$user" "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t "$(timeout_for pg)" \
    -o "-p $PG_PORT -k '$sock' -c listen_addresses=127.0.0.1" start \
    >>"$dir/pg_ctl.log" 2>&1 </dev/null 9>&-; then
    # pg_ctl leaves a server that was merely slow running; adopt it so it gets stopped.
    [[ -s $data/postmaster.pid ]] && head -n 1 "$data/postmaster.pid" >"$PIDS_DIR/pg.pid"
    fail_server pg "pg: PostgreSQL did not start on 127.0.0.1:$PG_PORT" "$dir/pg_ctl.log" "$log"
  fi
  head -n 1 "$data/postmaster.pid" >"$PIDS_DIR/pg.pid"
}

wait_pg() {
  local user dir sock
  user=$(pg_user)
  dir=$(realpath -- "$STATE_DIR/pg")
  sock=$(pg_socket_dir "$dir")
  running_pid pg >/dev/null || fail_server pg "pg: postmaster is not running" "$dir/postgres.log"
  # Idempotent: the role's password is reset to the documented one on every up.
  as_user "$user" "$PG_BIN/psql" -h "$sock" -p "$PG_PORT" -U postgres -d postgres -X -q \
    -v ON_ERROR_STOP=1 >>"$dir/pg_ctl.log" 2>&1 <<'SQL' || fail_server pg "pg: creating role/database nilecare failed" "$dir/pg_ctl.log" "$dir/postgres.log"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'nilecare') THEN
    CREATE ROLE nilecare LOGIN PASSWORD 'nilecare';
  ELSE
    ALTER ROLE nilecare LOGIN PASSWORD 'nilecare';
  END IF;
END
$$;
SELECT 'CREATE DATABASE nilecare OWNER nilecare'
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = 'nilecare')\gexec
SQL
}

# --- Redis -------------------------------------------------------------------------------

launch_redis() {
  local dir
  require_free_port redis "$REDIS_PORT" NILECARE_REDIS_PORT
  dir=$(service_dir redis root)
  rm -f -- "$PIDS_DIR/redis.pid"
  # Redis daemonizes itself and writes the pid file we track.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$PIDS_DIR/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
    </dev/null >"$dir/redis-start.log" 2>&1 9>&- ||
    fail_server redis "redis: redis-server failed to start" "$dir/redis-start.log" "$dir/redis.log"
}

wait_redis() {
  local deadline log=$STATE_DIR/redis/redis.log
  deadline=$(($(now_us) + $(timeout_for redis) * 1000000))
  until running_pid redis >/dev/null &&
    [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; do
    (($(now_us) < deadline)) ||
      fail_server redis "redis: no PONG from 127.0.0.1:$REDIS_PORT after $(timeout_for redis)s" "$log"
    sleep 0.05
  done
}

# --- RabbitMQ ----------------------------------------------------------------------------

rabbit_user() { if ((IS_ROOT)); then printf rabbitmq; else id -un; fi; }

# The real path: the rabbitmq user may not be able to pass through the state dir.
rabbit_dir() { realpath -m -- "$STATE_DIR/rabbitmq"; }

# Runs a RabbitMQ script as the rabbitmq user with this stack's node settings:
#   rabbit [--limit SECONDS] SCRIPT ARGS...
rabbit() {
  local dir limit=0 script
  dir=$(rabbit_dir)
  if [[ $1 == --limit ]]; then
    limit=$2
    shift 2
  fi
  script=$1
  shift
  as_user "$(rabbit_user)" timeout "$limit" env \
    RABBITMQ_NODENAME="$RABBIT_NODE" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$AMQP_PORT" \
    RABBITMQ_DIST_PORT="$AMQP_DIST_PORT" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_PID_FILE="$dir/rabbit.pid" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$RABBIT_BIN/$script" "$@"
}

# The node and rabbitmqctl authenticate to each other with the cookie in the rabbitmq
# user's home; Erlang would create it on first start, racing with the first rabbitmqctl.
ensure_erlang_cookie() {
  local user home cookie
  user=$(rabbit_user)
  home=$(home_of "$user")
  [[ -n $home ]] || die "amqp: user $user has no home directory"
  cookie=$home/.erlang.cookie
  [[ -s $cookie ]] && return 0
  mkdir -p -- "$home"
  (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F' >"$cookie")
  chmod 400 -- "$cookie"
  ((IS_ROOT)) && chown "$user:" -- "$cookie" "$home"
  say "amqp: created the Erlang cookie $cookie"
}

launch_amqp() {
  local user dir
  user=$(rabbit_user)
  require_free_port amqp "$AMQP_PORT" NILECARE_AMQP_PORT
  require_free_port "amqp (Erlang distribution)" "$AMQP_DIST_PORT" NILECARE_AMQP_DIST_PORT
  if epmd -names 2>/dev/null | grep -q "^name ${RABBIT_NODE%@*} "; then
    die "amqp: an Erlang node named $RABBIT_NODE runs but not from $STATE_DIR; stop it first"
  fi
  ensure_erlang_cookie
  dir=$(service_dir rabbitmq "$user")
  mkdir -p -- "$dir/log" "$dir/mnesia"
  # Our own config and plugin list, so nothing in /etc/rabbitmq changes this node.
  printf '%s\n' "# Written by scripts/stack.sh." "loopback_users.guest = true" \
    "log.console = false" "log.file.level = info" >"$dir/rabbitmq.conf"
  printf '[].\n' >"$dir/enabled_plugins"
  rm -f -- "$dir/rabbit.pid"
  ((IS_ROOT)) && chown -R "$user:" -- "$dir"
  rabbit rabbitmq-server -detached >"$dir/log/startup.log" 2>&1 </dev/null 9>&- ||
    fail_server amqp "amqp: rabbitmq-server -detached failed" "$dir/log/startup.log"
}

wait_amqp() {
  local dir limit
  dir=$(rabbit_dir)
  limit=$(timeout_for amqp)
  # wait's own --timeout is not a hard deadline (it did not stop a 2 s wait for an 8 s boot).
  if ! rabbit --limit "$limit" rabbitmqctl -n "$RABBIT_NODE" -q wait --timeout "$limit" \
    "$dir/rabbit.pid" >>"$dir/log/startup.log" 2>&1 </dev/null 9>&-; then
    [[ -s $dir/rabbit.pid ]] && printf '%s\n' "$(read_pid "$dir/rabbit.pid")" >"$PIDS_DIR/amqp.pid"
    fail_server amqp "amqp: RabbitMQ node $RABBIT_NODE not running after ${limit}s" \
      "$dir/log/startup.log" "$dir/log/$RABBIT_NODE.log"
  fi
  printf '%s\n' "$(read_pid "$dir/rabbit.pid")" >"$PIDS_DIR/amqp.pid"
  port_open "$AMQP_PORT" ||
    fail_server amqp "amqp: RabbitMQ runs but 127.0.0.1:$AMQP_PORT is closed" "$dir/log/$RABBIT_NODE.log"
}

stop_amqp() {
  local dir
  dir=$(rabbit_dir)
  if running_pid amqp >/dev/null; then
    # shutdown waits for the VM to exit; the pid fallback below covers a hung node.
    rabbit --limit 60 rabbitmqctl -n "$RABBIT_NODE" -q shutdown \
      >>"$dir/log/startup.log" 2>&1 </dev/null 9>&- ||
      warn "amqp: rabbitmqctl shutdown failed (see $dir/log/startup.log); stopping by pid"
    stop_pid amqp TERM
  fi
  rm -f -- "$PIDS_DIR/amqp.pid"
  # epmd outlives the node; it is shared, so it goes only once no Erlang node is left.
  if command -v epmd >/dev/null && epmd -names >/dev/null 2>&1 &&
    ! epmd -names 2>/dev/null | grep -q '^name '; then
    epmd -kill >/dev/null 2>&1 || true
  fi
}

# --- Kafka-protocol dev broker -----------------------------------------------------------

ensure_kafka_binary() {
  [[ -x $KAFKA_BIN ]] && return 0
  if [[ -f $BUILD_DIR/CMakeCache.txt ]]; then
    say "kafka: $KAFKA_BIN is missing; building it"
    cmake --build "$BUILD_DIR" --target nilecare-dev-kafka 9>&- ||
      die "kafka: building nilecare-dev-kafka in $BUILD_DIR failed"
    [[ -x $KAFKA_BIN ]] || die "kafka: the build did not produce $KAFKA_BIN"
  else
    die "kafka: $KAFKA_BIN is missing and $BUILD_DIR is not a configured build dir. Run:
    cmake -S $REPO_DIR -B $BUILD_DIR -G Ninja && cmake --build $BUILD_DIR --target nilecare-dev-kafka
  or point NILECARE_BUILD_DIR at a build dir that has it."
  fi
}

launch_kafka() {
  local dir
  ensure_kafka_binary
  dir=$(service_dir kafka root)
  rm -f -- "$dir/bootstrap"
  setsid "$KAFKA_BIN" --brokers "$KAFKA_BROKER_COUNT" --bootstrap-file "$dir/bootstrap" \
    --topics "$KAFKA_TOPICS" --partitions "$KAFKA_PARTITIONS" \
    >>"$dir/kafka.log" 2>&1 </dev/null 9>&- &
  echo $! >"$PIDS_DIR/kafka.pid"
}

kafka_bootstrap() { head -n 1 -- "$STATE_DIR/kafka/bootstrap" 2>/dev/null; }

wait_kafka() {
  local deadline log=$STATE_DIR/kafka/kafka.log list hostport ready
  deadline=$(($(now_us) + $(timeout_for kafka) * 1000000))
  while :; do
    running_pid kafka >/dev/null || fail_server kafka "kafka: nilecare-dev-kafka exited during startup" "$log"
    ready=0
    if list=$(kafka_bootstrap) && [[ -n $list ]]; then
      ready=1
      IFS=, read -r -a brokers <<<"$list"
      for hostport in "${brokers[@]}"; do
        port_open "${hostport##*:}" || ready=0
      done
    fi
    ((ready)) && return 0
    (($(now_us) < deadline)) ||
      fail_server kafka "kafka: no bootstrap list/listener after $(timeout_for kafka)s" "$log"
    sleep 0.05
  done
}

# --- env file ----------------------------------------------------------------------------

# Rewrites stack.env with the servers that run now (atomically: tests may be reading it).
write_env() {
  local tmp=$ENV_FILE.tmp.$$ any=0
  {
    echo "# nilecare local stack ($profile profile), written by scripts/stack.sh"
    if running_pid mqtt >/dev/null; then echo "NILECARE_MQTT_URL=tcp://127.0.0.1:$MQTT_PORT"; any=1; fi
    if running_pid pg >/dev/null; then echo "NILECARE_PG_URL=postgres://nilecare:nilecare@127.0.0.1:$PG_PORT/nilecare"; any=1; fi
    if running_pid redis >/dev/null; then echo "NILECARE_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"; any=1; fi
    if running_pid amqp >/dev/null; then echo "NILECARE_AMQP_URL=amqp://guest:guest@127.0.0.1:$AMQP_PORT/"; any=1; fi
    if running_pid kafka >/dev/null && [[ -n $(kafka_bootstrap) ]]; then echo "NILECARE_KAFKA_BROKERS=$(kafka_bootstrap)"; any=1; fi
    echo "NILECARE_STACK_DIR=$STATE_DIR"
  } >"$tmp"
  if ((any)); then mv -f -- "$tmp" "$ENV_FILE"; else rm -f -- "$tmp" "$ENV_FILE"; fi
}

port_label() {
  case $1 in
    mqtt) printf 'port %s' "$MQTT_PORT" ;;
    pg) printf 'port %s' "$PG_PORT" ;;
    redis) printf 'port %s' "$REDIS_PORT" ;;
    amqp) printf 'port %s (dist %s)' "$AMQP_PORT" "$AMQP_DIST_PORT" ;;
    kafka) printf 'brokers %s' "$(kafka_bootstrap || printf '-')" ;;
  esac
}

lock_state() {
  mkdir -p -- "$STATE_DIR" "$PIDS_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 300 9 || die "another stack.sh holds $STATE_DIR/.lock"
}

# --- commands ----------------------------------------------------------------------------

cmd_up() {
  local started=() t0 s pid
  t0=$(now_us)
  lock_state
  chmod 755 -- "$STATE_DIR"
  # RabbitMQ takes longest: launch everything first, then wait for each in turn.
  for s in amqp kafka mqtt redis pg; do
    [[ " ${selected[*]} " == *" $s "* ]] || continue
    if pid=$(running_pid "$s"); then
      say "$s: already running (pid $pid, $(port_label "$s"))"
      continue
    fi
    "launch_$s"
    started+=("$s")
  done
  for s in "${started[@]}"; do
    "wait_$s"
    say "$s: ready, $(port_label "$s"), pid $(running_pid "$s") ($(since "$t0") since up)"
  done
  write_env
  say "up in $(since "$t0"); env: $ENV_FILE"
}

cmd_down() {
  local t0 s amqp_job="" rc=0
  t0=$(now_us)
  if [[ ! -d $STATE_DIR ]]; then
    say "nothing to stop: $STATE_DIR does not exist"
    return 0
  fi
  lock_state
  # RabbitMQ's shutdown takes seconds; stop the rest meanwhile.
  if [[ " ${selected[*]} " == *" amqp "* ]]; then
    stop_amqp &
    amqp_job=$!
  fi
  for s in kafka mqtt redis pg; do
    [[ " ${selected[*]} " == *" $s "* ]] || continue
    stop_server "$s"
  done
  if [[ -n $amqp_job ]] && ! wait "$amqp_job"; then rc=1; fi
  write_env
  say "down in $(since "$t0")"
  exit "$rc"
}

cmd_status() {
  local s pid rc=0
  for s in "${selected[@]}"; do
    if pid=$(running_pid "$s"); then
      printf '%-6s running  %s  pid %s\n' "$s" "$(port_label "$s")" "$pid"
    else
      printf '%-6s stopped  %s\n' "$s" "$(port_label "$s")"
      rc=3
    fi
  done
  exit "$rc"
}

cmd_amqp_ctl() {
  running_pid amqp >/dev/null || die "amqp is not running (scripts/stack.sh --profile $profile up)"
  rabbit --limit 60 rabbitmqctl -n "$RABBIT_NODE" -q "${ctl_args[@]}" 9>&-
}

cmd_env() {
  [[ -s $ENV_FILE ]] || die "no $ENV_FILE: the stack is not up (scripts/stack.sh --profile $profile up)"
  cat -- "$ENV_FILE"
}

"cmd_$command"
