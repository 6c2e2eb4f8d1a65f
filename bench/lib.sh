# Shared by the bench scripts (sourced, not run): a scratch dir that nginx workers can
# read, background servers stopped on exit, waiting for an endpoint, and one wrk run; then the
# setup, measuring and reporting helpers of events.sh, vitals.sh and tasks.sh.
# shellcheck shell=bash disable=SC2154  # the globals named below are the sourcing script's

bench_init() {
  work=$(mktemp -d /tmp/nilecare-bench-XXXXXX)
  chmod 755 "$work"  # nginx workers run as www-data
  pids=()
  exit_hooks=()
  trap bench_cleanup EXIT
}

# on_exit COMMAND [ARG...]: runs the command at exit (after the background servers in $pids
# are stopped, before $work goes), e.g. stopping a server that daemonized itself.
on_exit() { exit_hooks+=("$(printf '%q ' "$@")"); }

bench_cleanup() {
  local hook
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for hook in "${exit_hooks[@]}"; do eval "$hook" || true; done
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

# run_wrk2 URL SCRIPT -> "req/s requests p50_ms p99_ms non2xx socket_errors", with
# $wrk_threads, $connections and $duration (seconds).
run_wrk2() {
  local out
  out=$(wrk -t"$wrk_threads" -c"$connections" -d"${duration}s" --latency -s "$2" "$1")
  awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                        if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
       /Requests\/sec/ {rps=$2} / requests in / {req=$1}
       $1 == "50%" {p50=ms($2)} $1 == "99%" {p99=ms($2)}
       /Non-2xx/ {err=$5}
       /Socket errors/ {gsub(",", ""); sock=$4 + $6 + $8 + $10}
       END { printf "%.0f %d %.2f %.2f %d %d\n", rps, req, p50, p99, err, sock }' <<<"$out"
}

# --- used by events.sh, vitals.sh and tasks.sh ----------------------------------------------
# Globals they read, where said: cmdline, load_before, load_after, clk_tck, gw_url, gw_pid,
# failures (array), R (declare -A); fail is the script's own (message, logs, exit 1).

# bench_cmdline SCRIPT ARGS...: "SCRIPT ARGS..." for the report; an argument that is not plain
# is quoted (printf %q).
bench_cmdline() {
  local line=$1 arg
  shift
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./,=:+-]+$ ]]; then line+=" $arg"; else line+=" $(printf '%q' "$arg")"; fi
  done
  echo "$line"
}

# require_positive_ints SCRIPT VALUE...: exit 2 unless every VALUE is a positive integer.
require_positive_ints() {
  local script=$1 n
  shift
  for n in "$@"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "$script: expected a positive integer, got '$n'" >&2; exit 2; }
  done
}

# bench_build BUILD_DIR TARGET...: the bench dependencies, then a Release build of the targets.
bench_build() {
  local dir=$1
  shift
  bash scripts/install-deps.sh --bench >/dev/null
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$dir" --target "$@" -j"$(nproc)" >/dev/null
}

# require_executables SCRIPT HINT PATH...: exit 1 unless every PATH is executable.
require_executables() {
  local script=$1 hint=$2 path
  shift 2
  for path in "$@"; do
    [[ -x $path ]] || { echo "$script: $path is missing ($hint)" >&2; exit 1; }
  done
}

say() { echo "bench: $*" >&2; }
now() { echo "$EPOCHREALTIME"; }
secs_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }  # T0 T1 (now)
# fmt_int N: N with thousands separators; "-" for "-" or nothing.
fmt_int() { if [[ $1 == - || -z $1 ]]; then echo -; else printf "%'d" "${1%.*}" 2>/dev/null || echo "$1"; fi; }
# fmt_ms V: V with two decimals; "-" for "-" or nothing.
fmt_ms() { if [[ $1 == - || -z $1 ]]; then echo -; else awk -v v="$1" 'BEGIN { printf "%.2f", v }'; fi; }

