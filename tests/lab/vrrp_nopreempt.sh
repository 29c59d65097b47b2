#!/bin/bash
# nopreempt (keepalived semantics: with state BACKUP on every node). VRRPv3 IPv4 multicast
# at 0.1 s. Node 1 (priority 100) runs alone and becomes master; node 2 (priority 150)
# joins later and must NOT take over: it stays BACKUP, the address stays on node 1. When
# node 1 stops (priority 0), node 2 takes over within its skew time + 100 ms; node 1 back
# stays BACKUP. 'state MASTER' with nopreempt is reported by -t as ignored.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 25
lab_add_hosts 2
vip=198.18.0.101
declare -A prio=([1]=100 [2]=150)

for n in 1 2; do
  vf_notify_scripts "$n"
  cat >"$LAB_DIR/node$n.conf" <<CONF
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    nopreempt
    virtual_router_id 63
    priority ${prio[$n]}
    version 3
    advert_int 0.1
    virtual_ipaddress {
        $vip/24 dev eth0
    }
$(vf_notify_conf "$n")
}
CONF
done

# keepalived clears nopreempt with state MASTER; tandem-vrrp says so.
sed 's/state BACKUP/state MASTER/' "$LAB_DIR/node1.conf" >"$LAB_DIR/master-nopreempt.conf"
out=$("$vf_bin/tandem-vrrp" -t -f "$LAB_DIR/master-nopreempt.conf" 2>&1) ||
  lab_fail "-t refused state MASTER with nopreempt: $out"
grep -q "nopreempt does not work with state MASTER" <<<"$out" ||
  lab_fail "-t gave no warning for state MASTER with nopreempt: $out"

vf_start 1
lab_wait_for "node 1 (100, alone) MASTER" 3 vf_is_state 1 MASTER
lab_wait_for "the VIP on node 1" 2 vf_has_addr 1 $vip/24
vf_start 2
lab_wait_for "node 2 (150) BACKUP" 3 vf_is_state 2 BACKUP
lab_wait_for "node 2 hears node 1's adverts" 3 vf_rx_at_least 2 3
# Observe: a preempting node would take over at the first advert it hears, 100 ms apart.
sleep 1
vf_is_state 1 MASTER || lab_fail "node 1 is $(vf_state 1) with a nopreempt node 2 around"
vf_is_state 2 BACKUP || lab_fail "node 2 (150, nopreempt) is $(vf_state 2): it preempted"
[[ $(vf_count 2 "Entering MASTER STATE") == 0 ]] || lab_fail "node 2 was master for a while"
vf_vip_only_on 1 $vip/24 1 2 || lab_fail "the VIP is not on node 1 only"
[[ $(vf_jq 2 '.instances[0].master') == "$(lab_ip4 1)" ]] || lab_fail "node 2 does not see node 1 as master"
lab_log "node 2 (150, nopreempt) joined and stayed BACKUP behind node 1 (100)"

# Node 1 stops: node 2 is the only backup; skew of 150 at 0.1 s is 41.4 ms.
t_stop=$(vf_now_ms)
kill -TERM "${VF_PID[1]}"
lab_wait_for "node 2 MASTER after node 1's stop" 3 vf_is_state 2 MASTER
takeover=$(($(vf_entered_ms 2 MASTER) - t_stop))
vf_within "graceful stop takeover by the nopreempt node" "$takeover" $((42 + 100))
lab_wait_for "node 1 exits" 5 vf_exited "${VF_PID[1]}"
lab_wait_for "the VIP on node 2 only" 2 vf_vip_only_on 2 $vip/24 1 2
vf_start 1
lab_wait_for "node 1 BACKUP on its return" 3 vf_is_state 1 BACKUP
lab_wait_for "node 1 hears node 2" 3 vf_rx_at_least 1 3
vf_is_state 2 MASTER || lab_fail "node 2 is $(vf_state 2) after node 1's return"

vf_expect_file "$LAB_DIR/notify-2.log" "notify_backup
INSTANCE VI_1 BACKUP 150
notify_master
INSTANCE VI_1 MASTER 150" "node 2"
echo "vrrp nopreempt: all checks passed"
