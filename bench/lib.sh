# Shared by the bench scripts (sourced, not run): a scratch dir that nginx workers can
# read, background servers stopped on exit, waiting for an endpoint, and one wrk run.

bench_init() {
  work=$(mktemp -d /tmp/nilecare-bench-XXXXXX)
  chmod 755 "$work"  # nginx workers run as www-data
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# wait_http URL: until URL answers 2xx, at most 10 s.
wait_http() {
  local deadline=$((SECONDS + 10))
  until curl -sf -o /dev/null "$1"; do
    if ((SECONDS >= deadline)); then echo "bench: $1 did not answer" >&2; exit 1; fi
    sleep 0.002
  done
}

# run_wrk URL [LUA_SCRIPT] -> "req/s p50 p99 non2xx", with $threads, $connections, $duration.
run_wrk() {
  local url=$1 script=${2:-} out
  local args=(-t"$threads" -c"$connections" -d"$duration" --latency)
  [[ -n $script ]] && args+=(-s "$script")
  out=$(wrk "${args[@]}" "$url")
  awk '/Requests\/sec/ {rps=$2} $1 == "50%" {p50=$2} $1 == "99%" {p99=$2}
       /Non-2xx/ {err=$5} END {print rps, p50, p99, (err == "" ? 0 : err)}' <<<"$out"
}
