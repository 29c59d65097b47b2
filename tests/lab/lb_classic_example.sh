#!/bin/bash
# The classic guide's haproxy.cfg (examples/classic/haproxy.cfg) served by tandem-lb as
# written: a frontend on port 80, five web servers at 198.18.1.1-5 with `option httpchk`,
# round robin, httplog to syslog. Only the syslog socket is changed, from /dev/log to one of
# the test's own (read by the test) and `daemon` is overridden by -db, as a service manager
# does. A client on another host sees the five servers in turn; a web server that dies is
# taken out by its health check and the client sees no failure after that.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
src=${TANDEM_SOURCE:?TANDEM_SOURCE must name the source tree}
command -v python3 >/dev/null || lab_skip "python3 is not installed"
command -v socat >/dev/null || lab_skip "socat is not installed (scripts/install-deps)"
lab_init 90
# h1: the load balancer; h2..h6: web1..web5; h7: the client.
lab_add_hosts 7
lb=$(lab_ip4 1)

sed "s|log /dev/log local0|log $LAB_DIR/log.sock local0|" "$src/examples/classic/haproxy.cfg" \
  >"$LAB_DIR/haproxy.cfg"
[[ $(diff "$src/examples/classic/haproxy.cfg" "$LAB_DIR/haproxy.cfg" | grep -c '^>') -eq 1 ]] ||
  lab_fail "the test changed more than the syslog socket"
"$bin/tandem-lb" -c -f "$LAB_DIR/haproxy.cfg" >/dev/null || lab_fail "tandem-lb -c refuses the example"

# The example's servers live on 198.18.1.0/24: web K answers there, and the balancer reaches
# that network over its eth0 (replies come back over 198.18.0.0/24).
lab_exec h1 ip route add 198.18.1.0/24 dev eth0
declare -A WEB_PID
for k in 1 2 3 4 5; do
  h=h$((k + 1))
  lab_exec "$h" ip addr add "198.18.1.$k/24" dev eth0
  mkdir -p "$LAB_DIR/www$k"
  echo "web$k" >"$LAB_DIR/www$k/index.html"
  lab_spawn "$h" python3 -m http.server 80 --bind "198.18.1.$k" --directory "$LAB_DIR/www$k"
  WEB_PID[$k]=$LAB_PID
done
web_up() { lab_exec h1 curl -fsS -m 1 -o /dev/null "http://198.18.1.$1/"; }
for k in 1 2 3 4 5; do lab_wait_for "web$k" 10 web_up "$k"; done

# The syslog socket: every datagram appended to a file.
lab_spawn h1 socat -u "UNIX-RECV:$LAB_DIR/log.sock" "OPEN:$LAB_DIR/syslog.txt,creat,append"
lab_wait_for "the syslog socket" 5 test -S "$LAB_DIR/log.sock"

lab_spawn h1 "$bin/tandem-lb" -db -f "$LAB_DIR/haproxy.cfg"
LB_PID=$LAB_PID
get() { lab_exec h7 curl -fsS -m 2 "http://$lb/"; }
lab_wait_for "tandem-lb serving" 10 get

# Round robin over five equal servers: ten requests see each server twice, in turn.
seq=""
for i in $(seq 10); do seq+="$(get) "; done
lab_log "servers in turn: $seq"
first=${seq%% *}
k=${first#web}
want=""
for i in $(seq 10); do
  want+="web$k "
  k=$((k % 5 + 1))
done
[[ $seq == "$want" ]] || lab_fail "round robin: got '$seq', wanted '$want'"

# httplog lines reach the syslog socket, in haproxy's format:
# <134>Nov 26 12:00:00 tandem-lb[PID]: 198.18.0.7:PORT [DATE] http_front http_back/webK 0/0/0/1/1 200 ... "GET / HTTP/1.1"
logged() { [[ $(grep -c 'http_front http_back/web[1-5] [0-9]*/[0-9]*/[0-9]*/[0-9]*/[0-9]* 200 .*"GET / HTTP/1.1"' "$LAB_DIR/syslog.txt" 2>/dev/null) -ge 10 ]]; }
lab_wait_for "ten httplog lines on the syslog socket" 5 logged
grep -q "^<134>" "$LAB_DIR/syslog.txt" || lab_fail "syslog lines are not local0.info (<134>): $(head -2 "$LAB_DIR/syslog.txt")"

# web3 dies: its health check (inter 2 s, fall 3) takes it out; after that, no request fails
# and none goes to web3.
kill -KILL "${WEB_PID[3]}"
down_logged() { grep -rq 'Server http_back/web3 is DOWN' "$LAB_LOG_DIR"; }
lab_wait_for "web3 marked DOWN" 15 down_logged
seq=""
for i in $(seq 8); do seq+="$(get) " || lab_fail "a request failed after web3 was DOWN"; done
lab_log "servers in turn without web3: $seq"
[[ $seq != *web3* ]] || lab_fail "web3 is DOWN but served: $seq"
[[ $(tr ' ' '\n' <<<"$seq" | sort -u | grep -c web) -eq 4 ]] || lab_fail "the four others should share the load: $seq"

kill -TERM "$LB_PID"
lab_wait_for "tandem-lb stopping on SIGTERM" 10 bash -c "! kill -0 $LB_PID 2>/dev/null"
lab_log "ok"
