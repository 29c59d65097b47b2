#!/bin/bash
# track_file, event-driven (inotify): the number in a file times its weight moves the
# master's priority; the master announces a lower priority at once, so the backup takes
# over within a round trip, and takes it back when the file reads 0 again. A weight-0
# file with a non-zero value puts the instance in FAULT.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
lab_init 45
lab_add_hosts 2
vip=198.18.0.100

write_conf() {  # write_conf N PEER PRIORITY EXTRA
  cat >"$LAB_DIR/node$1.conf" <<CONF
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
    track_file {
        drain
        down
    }
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
prio_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"show state" | awk '$1 == "VI_1" {print $4}'; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
has_prio() { [[ $(prio_of "$1") == "$2" ]]; }
now_ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }

write_conf 1 2 200
write_conf 2 1 150
start_node 1
start_node 2
lab_wait_for "node 1 MASTER" 5 is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 is_state 2 BACKUP
[[ $(cat "$LAB_DIR/drain-1") == 0 ]] || lab_fail "init_file did not write 0"

# 2 x -60: priority 80 < 150. The write is atomic (rename), as operators' tools do it.
t0=$(now_ms)
echo 2 >"$LAB_DIR/drain-1.tmp" && mv "$LAB_DIR/drain-1.tmp" "$LAB_DIR/drain-1"
lab_wait_for "node 1 priority 80/200" 2 has_prio 1 80/200
lab_wait_for "node 2 MASTER" 2 is_state 2 MASTER
took=$(($(now_ms) - t0))
lab_log "drain file: node 2 took over ${took} ms after the write (state read back by polling)"
((took < 500)) || lab_fail "handover after the file changed took ${took} ms"

echo 0 >"$LAB_DIR/drain-1"
lab_wait_for "node 1 MASTER again" 2 is_state 1 MASTER
lab_wait_for "node 1 priority 200/200" 2 has_prio 1 200/200

# weight 0: any non-zero value is FAULT.
echo 1 >"$LAB_DIR/down-1"
lab_wait_for "node 1 FAULT" 2 is_state 1 FAULT
lab_wait_for "node 2 MASTER after node 1's fault" 2 is_state 2 MASTER
echo 0 >"$LAB_DIR/down-1"
lab_wait_for "node 1 back and MASTER" 3 is_state 1 MASTER
echo "vrrp track_file: all checks passed"
