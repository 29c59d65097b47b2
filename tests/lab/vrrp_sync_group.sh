#!/bin/bash
# vrrp_sync_group: two instances per node (one per VIP) move together. A failure that puts
# only VI_2 of the master node in FAULT takes VI_1 with it, so the other node holds both
# addresses; the group's notify scripts get keepalived's GROUP arguments.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 45
lab_add_hosts 2

write_conf() {  # write_conf N PEER PRIORITY
  vf_notify_scripts "$1"
  local inst
  {
    cat <<CONF
track_file vi2_down {
    file $LAB_DIR/down-$1
    weight 0
    init_file 0 overwrite
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    notify $LAB_DIR/notify-$1.sh
}
CONF
    for inst in 1 2; do
      cat <<CONF
vrrp_instance VI_$inst {
    interface eth0
    virtual_router_id 5$inst
    priority $3
    version 3
    advert_int 0.1
    unicast_src_ip $(lab_ip4 "$1")
    unicast_peer {
        $(lab_ip4 "$2")
    }
    virtual_ipaddress {
        198.18.0.10$inst/24 dev eth0
    }
    $([[ $inst == 2 ]] && echo "track_file { vi2_down }")
}
CONF
    done
  } >"$LAB_DIR/node$1.conf"
}
write_conf 1 2 200
write_conf 2 1 100
vf_start 1
vf_start 2
# both N STATE1 STATE2: VI_1 of node N is in STATE1 and VI_2 in STATE2.
both() { vf_is_state "$1" "$2" VI_1 && vf_is_state "$1" "$3" VI_2; }
vips=(198.18.0.101/24 198.18.0.102/24)
notified() { grep -qx "$2" "$LAB_DIR/notify-$1.log" 2>/dev/null; }

lab_wait_for "node 1 MASTER for both" 5 both 1 MASTER MASTER
lab_wait_for "node 2 BACKUP for both" 5 both 2 BACKUP BACKUP
lab_wait_for "both VIPs on node 1" 2 vf_has_addr 1 "${vips[@]}"
lab_wait_for "node 1's group notify MASTER" 2 notified 1 "GROUP G MASTER"

# Only VI_2 fails on node 1; the group takes VI_1 along.
echo 1 >"$LAB_DIR/down-1"
lab_wait_for "node 1 FAULT for both" 2 both 1 FAULT FAULT
lab_wait_for "node 2 MASTER for both" 2 both 2 MASTER MASTER
lab_wait_for "both VIPs on node 2" 2 vf_has_addr 2 "${vips[@]}"
lab_wait_for "no VIP left on node 1" 2 vf_no_addr 1 "${vips[@]}"
lab_wait_for "node 1's group notify FAULT" 2 notified 1 "GROUP G FAULT"
lab_wait_for "node 2's group notify MASTER" 2 notified 2 "GROUP G MASTER"

echo 0 >"$LAB_DIR/down-1"
lab_wait_for "node 1 MASTER for both again" 3 both 1 MASTER MASTER
lab_wait_for "node 2 BACKUP for both again" 2 both 2 BACKUP BACKUP
lab_wait_for "both VIPs back on node 1" 2 vf_has_addr 1 "${vips[@]}"
echo "vrrp sync group: all checks passed"
