#!/usr/bin/env bash
# Realtime (Socket.IO) benchmark: N WebSocket clients in patient rooms, vitals:update
# emitted through POST /internal/emit at a fixed rate; deliveries/s, delivery latency
# (emit request written -> event parsed by the client, same clock), server RSS per
# connection and server CPU. The load tool is nilecare-rtload (src/tools/realtime_load.cpp).
#
#   (a) 1,000 clients, 100 rooms (10 per room): 1k, 5k, 10k emits/s = 10k, 50k, 100k
#       deliveries/s targets; then 10 rooms (100 per room) at 1k emits/s = 100k/s
#   (b) 10,000 clients, 1,000 rooms, 2k emits/s (20k deliveries/s)
#   (c) the most connections the fd limit allows (19,000 at a 20,000 limit), 1 emit per
#       room per second: RSS per connection, extrapolated to 20,000
#
# Every scenario gets a fresh server process. The baseline, in the same run and with the
# same tool, is the reference Node `socket.io` server (bench/node/server.mjs: same events,
# rooms, JWT auth and connection state recovery); the table ends with gateway/node ratios.
# Scenarios (a) also run a gateway with one io thread (gateway-1t), Node's footing.
#
#   bench/realtime.sh [--quick] [--build-dir build] [--no-build] [--no-baseline]
#                     [--duration 10] [--gateway-threads 0] [--emitters 4]
#
# --quick: smaller scenarios, 3 s each (about a minute). The default run takes 5-8 minutes.
# --gateway-threads: service.threads (0 = one per core, the default config); Node is single-
# threaded either way. Everything (server, load tool, emitter) shares this machine's cores:
# the tool's own CPU is printed beside the server's.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
quick=0
build_dir=build
do_build=1
baseline=1
duration=
gateway_threads=0
emitters=4
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --build-dir) build_dir=$2; shift ;;
    --no-build) do_build=0 ;;
    --no-baseline) baseline=0 ;;
    --duration) duration=$2; shift ;;
    --gateway-threads) gateway_threads=$2; shift ;;
    --emitters) emitters=$2; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "realtime.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ -z $duration ]]; then duration=$((quick ? 3 : 10)); fi
if ((quick)); then warmup=0.5; else warmup=1; fi

if ((do_build)); then
  bash scripts/install-deps.sh --bench >/dev/null
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build_dir" --target nilecare-gateway nilecare-rtload -j"$(nproc)" >/dev/null
fi
gateway_bin=$build_dir/nilecare-gateway
rtload_bin=$build_dir/nilecare-rtload
for bin in "$gateway_bin" "$rtload_bin"; do
  [[ -x $bin ]] || { echo "realtime.sh: $bin is missing (drop --no-build)" >&2; exit 1; }
done

if ((baseline)); then
  if ! command -v node >/dev/null 2>&1; then
    echo "realtime.sh: node is not installed: no baseline" >&2
    baseline=0
  elif [[ ! -d bench/node/node_modules/socket.io ]]; then
    (cd bench/node && npm ci --no-audit --no-fund --silent) >/dev/null
  fi
fi

# Every client is a socket in the tool and one in the server.
ulimit -n "$(ulimit -Hn)"
fd_limit=$(ulimit -n)

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_init

gateway_port=17940
node_port=17941
secret="bench-secret-0123456789abcdef0123456789"

# gateway: the configured threads; gateway-1t: one io thread, like Node (scenarios (a)).
for variant in gateway:"$gateway_threads" gateway-1t:1; do
  cat >"$work/${variant%%:*}.yaml" <<YAML
