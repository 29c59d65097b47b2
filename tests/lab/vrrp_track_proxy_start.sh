#!/bin/bash
# A pair started together, the master with a weighted track_proxy (as examples/tandem): the
# master must not announce its lowered priority before its proxy's first probe, or the backup
# takes over for an instant and hands the address back (a flap at every start). Three rounds.
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
# The proxy stand-in on each node: a listener on loopback. Both nodes share the pid file
# name pattern, each its own file.
for n in 1 2; do
  lab_spawn "h$n" socat -u "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" /dev/null
  echo "$LAB_PID" >"$LAB_DIR/proxy$n.pid"
done
lab_wait_for "node 1's proxy listening" 3 vf_listening 1 $port
lab_wait_for "node 2's proxy listening" 3 vf_listening 2 $port
vf_unicast_conf 1 2 101 "    state MASTER
    track_proxy {
        lb weight -50
    }" "${tracked_proxy/proxy.pid/proxy1.pid}"
vf_unicast_conf 2 1 100 "    state BACKUP
    track_proxy {
        lb weight -50
    }" "${tracked_proxy/proxy.pid/proxy2.pid}"

for round in 1 2 3; do
  # The backup first: it is listening when the master's first advert goes out.
  vf_start 2
  vf_start 1
  lab_wait_for "node 1 MASTER (round $round)" 5 vf_is_state 1 MASTER
  lab_wait_for "node 2 BACKUP (round $round)" 5 vf_is_state 2 BACKUP
  sleep 0.5 # several advert intervals: a late flap would show
  if vf_logged 2 "Entering MASTER STATE"; then
    grep -E "STATE|track_proxy" "${VF_LOG[1]}" "${VF_LOG[2]}" >&2 || true
    lab_fail "round $round: node 2 became MASTER at start-up: node 1 announced its lowered priority"
  fi
  vf_logged 1 "waiting for the first verdict of track_proxy" ||
    lab_fail "node 1 did not wait for its proxy's first verdict"
  for n in 1 2; do
    kill -TERM "${VF_PID[$n]}"
    lab_wait_for "node $n's daemon gone" 5 vf_exited "${VF_PID[$n]}"
  done
  lab_log "round $round: no flap at start-up"
done
echo "vrrp track_proxy at start-up: all checks passed"