# fail_with_logs SCRIPT MESSAGE LOG...: "SCRIPT: MESSAGE" and the last 15 lines of every
# non-empty LOG to stderr, then exit 1.
fail_with_logs() {
  local script=$1 message=$2 log
  shift 2
  echo "$script: $message" >&2
  for log in "$@"; do
    [[ -s $log ]] && { echo "----- last lines of ${log##*/} -----" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}

# free_ports N: N free loopback ports from the kernel, on one line.
free_ports() {
  node -e '
  const net = require("net"); const servers = Array.from({ length: Number(process.argv[1]) }, () => net.createServer());
  Promise.all(servers.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", () => r(s.address().port)))))
    .then((ports) => { console.log(ports.join(" ")); servers.forEach((s) => s.close()); });' "$1"
}

# wait_until [--log FILE] PID SECONDS EXITED TIMED_OUT COMMAND...: runs COMMAND every 50 ms until
# it succeeds. When PID has exited meanwhile: FILE (if given) to stderr, then fail EXITED; after
# SECONDS: fail TIMED_OUT.
wait_until() {
  local log=
  if [[ $1 == --log ]]; then log=$2; shift 2; fi
  local pid=$1 deadline=$((SECONDS + $2)) exited=$3 timed_out=$4
  shift 4
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      [[ -n $log ]] && cat "$log" >&2
      fail "$exited"
    fi
    ((SECONDS < deadline)) || fail "$timed_out"
    sleep 0.05
  done
}
# printed_ready FILE: the Node clients wrote their READY line to FILE.
printed_ready() { grep -q '^READY' "$1" 2>/dev/null; }
# wait_ready PID OUT ERR WHAT: until the Node clients PID print READY to OUT, at most 30 s; fails
# (showing ERR when they exited) otherwise.
wait_ready() {
  wait_until --log "$3" "$1" 30 "$4 failed" "$4 not ready after 30 s" printed_ready "$2"
}

# kv PREFIX LINE: R[PREFIX.key]=value for each key=value of a RESULT line.
kv() {
  local prefix=$1 item
  for item in $2; do
    [[ $item == *=* ]] && R[$prefix.${item%%=*}]=${item#*=}
  done
  return 0
}
get() { echo "${R[$1]:--}"; }
ratio() {  # a b -> a/b
  if [[ $1 == - || $2 == - || -z $1 || -z $2 ]] || awk -v b="$2" 'BEGIN { exit !(b + 0 == 0) }'; then
    echo -
    return
  fi
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}
# shellcheck disable=SC2059  # the formats are the tables' own
row() { local fmt=$1; shift; printf "$fmt\n" "$@"; }
sep() { echo "${1//[^|]/-}"; }

# ticks PID...: CPU ticks (user + system) of processes. For the pid in $ticks_reaper, when set
# (a postmaster), its finished children's too: `ticks_reaper=$pg_pid ticks "$pg_pid" ...`.
ticks() {
  local t=0 pid stat f
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    t=$((t + f[11] + f[12]))
    [[ -n ${ticks_reaper:-} && $pid == "$ticks_reaper" ]] && t=$((t + f[13] + f[14]))
  done
  echo "$t"
}
# Busy ticks of the whole machine (every core), from /proc/stat.
machine_ticks() {
  local user nice system irq softirq steal
  read -r _ user nice system _ _ irq softirq steal _ </proc/stat
  echo $((user + nice + system + irq + softirq + steal))
}
# cpu_pct TICKS SECONDS: % of one core.
cpu_pct() { awk -v t="$1" -v s="$2" -v hz="$clk_tck" 'BEGIN { printf "%.0f", (s > 0 ? 100 * t / hz / s : 0) }'; }

# The gateway's /metrics text ($gw_url), empty when it does not answer.
scrape() { curl -s --max-time 5 "$gw_url/metrics" || true; }
# metric NAME [LABELS] < metrics text: the value, 0 when absent.
metric() {
  local name=$1
  [[ -n ${2:-} ]] && name+="{$2}"
  awk -v name="$name" '$1 == name { v = $2 } END { printf "%.0f\n", v + 0 }'
}
stop_gateway() {  # $gw_pid: SIGTERM, then wait for it
  kill -TERM "$gw_pid" 2>/dev/null || true
  wait "$gw_pid" 2>/dev/null || true
}

# report_header TITLE SOFTWARE: a blank line, "TITLE (UTC time)", the command line and the
# machine (cores, memory, load average before and after) with SOFTWARE (versions).
report_header() {
  echo
  echo "$1 ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
  echo "command: $cmdline"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
    "load average $load_before before, $load_after after; $2"
}
# report_failures: a blank line and "!!! FAILURE" for each of $failures; status 1 when any.
report_failures() {
  local f
  ((${#failures[@]})) || return 0
  echo
  for f in "${failures[@]}"; do echo "!!! $f"; done
  return 1
}
# has_warnings LOG: the gateway's JSON log has warn, error or critical lines.
has_warnings() { grep -qE '"level":"(warn|error|critical)"' "$1"; }
# warnings_by_message LOG: its ten most frequent "level: message" of those, with counts.
warnings_by_message() {
  grep -E '"level":"(warn|error|critical)"' "$1" |
    sed -E 's/.*"level":"([a-z]+)","msg":"([^"]*)".*/\1: \2/' | sort | uniq -c | sort -rn | head -n 10
}
