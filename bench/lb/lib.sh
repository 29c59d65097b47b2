# bench/lb/lib.sh: the set-up shared by bench/lb/run.sh and bench/lb/profile.sh. Sourced, not
# run. Before sourcing, set: build (the build dir), threads, proxies ("haproxy tandem-lb nginx"),
# scenarios, idle (idle connections wanted, to size the file limit), conns (wrk connections);
# with "tandem-lb-b" among the proxies, build_b (a second build dir, for an A/B comparison).
# Sourcing checks the tools, makes $tmp (removed at exit unless KEEP=1, with every process
# started here killed by pid), writes the configs, starts the two nginx backends and the
# proxies in $proxies, and waits for them to listen. Then it offers: proxy_pids, cpu_ticks,
# rss_kb, url, run_wrk, field, and the pids pid_haproxy, pid_tandem_lb, pid_nginx, pid_tandem_lb_b.
# shellcheck shell=bash disable=SC2154

declare -F die >/dev/null || die() { echo "bench/lb: $*" >&2; exit 1; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lb_bin=$(cd "$build" 2>/dev/null && pwd)/src/app/tandem-lb
[[ -x $lb_bin ]] || die "no $lb_bin: build first"
lb_bin_b=
if [[ $proxies == *tandem-lb-b* ]]; then
  lb_bin_b=$(cd "${build_b:-}" 2>/dev/null && pwd)/src/app/tandem-lb
  [[ -x $lb_bin_b ]] || die "no $lb_bin_b: build the second tree first"
fi
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
lb_pids=()
idle_pid=
cleanup() {
  local p
  [[ -n $idle_pid ]] && kill "$idle_pid" 2>/dev/null
  for p in "${lb_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${lb_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free ports: bound together once by the kernel, then released.
read -r p_be1 p_be2 p_hap p_hapt p_tan p_tant p_ngx p_ngxt p_tanb p_tanbt < <("$python" -c '
import socket
ss = [socket.socket() for _ in range(10)]
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
  lb_pids+=($!)
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
hap_cfg() { # HTTP_PORT TCP_PORT [EXTRA GLOBAL LINE] [EXTRA DEFAULTS LINE]
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
  ${4:-}
  ${SPLICE:+option splice-auto}

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
hap_cfg "$p_tan" "$p_tant" "${A_GLOBAL:-}" "${A_DEFAULTS:-}" >"$tmp/tandem-lb.cfg"
hap_cfg "$p_tanb" "$p_tanbt" "${B_GLOBAL:-}" "${B_DEFAULTS:-}" >"$tmp/tandem-lb-b.cfg"

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
    tandem-lb-b) start tandem-lb-b "$proxy_cpus" "$lb_bin_b" -db -f "$tmp/tandem-lb-b.cfg" ;;
    nginx) start nginx "$proxy_cpus" nginx -p "$tmp/ngx" -c "$tmp/ngx/nginx.conf" ;;
  esac
done
wait_port "$p_be1" be1
wait_port "$p_be2" be2
declare -A http_port=([haproxy]=$p_hap [tandem-lb]=$p_tan [nginx]=$p_ngx [tandem-lb-b]=$p_tanb)
declare -A tcp_port=([haproxy]=$p_hapt [tandem-lb]=$p_tant [nginx]=$p_ngxt [tandem-lb-b]=$p_tanbt)
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
