#!/bin/bash
# vrrp_track_process, event-driven (the kernel's process events): the master tracks a
# process; when its last copy exits the master's priority falls below the backup's and the
# backup takes over at once; when it runs again the master takes the address back.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
lab_init 45
lab_add_hosts 2
vip=198.18.0.100
# A process name no one else on this machine runs (comm keeps 15 bytes).
proc=tdm${LAB_PREFIX: -8}
cp /bin/sleep "$LAB_DIR/$proc"

write_conf() {  # write_conf N PEER PRIORITY
  cat >"$LAB_DIR/node$1.conf" <<CONF
vrrp_track_process proxy {
    process $proc
    weight -60
    quorum 1
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $3
    version 3
    advert_int 0.1
    unicast_src_ip $(lab_ip4 "$1")
    unicast_peer {
        $(lab_ip4 "$2")
    }
    virtual_ipaddress {
        $vip/24 dev eth0
    }
    $([[ $1 == 1 ]] && echo "track_process { proxy }")
}
CONF
}
declare -A PID
start_node() {
  lab_spawn "h$1" "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node$1.conf" \
    --control-socket "$LAB_DIR/node$1.sock"
  PID[$1]=$LAB_PID
}
state_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"show state" | awk '$1 == "VI_1" {print $2}'; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
now_ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }

lab_spawn h1 "$LAB_DIR/$proc" 300
sleeper=$LAB_PID
write_conf 1 2 200
write_conf 2 1 150
start_node 1
start_node 2
lab_wait_for "node 1 MASTER (its process runs)" 5 is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 is_state 2 BACKUP

t0=$(now_ms)
kill -TERM "$sleeper"
lab_wait_for "node 2 MASTER after the process exited" 2 is_state 2 MASTER
lab_log "process gone: node 2 MASTER $(($(now_ms) - t0)) ms later (state read back by polling)"
grep -q "track_process proxy: 0 process(es) of $proc: DOWN" "$(ls -t "$LAB_LOG_DIR"/h1-*tandem-vrrp.log | head -1)" ||
  lab_fail "node 1 did not log the process going down"

lab_spawn h1 "$LAB_DIR/$proc" 300
lab_wait_for "node 1 MASTER again once the process runs" 3 is_state 1 MASTER
echo "vrrp track_process: all checks passed"
