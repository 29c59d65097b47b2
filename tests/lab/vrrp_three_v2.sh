#!/bin/bash
# Three tandem-vrrp nodes, VRRPv2 multicast with PASS authentication, advert_int 1,
# priorities 150/100/50: the highest is elected, the virtual address is on it only (read
# from every node), a fourth host sees its gratuitous ARP. The master's link goes down: it
# enters FAULT and drops the address, and the 100 (not the 50) takes over within its
# Master_Down_Interval + 100 ms, with a GARP from its own MAC. The link comes back: the 150
# preempts at the 100's next advert. Notify scripts (specific and generic) in order with
# keepalived's arguments; the JSON status has sane counters and the transitions list.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 35
lab_add_hosts 4 # h1..h3 VRRP nodes, h4 a bystander that listens for GARP
vip=198.18.0.100
declare -A prio=([1]=150 [2]=100 [3]=50)

for n in 1 2 3; do
  vf_notify_scripts "$n"
  cat >"$LAB_DIR/node$n.conf" <<CONF
global_defs {
    router_id node$n
}
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    virtual_router_id 61
    priority ${prio[$n]}
    version 2
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass s3cr3tpw
    }
    virtual_ipaddress {
        $vip/24 dev eth0
    }
$(vf_notify_conf "$n")
}
CONF
done

vf_tcpdump h4 -e -n -i eth0 -c 200 arp and host $vip
garp_log=$VF_TCPDUMP_LOG
garp_from() { grep -qE " $1 > ff:ff:ff:ff:ff:ff, .*Request who-has $vip .*tell $vip," "$garp_log"; }

vf_start 1
vf_start 2
vf_start 3
# All start as BACKUP: the 150's down timer (3 s + skew 414 ms) runs out first.
lab_wait_for "node 1 (150) MASTER" 6 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 2 vf_is_state 2 BACKUP
lab_wait_for "node 3 BACKUP" 2 vf_is_state 3 BACKUP
lab_wait_for "the VIP on node 1 only" 2 vf_vip_only_on 1 $vip/24 1 2 3
lab_wait_for "a GARP for $vip from node 1's MAC seen by h4" 3 garp_from 02:74:6c:00:00:01
[[ $(vf_jq 2 '.instances[0].master') == "$(lab_ip4 1)" ]] || lab_fail "node 2 does not see node 1 as master"
lab_log "election: node 1 MASTER with $vip, nodes 2 and 3 BACKUP, GARP seen on h4"
# A few adverts of the steady state, counted by both backups.
lab_wait_for "node 2 counts 2 adverts" 4 vf_rx_at_least 2 2
lab_wait_for "node 3 counts 2 adverts" 2 vf_rx_at_least 3 2

# Master death by link down. Node 2's Master_Down_Interval: 3 x 1 s + (256-100)/256 s.
mdi2=$(vf_jq 2 '.instances[0].master_down_interval_ms')
[[ $mdi2 == 3609 ]] || lab_fail "node 2's master_down_interval_ms is $mdi2, expected 3609"
t_down=$(vf_now_ms)
lab_link_down h1
lab_wait_for "node 1 FAULT (its interface is down)" 2 vf_is_state 1 FAULT
lab_wait_for "the VIP gone from node 1" 2 vf_no_addr 1 $vip/24
lab_wait_for "node 2 MASTER after node 1's link went down" 6 vf_is_state 2 MASTER
takeover=$(($(vf_entered_ms 2 MASTER) - t_down))
vf_within "link-down takeover by node 2" "$takeover" $((mdi2 + 100))
lab_wait_for "the VIP on node 2 only" 2 vf_vip_only_on 2 $vip/24 1 2 3
vf_is_state 3 BACKUP || lab_fail "node 3 (50) is $(vf_state 3), not BACKUP"
lab_wait_for "a GARP for $vip from node 2's MAC seen by h4" 3 garp_from 02:74:6c:00:00:02

