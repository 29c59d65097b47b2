#!/bin/bash
# bench/pair: the classic two-node cloud load balancer against tandem's, side by side in one
# run, measured by a client. Not a test: it prints figures (and a Markdown table with -m).
#
# The lab: h1 = node A (priority 101, state MASTER), h2 = node B (100, BACKUP), h3 and h4 =
# web servers (nginx-light, a 3-byte file), h5 = the client. Each node runs a proxy (bind *:80,
# round robin over h3 and h4, checks every second) and one VRRP daemon with unicast adverts
# that carries the virtual address 198.18.0.100. The set-ups:
#   classic  Debian's HAProxy and keepalived 2.2.7 with the classic check script, on each node
#              vrrp_script chk_haproxy { script "/usr/bin/killall -0 hapA" interval 1 fall 2 weight -20 }
#            VRRPv2 at advert_int 1 and VRRPv3 at 0.1;
#   tandem   tandem-lb and tandem-vrrp, as examples/tandem ships them: the same keepalived.conf
#            but track_proxy instead of the script (tandem-lb by its pid file, its listener
#            127.0.0.1:80 probed every 0.1 s, and its backend "be" asked over its stats socket:
#            a server must be UP; weight -50: a master whose proxy fails lowers its priority
#            and the backup preempts at once), VRRPv2 at 1 s and VRRPv3 at 0.1 s and 0.02 s.
# Why "hapA": killall (and pidof) look at every process of the machine, not only those of the
# node's network namespace: "killall -0 haproxy" on node A would find node B's HAProxy and
# never fail. So each node runs its own copy of /usr/sbin/haproxy named after it ($LAB_DIR/hapA,
# $LAB_DIR/hapB) and checks that name, as a real node (which sees only its own processes)
# checks "haproxy".
#
# The faults, ROUNDS times each (default 3) per set-up and interval, each from a steady pair
# (A master with the address, B backup) with the client running:
#   proxy  the master's HAProxy killed with SIGKILL;
#   node   the master node dies: its link goes down;
#   stop   the master's VRRP daemon stopped gracefully (SIGTERM).
# Then the set-up is repaired (HAProxy restarted, link up, daemon restarted) and the script
# waits for A to be master again; this failback is measured too, as the client sees it
# (rows "failback: ..."; FAILBACK=0 skips measuring it).
#
# The client (bench/pair/client.py, on h5) opens a new connection to the address every 5 ms
# and sends a GET; a request fails when its whole 200 answer has not arrived within 0.5 s
# (a SYN lost to a node without the address costs a 1 s retransmission: an outage for the
# client). It runs from 0.3 s before the fault until the backup holds the address and the
# client has had 0.75 s of answers in a row (at most SETTLE_MAX=10 s), and 1.5 s more.
# Per round:
#   outage  the longest gap, in start times, between two successful requests with only failed
#           ones between them (0 when none failed; resolution 5 ms);
#   failed  the number of failed requests.
#
# Usage: bench/pair/run.sh BUILD_DIR [-m]      (root; traffic stays inside the lab)
# Variants (not in the default list): tandemf (tandem, but track_proxy without a weight: a
# failed proxy puts the master in FAULT and it sends a priority-0 advert; the backup then waits
# its skew time, 0.61 s at 1 s), tandemb (tandem-vrrp as in tandem in front of Debian's
# HAProxy, whose stats socket answers the backend question the same way), tandemh (tandemb
# without the backend question: pid file and listener only).
# Environment: ROUNDS=N (default 3); QUICK=1 (one round, 0.1 s and 0.02 s only, about 1 min);
# SETUPS="classic:2:1 classic:3:0.1 tandem:2:1 tandem:3:0.1 tandem:3:0.02" (set-up:version:
# interval); FAULTS="proxy node stop"; FAILBACK=1; SETTLE_MAX=10; REQ_INTERVAL=0.005; REQ_TIMEOUT=0.5.
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR [-m]}
markdown=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/lab/lib.sh
source "$here/../../tests/lab/lib.sh"
src_bin=$(cd "$build" && pwd)/src/app
QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  ROUNDS=${ROUNDS:-1}
  SETUPS=${SETUPS:-"classic:3:0.1 tandem:3:0.1 tandem:3:0.02"}