service: { name: bench, threads: ${variant#*:}, shutdown_grace: 1s }
log: { level: warn, format: json }
http: { listen: 127.0.0.1:$gateway_port, max_connections: 100000 }
auth:
  jwt: { algorithms: [HS256], secret: "$secret", issuer: nilecare-auth, audience: nilecare }
realtime: {}
YAML
done

server_pid=
start_server() {  # gateway|gateway-1t|node
  if [[ $1 == gateway* ]]; then
    "$gateway_bin" --config "$work/$1.yaml" >>"$work/gateway.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    wait_http "http://127.0.0.1:$gateway_port/ready"
  else
    PORT=$node_port JWT_SECRET=$secret JWT_ISSUER=nilecare-auth JWT_AUDIENCE=nilecare \
      node bench/node/server.mjs >>"$work/node.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    wait_http "http://127.0.0.1:$node_port/health"
  fi
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}

# Results: R[<server>.<scenario>.<key>] from the tool's RESULT line.
declare -A R
scenarios=()
declare -A S_DESC

# run SCENARIO DESCRIPTION CLIENTS ROOMS RATE [1t]: on the gateway (and with "1t" on a
# one-thread gateway too), then on node.
run() {
  local name=$1 desc=$2 clients=$3 rooms=$4 rate=$5 server port out line kv
  scenarios+=("$name")
  S_DESC[$name]=$desc
  local servers=(gateway)
  [[ ${6:-} == 1t && $gateway_threads != 1 ]] && servers+=(gateway-1t)
  ((baseline)) && servers+=(node)
  for server in "${servers[@]}"; do
    port=$gateway_port
    [[ $server == node ]] && port=$node_port
    start_server "$server"
    out="$work/$server-$name.out"
    echo "bench: $server $name: $clients clients, $rooms rooms, $rate emits/s" >&2
    if ! "$rtload_bin" --port "$port" --secret "$secret" --clients "$clients" --rooms "$rooms" \
      --rate "$rate" --duration "$duration" --warmup "$warmup" --emitters "$emitters" \
      --source-ips 8 --gateway-pid "$server_pid" --label "$server-$name" >"$out" 2>&1; then
      echo "bench: nilecare-rtload failed against $server ($name):" >&2
      cat "$out" >&2
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "bench: $server exited during $name" >&2
      tail -20 "$work/${server%-1t}.log" >&2 || true
    fi
    stop_server
    line=$(grep '^RESULT ' "$out" || true)
    for kv in $line; do
      if [[ $kv == *=* ]]; then R[$server.$name.${kv%%=*}]=${kv#*=}; fi
    done
  done
}

if ((quick)); then
  run a-10k "(a) 10/room, 10k/s target" 1000 100 1000
  run a-100k "(a) 10/room, 100k/s target" 1000 100 10000 1t
  run b "(b) 10/room, 20k/s target" 5000 500 2000
  run c "(c) 5k conns, 1 emit/room/s" 5000 500 500
else
  run a-10k "(a) 10/room, 10k/s target" 1000 100 1000 1t
  run a-50k "(a) 10/room, 50k/s target" 1000 100 5000 1t
  run a-100k "(a) 10/room, 100k/s target" 1000 100 10000 1t
  run a-fan100 "(a) 100/room, 100k/s target" 1000 10 1000 1t
  run b "(b) 10/room, 20k/s target" 10000 1000 2000
  # The tool and the server each hold one fd per client, plus a few of their own: 95 % of
  # the limit (19,000 at 20,000).
  max_clients=$((fd_limit * 95 / 100))
  ((max_clients > 19000)) && max_clients=19000
  run c "(c) max conns, 1 emit/room/s" "$max_clients" $((max_clients / 10)) $((max_clients / 10))
fi

get() { echo "${R[$1]:--}"; }
unknown() { [[ $1 == - || $1 == -1 ]]; }
mib() {
  if unknown "$1"; then echo -; else awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; fi
}
kib() {
  if unknown "$1"; then echo -; else awk -v b="$1" 'BEGIN { printf "%.2f KiB", b / 1024 }'; fi
}
ms() { if unknown "$1"; then echo -; else echo "$1 ms"; fi; }
ratio() {  # a b -> a/b
  if unknown "$1" || unknown "$2" || awk -v b="$2" 'BEGIN { exit !(b + 0 == 0) }'; then
    echo -
    return
  fi
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}
row() {
  printf '| %-30s | %-10s | %7s | %5s | %11s | %12s | %19s | %9s | %9s | %10s | %9s | %7s | %8s |\n' \
    "$@"
}

echo
echo "Realtime benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, gateway service.threads" \
  "$gateway_threads, $duration s per scenario after ${warmup} s warm-up, $emitters emit connections)"
echo
row scenario server clients rooms emits/s deliveries/s delivered/expected p50 p99 "server RSS" \
  RSS/conn "srv CPU" "tool CPU"
row "$(printf '%030d' 0 | tr 0 -)" ---------- ------- ----- ----------- ------------ \
  ------------------- --------- --------- ---------- --------- ------- -------- | tr ' ' -
for name in "${scenarios[@]}"; do
  for server in gateway gateway-1t node; do
    k=$server.$name
    [[ -n ${R[$k.label]:-} ]] || continue
    emits=$(get "$k.emit_rate")
    # Within 1 % of the target: the target; else achieved/target.
    if awk -v a="$emits" -v t="$(get "$k.rate")" 'BEGIN { exit !(a < 0.99 * t || a > 1.01 * t) }'
    then
      emits="$emits/$(get "$k.rate")"
    fi
    row "${S_DESC[$name]}" "$server" "$(get "$k.subscribed")" "$(get "$k.rooms")" "$emits" \
      "$(get "$k.deliveries_per_s")" "$(get "$k.delivered")/$(get "$k.expected")" \
      "$(ms "$(get "$k.p50_ms")")" "$(ms "$(get "$k.p99_ms")")" \
      "$(mib "$(get "$k.rss_connected_kib")")" "$(kib "$(get "$k.rss_per_conn_b")")" \
      "$(get "$k.gw_cpu")%" "$(get "$k.tool_cpu")%"
  done
done
echo
echo "emits/s: achieved/target when they differ by more than 1 %. The emitter keeps at most"
echo "$emitters requests in flight: an overloaded server gets fewer emits (latency is then that of"
echo "the achieved rate); above the target is the emitter catching up on a warm-up backlog."
echo "Latency: POST /internal/emit written -> event parsed by the client (same clock)."
echo "RSS/conn: (RSS with every client subscribed - RSS before) / clients, before any traffic."
echo "CPU: 100% = one core, over the measured window. Server, tool and emitter share the"
echo "machine's $(nproc) cores; anything else running meanwhile skews the saturated rows."

if ((baseline)); then
  echo
  echo "gateway/node ratios (deliveries/s: higher is better; p99 and RSS/conn: lower is better):"
  for name in "${scenarios[@]}"; do
    for server in gateway gateway-1t; do
      [[ -n ${R[$server.$name.label]:-} ]] || continue
      printf '  %-30s %-10s deliveries/s %5s   p99 %5s   RSS/conn %5s\n' "${S_DESC[$name]}" \
        "$server" \
        "$(ratio "$(get "$server.$name.deliveries_per_s")" "$(get "node.$name.deliveries_per_s")")" \
        "$(ratio "$(get "$server.$name.p99_ms")" "$(get "node.$name.p99_ms")")" \
        "$(ratio "$(get "$server.$name.rss_per_conn_b")" "$(get "node.$name.rss_per_conn_b")")"
    done
  done
fi

# The 20,000-connection target: this process limit leaves room for fewer; the measured
# per-connection cost is extrapolated, and said to be.
k=gateway.c
if ! unknown "$(get "$k.rss_per_conn_b")"; then
  echo
  awk -v n="$(get "$k.subscribed")" -v before="$(get "$k.rss_before_kib")" \
    -v conn="$(get "$k.rss_connected_kib")" -v after="$(get "$k.rss_after_kib")" \
    -v limit="$fd_limit" 'BEGIN {
      per = (conn - before) / n; per_after = (after - before) / n
      printf "gateway at %d connections: %.1f MiB RSS (%.1f MiB idle + %.2f KiB/connection;",
        n, conn / 1024, before / 1024, per
      printf " %.1f MiB after the traffic)\n", after / 1024
      printf "extrapolated to 20,000 connections (not measured: the fd limit is %s):", limit
      printf " %.0f MiB idle, %.0f MiB with traffic (target <= 300 MiB)\n",
        (before + 20000 * per) / 1024, (before + 20000 * per_after) / 1024
    }'
fi
