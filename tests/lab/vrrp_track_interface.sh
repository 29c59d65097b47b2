#!/bin/bash
# track_interface: node 1 (priority 150) tracks two extra interfaces made in its namespace,
# node 2 (100) none; VRRPv3 IPv4 multicast at 0.1 s. The interfaces are veth pairs with both
# ends inside h1 (trkN and trkNp), since some kernels (this machine's) have no dummy driver.
#   trk1 with weight -60: admin down lowers node 1 to 90, it announces that at once and node 2
#     preempts (bound 100 ms after 'ip link set down'); up again: 150, and node 1 preempts
#     at node 2's next advert (bound advert interval + 100 ms).
#   trk0 without weight: losing carrier (its peer trk0p set down) is FAULT, the address
#     goes, node 2 takes over within its skew time + 100 ms (priority-0 advert); carrier
#     back: BACKUP, then preemption. Deleting the interface is FAULT too.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 25
lab_add_hosts 2
vip=198.18.0.103
for d in trk0 trk1; do
  lab_exec h1 ip link add $d type veth peer name ${d}p
  lab_exec h1 ip link set ${d}p up
  lab_exec h1 ip link set $d up
done

for n in 1 2; do
  vf_notify_scripts "$n"
  {
    cat <<CONF
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    virtual_router_id 65
    priority $((n == 1 ? 150 : 100))
    version 3
    advert_int 0.1
    virtual_ipaddress {
        $vip/24 dev eth0
    }
$(vf_notify_conf "$n")
CONF
    if [[ $n == 1 ]]; then
      printf '    track_interface {\n        trk0\n        trk1 weight -60\n    }\n'
    fi
    echo "}"
  } >"$LAB_DIR/node$n.conf"
done
tracked_up() { vf_jq 1 ".instances[0].tracked[] | select(.name == \"$1\") | .up"; }

vf_start 1
vf_start 2
lab_wait_for "node 1 (150) MASTER" 3 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP on node 1 only" 2 vf_vip_only_on 1 $vip/24 1 2
[[ $(vf_prio 1) == 150 && $(tracked_up trk0) == true && $(tracked_up trk1) == true ]] ||
  lab_fail "node 1 at start: priority $(vf_prio 1), tracked $(vf_jq 1 '.instances[0].tracked')"

# --- trk1, weight -60: admin down
t0=$(vf_now_ms)
lab_exec h1 ip link set trk1 down
lab_wait_for "node 2 MASTER after trk1 went down" 3 vf_is_state 2 MASTER
vf_within "weight -60 interface down: takeover" $(($(vf_entered_ms 2 MASTER) - t0)) 100
lab_wait_for "node 1 BACKUP" 2 vf_is_state 1 BACKUP
[[ $(vf_prio 1) == 90 && $(tracked_up trk1) == false ]] ||
  lab_fail "node 1 with trk1 down: priority $(vf_prio 1), tracked $(vf_jq 1 '.instances[0].tracked')"
lab_wait_for "the VIP on node 2 only" 2 vf_vip_only_on 2 $vip/24 1 2
t1=$(vf_now_ms)
lab_exec h1 ip link set trk1 up
lab_wait_for "node 1 MASTER after trk1 came up" 3 vf_is_state 1 MASTER
vf_within "weight -60 interface up: preemption" $(($(vf_entered_ms 1 MASTER) - t1)) 200
lab_wait_for "node 2 BACKUP again" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP back on node 1 only" 2 vf_vip_only_on 1 $vip/24 1 2

# --- trk0, no weight: carrier lost is FAULT
t2=$(vf_now_ms)
lab_exec h1 ip link set trk0p down
lab_wait_for "node 1 FAULT after trk0 went down" 2 vf_is_state 1 FAULT
lab_wait_for "node 2 MASTER after node 1's FAULT" 2 vf_is_state 2 MASTER
vf_within "weight 0 interface down: takeover (FAULT, priority 0)" $(($(vf_entered_ms 2 MASTER) - t2)) $((61 + 100))
lab_wait_for "the VIP gone from node 1, on node 2 only" 2 vf_vip_only_on 2 $vip/24 1 2
[[ $(tracked_up trk0) == false ]] || lab_fail "node 1's JSON does not show trk0 down"
lab_exec h1 ip link set trk0p up
lab_wait_for "node 1 MASTER after trk0 came up" 3 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP again" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP back on node 1 only" 2 vf_vip_only_on 1 $vip/24 1 2

# --- a tracked interface that disappears is down too
lab_exec h1 ip link del trk0
lab_wait_for "node 1 FAULT after trk0 was deleted" 2 vf_is_state 1 FAULT
lab_wait_for "node 2 MASTER after node 1's FAULT" 2 vf_is_state 2 MASTER
lab_wait_for "the VIP gone from node 1, on node 2 only" 2 vf_vip_only_on 2 $vip/24 1 2

vf_expect_file "$LAB_DIR/notify-1.log" "notify_backup
INSTANCE VI_1 BACKUP 150
notify_master
INSTANCE VI_1 MASTER 150
notify_backup
INSTANCE VI_1 BACKUP 90
notify_master
INSTANCE VI_1 MASTER 150
notify_fault
INSTANCE VI_1 FAULT 150
notify_backup
INSTANCE VI_1 BACKUP 150
notify_master
INSTANCE VI_1 MASTER 150
notify_fault
INSTANCE VI_1 FAULT 150" "node 1"
echo "vrrp track_interface: all checks passed"
