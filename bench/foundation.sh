#!/usr/bin/env bash
# Foundation figures of the gateway, printed as a table:
#   binary size, start-to-ready time, idle RSS, and /health served by the gateway next to
#   the same-sized static JSON served by nginx (the baseline), with the ratio.
#
#   bench/foundation.sh [--build-time] [--duration 10s] [--connections 50]
#
# --build-time also measures a clean Release build of the gateway in a scratch dir.
# Both servers get one worker (gateway service.threads 1, nginx worker_processes 1) and
# wrk one thread, so the 2-core machine is split the same way for each.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
duration=10s
connections=50
build_time=0
while (($#)); do
  case "$1" in
    --build-time) build_time=1 ;;
    --duration) duration=$2; shift ;;
    --connections) connections=$2; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "foundation.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/install-deps.sh --bench >/dev/null
# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_init
threads=1

if ((build_time)); then
  start=$(date +%s.%N)
  cmake -S . -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DNILECARE_BUILD_TESTS=OFF >/dev/null
  cmake --build "$work/build" --target nilecare-gateway -j"$(nproc)" >/dev/null
  build_seconds=$(echo "$(date +%s.%N) - $start" | bc)
  binary=$work/build/nilecare-gateway
else
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build build --target nilecare-gateway -j"$(nproc)" >/dev/null
  binary=$repo/build/nilecare-gateway
fi

gw_port=17900
nginx_port=17901
cat >"$work/gateway.yaml" <<YAML
service: { name: bench, threads: 1, shutdown_grace: 1s }
log: { level: warn, format: json }
http: { listen: 127.0.0.1:$gw_port }
YAML

# Start-to-ready: spawn to the first 200 from /ready, five times, median.
ready_ms=()
for _ in 1 2 3 4 5; do
  start=$(date +%s%N)
  "$binary" --config "$work/gateway.yaml" >/dev/null 2>&1 &
  pid=$!
  wait_http "http://127.0.0.1:$gw_port/ready"
  ready_ms+=($(( ($(date +%s%N) - start) / 1000000 )))
  kill -TERM "$pid"; wait "$pid" || true
done
median_ready=$(printf '%s\n' "${ready_ms[@]}" | sort -n | sed -n 3p)

"$binary" --config "$work/gateway.yaml" >/dev/null 2>&1 &
gw_pid=$!
pids+=("$gw_pid")
wait_http "http://127.0.0.1:$gw_port/ready"
sleep 1
idle_rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$gw_pid/status")

# The baseline returns a body of the same size as the gateway's /health reply.
body=$(curl -s "http://127.0.0.1:$gw_port/health")
mkdir -p "$work/nginx"
printf '%s' "$body" >"$work/nginx/health.json"
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /health { default_type application/json; alias $work/nginx/health.json; }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" &
pids+=("$!")
wait_http "http://127.0.0.1:$nginx_port/health"

wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$gw_port/health" >/dev/null  # warm-up
read -r nginx_rps nginx_p50 nginx_p99 _ < <(run_wrk "http://127.0.0.1:$nginx_port/health")
read -r gw_rps gw_p50 gw_p99 _ < <(run_wrk "http://127.0.0.1:$gw_port/health")
ratio=$(echo "scale=2; $gw_rps / $nginx_rps" | bc)

binary_kib=$(( $(stat -c %s "$binary") / 1024 ))
stripped="$work/stripped"
strip -o "$stripped" "$binary"
stripped_kib=$(( $(stat -c %s "$stripped") / 1024 ))

echo
echo "nilecare-gateway foundation benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores)"
printf '| %-34s | %-28s |\n' "measure" "value"
printf '|%s|%s|\n' "$(printf -- '-%.0s' {1..36})" "$(printf -- '-%.0s' {1..30})"
if ((build_time)); then
  printf '| %-34s | %-28s |\n' "clean Release build (gateway only)" "${build_seconds%.*} s"
fi
printf '| %-34s | %-28s |\n' "binary size (stripped)" "$binary_kib KiB ($stripped_kib KiB)"
printf '| %-34s | %-28s |\n' "start to ready (median of 5)" "$median_ready ms"
printf '| %-34s | %-28s |\n' "idle RSS" "$idle_rss_kib KiB"
echo
echo "GET /health, wrk -t1 -c$connections -d$duration, one server worker each"
printf '| %-24s | %10s | %8s | %8s |\n' "server" "req/s" "p50" "p99"
printf '|%s|%s|%s|%s|\n' "--------------------------" "------------" "----------" "----------"
printf '| %-24s | %10s | %8s | %8s |\n' "nginx static (baseline)" "$nginx_rps" "$nginx_p50" "$nginx_p99"
printf '| %-24s | %10s | %8s | %8s |\n' "nilecare-gateway /health" "$gw_rps" "$gw_p50" "$gw_p99"
echo "ratio gateway / nginx req/s: $ratio"
