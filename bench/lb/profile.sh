#!/usr/bin/env bash
# bench/lb/profile.sh: where one proxy spends its time in one scenario of bench/lb/run.sh, with
# the same set-up (bench/lb/lib.sh). Not a test. Three wrk runs of SECONDS each on one proxy:
#   1. plain: requests/s and CPU seconds per 100k requests, for reference;
#   2. under `perf record -g` (call graphs by DWARF unwinding for tandem-lb, which is built
#      without frame pointers): a flat profile (self time) and one with callers' totals;
#   3. under `strace -c -f`: system calls per request, by call. strace slows the proxy a lot,
#      so each wakeup finds more work: read these counts as an upper bound of what the
#      unhindered proxy does per request... except epoll_wait, which it then does less often.
# Usage: bench/lb/profile.sh BUILD_DIR [-p tandem-lb|haproxy|nginx] [-s ka|close|tcp]
#                            [-d SECONDS] [-t THREADS] [-c CONNECTIONS] [-o OUTDIR]
# Defaults: tandem-lb, ka, 5 s, 1 thread, 50 connections, OUTDIR a new /tmp/bench-lb-prof.*.
# Writes OUTDIR/perf-flat.txt, perf-callers.txt, strace.txt, summary.txt; prints the summary.
set -euo pipefail

usage() { sed -n '/^# Usage:/,/^# Writes/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "bench/lb/profile: $*" >&2; exit 1; }

build=${1:-}
[[ -n $build && $build != -* ]] || usage
shift
proxy=tandem-lb scenario=ka duration=5 threads=1 conns=50 out=
while getopts "p:s:d:t:c:o:h" opt; do
  case $opt in
    p) proxy=$OPTARG ;;
    s) scenario=$OPTARG ;;
    d) duration=$OPTARG ;;
    t) threads=$OPTARG ;;
    c) conns=$OPTARG ;;
    o) out=$OPTARG ;;
    *) usage ;;
  esac
done
[[ $proxy =~ ^(haproxy|tandem-lb|nginx)$ ]] || die "unknown proxy '$proxy'"
[[ $scenario =~ ^(ka|close|tcp)$ ]] || die "unknown scenario '$scenario'"
for v in duration threads conns; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "-${v:0:1} wants a positive number, got '${!v}'"
done
for tool in perf strace; do
  command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install linux-perf strace)"
done
if [[ -z $out ]]; then out=$(mktemp -d /tmp/bench-lb-prof.XXXXXX); else mkdir -p "$out"; fi
out=$(cd "$out" && pwd)

proxies=$proxy scenarios=$scenario idle=0
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lb/lib.sh
source "$here/lib.sh"
pidv=pid_${proxy//-/_}
pid=${!pidv}
aux_pids=()
cleanup_aux() {
  local p
  for p in "${aux_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
}
trap 'cleanup_aux; cleanup' EXIT

summary=$out/summary.txt
: >"$summary"
say() { echo "$*" | tee -a "$summary"; }

run_wrk "$proxy" "$scenario" 1 >/dev/null # warm-up

say "$proxy, scenario $scenario, $threads thread(s), wrk -t2 -c$conns, ${duration} s per run"
t0=$(cpu_ticks "$proxy")
line=$(run_wrk "$proxy" "$scenario" "$duration")
t1=$(cpu_ticks "$proxy")
req=$(field requests "$line")
tck=$(getconf CLK_TCK)
[[ -n $req && $req -gt 0 ]] || die "wrk made no request: $line"
say "plain: $req requests, $((req / duration)) req/s," \
  "$(awk -v t=$((t1 - t0)) -v k="$tck" -v r="$req" 'BEGIN { printf "%.2f", t / k / r * 1e5 }') CPU s/100k req"

# perf: the proxy only (all its threads), while wrk runs.
callgraph=(-g)
[[ $proxy == tandem-lb ]] && callgraph=(--call-graph "dwarf,16384")
perf_pids=$pid
[[ $proxy == nginx ]] && perf_pids=$(proxy_pids nginx | paste -sd,)
perf record -F 999 "${callgraph[@]}" -p "$perf_pids" -o "$out/perf.data" >"$out/perf-record.log" 2>&1 &
aux_pids+=($!)
perf_pid=$!
sleep 0.5
line=$(run_wrk "$proxy" "$scenario" "$duration")
kill -INT "$perf_pid" 2>/dev/null || true
wait "$perf_pid" 2>/dev/null || true
say "under perf: $(field requests "$line") requests"
perf report -i "$out/perf.data" --no-children --percent-limit 0.3 --stdio -g none \
  --sort dso,symbol >"$out/perf-flat.txt" 2>/dev/null || true
perf report -i "$out/perf.data" --children --percent-limit 2 --stdio -g caller,0.5,callee,function,percent \
  >"$out/perf-callers.txt" 2>/dev/null || true
say "top of the flat profile (self time):"
awk '/^ +[0-9.]+%/ && n++ < 25 { sub(/ +[- ]*$/, ""); print }' "$out/perf-flat.txt" | tee -a "$summary"

# strace: counts of system calls over one run.
strace -c -f -q -p "$(proxy_pids "$proxy" | paste -sd,)" -o "$out/strace.txt" &
aux_pids+=($!)
strace_pid=$!
sleep 0.5
line=$(run_wrk "$proxy" "$scenario" "$duration")
kill -INT "$strace_pid" 2>/dev/null || true
wait "$strace_pid" 2>/dev/null || true
req=$(field requests "$line")
say "under strace: $req requests; system calls per request:"
awk -v r="$req" '$1 ~ /^[0-9.]+$/ && NF >= 5 { printf "  %-20s %8.3f\n", $NF, $4 / r }' \
  "$out/strace.txt" |
  sort -k2 -rn | tee -a "$summary"
echo "files in $out"
