#!/usr/bin/env bash
# bench/lb: tandem-lb against Debian's HAProxy and nginx (as a reverse proxy), side by side in
# one run, on loopback. Not a test: it prints figures.
#
# Set-up, all started here and killed by pid at the end:
#   backends  two nginx (worker_processes 1, access_log off) serving /small (64 bytes) and
#             /100k (102400 bytes), on core 1 (taskset);
#   proxies   tandem-lb and HAProxy read the same haproxy.cfg (an http frontend and a tcp
#             frontend, round robin over the two backends, idle server connections reused:
#             http-reuse safe, the default; no logs; maxconn 20000); nginx gets the equivalent
#             (upstream keepalive 32, proxy_http_version 1.1, Connection "", a stream{} block
#             for TCP). One thread / worker each (-t N for more), all on core 0 (cores 0-1
#             with -t 2 or more);
#   client    wrk -t2 -c50 with a Lua done() hook (bench/lb/report.lua), on core 1.
# Scenarios, each ROUNDS times, the proxies alternating (haproxy, tandem-lb, nginx, haproxy, ...):
#   ka     HTTP keep-alive, GET /small;
#   close  HTTP with a new connection per request (wrk -H 'Connection: close'), GET /small;
#   tcp    the tcp frontends (mode tcp), GET /100k kept alive through the tunnel.
# Per run: requests/s, p50 and p99 latency (wrk), and the proxy's CPU seconds per 100k requests
# (utime+stime of its process, for nginx master and workers, from /proc before and after).
# Memory: before the runs, after a 1 s warm-up, bench/lb/idle.py opens 10 000 keep-alive
# connections that each make one request and stay idle; the proxy's VmRSS (nginx: summed over
# its processes) before and after gives bytes per idle connection.
#
# Usage: bench/lb/run.sh BUILD_DIR [-t THREADS] [-d SECONDS] [-r ROUNDS] [-c CONNECTIONS]
#                        [-n IDLE] [-s "ka close tcp"] [-p "haproxy tandem-lb nginx"] [-q] [-m]
#                        [-B OTHER_BUILD_DIR]
#   -q  quick: 3 s runs, 1 round, 2000 idle connections;  -m  Markdown tables;
#   -B  also runs OTHER_BUILD_DIR's tandem-lb as "tandem-lb-b" (A/B of a change, same run).
# Defaults: 10 s runs, 2 rounds, 50 connections, 10 000 idle: about 4 minutes.
# Environment: KEEP=1 keeps the temporary directory (configs, logs, raw results);
#   B_GLOBAL="LINE" and B_DEFAULTS="LINE" add a line to the global or defaults section of
#   tandem-lb-b's haproxy.cfg (with -B, or with -B naming the same build: the A/B of a
#   setting, e.g. B_DEFAULTS="option splice-auto"); A_GLOBAL and A_DEFAULTS do the same for
#   tandem-lb's (e.g. both with "no busy-polling" for an A/B of builds without polling);
#   SPLICE=1 adds `option splice-auto` to
#   every proxy's defaults (HAProxy and tandem-lb then splice in TCP mode; by default both
#   copy).
set -euo pipefail

usage() { sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "bench/lb: $*" >&2; exit 1; }

build=${1:-}
[[ -n $build && $build != -* ]] || usage
shift
threads=1 duration=10 rounds=2 conns=50 idle=10000 markdown=0
scenarios="ka close tcp" proxies="haproxy tandem-lb nginx"
build_b=
while getopts "t:d:r:c:n:s:p:qmB:h" opt; do
  case $opt in
    t) threads=$OPTARG ;;
    d) duration=$OPTARG ;;
    r) rounds=$OPTARG ;;
    c) conns=$OPTARG ;;
    n) idle=$OPTARG ;;
    s) scenarios=$OPTARG ;;
    p) proxies=$OPTARG ;;
    q) duration=3 rounds=1 idle=2000 ;;
    m) markdown=1 ;;
    B) build_b=$OPTARG ;;
    *) usage ;;
  esac
