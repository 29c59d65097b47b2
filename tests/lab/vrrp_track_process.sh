#!/bin/bash
# vrrp_track_process, event-driven (the kernel's process events): the master tracks a
# process; when its last copy exits the master's priority falls below the backup's and the
# backup takes over at once; when it runs again the master takes the address back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 45
lab_add_hosts 2
# A process name no one else on this machine runs (comm keeps 15 bytes).
proc=tdm${LAB_PREFIX: -8}
cp /bin/sleep "$LAB_DIR/$proc"

tracked_process="vrrp_track_process proxy {
    process $proc
    weight -60
    quorum 1
}"

lab_spawn h1 "$LAB_DIR/$proc" 300
sleeper=$LAB_PID
vf_unicast_conf 1 2 200 "    track_process { proxy }" "$tracked_process"
vf_unicast_conf 2 1 150 "" "$tracked_process"
vf_start 1
vf_start 2
lab_wait_for "node 1 MASTER (its process runs)" 5 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 vf_is_state 2 BACKUP

t0=$(vf_now_ms)
kill -TERM "$sleeper"
lab_wait_for "node 2 MASTER after the process exited" 2 vf_is_state 2 MASTER
lab_log "process gone: node 2 MASTER $(($(vf_now_ms) - t0)) ms later (state read back by polling)"
vf_logged 1 "track_process proxy: 0 process(es) of $proc: DOWN" ||
  lab_fail "node 1 did not log the process going down"

lab_spawn h1 "$LAB_DIR/$proc" 300
lab_wait_for "node 1 MASTER again once the process runs" 3 vf_is_state 1 MASTER
echo "vrrp track_process: all checks passed"
