#!/bin/bash
# track_file, event-driven (inotify): the number in a file times its weight moves the
# master's priority; the master announces a lower priority at once, so the backup takes
# over within a round trip, and takes it back when the file reads 0 again. A weight-0
# file with a non-zero value puts the instance in FAULT.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 45
lab_add_hosts 2

# The track_file blocks of node N (weight -60 "drain" and weight 0 "down").
track_files() {
  cat <<CONF
track_file drain {
    file $LAB_DIR/drain-$1
    weight -60
    init_file 0 overwrite
}
track_file down {
    file $LAB_DIR/down-$1
    weight 0
    init_file 0 overwrite
}
CONF
}
prio_of() { vf_ctl "$1" "show state" | awk '$1 == "VI_1" {print $4}'; }
has_prio() { [[ $(prio_of "$1") == "$2" ]]; }

vf_unicast_conf 1 2 200 "    track_file {
        drain
        down
    }" "$(track_files 1)"
vf_unicast_conf 2 1 150 "" "$(track_files 2)"
vf_start 1
vf_start 2
lab_wait_for "node 1 MASTER" 5 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 vf_is_state 2 BACKUP
[[ $(cat "$LAB_DIR/drain-1") == 0 ]] || lab_fail "init_file did not write 0"

# 2 x -60: priority 80 < 150. The write is atomic (rename), as operators' tools do it.
t0=$(vf_now_ms)
echo 2 >"$LAB_DIR/drain-1.tmp" && mv "$LAB_DIR/drain-1.tmp" "$LAB_DIR/drain-1"
lab_wait_for "node 1 priority 80/200" 2 has_prio 1 80/200
lab_wait_for "node 2 MASTER" 2 vf_is_state 2 MASTER
took=$(($(vf_now_ms) - t0))
lab_log "drain file: node 2 took over ${took} ms after the write (state read back by polling)"
((took < 500)) || lab_fail "handover after the file changed took ${took} ms"

echo 0 >"$LAB_DIR/drain-1"
lab_wait_for "node 1 MASTER again" 2 vf_is_state 1 MASTER
lab_wait_for "node 1 priority 200/200" 2 has_prio 1 200/200

# weight 0: any non-zero value is FAULT.
echo 1 >"$LAB_DIR/down-1"
lab_wait_for "node 1 FAULT" 2 vf_is_state 1 FAULT
lab_wait_for "node 2 MASTER after node 1's fault" 2 vf_is_state 2 MASTER
echo 0 >"$LAB_DIR/down-1"
lab_wait_for "node 1 back and MASTER" 3 vf_is_state 1 MASTER
echo "vrrp track_file: all checks passed"