done
for v in threads duration rounds conns idle; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 0 ]] || die "-$v wants a number, got '${!v}'"
done
((threads >= 1 && duration >= 1 && rounds >= 1 && conns >= 1)) || die "bad -t/-d/-r/-c"
for s in $scenarios; do [[ $s =~ ^(ka|close|tcp)$ ]] || die "unknown scenario '$s'"; done
[[ -n $build_b && $proxies != *tandem-lb-b* ]] && proxies+=" tandem-lb-b"
for p in $proxies; do
  [[ $p =~ ^(haproxy|tandem-lb|nginx|tandem-lb-b)$ ]] || die "unknown proxy '$p'"
done

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lb/lib.sh
source "$here/lib.sh"

raw=$tmp/raw.tsv
: >"$raw"
echo "tandem-lb: $lb_bin${lb_bin_b:+; tandem-lb-b: $lb_bin_b}; HAProxy $(haproxy -v | sed -n '1s/HAProxy version \([^ ]*\).*/\1/p');" \
  "nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'); wrk -t2 -c$conns, ${duration} s runs," \
  "$rounds round(s); proxies on CPU $proxy_cpus with $threads thread(s), wrk and backends on CPU $client_cpus"

# Warm-up, then memory with idle keep-alive connections.
for p in $proxies; do run_wrk "$p" ka 1 >/dev/null; done
if ((idle > 0)); then
  for p in $proxies; do
    sleep 1
    before=$(rss_kb "$p")
    coproc IDLE { exec taskset -c "$client_cpus" "$python" "$here/idle.py" \
      --port "${http_port[$p]}" -n "$idle" --deadline 120 2>>"$tmp/idle.log"; }
    # shellcheck disable=SC2153 # set by coproc
    idle_pid=$IDLE_PID
    read -r -t 150 _ opened <&"${IDLE[0]}" || opened=0
    sleep 1
    after=$(rss_kb "$p")
    echo >&"${IDLE[1]}"
    read -r -t 30 _ alive <&"${IDLE[0]}" || alive=0
    wait "$idle_pid" 2>/dev/null || true
    idle_pid=
    echo "mem $p ${opened:-0} $before $after ${alive:-0}" >>"$raw"
    echo "idle: $p ${opened:-0} connections opened, ${alive:-0} still open, RSS $before -> $after KB" >&2
    sleep 1 # let the proxy see the closes
  done
fi

# Each round starts with the next proxy: a run leaves thousands of sockets in TIME_WAIT for a
# minute, which make the next runs' connect(2) calls dearer, so a fixed order would favour the
# first proxy.
read -r -a order <<<"$proxies"
for s in $scenarios; do
  for ((r = 1; r <= rounds; r++)); do
    for ((i = 0; i < ${#order[@]}; i++)); do
      p=${order[$(((i + r - 1) % ${#order[@]}))]}
      [[ $s == tcp && $p == nginx && -z $ngx_stream ]] && continue
      t0=$(cpu_ticks "$p")
      line=$(run_wrk "$p" "$s" "$duration")
      t1=$(cpu_ticks "$p")
      if [[ -z $line ]]; then
        echo "run $s/$p/$r: wrk printed no result (see $tmp/wrk.log)" >&2
        continue
      fi
      errs=0
      for e in connect read write status timeout; do errs=$((errs + $(field "$e" "$line"))); done
      printf 'perf %s %s %d %s %s %s %s %d %d\n' "$s" "$p" "$r" "$(field requests "$line")" \
        "$(field duration_us "$line")" "$(field p50_us "$line")" "$(field p99_us "$line")" \
        "$errs" $((t1 - t0)) >>"$raw"
      echo "run $s/$p/$r: $(tail -1 "$raw")" >&2
    done
  done
done

echo
sum_args=()
((markdown)) && sum_args+=(--markdown)
"$python" "$here/summarize.py" "${sum_args[@]}" "$raw"
for p in $proxies; do
  v=pid_${p//-/_}
  kill -0 "${!v}" 2>/dev/null || echo "warning: $p died during the run (see $tmp/$p.log)" >&2
done
