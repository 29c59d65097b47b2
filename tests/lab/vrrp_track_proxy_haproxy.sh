#!/bin/bash
# track_proxy with a plain HAProxy (Debian's), through its stats socket: when the backend's
# only server goes DOWN in HAProxy's checks, the master leaves and the backup takes over;
# when HAProxy sees the server UP again, the master takes the address back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
command -v haproxy >/dev/null || lab_skip "haproxy is not installed (scripts/install-deps installs it)"
lab_init 45
lab_add_hosts 2
vip=198.18.0.100

cat >"$LAB_DIR/haproxy.cfg" <<CFG
global
    stats socket $LAB_DIR/haproxy.sock mode 600 level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:18081
    default_backend be
backend be
    server s1 127.0.0.1:18082 check inter 100 fall 1 rise 1
CFG
for n in 1 2; do
  peer=$((3 - n))
  cat >"$LAB_DIR/node$n.conf" <<CONF
track_proxy lb {
    stats_socket $LAB_DIR/haproxy.sock
    backend be
    listen 127.0.0.1:18081
    interval 0.1
    timeout 0.2
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $((n == 1 ? 200 : 100))
    version 3
    advert_int 0.1
    unicast_src_ip $(lab_ip4 "$n")
    unicast_peer {
        $(lab_ip4 "$peer")
    }
    virtual_ipaddress {
        $vip/24 dev eth0
    }
    $([[ $n == 1 ]] && echo "track_proxy { lb }")
}
CONF
done
start_server() {
  lab_spawn h1 socat -u TCP-LISTEN:18082,bind=127.0.0.1,fork,reuseaddr /dev/null
  SERVER=$LAB_PID
}
state_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"show state" | awk '$1 == "VI_1" {print $2}'; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
backend_is() {
  local out
  out=$(socat -t 2 - "UNIX-CONNECT:$LAB_DIR/haproxy.sock" <<<"show stat")
  grep -q "^be,BACKEND,.*,$1," <<<"$out"
}

start_server
lab_spawn h1 haproxy -db -f "$LAB_DIR/haproxy.cfg"
lab_wait_for "HAProxy's stats socket" 5 test -S "$LAB_DIR/haproxy.sock"
lab_wait_for "HAProxy sees be UP" 5 backend_is UP
for n in 1 2; do
  lab_spawn "h$n" "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node$n.conf" --control-socket "$LAB_DIR/node$n.sock"
done
lab_wait_for "node 1 MASTER (its HAProxy has a server UP)" 5 is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 is_state 2 BACKUP

kill -KILL "$SERVER"
lab_wait_for "HAProxy sees be DOWN" 3 backend_is DOWN
lab_wait_for "node 2 MASTER once node 1's backend is down" 2 is_state 2 MASTER
lab_wait_for "node 1 FAULT" 2 is_state 1 FAULT
grep -q "track_proxy lb: DOWN (backend be is DOWN)" "$(ls -t "$LAB_LOG_DIR"/h1-*tandem-vrrp.log | head -1)" ||
  lab_fail "node 1 did not say why"

start_server
lab_wait_for "HAProxy sees be UP again" 3 backend_is UP
lab_wait_for "node 1 MASTER again" 3 is_state 1 MASTER
echo "track_proxy with HAProxy's stats socket: all checks passed"
