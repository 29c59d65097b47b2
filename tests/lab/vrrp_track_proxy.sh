#!/bin/bash
# track_proxy: the master watches its local proxy. When the proxy process dies (pidfd: seen
# at once) or its listener stops accepting (probed every 0.1 s), the master leaves with
# priority 0 and the backup takes over within its skew time, not Master_Down_Interval. A
# restarted proxy is found again through its pid file, and the master takes the address back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 45
lab_add_hosts 2
port=18080

tracked_proxy="track_proxy lb {
    pidfile $LAB_DIR/proxy.pid
    listen 127.0.0.1:$port
    interval 0.1
    timeout 0.1
}"
# The proxy stand-in: a listener on h1's loopback, and its pid file.
start_proxy() {
  lab_spawn h1 socat -u "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" /dev/null
  PROXY=$LAB_PID
  echo "$PROXY" >"$LAB_DIR/proxy.pid.tmp" && mv "$LAB_DIR/proxy.pid.tmp" "$LAB_DIR/proxy.pid"
}

start_proxy
lab_wait_for "the proxy listening" 3 vf_listening 1 $port
vf_unicast_conf 1 2 200 "    track_proxy { lb }" "$tracked_proxy"
vf_unicast_conf 2 1 100 "" "$tracked_proxy"
vf_start 1
vf_start 2
lab_wait_for "node 1 MASTER" 5 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 vf_is_state 2 BACKUP

# 1. The proxy process dies. Bound: node 2's skew (60.9 ms at 0.1 s) + 100 ms.
t0=$(vf_now_ms)
kill -KILL "$PROXY"
lab_wait_for "node 2 MASTER after the proxy's death" 2 vf_is_state 2 MASTER
took=$(($(vf_entered_ms 2 MASTER) - t0))
vf_within "proxy death: takeover by node 2" "$took" 161
lab_wait_for "node 1 FAULT" 2 vf_is_state 1 FAULT

# 2. A new proxy process (new pid in the pid file): node 1 takes the address back.
start_proxy
lab_wait_for "node 1 MASTER with the proxy back" 3 vf_is_state 1 MASTER

# 3. The process lives but its listener is gone: a pid file naming a process that listens
#    on nothing. The probe (every 0.1 s) notices within interval + timeout.
lab_spawn h1 sleep 300
echo "$LAB_PID" >"$LAB_DIR/proxy.pid.tmp" && mv "$LAB_DIR/proxy.pid.tmp" "$LAB_DIR/proxy.pid"
t0=$(vf_now_ms)
kill -KILL "$PROXY"
lab_wait_for "node 2 MASTER after the listener closed" 2 vf_is_state 2 MASTER
# Bound: probe interval 100 + timeout 100 + skew 61 + 100 ms.
took=$(($(vf_entered_ms 2 MASTER) - t0))
vf_within "listener gone: takeover by node 2" "$took" 361
vf_logged 1 "track_proxy lb: DOWN (listener 127.0.0.1:$port: " ||
  lab_fail "node 1 did not say the listener failed"
echo "vrrp track_proxy: all checks passed"
