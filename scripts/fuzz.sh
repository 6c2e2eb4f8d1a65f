#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in build-fuzz/ and runs
# each for a while on a copy of its seed corpus, then prints one line per target.
#
#   scripts/fuzz.sh                 30 s per target
#   scripts/fuzz.sh 300             5 min per target
#   scripts/fuzz.sh 60 jwt_verifier_fuzz      only the named target(s)
#
# Environment: NILECARE_FUZZ_BUILD_DIR (default build-fuzz), NILECARE_FUZZ_JOBS (parallel
# compile jobs, default nproc), CXX (default clang++).
# Exit status: 0 when every target built and found nothing; 1 when a target crashed, leaked,
# timed out or ran out of memory (the table gives the reproducer's path; rerun it with
# build-fuzz/tests/fuzz/<target> <file>); 2 on a usage, configuration or build error (a
# target that does not build is reported in the table, the others still run).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

case "${1:-}" in
  -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
esac
seconds=${1:-30}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz.sh: SECONDS_PER_TARGET must be a positive integer, got '$seconds'" >&2
  exit 2
fi
shift $(($# > 0 ? 1 : 0))

# target:max_len. max_len bounds the inputs libFuzzer generates: a config file is a few
# KiB (config/gateway.yaml is 11 KiB), a JWT at most kMaxTokenSize (8 KiB; a bit more tests
# the size check), a request target well under the 8 KiB header limit.
all_targets=(
  config_loader_fuzz:16384
  dispatcher_path_fuzz:2048
  jwt_verifier_fuzz:9000
  response_mapper_fuzz:8192
  realtime_packet_fuzz:4096
  device_message_fuzz:8192
  domain_event_fuzz:8192
  task_headers_fuzz:4096
)
targets=()
if (($#)); then
  for name in "$@"; do
    known=0
    for entry in "${all_targets[@]}"; do
      if [[ ${entry%%:*} == "$name" ]]; then targets+=("$entry"); known=1; fi
    done
    if ((!known)); then echo "fuzz.sh: unknown target $name" >&2; exit 2; fi
  done
else
  targets=("${all_targets[@]}")
fi

build_dir=${NILECARE_FUZZ_BUILD_DIR:-$repo/build-fuzz}
jobs=${NILECARE_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
bash scripts/install-deps.sh --fuzz
export CXX=${CXX:-clang++}
generator=()
if command -v ninja >/dev/null 2>&1 && [[ ! -f $build_dir/CMakeCache.txt ]]; then
  generator=(-G Ninja)
fi

start=$(date +%s)
if ! cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_CXX_COMPILER="$CXX" \
       -DNILECARE_FUZZ=ON -DNILECARE_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
  echo "fuzz.sh: configuring $build_dir failed" >&2
  exit 2
fi
run_root=$build_dir/fuzz-runs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$run_root"
# One target at a time, so that a library one target needs failing to compile does not
# keep the others from running; such a target gets "build failed" in the table.
declare -A build_failed=()
for entry in "${targets[@]}"; do
  name=${entry%%:*}
  mkdir -p "$run_root/$name"
  echo "fuzz.sh: building $name"
  if ! cmake --build "$build_dir" -j"$jobs" --target "$name" >"$run_root/$name/build.log" 2>&1; then
    build_failed[$name]=1
    echo "fuzz.sh: building $name failed (log: $run_root/$name/build.log):" >&2
    grep -m3 -E 'error:|Error|FAILED' "$run_root/$name/build.log" >&2 || true
  fi
done
echo "fuzz.sh: build took $(($(date +%s) - start)) s"

# Leaks count as findings; UBSan reports abort (the libraries are built with
# -fno-sanitize-recover=undefined, this covers the rest).
# Memory: ASan's hard_rss_limit_mb, not libFuzzer's -rss_limit_mb. On hitting its RSS limit
# libFuzzer first prints a heap profile, which can take longer than any run (it never
# finished here with 2 GiB of small allocations); ASan dies at once and libFuzzer still
# writes the input (as crash-*; the log says "hard rss limit exhausted").
rss_limit_mb=2048
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
if [[ $ASAN_OPTIONS != *hard_rss_limit_mb* ]]; then
  ASAN_OPTIONS+=:hard_rss_limit_mb=$rss_limit_mb
fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

rows=()
found=0     # a target crashed, leaked, timed out or ran out of memory
unbuilt=0   # a target did not build
for entry in "${targets[@]}"; do
  name=${entry%%:*}
  max_len=${entry##*:}
  if [[ -n ${build_failed[$name]:-} ]]; then
    rows+=("$name|-|build failed: $run_root/$name/build.log")
    unbuilt=1
    continue
  fi
  binary=$build_dir/tests/fuzz/$name
  work=$run_root/$name
  mkdir -p "$work/corpus" "$work/artifacts"
  # libFuzzer adds the inputs it finds to its first corpus directory: a copy keeps the
  # committed seeds as they are.
  cp -R "$repo/tests/fuzz/corpus/$name/." "$work/corpus/"
  echo "fuzz.sh: running $name for ${seconds}s (log: $work/fuzz.log)"
  set +e
  "$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=30 \
    -rss_limit_mb=0 -malloc_limit_mb="$rss_limit_mb" -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/fuzz.log" 2>&1
  status=$?
  set -e

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n1)
  if [[ -z $runs ]]; then
    # No final stats (the process died): the last status line, "#1234 ...", has the count.
    runs=$(grep -oE '^#[0-9]+' "$work/fuzz.log" | tail -n1 | tr -d '#')
  fi
  artifact=$(find "$work/artifacts" -maxdepth 1 -type f \
               \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
               -print | head -n1)
  if ((status == 0)) && [[ -z $artifact ]]; then
    result=ok
  else
    found=1
    if [[ -n $artifact ]]; then
      kind=$(basename "$artifact"); kind=${kind%%-*}
      if grep -q 'hard rss limit exhausted' "$work/fuzz.log"; then kind=oom; fi
      result="$kind: $artifact"
    else
      result="exit $status, no reproducer written (see $work/fuzz.log)"
    fi
    # The sanitizer's or libFuzzer's own summary line, for the table's reader.
    summary=$(grep -m1 -E '^SUMMARY: |^==[0-9]+== ?ERROR: |runtime error:|hard rss limit exhausted' \
                "$work/fuzz.log" || true)
    if [[ -n $summary ]]; then echo "fuzz.sh: $name: $summary"; fi
  fi
  rows+=("$name|${runs:-?}|$result")
done

echo
printf '%-22s %12s  %s\n' TARGET RUNS RESULT
for row in "${rows[@]}"; do
  IFS='|' read -r name runs result <<<"$row"
  printf '%-22s %12s  %s\n' "$name" "$runs" "$result"
done
echo "(logs, corpora and reproducers: $run_root)"
if ((found)); then exit 1; fi
if ((unbuilt)); then exit 2; fi
exit 0
