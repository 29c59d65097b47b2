#!/bin/bash
# track_proxy with a plain HAProxy (Debian's), through its stats socket: when the backend's
# only server goes DOWN in HAProxy's checks, the master leaves and the backup takes over;
# when HAProxy sees the server UP again, the master takes the address back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

command -v haproxy >/dev/null || lab_skip "haproxy is not installed (scripts/install-deps installs it)"
lab_init 45
lab_add_hosts 2
VF_VIP=198.18.0.100/24

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
tracked_proxy="track_proxy lb {
    stats_socket $LAB_DIR/haproxy.sock
    backend be
    listen 127.0.0.1:18081
    interval 0.1
    timeout 0.2
}"
vf_unicast_conf 1 2 200 "    track_proxy { lb }" "$tracked_proxy"
vf_unicast_conf 2 1 100 "" "$tracked_proxy"
start_server() {
  lab_spawn h1 socat -u TCP-LISTEN:18082,bind=127.0.0.1,fork,reuseaddr /dev/null
  SERVER=$LAB_PID
}
backend_is() {
  local out
  out=$(socat -t 2 - "UNIX-CONNECT:$LAB_DIR/haproxy.sock" <<<"show stat")
  grep -q "^be,BACKEND,.*,$1," <<<"$out"
}

start_server
lab_spawn h1 haproxy -db -f "$LAB_DIR/haproxy.cfg"
lab_wait_for "HAProxy's stats socket" 5 test -S "$LAB_DIR/haproxy.sock"
lab_wait_for "HAProxy sees be UP" 5 backend_is UP
vf_start 1
vf_start 2
lab_wait_for "node 1 MASTER (its HAProxy has a server UP)" 5 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 vf_is_state 2 BACKUP

kill -KILL "$SERVER"
lab_wait_for "HAProxy sees be DOWN" 3 backend_is DOWN
lab_wait_for "node 2 MASTER once node 1's backend is down" 2 vf_is_state 2 MASTER
lab_wait_for "node 1 FAULT" 2 vf_is_state 1 FAULT
vf_logged 1 "track_proxy lb: DOWN (backend be is DOWN)" ||
  lab_fail "node 1 did not say why"

start_server
lab_wait_for "HAProxy sees be UP again" 3 backend_is UP
lab_wait_for "node 1 MASTER again" 3 vf_is_state 1 MASTER
echo "track_proxy with HAProxy's stats socket: all checks passed"
