#!/bin/bash
# bench/failover: how fast tandem-vrrp hands the virtual address over, measured in the
# network-namespace lab. Not a test: it prints figures (and a Markdown table with -m).
#
# For each advert interval (v3: 1 s, 0.1 s, 0.02 s) a pair of nodes (priority 200 master,
# 100 backup) runs with unicast VRRP; the master node dies (its link goes down: the node is
# gone for everyone, as when a machine fails), several times, and we measure from then to
#   - the backup's first advert as master (tcpdump on a third host, kernel timestamps), and
#   - the virtual address answering the third host (ping every 5 ms).
# Then a pair at 0.02 s runs for STEADY_SECONDS (default 60) with both cores kept busy by
# a bounded CPU burner, and we count transitions (there should be none).
#
# Usage: bench/failover/run.sh BUILD_DIR [-m]      (root; traffic stays inside the lab)
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR [-m]}
markdown=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../tests/lab/lib.sh
source "$here/../../tests/lab/lib.sh"
bin=$(cd "$build" && pwd)/src/app
ROUNDS=${ROUNDS:-5}
STEADY_SECONDS=${STEADY_SECONDS:-60}

lab_init 0
lab_add_hosts 3
vip=198.18.0.100

write_conf() {  # write_conf N PEER PRIORITY INTERVAL
  cat >"$LAB_DIR/node$1.conf" <<CONF
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $3
    version 3
    advert_int $4
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
declare -A PID
start_node() {
  lab_spawn "h$1" "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node$1.conf" \
    --control-socket "$LAB_DIR/node$1.sock"
  PID[$1]=$LAB_PID
}
state_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"show state" 2>/dev/null | awk '$1 == "VI_1" {print $2}'; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
stop_node() { kill -TERM "${PID[$1]}" 2>/dev/null || true; lab_wait_for "node $1 gone" 5 bash -c "! kill -0 ${PID[$1]} 2>/dev/null"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }
max() { sort -n | tail -1; }

results=()
for interval in 1 0.1 0.02; do
  advert_ms=() answer_ms=()
  for ((round = 1; round <= ROUNDS; round++)); do
    write_conf 1 2 200 "$interval"
    write_conf 2 1 100 "$interval"
    start_node 1
    start_node 2
    lab_wait_for "node 1 MASTER" 10 is_state 1 MASTER
    lab_wait_for "node 2 BACKUP" 10 is_state 2 BACKUP
    # Node 2's own adverts, captured on its interface (unicast to node 1: a third host on
    # the bridge would not see them); h3 pings the VIP every 5 ms (bounded: 20 s at most).
    cap=$LAB_DIR/cap-$interval-$round.txt
    lab_spawn h2 tcpdump -l -n -tt -i eth0 "ip proto 112 and src $(lab_ip4 2)"
    tcpdump_pid=$LAB_PID
    sleep 0.3  # tcpdump prints "listening" on stderr only after it attached; this is enough
    ping_log=$LAB_DIR/ping-$interval-$round.txt
    lab_exec h3 ping -n -D -i 0.005 -W 0.1 -w 20 "$vip" >"$ping_log" 2>&1 &
    ping_pid=$!
    sleep 0.5
    t_kill=$EPOCHREALTIME
    lab_link_down h1
    lab_wait_for "node 2 MASTER" 10 is_state 2 MASTER
    sleep 0.3
    kill "$ping_pid" 2>/dev/null || true
    wait "$ping_pid" 2>/dev/null || true
    kill "$tcpdump_pid" 2>/dev/null || true
    sleep 0.1
    cp "$(ls -t "$LAB_LOG_DIR"/h2-*tcpdump.log | head -1)" "$cap"
    # First advert from node 2 after the kill: tcpdump -tt prints epoch seconds first.
    first_adv=$(awk -v t="$t_kill" '$1 ~ /^[0-9.]+$/ && $1 + 0 > t + 0 {print $1; exit}' "$cap" || true)
    # First ping reply after the kill: ping -D prints [epoch] before each reply.
    # The VIP answers again with the first reply after the hole in the sequence numbers
    # (replies already in flight when the link went down do not count).
    first_ans=$(awk -v t="$t_kill" '
      match($0, /^\[[0-9.]+\]/) && /icmp_seq=/ {
        ts = substr($0, 2, RLENGTH - 2)
        s = $0; sub(/.*icmp_seq=/, "", s); sub(/ .*/, "", s)
        if (ts + 0 > t + 0 && prev != "" && s + 0 > prev + 1) { print ts; exit }
        prev = s
      }' "$ping_log" || true)
    [[ -n $first_adv ]] && advert_ms+=("$(awk -v a="$first_adv" -v t="$t_kill" 'BEGIN {printf "%.1f", (a - t) * 1000}')")
    [[ -n $first_ans ]] && answer_ms+=("$(awk -v a="$first_ans" -v t="$t_kill" 'BEGIN {printf "%.1f", (a - t) * 1000}')")
    stop_node 1
    stop_node 2
    lab_link_up h1
    rm -f "$LAB_DIR"/node*.sock
  done
  mdi=$(awk -v i="$interval" 'BEGIN {printf "%.1f", (3 * i + (256 - 100) * i / 256) * 1000}')
  adv_med=$(printf '%s\n' "${advert_ms[@]}" | median)
  adv_max=$(printf '%s\n' "${advert_ms[@]}" | max)
  ans_med=$(printf '%s\n' "${answer_ms[@]}" | median)
  ans_max=$(printf '%s\n' "${answer_ms[@]}" | max)
  results+=("| ${interval} s | ${mdi} | ${adv_med} | ${adv_max} | ${ans_med} | ${ans_max} | ${#advert_ms[@]} |")
  echo "interval ${interval}s: Master_Down_Interval ${mdi} ms; first advert ${advert_ms[*]} ms; VIP answers ${answer_ms[*]} ms"
done

# Steady pair at 0.02 s under CPU load: a bounded burner per core (STEADY_SECONDS each).
write_conf 1 2 200 0.02
write_conf 2 1 100 0.02
start_node 1
start_node 2
lab_wait_for "node 1 MASTER" 10 is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 10 is_state 2 BACKUP
before=$(cat "$LAB_LOG_DIR"/*tandem-vrrp.log | grep -c "Entering" || true)
burners=()
for ((c = 0; c < $(nproc); c++)); do
  timeout "$STEADY_SECONDS" sh -c 'while :; do :; done' &
  burners+=($!)
done
sleep "$STEADY_SECONDS"
wait "${burners[@]}" 2>/dev/null || true
after=$(cat "$LAB_LOG_DIR"/*tandem-vrrp.log | grep -c "Entering" || true)
spurious=$((after - before))
echo "steady at 0.02 s for ${STEADY_SECONDS} s with $(nproc) busy cores: ${spurious} spurious transitions"

if [[ $markdown == -m ]]; then
  echo
  echo "| advert interval | Master_Down_Interval (ms) | first advert, median (ms) | first advert, max (ms) | VIP answers, median (ms) | VIP answers, max (ms) | rounds |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  echo "Steady pair at 0.02 s for ${STEADY_SECONDS} s with every core busy: ${spurious} spurious transitions."
fi
