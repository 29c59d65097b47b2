#!/bin/bash
# Two tandem-vrrp nodes, VRRPv3 over IPv6 multicast (ff02::12) at 0.1 s, virtual address
# 2001:db8::100/64: election, the address on the master only (ip -6 addr on each node), the
# unsolicited neighbour advertisement seen by a third host, master death (SIGKILL) taken
# over within Master_Down_Interval + 100 ms (with an NA from the new master's MAC),
# preemption back, and a graceful stop taken over within the skew time + 100 ms.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 25
lab_add_hosts 3 # h1, h2 VRRP nodes; h3 listens for neighbour advertisements
vip=2001:db8::100
declare -A prio=([1]=150 [2]=100)

for n in 1 2; do
  vf_notify_scripts "$n"
  cat >"$LAB_DIR/node$n.conf" <<CONF
global_defs {
    router_id node$n
}
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    virtual_router_id 62
    priority ${prio[$n]}
    version 3
    advert_int 0.1
    virtual_ipaddress {
        $vip/64 dev eth0
    }
$(vf_notify_conf "$n")
}
CONF
done

vf_tcpdump h3 -e -n -i eth0 -c 200 'icmp6 and ip6[40] == 136'
na_log=$VF_TCPDUMP_LOG
na_from() { grep -qE " $1 > 33:33:00:00:00:01, .* > ff02::1: ICMP6, neighbor advertisement, tgt is $vip," "$na_log"; }

vf_start 1
vf_start 2
lab_wait_for "node 1 (150) MASTER" 3 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP on node 1 only" 2 vf_vip_only_on 1 $vip/64 1 2
lab_wait_for "an unsolicited NA for $vip from node 1's MAC seen by h3" 3 na_from 02:74:6c:00:00:01
[[ $(vf_jq 1 '.instances[0].version') == 3 && $(vf_jq 1 '.instances[0].mode') == multicast ]] ||
  lab_fail "node 1 runs $(vf_jq 1 '.instances[0] | "v\(.version) \(.mode)"')"
# Adverts come from the link-local address; the backup knows who the master is.
ll1=$(lab_exec h1 ip -6 -o addr show dev eth0 scope link | awk '{print $4}' | cut -d/ -f1)
[[ $(vf_jq 2 '.instances[0].master') == "$ll1" ]] ||
  lab_fail "node 2 sees master $(vf_jq 2 '.instances[0].master'), not node 1's $ll1"
lab_wait_for "node 2 counts 5 adverts" 3 vf_rx_at_least 2 5
lab_log "election: node 1 MASTER with $vip, node 2 BACKUP, NA seen on h3"

# Master death by SIGKILL: no priority-0 advert. MDI = 3 x 100 ms + (256-100) x 100/256 ms.
mdi2=$(vf_jq 2 '.instances[0].master_down_interval_ms')
[[ $mdi2 == 360 ]] || lab_fail "node 2's master_down_interval_ms is $mdi2, expected 360"
t_kill=$(vf_now_ms)
kill -KILL "${VF_PID[1]}"
lab_wait_for "node 2 MASTER after node 1's death" 3 vf_is_state 2 MASTER
takeover=$(($(vf_entered_ms 2 MASTER) - t_kill))
vf_within "SIGKILL takeover (v3 IPv6)" "$takeover" $((mdi2 + 1 + 100))
lab_wait_for "the VIP on node 2" 2 vf_has_addr 2 $vip/64
lab_wait_for "an unsolicited NA for $vip from node 2's MAC seen by h3" 3 na_from 02:74:6c:00:00:02
# A SIGKILLed node leaves its address behind (as keepalived would); remove it as an operator.
lab_exec h1 ip -6 addr del $vip/64 dev eth0

# Node 1 returns and preempts; then it stops gracefully (priority 0): skew time only.
vf_start 1
lab_wait_for "node 1 MASTER again (preemption)" 3 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP again" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP back on node 1 only" 2 vf_vip_only_on 1 $vip/64 1 2
skew_ms=61 # (256-100) x 100 ms / 256 = 60.9 ms
t_stop=$(vf_now_ms)
kill -TERM "${VF_PID[1]}"
lab_wait_for "node 2 MASTER after node 1's graceful stop" 3 vf_is_state 2 MASTER
takeover=$(($(vf_entered_ms 2 MASTER) - t_stop))
vf_within "graceful stop takeover (v3 IPv6)" "$takeover" $((skew_ms + 100))
lab_wait_for "node 1 exits" 5 vf_exited "${VF_PID[1]}"
vf_vip_only_on 2 $vip/64 1 2 || lab_fail "the VIP is not on node 2 only after node 1's stop"
[[ $(vf_jq 2 '.instances[0].counters.priority_zero_rx') -ge 1 ]] || lab_fail "node 2 counted no priority-0 advert"

vf_expect_file "$LAB_DIR/notify-2.log" "notify_backup
INSTANCE VI_1 BACKUP 100
notify_master
INSTANCE VI_1 MASTER 100
notify_backup
INSTANCE VI_1 BACKUP 100
notify_master
INSTANCE VI_1 MASTER 100" "node 2"
echo "vrrp v3 IPv6 multicast: all checks passed"
