#!/usr/bin/env bash
# Installs every Debian package nilecare-gateway needs to build, test, benchmark and run
# its local stack. Idempotent: only what is missing is installed; services are kept from
# starting themselves (we start them by hand, on loopback, in a state dir: scripts/stack.sh).
#
#   scripts/install-deps.sh            build + test + local stack
#   scripts/install-deps.sh --runtime  only the shared libraries the binary needs (Dockerfile)
#   scripts/install-deps.sh --build    only what compiling the gateway needs (Dockerfile)
#   scripts/install-deps.sh --bench    also the benchmark tools (wrk, nginx)
#   scripts/install-deps.sh --fuzz     also clang and libFuzzer (scripts/fuzz.sh)
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost-dev libboost-system-dev libssl-dev
  librdkafka-dev librabbitmq-dev libpaho-mqttpp-dev libpaho-mqtt-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libpqxx-dev libpq-dev libhiredis-dev
  libyaml-cpp-dev libgtest-dev libgmock-dev
)
server_pkgs=(
  mosquitto mosquitto-clients postgresql redis-server rabbitmq-server
  curl procps iproute2 openssl
)
runtime_pkgs=(
  libboost-system1.74.0 libssl3 librdkafka++1 librdkafka1 librabbitmq4 libpaho-mqttpp3-1
  libpaho-mqtt1.3 libspdlog1.10 libfmt9 libpqxx-6.4 libpq5 libhiredis0.14 libyaml-cpp0.7
  ca-certificates curl
)
bench_pkgs=(wrk nginx-light bc binutils)
fuzz_pkgs=(clang-14 libclang-rt-14-dev)

mode=dev
for arg in "$@"; do
  case "$arg" in
    --runtime) mode=runtime ;;
    --build) mode=build ;;
    --fuzz) mode=fuzz ;;
    --bench) mode=bench ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

case "$mode" in
  runtime) wanted=("${runtime_pkgs[@]}") ;;
  build) wanted=("${build_pkgs[@]}") ;;
  dev) wanted=("${build_pkgs[@]}" "${server_pkgs[@]}") ;;
  bench) wanted=("${build_pkgs[@]}" "${server_pkgs[@]}" "${bench_pkgs[@]}") ;;
  fuzz) wanted=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
esac
# Node.js runs the real protocol clients (socket.io-client, mqtt, kafkajs, amqplib) in tests.
if [[ $mode == dev || $mode == bench ]] && ! command -v node >/dev/null 2>&1; then wanted+=(nodejs); fi
if [[ $mode == dev || $mode == bench ]] && ! command -v npm >/dev/null 2>&1; then wanted+=(npm); fi

missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: nothing to install"
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi

# Keep package installs from starting mosquitto/postgres/redis/rabbitmq/nginx as services.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if ((created_policy)); then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