else
  ROUNDS=${ROUNDS:-3}
  SETUPS=${SETUPS:-"classic:2:1 classic:3:0.1 tandem:2:1 tandem:3:0.1 tandem:3:0.02"}
fi
FAULTS=${FAULTS:-"proxy node stop"}
REQ_INTERVAL=${REQ_INTERVAL:-0.005}
REQ_TIMEOUT=${REQ_TIMEOUT:-0.5}
FAILBACK=${FAILBACK:-1}
SETTLE_MAX=${SETTLE_MAX:-10}

lab_check
for tool in keepalived haproxy nginx python3 killall socat; do
  command -v "$tool" >/dev/null || lab_skip "$tool is not installed (scripts/install-deps)"
done
[[ -x $src_bin/tandem-vrrp ]] || lab_fail "no $src_bin/tandem-vrrp: build first"
python=$(command -v python3)
[[ -x /usr/bin/python3 ]] && python=/usr/bin/python3

lab_init "${LAB_TIMEOUT:-1500}"
lab_add_hosts 5
vip=198.18.0.100
# A copy of the binary: a build running next to the benchmark must not replace it mid-run.
cp "$src_bin/tandem-vrrp" "$LAB_DIR/tandem-vrrp"
tandem=$LAB_DIR/tandem-vrrp
keepalived=$(command -v keepalived)
now() { echo "${EPOCHREALTIME/,/.}"; }

# --- web servers: nginx-light on h3 and h4 --------------------------------------------------
for n in 3 4; do
  d=$LAB_DIR/web$n
  mkdir -p "$d/www" "$d/tmp"
  printf 'ok\n' >"$d/www/ok.txt"
  cat >"$d/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen $(lab_ip4 $n):80 reuseport;
        root $d/www;
    }
}
CONF
  lab_spawn "h$n" nginx -p "$d" -c "$d/nginx.conf"
done
web_up() { lab_exec h5 curl -fsS -m 1 -o /dev/null "http://$(lab_ip4 "$1")/ok.txt"; }
lab_wait_for "web server h3" 10 web_up 3
lab_wait_for "web server h4" 10 web_up 4

# --- the proxies on h1 and h2 ---------------------------------------------------------------
# HAProxy runs as hapA/hapB, tandem-lb as lbA/lbB (copies: a build running beside the
# benchmark must not replace the binary mid-run). Each set-up starts the kind it needs.
declare -A PROXY_PID NAME=([1]=A [2]=B)
PROXY_KIND=""
[[ -x $src_bin/tandem-lb ]] || lab_fail "no $src_bin/tandem-lb: build first"
cp "$src_bin/tandem-lb" "$LAB_DIR/tandem-lb"
for n in 1 2; do
  cp /usr/sbin/haproxy "$LAB_DIR/hap${NAME[$n]}"
  cp "$src_bin/tandem-lb" "$LAB_DIR/lb${NAME[$n]}"
  for kind in hap lb; do
    cat >"$LAB_DIR/$kind${NAME[$n]}.cfg" <<CFG
global
    maxconn 4000
    stats socket $LAB_DIR/$kind${NAME[$n]}.sock mode 600 level admin
defaults
    mode http
    option http-server-close
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    retries 2
    option redispatch
frontend fe
    bind *:80
    default_backend be
backend be
    balance roundrobin
    server w1 $(lab_ip4 3):80 check inter 1s
    server w2 $(lab_ip4 4):80 check inter 1s
CFG
  done
