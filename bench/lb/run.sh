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
#   -q  quick: 3 s runs, 1 round, 2000 idle connections;  -m  Markdown tables.
# Defaults: 10 s runs, 2 rounds, 50 connections, 10 000 idle: about 4 minutes.
# Environment: KEEP=1 keeps the temporary directory (configs, logs, raw results).
set -euo pipefail

usage() { sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "bench/lb: $*" >&2; exit 1; }

build=${1:-}
[[ -n $build && $build != -* ]] || usage
shift
threads=1 duration=10 rounds=2 conns=50 idle=10000 markdown=0
scenarios="ka close tcp" proxies="haproxy tandem-lb nginx"
while getopts "t:d:r:c:n:s:p:qmh" opt; do
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
    *) usage ;;
  esac
done
for v in threads duration rounds conns idle; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 0 ]] || die "-$v wants a number, got '${!v}'"
done
((threads >= 1 && duration >= 1 && rounds >= 1 && conns >= 1)) || die "bad -t/-d/-r/-c"
for s in $scenarios; do [[ $s =~ ^(ka|close|tcp)$ ]] || die "unknown scenario '$s'"; done
for p in $proxies; do [[ $p =~ ^(haproxy|tandem-lb|nginx)$ ]] || die "unknown proxy '$p'"; done

here=$(cd "$(dirname "$0")" && pwd)
lb_bin=$(cd "$build" 2>/dev/null && pwd)/src/app/tandem-lb
[[ -x $lb_bin ]] || die "no $lb_bin: build first"
for tool in wrk haproxy nginx python3 taskset; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps)"
done
python=$(command -v python3)
[[ -x /usr/bin/python3 ]] && python=/usr/bin/python3
stream_mod=/usr/lib/nginx/modules/ngx_stream_module.so
if [[ $proxies == *nginx* && $scenarios == *tcp* && ! -f $stream_mod ]]; then
  echo "note: no $stream_mod (package libnginx-mod-stream): nginx skips the tcp scenario" >&2
fi

ncpu=$(nproc)
if ((ncpu >= 2)); then
  client_cpus=$((ncpu - 1))
  if ((threads == 1)); then proxy_cpus=0; else proxy_cpus=0-$((threads < ncpu ? threads - 1 : ncpu - 1)); fi
else
  client_cpus=0 proxy_cpus=0
fi

# Raise the file limit for the proxies (20 000 connections) and the idle client, as far as the
# hard limit allows.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= idle + 1000)) || {
  echo "note: file limit $(ulimit -n): idle connections cut to $(($(ulimit -n) - 1000))" >&2
  idle=$(($(ulimit -n) - 1000))
}

