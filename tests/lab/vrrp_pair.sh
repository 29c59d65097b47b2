#!/bin/bash
# Two tandem-vrrp nodes, VRRPv3 unicast at 0.1 s (the cloud case): election, the virtual
# address on the master only, notify scripts in order with keepalived's arguments, master
# death (SIGKILL) taken over within Master_Down_Interval + 100 ms, preemption back, and a
# graceful stop taken over within the skew time + 100 ms. A third host sees the GARP.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
lab_init 60
lab_add_hosts 3
vip=198.18.0.100

# write_conf N PEER PRIORITY: node N's keepalived.conf, and its notify script.
write_conf() {
  local n=$1 peer=$2 prio=$3
  cat >"$LAB_DIR/notify-$n.sh" <<SH
#!/bin/sh
echo "\$*" >> $LAB_DIR/notify-$n.log
SH
  chmod 755 "$LAB_DIR/notify-$n.sh"
  cat >"$LAB_DIR/node$n.conf" <<CONF
global_defs {
    router_id node$n
}
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    virtual_router_id 51
    priority $prio
    version 3
    advert_int 0.1
    unicast_src_ip $(lab_ip4 "$n")
    unicast_peer {
        $(lab_ip4 "$peer")
    }
    virtual_ipaddress {
        $vip/24 dev eth0
    }
    notify $LAB_DIR/notify-$n.sh
}
CONF
}

start_node() {  # start_node N: sets NODE_PID[N]
  lab_spawn "h$1" "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node$1.conf" \
    --control-socket "$LAB_DIR/node$1.sock"
  NODE_PID[$1]=$LAB_PID
  NODE_LOG[$1]=$(ls -t "$LAB_LOG_DIR"/h"$1"-*tandem-vrrp.log | head -1)
}

has_vip() {  # reads the whole listing first: grep -q could end ip early (SIGPIPE)
  local out
  out=$(lab_exec "h$1" ip -4 -o addr show dev eth0)
  grep -q " $vip/24" <<<"$out"
}
no_vip() { ! has_vip "$1"; }
exited() { ! kill -0 "$1" 2>/dev/null; }
lines_at_least() { [[ -f $1 && $(wc -l <"$1") -ge $2 ]]; }
state_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"show state" | awk '$1 == "VI_1" {print $2}'; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
# ms since the epoch of the last "Entering MASTER STATE" line in node N's log.
master_since_ms() {
  local line ts
  line=$(grep "(VI_1) Entering MASTER STATE" "${NODE_LOG[$1]}" | tail -1)
  ts=${line%% *}
  date -d "${ts/T/ } UTC" +%s%3N
}
now_ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }

declare -A NODE_PID NODE_LOG
write_conf 1 2 200
write_conf 2 1 100
# A third host listens for the gratuitous ARP of whoever becomes master.
lab_spawn h3 tcpdump -l -n -i eth0 -c 50 arp and host $vip
garp_pid=$LAB_PID
lab_wait_for "tcpdump on h3 listening" 5 grep -q "listening on" "$(ls -t "$LAB_LOG_DIR"/h3-*tcpdump.log | head -1)"

start_node 1
start_node 2
lab_wait_for "node 1 MASTER" 5 is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 5 is_state 2 BACKUP
lab_wait_for "the VIP on node 1" 2 has_vip 1
has_vip 2 && lab_fail "the VIP is on the backup too"
lab_wait_for "a gratuitous ARP for $vip seen by h3" 3 \
  grep -qE "Request who-has $vip .*tell $vip" "$(ls -t "$LAB_LOG_DIR"/h3-*tcpdump.log | head -1)"
lab_log "election: node 1 MASTER with $vip, node 2 BACKUP, GARP seen on h3"
# tandem status shows the node's instance from its control socket (tandem-lb is not there:
# exit 1 says one daemon did not answer).
status_out=$("$bin/tandem" status --vrrp-socket "$LAB_DIR/node1.sock" --lb-socket "$LAB_DIR/none" || true)
grep -qE "^  VI_1 +MASTER +51 +200/200 +198\.18\.0\.1 +unicast +$vip/24" <<<"$status_out" ||
  lab_fail "tandem status does not show node 1 as MASTER: $status_out"

# Steady for a second: no spurious transition on either side.
sleep 1  # observing that nothing happens takes the time itself
[[ $(grep -c "Entering MASTER STATE" "${NODE_LOG[1]}") -eq 1 ]] || lab_fail "node 1 flapped"
[[ $(grep -c "Entering MASTER STATE" "${NODE_LOG[2]}" || true) -eq 0 ]] || lab_fail "node 2 became master"

# Master death: SIGKILL, no priority-0 advert. Master_Down_Interval of priority 100 at
# 0.1 s is 300 ms + 60.9 ms of skew.
t_kill=$(now_ms)
kill -KILL "${NODE_PID[1]}"
lab_wait_for "node 2 MASTER after node 1's death" 3 is_state 2 MASTER
takeover=$(($(master_since_ms 2) - t_kill))
lab_log "master death taken over in ${takeover} ms (bound 461 ms)"
((takeover <= 461)) || lab_fail "takeover after death took ${takeover} ms > 461 ms"
lab_wait_for "the VIP on node 2" 2 has_vip 2

# Node 1 comes back with the higher priority and preempts.
start_node 1
lab_wait_for "node 1 MASTER again (preemption)" 5 is_state 1 MASTER
lab_wait_for "node 2 BACKUP again" 2 is_state 2 BACKUP
lab_wait_for "the VIP back on node 1 only" 2 has_vip 1
lab_wait_for "the VIP gone from node 2" 1 no_vip 2

# Graceful stop: priority 0, so node 2 waits only its skew time (60.9 ms).
t_stop=$(now_ms)
kill -TERM "${NODE_PID[1]}"
lab_wait_for "node 2 MASTER after node 1's graceful stop" 3 is_state 2 MASTER
takeover=$(($(master_since_ms 2) - t_stop))
lab_log "graceful stop taken over in ${takeover} ms (bound 161 ms)"
((takeover <= 161)) || lab_fail "takeover after graceful stop took ${takeover} ms > 161 ms"
lab_wait_for "node 1 exits after its stop" 5 exited "${NODE_PID[1]}"
has_vip 1 && lab_fail "node 1 left its VIP behind"

# Notify scripts: keepalived's arguments, in the order of the transitions.
expected1=$'INSTANCE VI_1 BACKUP 200\nINSTANCE VI_1 MASTER 200\nINSTANCE VI_1 BACKUP 200\nINSTANCE VI_1 MASTER 200\nINSTANCE VI_1 STOP 200'
lab_wait_for "node 1's notify log complete" 3 lines_at_least "$LAB_DIR/notify-1.log" 5
got1=$(cat "$LAB_DIR/notify-1.log")
# The first run of node 1 (killed) logged BACKUP, MASTER; the second BACKUP, MASTER, STOP.
[[ $got1 == "$expected1" ]] || lab_fail "node 1's notify calls: $(printf '%q' "$got1")"
got2=$(cat "$LAB_DIR/notify-2.log")
expected2=$'INSTANCE VI_1 BACKUP 100\nINSTANCE VI_1 MASTER 100\nINSTANCE VI_1 BACKUP 100\nINSTANCE VI_1 MASTER 100'
[[ $got2 == "$expected2" ]] || lab_fail "node 2's notify calls: $(printf '%q' "$got2")"
lab_log "notify scripts called in order with keepalived's arguments"
echo "vrrp pair: all checks passed"