# The link returns: node 1 leaves FAULT as BACKUP and preempts at node 2's next advert.
t_up=$(vf_now_ms)
lab_link_up h1
lab_wait_for "node 1 MASTER again (preemption)" 4 vf_is_state 1 MASTER
back=$(($(vf_entered_ms 1 MASTER) - t_up))
vf_within "preemption after link up" "$back" 1100
lab_wait_for "node 2 BACKUP again" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP back on node 1 only" 2 vf_vip_only_on 1 $vip/24 1 2 3

# No flapping and never the 50: the exact transitions of each node.
transitions() { vf_jq "$1" '[.instances[0].transitions[].to] | join(" ")'; }
[[ $(transitions 1) == "BACKUP MASTER FAULT BACKUP MASTER" ]] || lab_fail "node 1's transitions: $(transitions 1)"
[[ $(transitions 2) == "BACKUP MASTER BACKUP" ]] || lab_fail "node 2's transitions: $(transitions 2)"
[[ $(transitions 3) == "BACKUP" ]] || lab_fail "node 3's transitions: $(transitions 3)"

# Counters: the master sent, the backups received, nothing dropped (same password).
c() { vf_jq "$1" ".instances[0].counters.$2"; }
(($(c 1 adverts_tx) >= 2)) || lab_fail "node 1 adverts_tx $(c 1 adverts_tx)"
(($(c 2 adverts_rx) >= 3)) || lab_fail "node 2 adverts_rx $(c 2 adverts_rx)"
(($(c 3 adverts_rx) >= 3)) || lab_fail "node 3 adverts_rx $(c 3 adverts_rx)"
(($(c 2 adverts_tx) >= 1)) || lab_fail "node 2 adverts_tx $(c 2 adverts_tx) though it was master"
[[ $(c 3 adverts_tx) == 0 ]] || lab_fail "node 3 adverts_tx $(c 3 adverts_tx): it never was master"
[[ $(c 1 became_master) == 2 && $(c 1 released_master) == 1 ]] || lab_fail "node 1 became/released $(c 1 became_master)/$(c 1 released_master)"
[[ $(c 2 became_master) == 1 && $(c 2 released_master) == 1 ]] || lab_fail "node 2 became/released $(c 2 became_master)/$(c 2 released_master)"
for n in 1 2 3; do
  # Node 1's priority-0 advert on entering FAULT cannot leave (its link is down): one error.
  [[ $n == 1 ]] || [[ $(c "$n" send_errors) == 0 ]] || lab_fail "node $n: send_errors $(c "$n" send_errors)"
  [[ $(vf_jq "$n" '.instances[0].counters.dropped | length') == 0 ]] ||
    lab_fail "node $n dropped adverts: $(vf_jq "$n" '.instances[0].counters.dropped')"
  [[ $(c "$n" address_errors) == 0 ]] || lab_fail "node $n: address_errors $(c "$n" address_errors)"
done
lab_log "counters: node 1 tx $(c 1 adverts_tx), node 2 rx $(c 2 adverts_rx), node 3 rx $(c 3 adverts_rx)"

# Notify: the specific script, then the generic one with INSTANCE NAME STATE PRIORITY.
vf_expect_file "$LAB_DIR/notify-1.log" "notify_backup
INSTANCE VI_1 BACKUP 150
notify_master
INSTANCE VI_1 MASTER 150
notify_fault
INSTANCE VI_1 FAULT 150
notify_backup
INSTANCE VI_1 BACKUP 150
notify_master
INSTANCE VI_1 MASTER 150" "node 1"
vf_expect_file "$LAB_DIR/notify-2.log" "notify_backup
INSTANCE VI_1 BACKUP 100
notify_master
INSTANCE VI_1 MASTER 100
notify_backup
INSTANCE VI_1 BACKUP 100" "node 2"
vf_expect_file "$LAB_DIR/notify-3.log" "notify_backup
INSTANCE VI_1 BACKUP 50" "node 3"
echo "vrrp three nodes v2: all checks passed"
