#!/bin/bash
# SIGHUP on tandem-vrrp: an unchanged instance keeps running untouched (no transition, the
# virtual address never removed), a file with errors changes nothing, and a changed
# instance restarts with its new settings.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 45
lab_add_hosts 2
vip=198.18.0.100

vf_unicast_conf 1 2 200
vf_unicast_conf 2 1 100
vf_start 1
vf_start 2
lab_wait_for "node 1 MASTER" 5 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 vf_is_state 2 BACKUP
# Every address change on node 1 from now on.
lab_spawn h1 ip monitor address
monitor_log=$(ls -t "$LAB_LOG_DIR"/h1-*ip.log | head -1)
sleep 0.3  # let ip monitor subscribe before the reload (it prints nothing when ready)

before1=$(vf_count 1 "Entering")
before2=$(vf_count 2 "Entering")
kill -HUP "${VF_PID[1]}"
lab_wait_for "node 1 reloaded" 3 vf_logged 1 "kept \[VI_1\], restarted \[-\]"
sleep 0.5  # five advert intervals: long enough for any flap to show
[[ $(vf_count 1 "Entering") -eq $before1 ]] || lab_fail "node 1 changed state on an unchanged reload"
[[ $(vf_count 2 "Entering") -eq $before2 ]] || lab_fail "node 2 changed state during node 1's reload"
grep -q "Deleted.*$vip" "$monitor_log" && lab_fail "the VIP was removed during an unchanged reload"
vf_is_state 1 MASTER || lab_fail "node 1 is no longer MASTER"
lab_log "unchanged reload: no transition, the VIP stayed"

# A broken file: the running configuration stays.
cp "$LAB_DIR/node1.conf" "$LAB_DIR/node1.good"
echo "vrrp_instance VI_2 { priority 300" >>"$LAB_DIR/node1.conf"
kill -HUP "${VF_PID[1]}"
lab_wait_for "node 1 refuses the broken file" 3 vf_logged 1 "reload failed, still running"
vf_is_state 1 MASTER || lab_fail "node 1 lost MASTER over a broken reload"
lab_log "broken reload: refused, still MASTER"
cp "$LAB_DIR/node1.good" "$LAB_DIR/node1.conf"

# A changed instance restarts with its new priority and takes over.
vf_unicast_conf 2 1 250
kill -HUP "${VF_PID[2]}"
lab_wait_for "node 2 restarted its instance" 3 vf_logged 2 "restarted \[VI_1\]"
lab_wait_for "node 2 MASTER with priority 250" 3 vf_is_state 2 MASTER
lab_wait_for "node 1 BACKUP" 2 vf_is_state 1 BACKUP
lab_log "changed reload: node 2 restarted VI_1 at priority 250 and took over"
# The monitor does see a removal: node 1 lost the VIP just now. Without this, the check of
# the unchanged reload above could pass on a monitor that saw nothing.
lab_wait_for "ip monitor on h1 reporting the VIP's removal" 2 grep -q "Deleted.*$vip" "$monitor_log"
# SIGUSR1 writes the state as JSON where keepalived users look for it.
rm -f /tmp/tandem-vrrp.json
kill -USR1 "${VF_PID[1]}"
lab_wait_for "the SIGUSR1 dump" 2 grep -q "\"config\": \"$LAB_DIR/node1.conf\"" /tmp/tandem-vrrp.json
grep -q '"state": "BACKUP"' /tmp/tandem-vrrp.json || lab_fail "the dump does not show node 1's state"
rm -f /tmp/tandem-vrrp.json
echo "vrrp reload: all checks passed"