done
# proxy_name N: the proxy binary's name on node N for the current kind (hapA, lbB, ...).
proxy_name() { echo "$PROXY_KIND${NAME[$1]}"; }
# start_proxy N: the node's proxy in the foreground; its pid file written (atomically) by us,
# as a service manager would.
start_proxy() {
  local n=$1 name
  name=$(proxy_name "$1")
  lab_spawn "h$n" "$LAB_DIR/$name" -db -f "$LAB_DIR/$name.cfg"
  PROXY_PID[$n]=$LAB_PID
  echo "$LAB_PID" >"$LAB_DIR/proxy$n.pid.tmp" && mv "$LAB_DIR/proxy$n.pid.tmp" "$LAB_DIR/proxy$n.pid"
  lab_wait_for "$name listening" 10 proxy_up "$n"
}
proxy_up() { lab_exec "h$1" curl -fsS -m 1 -o /dev/null "http://127.0.0.1/ok.txt"; }
# use_proxies KIND: both nodes run KIND (hap or lb), restarting them when the kind changes.
use_proxies() {
  [[ $1 == "$PROXY_KIND" ]] && return 0
  local n
  for n in 1 2; do
    if [[ -n ${PROXY_PID[$n]:-} ]]; then
      kill -TERM "${PROXY_PID[$n]}" 2>/dev/null || true
      lab_wait_for "node $n's proxy gone" 10 exited "${PROXY_PID[$n]}"
    fi
  done
  PROXY_KIND=$1
  start_proxy 1
  start_proxy 2
}

# --- VRRP daemons -----------------------------------------------------------------------------
SETUP="" VERSION="" INTERVAL=""
declare -A VR_PID VR_LOG
RUN=0

# write_conf N: node N's keepalived.conf for the current set-up.
write_conf() {
  local n=$1 peer=$((3 - $1)) name before="" track=""
  name=$(proxy_name "$1")
  if [[ $SETUP == classic ]]; then
    before="vrrp_script chk_haproxy {
    script \"/usr/bin/killall -0 $name\"
    interval 1
    fall 2
    weight -20
}"
    track="    track_script {
        chk_haproxy
    }"
  else
    # The backend question over the proxy's stats socket, except in tandemh; tandemf: no
    # weight, so a master whose proxy fails leaves (FAULT) instead of lowering its priority.
    before="track_proxy lb {
    pidfile $LAB_DIR/proxy$n.pid
    listen 127.0.0.1:80
$(if [[ $SETUP != tandemh ]]; then printf '    stats_socket %s\n    backend be' "$LAB_DIR/$name.sock"; fi)
    interval 0.1
    timeout 0.1
}"
    track="    track_proxy {
        lb$(if [[ $SETUP != tandemf ]]; then echo " weight -50"; fi)
    }"
  fi
  cat >"$LAB_DIR/$SETUP-node$n.conf" <<CONF
global_defs {
    router_id node${NAME[$n]}
    script_user root
}
$before
vrrp_instance VI_1 {
    interface eth0
    state $([[ $n == 1 ]] && echo MASTER || echo BACKUP)
    virtual_router_id 51
    priority $([[ $n == 1 ]] && echo 101 || echo 100)
    version $VERSION
    advert_int $INTERVAL
    unicast_src_ip $(lab_ip4 "$n")
    unicast_peer {
        $(lab_ip4 "$peer")
    }
    virtual_ipaddress {
        $vip/24 dev eth0
    }
$track
}
CONF
}

