#!/usr/bin/env bash
# Runs the gateway on a local stack, from a fresh Debian 12 machine: installs what is
# missing, builds, starts mosquitto, PostgreSQL, Redis, RabbitMQ and the Kafka dev broker
# on loopback (scripts/stack.sh, dev profile), then runs the gateway in the foreground with
# config/gateway.dev.yaml. Ctrl-C stops the gateway; the stack keeps running until
# `scripts/stack.sh down`.
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

echo "run-local: gateway on http://127.0.0.1:7000 (health: /health, metrics: /metrics)"
exec ./build/nilecare-gateway --config config/gateway.dev.yaml
