#!/bin/bash
# VRRPv3 over IPv6 with unicast peers (the cloud case on IPv6): election, the virtual
# address on the master only, SIGKILL taken over within Master_Down_Interval + 100 ms.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
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
declare -A PID LOG
for n in 1 2; do
  lab_spawn "h$n" "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node$n.conf" --control-socket "$LAB_DIR/node$n.sock"
  PID[$n]=$LAB_PID
  LOG[$n]=$(ls -t "$LAB_LOG_DIR"/h"$n"-*tandem-vrrp.log | head -1)
done
state_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"show state" | awk '$1 == "VI_6" {print $2}'; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
has_vip() {
  local out
  out=$(lab_exec "h$1" ip -6 -o addr show dev eth0)
  grep -q " $vip/64" <<<"$out"
}
no_vip() { ! has_vip "$1"; }
now_ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }

lab_wait_for "node 1 MASTER" 5 is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 is_state 2 BACKUP
lab_wait_for "the VIP on node 1" 2 has_vip 1
no_vip 2 || lab_fail "the VIP is on the backup too"
# The version is 3 (IPv6) and nothing was dropped.
json=$(socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node2.sock" <<<"show state json")
grep -q '"version": 3' <<<"$json" || lab_fail "not VRRPv3: $json"
grep -q '"dropped": {}' <<<"$json" || lab_fail "adverts were dropped: $json"

t0=$(now_ms)
kill -KILL "${PID[1]}"
lab_wait_for "node 2 MASTER" 2 is_state 2 MASTER
line=$(grep "(VI_6) Entering MASTER STATE" "${LOG[2]}" | tail -1)
ts=${line%% *}
took=$(($(date -d "${ts/T/ } UTC" +%s%3N) - t0))
lab_log "IPv6 unicast: SIGKILL taken over in ${took} ms (bound 461 ms)"
((took <= 461)) || lab_fail "takeover took ${took} ms"
lab_wait_for "the VIP on node 2" 2 has_vip 2
echo "vrrp IPv6 unicast: all checks passed"