# start_vrrp N: node N's daemon, in the foreground, with pid files in the run's directory.
start_vrrp() {
  local n=$1
  RUN=$((RUN + 1))
  if [[ $SETUP == classic ]]; then
    lab_spawn "h$n" "$keepalived" -n -l -D -G --vrrp -f "$LAB_DIR/$SETUP-node$n.conf" \
      -p "$LAB_DIR/ka$RUN.pid" -r "$LAB_DIR/ka$RUN-vrrp.pid"
  else
    lab_spawn "h$n" "$tandem" -n -l -f "$LAB_DIR/$SETUP-node$n.conf" -p "$LAB_DIR/td$RUN.pid" \
      --control-socket "$LAB_DIR/td$RUN.sock"
  fi
  VR_PID[$n]=$LAB_PID
  VR_LOG[$n]=$LAB_LOG_DIR/h$n-${#LAB_PIDS[@]}-${keepalived##*/}.log
  [[ $SETUP == classic ]] || VR_LOG[$n]=$LAB_LOG_DIR/h$n-${#LAB_PIDS[@]}-tandem-vrrp.log
}
exited() { ! kill -0 "$1" 2>/dev/null; }
stop_vrrp() {
  kill -TERM "${VR_PID[$1]}" 2>/dev/null || true
  lab_wait_for "node $1's VRRP daemon gone" 10 exited "${VR_PID[$1]}"
}
# The state node N's daemon logged last (both log "(VI_1) Entering MASTER STATE").
last_state() { sed -n 's/.*(VI_1) Entering \([A-Z]*\) STATE.*/\1/p' "${VR_LOG[$1]}" | tail -1; }
has_vip() {
  local out
  out=$(lab_exec "h$1" ip -4 -o addr show dev eth0) || return 1
  grep -q " $vip/24 " <<<"$out"
}
# Steady: A master with the address, B backup without it, both proxies answering.
steady() {
  has_vip 1 && ! has_vip 2 && [[ $(last_state 1) == MASTER && $(last_state 2) == BACKUP ]] &&
    proxy_up 1 && proxy_up 2
}
wait_steady() {
  lab_wait_for "A master, B backup ($SETUP v$VERSION $INTERVAL s)" 30 steady
  # Let the new master's gratuitous ARPs and the client's ARP cache settle.
  sleep "$(awk -v i="$INTERVAL" 'BEGIN {print (2 * i > 0.3 ? 2 * i : 0.3)}')"
}
unvip() { lab_exec "h$1" ip addr del "$vip/24" dev eth0 2>/dev/null || true; }

# --- one round ------------------------------------------------------------------------------
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
max() { sort -n | tail -1; }
ok_lines() { [[ $(grep -c ' ok ' "$1" 2>/dev/null || true) -ge $2 ]]; }
# client_settled: the client's last 150 answers (0.75 s of requests) all succeeded. A timeout
# is written 0.5 s after its request started, so a run of them shows up within this tail.
client_settled() {
  local tail
  tail=$(tail -n 150 "$CLIENT_LOG")
  [[ $(wc -l <<<"$tail") -ge 150 ]] && ! grep -q ' fail ' <<<"$tail"
}
# client_wait_settled: the client answered again, or SETTLE_MAX seconds have passed (then the
# round is marked "not recovered"); then 1.5 s more for late failures to show.
client_wait_settled() {
  lab_poll "$SETTLE_MAX" client_settled || true
  sleep 1.5
}

declare -A OUT FAIL NOTE
ORDER=()
# client_start KEY R: the client on h5, once it has 60 answers (0.3 s).
client_start() {
  CLIENT_LOG=$LAB_DIR/client-$1-$2.txt
  lab_spawn h5 "$python" "$here/client.py" run "$vip" 80 "$REQ_INTERVAL" "$REQ_TIMEOUT" 60 "$CLIENT_LOG"
  CLIENT=$LAB_PID
  lab_wait_for "the client's first answers" 10 ok_lines "$CLIENT_LOG" 60
}
# client_end KEY R WHAT T_EVENT: stop the client, analyse its log, record the round.
client_end() {
  local key=$1 r=$2 what=$3 t=$4 res outage failed total pre maxlat rec
  kill -TERM "$CLIENT" 2>/dev/null || true
  lab_wait_for "the client ending" 5 exited "$CLIENT"
  read -r outage failed total pre maxlat rec < <("$python" "$here/client.py" analyze "$CLIENT_LOG" "$t" "$REQ_TIMEOUT")
  res="outage ${outage} ms, ${failed} failed of ${total} requests, slowest success ${maxlat} ms"
  ((pre == 0)) || { res+=", $pre failed BEFORE the event"; NOTE[$key]+=" failures before the event;"; }
  ((rec == 1)) || { res+=", NOT recovered at the end"; NOTE[$key]+=" not recovered in the window;"; }
  echo "$SETUP v$VERSION ${INTERVAL}s $what round $r: $res"
  OUT[$key]+="$outage "
  FAIL[$key]+="$failed "
}

# round FAULT R: the fault on A, measured until B holds the address and the client is served
# again; then (unless FAILBACK=0) the repair, measured until A is master and the client served.
round() {
  local fault=$1 r=$2 key=$SETUP-$VERSION-$INTERVAL-$1 t
  client_start "$key" "$r"
  t=$(now)
  case $fault in
    proxy) kill -KILL "${PROXY_PID[1]}" ;;
    node) lab_link_down h1 ;;
    stop) kill -TERM "${VR_PID[1]}" ;;
  esac
  lab_wait_for "B taking the address over ($key)" 30 has_vip 2
  client_wait_settled
  client_end "$key" "$r" "$fault" "$t"
  [[ $fault != stop ]] || lab_wait_for "A's daemon gone" 10 exited "${VR_PID[1]}"
  # The repair: A comes back and takes the address back (preemption).
  [[ $FAILBACK == 1 ]] && client_start "$key-back" "$r"
  t=$(now)
  case $fault in
    proxy) start_proxy 1 ;;
    node) lab_link_up h1 ;;
    stop) start_vrrp 1 ;;
  esac
  wait_steady
  if [[ $FAILBACK == 1 ]]; then
    client_wait_settled
    client_end "$SETUP-$VERSION-$INTERVAL-back_$fault" "$r" "back after $fault" "$t"
  fi
}