tmp=$(mktemp -d /tmp/bench-lb.XXXXXX)
chmod 755 "$tmp" # nginx workers run as nobody and read the files below
pids=()
idle_pid=
cleanup() {
  local p
  [[ -n $idle_pid ]] && kill "$idle_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free ports: bound together once by the kernel, then released.
read -r p_be1 p_be2 p_hap p_hapt p_tan p_tant p_ngx p_ngxt < <("$python" -c '
import socket
ss = [socket.socket() for _ in range(8)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

mkdir -p "$tmp/www"
head -c 64 /dev/zero | tr '\0' 'x' >"$tmp/www/small"
head -c 102400 /dev/zero | tr '\0' 'y' >"$tmp/www/100k"
chmod 644 "$tmp/www/"*

start() { # NAME CPUS CMD...: starts CMD pinned to CPUS, output to $tmp/NAME.log
  local name=$1 cpus=$2
  shift 2
  taskset -c "$cpus" "$@" >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_${name//-/_}=$!"
}

wait_port() { # PORT NAME
  local i
  for ((i = 0; i < 100; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  cat "$tmp/$2.log" >&2
  die "$2 does not listen on 127.0.0.1:$1"
}

for b in 1 2; do
  port_var=p_be$b
  mkdir -p "$tmp/be$b/logs"
  cat >"$tmp/be$b/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/be$b/nginx.pid;
error_log $tmp/be$b/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http {
  access_log off;
  default_type application/octet-stream;
  keepalive_timeout 120s;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:${!port_var} backlog=4096;
    root $tmp/www;
  }
}
EOF
  start "be$b" "$client_cpus" nginx -p "$tmp/be$b" -c "$tmp/be$b/nginx.conf"
done

# One haproxy.cfg for HAProxy and tandem-lb; only the ports differ.
hap_cfg() { # HTTP_PORT TCP_PORT [EXTRA GLOBAL LINE]
  cat <<EOF
global
  nbthread $threads
  maxconn 20000
  ${3:-}

defaults
  mode http
  maxconn 20000
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  http-reuse safe

frontend fe_http
  bind 127.0.0.1:$1 backlog 4096
  default_backend be_http

backend be_http
  balance roundrobin
  server s1 127.0.0.1:$p_be1
  server s2 127.0.0.1:$p_be2

frontend fe_tcp
  mode tcp
  bind 127.0.0.1:$2 backlog 4096
  default_backend be_tcp

backend be_tcp
  mode tcp
  balance roundrobin
  server s1 127.0.0.1:$p_be1
  server s2 127.0.0.1:$p_be2
EOF
}
# HAProxy wants 2 files per maxconn and refuses to start when it cannot raise the limit that
# far; "no strict-limits" lets it run within a lower hard limit (20 000 here is plenty for
# 10 000 idle clients and a few server connections).
hap_cfg "$p_hap" "$p_hapt" "no strict-limits" >"$tmp/haproxy.cfg"
hap_cfg "$p_tan" "$p_tant" >"$tmp/tandem-lb.cfg"

mkdir -p "$tmp/ngx/logs"
ngx_stream=
if [[ -f $stream_mod ]]; then
  ngx_stream="load_module $stream_mod;"
fi
{
  echo "$ngx_stream"
  cat <<EOF
worker_processes $threads;
daemon off;
pid $tmp/ngx/nginx.pid;
error_log $tmp/ngx/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_timeout 120s;
  keepalive_requests 10000000;
  upstream be_http {
    server 127.0.0.1:$p_be1;
    server 127.0.0.1:$p_be2;
    keepalive 32;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:$p_ngx backlog=4096;
    location / {
      proxy_pass http://be_http;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  if [[ -n $ngx_stream ]]; then
    cat <<EOF
stream {
  upstream be_tcp {
    server 127.0.0.1:$p_be1;
    server 127.0.0.1:$p_be2;
  }
  server {
    listen 127.0.0.1:$p_ngxt backlog=4096;
    proxy_pass be_tcp;
    proxy_timeout 120s;
  }
}
EOF
  fi
} >"$tmp/ngx/nginx.conf"

for p in $proxies; do
  case $p in
    haproxy) start haproxy "$proxy_cpus" haproxy -db -f "$tmp/haproxy.cfg" ;;
    tandem-lb) start tandem-lb "$proxy_cpus" "$lb_bin" -db -f "$tmp/tandem-lb.cfg" ;;
    nginx) start nginx "$proxy_cpus" nginx -p "$tmp/ngx" -c "$tmp/ngx/nginx.conf" ;;
  esac
done
wait_port "$p_be1" be1
wait_port "$p_be2" be2
declare -A http_port=([haproxy]=$p_hap [tandem-lb]=$p_tan [nginx]=$p_ngx)
declare -A tcp_port=([haproxy]=$p_hapt [tandem-lb]=$p_tant [nginx]=$p_ngxt)
for p in $proxies; do
  wait_port "${http_port[$p]}" "$p"
  if [[ $p != nginx || -n $ngx_stream ]]; then wait_port "${tcp_port[$p]}" "$p"; fi
done

proxy_pids() { # PROXY: the pid and, for nginx, its workers
  local v=pid_${1//-/_}
  echo "${!v}"
  cat /proc/"${!v}"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true
}
cpu_ticks() { # PROXY: utime+stime of all its threads and processes, in clock ticks
  local sum=0 p f
  for p in $(proxy_pids "$1"); do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) } # fields from the 3rd on; utime and stime are the 14th and 15th
    read -r -a a <<<"$f"
    sum=$((sum + a[11] + a[12]))
  done
  echo "$sum"
}
rss_kb() { # PROXY: VmRSS summed over its processes
  local sum=0 p kb
  for p in $(proxy_pids "$1"); do
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    sum=$((sum + ${kb:-0}))
  done
  echo "$sum"
}

url() { # PROXY SCENARIO
  case $2 in
    ka | close) echo "http://127.0.0.1:${http_port[$1]}/small" ;;
    tcp) echo "http://127.0.0.1:${tcp_port[$1]}/100k" ;;
  esac
}
run_wrk() { # PROXY SCENARIO SECONDS: prints wrk's RESULT line
  local extra=()
  [[ $2 == close ]] && extra=(-H "Connection: close")
  timeout $(($3 + 30)) taskset -c "$client_cpus" wrk -t2 -c"$conns" -d"$3s" --latency \
    -s "$here/report.lua" "${extra[@]}" "$(url "$1" "$2")" 2>&1 | tee -a "$tmp/wrk.log" |
    grep '^RESULT' || true
}
field() { sed -n "s/.*[ ]$1=\([0-9]*\).*/\1/p" <<<"$2"; }

raw=$tmp/raw.tsv
: >"$raw"
echo "tandem-lb: $lb_bin; HAProxy $(haproxy -v | sed -n '1s/HAProxy version \([^ ]*\).*/\1/p');" \
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

for s in $scenarios; do
  for ((r = 1; r <= rounds; r++)); do
    for p in $proxies; do
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
