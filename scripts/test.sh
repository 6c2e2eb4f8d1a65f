#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, builds,
# and runs every unit and integration test with ctest. Integration tests start the real
# servers they need themselves (mosquitto, PostgreSQL, Redis, RabbitMQ, the Kafka dev
# broker) through the `stack` ctest fixture, and stop them afterwards.
#
#   scripts/test.sh                 Release build in build/, all tests
#   scripts/test.sh --sanitize      ASan + UBSan build in build-asan/, all tests
#   scripts/test.sh -- -L unit      extra arguments after -- go to ctest
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

sanitize=0
ctest_args=()
while (($#)); do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

bash scripts/install-deps.sh

if ((sanitize)); then
  build_dir=${NILECARE_BUILD_DIR:-$repo/build-asan}
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DNILECARE_SANITIZE=ON)
  # Leaks are reported at exit of every test process; abort on the first UB report.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # Leaks inside Debian libraries that our code cannot free (each explained in the file).
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$repo/tests/lsan.supp:print_suppressions=0}
else
  build_dir=${NILECARE_BUILD_DIR:-$repo/build}
  cmake_args=(-DCMAKE_BUILD_TYPE=Release)
fi
export NILECARE_BUILD_DIR=$build_dir

jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)
cmake -S . -B "$build_dir" -G Ninja -DNILECARE_WERROR=ON "${cmake_args[@]}"
cmake --build "$build_dir" -j"$jobs"
echo "test.sh: build took $(($(date +%s) - start)) s"

cd "$build_dir"
ctest --output-on-failure --timeout 600 -j"$jobs" "${ctest_args[@]}"