for s in $SETUPS; do
  IFS=: read -r SETUP VERSION INTERVAL <<<"$s"
  case $SETUP in
    classic | tandemh | tandemb) use_proxies hap ;;
    tandem | tandemf) use_proxies lb ;;
    *) lab_fail "unknown set-up $SETUP (classic, tandem, tandemf, tandemh, tandemb)" ;;
  esac
  write_conf 1
  write_conf 2
  start_vrrp 1
  start_vrrp 2
  wait_steady
  for fault in $FAULTS; do
    ORDER+=("$SETUP-$VERSION-$INTERVAL-$fault")
    [[ $FAILBACK == 1 ]] && ORDER+=("$SETUP-$VERSION-$INTERVAL-back_$fault")
    for ((r = 1; r <= ROUNDS; r++)); do round "$fault" "$r"; done
  done
  stop_vrrp 1
  stop_vrrp 2
  unvip 1
  unvip 2
done

# --- results --------------------------------------------------------------------------------
fault_name() {
  case $1 in
    proxy) echo "proxy killed (SIGKILL)" ;;
    node) echo "node dies (link down)" ;;
    stop) echo "VRRP daemon stopped (SIGTERM)" ;;
    back_proxy) echo "failback: proxy restarted" ;;
    back_node) echo "failback: link up" ;;
    back_stop) echo "failback: VRRP daemon restarted" ;;
  esac
}
echo
echo "== summary (client-observed; $ROUNDS rounds each; request every ${REQ_INTERVAL} s, timeout ${REQ_TIMEOUT} s)"
rows=()
for key in "${ORDER[@]}"; do
  IFS=- read -r setup version interval fault <<<"$key"
  # shellcheck disable=SC2086 # lists of numbers
  med=$(printf '%s\n' ${OUT[$key]} | median)
  # shellcheck disable=SC2086
  mx=$(printf '%s\n' ${OUT[$key]} | max)
  fl=$(echo "${FAIL[$key]}" | xargs | sed 's/ /, /g')
  echo "$setup v$version ${interval}s $fault: outage median ${med} ms, max ${mx} ms; failed requests per round: $fl${NOTE[$key]:+ (NOTE:${NOTE[$key]})}"
  case $setup in
    classic) who="HAProxy + keepalived + \`killall -0\` script" ;;
    tandem) who="tandem-lb + tandem-vrrp, track_proxy weight -50" ;;
    tandemf) who="tandem-lb + tandem-vrrp, track_proxy without weight (FAULT)" ;;
    tandemh) who="HAProxy + tandem-vrrp, track_proxy weight -50 without backend check" ;;
    tandemb) who="HAProxy + tandem-vrrp, track_proxy weight -50" ;;
    *) who=$setup ;;
  esac
  rows+=("| $who | v$version, $interval s | $(fault_name "$fault") | $med | $mx | $fl | ${NOTE[$key]:-} |")
done
if [[ $markdown == -m ]]; then
  echo
  echo "| set-up | VRRP, advert interval | fault on the master | outage, median (ms) | outage, max (ms) | failed requests per round | notes |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
fi
