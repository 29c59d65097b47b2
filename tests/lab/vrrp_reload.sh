#!/bin/bash
# SIGHUP on tandem-vrrp: an unchanged instance keeps running untouched (no transition, the
# virtual address never removed), a file with errors changes nothing, and a changed
# instance restarts with its new settings.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
lab_init 45
lab_add_hosts 2
vip=198.18.0.100

write_conf() {  # write_conf N PEER PRIORITY
  cat >"$LAB_DIR/node$1.conf" <<CONF
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
}
CONF
}
declare -A PID LOG
start_node() {
  lab_spawn "h$1" "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node$1.conf" \
    --control-socket "$LAB_DIR/node$1.sock"
  PID[$1]=$LAB_PID
  LOG[$1]=$(ls -t "$LAB_LOG_DIR"/h"$1"-*tandem-vrrp.log | head -1)
}
state_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"show state" | awk '$1 == "VI_1" {print $2}'; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
count() { grep -c -- "$2" "${LOG[$1]}" || true; }
logged() { grep -q -- "$2" "${LOG[$1]}"; }

write_conf 1 2 200
write_conf 2 1 100
start_node 1
start_node 2
lab_wait_for "node 1 MASTER" 5 is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 is_state 2 BACKUP
# Every address change on node 1 from now on.
lab_spawn h1 ip monitor address
monitor_log=$(ls -t "$LAB_LOG_DIR"/h1-*ip.log | head -1)
sleep 0.3  # let ip monitor subscribe before the reload (it prints nothing when ready)

before1=$(count 1 "Entering")
before2=$(count 2 "Entering")
kill -HUP "${PID[1]}"
lab_wait_for "node 1 reloaded" 3 logged 1 "kept \[VI_1\], restarted \[-\]"
sleep 0.5  # five advert intervals: long enough for any flap to show
[[ $(count 1 "Entering") -eq $before1 ]] || lab_fail "node 1 changed state on an unchanged reload"
[[ $(count 2 "Entering") -eq $before2 ]] || lab_fail "node 2 changed state during node 1's reload"
grep -q "Deleted.*$vip" "$monitor_log" && lab_fail "the VIP was removed during an unchanged reload"
is_state 1 MASTER || lab_fail "node 1 is no longer MASTER"
lab_log "unchanged reload: no transition, the VIP stayed"

# A broken file: the running configuration stays.
cp "$LAB_DIR/node1.conf" "$LAB_DIR/node1.good"
echo "vrrp_instance VI_2 { priority 300" >>"$LAB_DIR/node1.conf"
kill -HUP "${PID[1]}"
lab_wait_for "node 1 refuses the broken file" 3 logged 1 "reload failed, still running"
is_state 1 MASTER || lab_fail "node 1 lost MASTER over a broken reload"
lab_log "broken reload: refused, still MASTER"
cp "$LAB_DIR/node1.good" "$LAB_DIR/node1.conf"

# A changed instance restarts with its new priority and takes over.
write_conf 2 1 250
kill -HUP "${PID[2]}"
lab_wait_for "node 2 restarted its instance" 3 logged 2 "restarted \[VI_1\]"
lab_wait_for "node 2 MASTER with priority 250" 3 is_state 2 MASTER
lab_wait_for "node 1 BACKUP" 2 is_state 1 BACKUP
lab_log "changed reload: node 2 restarted VI_1 at priority 250 and took over"
# The monitor does see a removal: node 1 lost the VIP just now. Without this, the check of
# the unchanged reload above could pass on a monitor that saw nothing.
lab_wait_for "ip monitor on h1 reporting the VIP's removal" 2 grep -q "Deleted.*$vip" "$monitor_log"
# SIGUSR1 writes the state as JSON where keepalived users look for it.
rm -f /tmp/tandem-vrrp.json
kill -USR1 "${PID[1]}"
lab_wait_for "the SIGUSR1 dump" 2 grep -q "\"config\": \"$LAB_DIR/node1.conf\"" /tmp/tandem-vrrp.json
grep -q '"state": "BACKUP"' /tmp/tandem-vrrp.json || lab_fail "the dump does not show node 1's state"
rm -f /tmp/tandem-vrrp.json
echo "vrrp reload: all checks passed"
