#!/usr/bin/env bash
# REST proxy benchmark: one run, same load generator settings for every target.
#   (a) the upstream directly   — a fixed-response nginx (the "service")
#   (b) nginx as reverse proxy  — keep-alive to the upstream (the baseline)
#   (c) nilecare-gateway GET    — public route
#   (d) nilecare-gateway POST   — authenticated route (HS256 JWT verified per request)
#   (e) nginx POST              — same POST through the nginx proxy (baseline for d)
# Prints req/s, p50, p99 and the gateway/nginx ratios.
#
#   bench/rest_proxy.sh [--duration 10s] [--connections 50] [--threads 1]
#
# Each server gets one worker (gateway service.threads 1, nginx worker_processes 1), so
# on a 2-core machine the proxy, the upstream and wrk share the cores the same way for
# (b)-(e).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
duration=10s
connections=50
threads=1
while (($#)); do
  case "$1" in
    --duration) duration=$2; shift ;;
    --connections) connections=$2; shift ;;
    --threads) threads=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "rest_proxy.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/install-deps.sh --bench >/dev/null
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target nilecare-gateway nilecare-jwt-mint -j"$(nproc)" >/dev/null

# shellcheck source=bench/lib.sh
. "$repo/bench/lib.sh"
bench_init

upstream_port=17910
proxy_port=17911
gateway_port=17912
secret="bench-secret-0123456789abcdef0123456789"
body='{"id":"APT-98765","patient_id":"PAT-12345","doctor_id":"DOC-67890","status":"scheduled"}'

cat >"$work/upstream.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/upstream.pid;
error_log $work/upstream-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$upstream_port;
    location / { default_type application/json; return 200 '$body'; }
  }
}
NGINX
cat >"$work/proxy.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/proxy.pid;
error_log $work/proxy-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy_temp;
  upstream service { server 127.0.0.1:$upstream_port; keepalive 64; }
  server {
    listen 127.0.0.1:$proxy_port;
    location / {
      proxy_pass http://service;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
  }
}
NGINX
cat >"$work/gateway.yaml" <<YAML
service: { name: bench, threads: 1, shutdown_grace: 1s }
log: { level: warn, format: json }
http: { listen: 127.0.0.1:$gateway_port }
auth:
  jwt: { algorithms: [HS256], secret: "$secret", issuer: nilecare-auth, audience: nilecare }
upstreams:
  service: { url: http://127.0.0.1:$upstream_port, max_connections: 64 }
routes:
  - { prefix: /api/v1/public, upstream: service, auth: none }
  - { prefix: /api/v1/appointments, upstream: service }
YAML

nginx -c "$work/upstream.conf" -p "$work" & pids+=("$!")
nginx -c "$work/proxy.conf" -p "$work" & pids+=("$!")
./build/nilecare-gateway --config "$work/gateway.yaml" >"$work/gateway.log" 2>&1 & pids+=("$!")
wait_http "http://127.0.0.1:$upstream_port/"
wait_http "http://127.0.0.1:$proxy_port/"
wait_http "http://127.0.0.1:$gateway_port/ready"

token=$(./build/nilecare-jwt-mint --secret "$secret" --sub USR-1 --role doctor \
  --iss nilecare-auth --aud nilecare --ttl 3600)
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"patient_id":"PAT-12345","doctor_id":"DOC-67890","type":"consultation"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA

# Warm-up: connections and pools filled.
wrk -t"$threads" -c"$connections" -d2s "http://127.0.0.1:$gateway_port/api/v1/public/x" >/dev/null
wrk -t"$threads" -c"$connections" -d2s "http://127.0.0.1:$proxy_port/api/v1/public/x" >/dev/null

read -r a_rps a_p50 a_p99 a_err < <(run_wrk "http://127.0.0.1:$upstream_port/api/v1/public/x")
read -r b_rps b_p50 b_p99 b_err < <(run_wrk "http://127.0.0.1:$proxy_port/api/v1/public/x")
read -r c_rps c_p50 c_p99 c_err < <(run_wrk "http://127.0.0.1:$gateway_port/api/v1/public/x")
read -r e_rps e_p50 e_p99 e_err < <(run_wrk "http://127.0.0.1:$proxy_port/api/v1/appointments" "$work/post.lua")
read -r d_rps d_p50 d_p99 d_err < <(run_wrk "http://127.0.0.1:$gateway_port/api/v1/appointments" "$work/post.lua")

echo
echo "REST proxy benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, wrk -t$threads -c$connections -d$duration)"
printf '| %-34s | %10s | %9s | %9s | %7s |\n' "target" "req/s" "p50" "p99" "non-2xx"
printf '|%s|%s|%s|%s|%s|\n' "------------------------------------" "------------" "-----------" "-----------" "---------"
printf '| %-34s | %10s | %9s | %9s | %7s |\n' "(a) upstream nginx, direct" "$a_rps" "$a_p50" "$a_p99" "$a_err"
printf '| %-34s | %10s | %9s | %9s | %7s |\n' "(b) nginx reverse proxy, GET" "$b_rps" "$b_p50" "$b_p99" "$b_err"
printf '| %-34s | %10s | %9s | %9s | %7s |\n' "(c) nilecare-gateway, GET" "$c_rps" "$c_p50" "$c_p99" "$c_err"
printf '| %-34s | %10s | %9s | %9s | %7s |\n' "(e) nginx reverse proxy, POST" "$e_rps" "$e_p50" "$e_p99" "$e_err"
printf '| %-34s | %10s | %9s | %9s | %7s |\n' "(d) nilecare-gateway, POST + JWT" "$d_rps" "$d_p50" "$d_p99" "$d_err"
echo "ratio gateway/nginx GET:  $(echo "scale=2; $c_rps / $b_rps" | bc)"
echo "ratio gateway/nginx POST: $(echo "scale=2; $d_rps / $e_rps" | bc)"
