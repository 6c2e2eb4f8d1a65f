#!/usr/bin/env bash
# Runs the gateway on a local stack, from a fresh Debian 12 machine: installs what is
# missing, builds, starts mosquitto, PostgreSQL, Redis, RabbitMQ and the Kafka dev broker
# on loopback (scripts/stack.sh, dev profile), then runs the gateway with
# config/gateway.dev.yaml and a ward of simulated bedside monitors (build/nilecare-devsim:
# DEMO_DEVICES monitors, one reading per second each, now and then a critical heart rate)
# feeding it over MQTT. Ctrl-C stops both; the stack keeps running until
# `scripts/stack.sh down`. DEMO_DEVICES=0 runs without the simulator.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

bash scripts/stack.sh --profile dev up
state_dir=$(bash scripts/stack.sh --profile dev env | sed -n 's/^NILECARE_STACK_DIR=//p')
set -a
# shellcheck disable=SC1091
. "$state_dir/stack.env"
set +a

demo_devices=${DEMO_DEVICES:-10}
./build/nilecare-gateway --config config/gateway.dev.yaml &
gateway=$!
simulator=
stop() {
  trap - INT TERM EXIT
  # Not under `set -e`: a simulator that exits 1 (unacknowledged readings) must not keep the
  # gateway from being stopped.
  if [[ -n $simulator ]]; then
    kill -INT "$simulator" 2>/dev/null || true
    wait "$simulator" 2>/dev/null || true
  fi
  kill -TERM "$gateway" 2>/dev/null || true
  wait "$gateway" 2>/dev/null || true
}
trap stop INT TERM EXIT

for _ in $(seq 300); do
  curl -fsS -o /dev/null http://127.0.0.1:7000/ready 2>/dev/null && break
  kill -0 "$gateway" 2>/dev/null || { wait "$gateway"; exit $?; }
  sleep 0.1
done
echo "run-local: gateway on http://127.0.0.1:7000 (health: /health, metrics: /metrics)"
if ((demo_devices > 0)); then
  echo "run-local: $demo_devices demo monitors publishing to ${NILECARE_MQTT_URL:-tcp://127.0.0.1:1883}" \
       "(patients P-1..P-$demo_devices; GET /api/v1/patients/P-1/vitals/latest with a token from" \
       "build/nilecare-jwt-mint)"
  ./build/nilecare-devsim --url "${NILECARE_MQTT_URL:-tcp://127.0.0.1:1883}" \
    --devices "$demo_devices" --rate "$demo_devices" --duration 0 --critical-every 300 --quiet &
  simulator=$!
fi
wait "$gateway"
