#!/bin/bash
# VRRPv3 over IPv6 with unicast peers (the cloud case on IPv6): election, the virtual
# address on the master only, SIGKILL taken over within Master_Down_Interval + 100 ms.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 30
lab_add_hosts 2
vip=2001:db8::100

for n in 1 2; do
  peer=$((3 - n))
  cat >"$LAB_DIR/node$n.conf" <<CONF
vrrp_instance VI_6 {
    interface eth0
    virtual_router_id 61
    priority $((n == 1 ? 200 : 100))
    advert_int 0.1
    unicast_src_ip $(lab_ip6 "$n")
    unicast_peer {
        $(lab_ip6 "$peer")
    }
    virtual_ipaddress {
        $vip/64 dev eth0
    }
}
CONF
done
vf_start 1
vf_start 2

lab_wait_for "node 1 MASTER" 5 vf_is_state 1 MASTER VI_6
lab_wait_for "node 2 BACKUP" 5 vf_is_state 2 BACKUP VI_6
lab_wait_for "the VIP on node 1" 2 vf_has_addr 1 $vip/64
vf_no_addr 2 $vip/64 || lab_fail "the VIP is on the backup too"
# The version is 3 (IPv6) and nothing was dropped.
json=$(vf_ctl 2 "show state json")
grep -q '"version": 3' <<<"$json" || lab_fail "not VRRPv3: $json"
grep -q '"dropped": {}' <<<"$json" || lab_fail "adverts were dropped: $json"

t0=$(vf_now_ms)
kill -KILL "${VF_PID[1]}"
lab_wait_for "node 2 MASTER" 2 vf_is_state 2 MASTER VI_6
took=$(($(vf_entered_ms 2 MASTER VI_6) - t0))
vf_within "IPv6 unicast: SIGKILL takeover" "$took" 461
lab_wait_for "the VIP on node 2" 2 vf_has_addr 2 $vip/64
echo "vrrp IPv6 unicast: all checks passed"
