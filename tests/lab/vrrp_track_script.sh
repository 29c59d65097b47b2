#!/bin/bash
# track_script: node 1 (priority 150) tracks two vrrp_scripts, node 2 (100) none; VRRPv3
# IPv4 multicast at 0.1 s. Each check is a script in $LAB_DIR that succeeds while its flag
# file exists and logs every run with a ms timestamp, so the test knows when a failing run
# happened.
#   chk_weight (interval 1, fall 2, rise 2, weight -60): removing its flag lowers node 1 to
#     90 after the second failing run, not the first; node 1 announces 90 at once and node 2
#     preempts (bound: 100 ms after that run; from the removal fall x interval + 100 ms plus
#     50 ms per run for the script's own time, the worst case being a removal just after a
#     run tested the file). Restoring it: 150 again after two good runs, and node 1
#     preempts at node 2's next advert (bound: advert interval + 100 ms after that run).
#   chk_fault (interval 1, fall 1, weight 0): removing its flag puts node 1 in FAULT, the
#     address goes, a priority-0 advert makes node 2 take over within its skew + 100 ms of
#     the failing run; restoring it brings node 1 back as BACKUP, and it preempts.
# Notify (FAULT included) in order, and the JSON status of the tracked scripts.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 30
lab_add_hosts 2
vip=198.18.0.102
runs=$LAB_DIR/runs.log
cat >"$LAB_DIR/check.sh" <<SH
#!/bin/sh
# check.sh NAME FLAG: success while FLAG exists; logs "MS NAME ok|fail".
if [ -e "\$2" ]; then r=ok; else r=fail; fi
echo "\$(date +%s%3N) \$1 \$r" >> $runs
[ \$r = ok ]
SH
chmod 755 "$LAB_DIR/check.sh"
touch "$LAB_DIR/ok-weight" "$LAB_DIR/ok-fault"

for n in 1 2; do
  vf_notify_scripts "$n"
  {
    if [[ $n == 1 ]]; then
      cat <<CONF
vrrp_script chk_weight {
    script "$LAB_DIR/check.sh weight $LAB_DIR/ok-weight"
    interval 1
    fall 2
    rise 2
    weight -60
}
vrrp_script chk_fault {
    script "$LAB_DIR/check.sh fault $LAB_DIR/ok-fault"
    interval 1
    weight 0
}
CONF
    fi
    cat <<CONF
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    virtual_router_id 64
    priority $((n == 1 ? 150 : 100))
    version 3
    advert_int 0.1
    virtual_ipaddress {
        $vip/24 dev eth0
    }
$(vf_notify_conf "$n")
CONF
    if [[ $n == 1 ]]; then
      printf '    track_script {\n        chk_weight\n        chk_fault\n    }\n'
    fi
    echo "}"
  } >"$LAB_DIR/node$n.conf"
done

# run_ms NAME RESULT AFTER_MS K: timestamp of the K-th run of NAME with RESULT at or after AFTER_MS.
run_ms() {
  awk -v n="$1" -v r="$2" -v t="$3" -v k="$4" '$2 == n && $3 == r && $1 >= t && ++c == k {print $1; exit}' "$runs"
}
has_run() { [[ -n $(run_ms "$@") ]]; }

vf_start 1
vf_start 2
lab_wait_for "node 1 (150) MASTER" 3 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP on node 1 only" 2 vf_vip_only_on 1 $vip/24 1 2
lab_wait_for "both checks ran" 3 has_run fault ok 0 1
[[ $(vf_prio 1) == 150 ]] || lab_fail "node 1's effective priority is $(vf_prio 1) with both checks up"

# --- weight -60, fall 2
t0=$(vf_now_ms)
rm "$LAB_DIR/ok-weight"
lab_wait_for "node 2 MASTER after node 1's check failed" 5 vf_is_state 2 MASTER
lab_wait_for "node 1 BACKUP" 2 vf_is_state 1 BACKUP
taken=$(vf_entered_ms 2 MASTER)
f1=$(run_ms weight fail "$t0" 1)
f2=$(run_ms weight fail "$t0" 2)
[[ -n $f1 && -n $f2 ]] || lab_fail "fewer than 2 failing runs of chk_weight before the takeover: $(cat "$runs")"
((taken > f1 + 500)) || lab_fail "node 2 took over $((taken - f1)) ms after the FIRST failing run (fall 2)"
vf_within "weight -60: takeover after the 2nd failing run" $((taken - f2)) 100
vf_within "weight -60: takeover after the flag's removal" $((taken - t0)) $((2 * 1000 + 100 + 2 * 50))
[[ $(vf_prio 1) == 90 ]] || lab_fail "node 1's effective priority is $(vf_prio 1), expected 90"
lab_wait_for "the VIP on node 2 only" 2 vf_vip_only_on 2 $vip/24 1 2
[[ $(vf_jq 1 '.scripts[] | select(.name == "chk_weight") | .state') == down ]] ||
  lab_fail "chk_weight is not down in node 1's JSON: $(vf_jq 1 '.scripts')"

t1=$(vf_now_ms)
touch "$LAB_DIR/ok-weight"
lab_wait_for "node 1 MASTER again once chk_weight is up" 5 vf_is_state 1 MASTER
back=$(vf_entered_ms 1 MASTER)
r1=$(run_ms weight ok "$t1" 1)
r2=$(run_ms weight ok "$t1" 2)
[[ -n $r1 && -n $r2 ]] || lab_fail "fewer than 2 good runs of chk_weight before node 1 preempted: $(cat "$runs")"
((back > r1 + 500)) || lab_fail "node 1 preempted $((back - r1)) ms after the FIRST good run (rise 2)"
vf_within "weight -60: preemption after the 2nd good run" $((back - r2)) 200
[[ $(vf_prio 1) == 150 ]] || lab_fail "node 1's effective priority is $(vf_prio 1), expected 150"
lab_wait_for "node 2 BACKUP again" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP back on node 1 only" 2 vf_vip_only_on 1 $vip/24 1 2

# --- weight 0: FAULT
t2=$(vf_now_ms)
rm "$LAB_DIR/ok-fault"
lab_wait_for "node 1 FAULT" 3 vf_is_state 1 FAULT
lab_wait_for "node 2 MASTER after node 1's FAULT" 2 vf_is_state 2 MASTER
taken=$(vf_entered_ms 2 MASTER)
f=$(run_ms fault fail "$t2" 1)
[[ -n $f ]] || lab_fail "no failing run of chk_fault: $(cat "$runs")"
vf_within "weight 0: takeover after the failing run (FAULT, priority 0)" $((taken - f)) $((61 + 100))
lab_wait_for "the VIP gone from node 1, on node 2 only" 2 vf_vip_only_on 2 $vip/24 1 2
[[ $(vf_jq 1 '.instances[0].tracked[] | select(.name == "script chk_fault") | .up') == false ]] ||
  lab_fail "node 1's JSON does not show chk_fault down: $(vf_jq 1 '.instances[0].tracked')"
(($(vf_jq 1 '.scripts[] | select(.name == "chk_fault") | .failures') >= 1)) ||
  lab_fail "node 1's JSON counts no failure of chk_fault: $(vf_jq 1 '.scripts')"
(($(vf_jq 2 '.instances[0].counters.priority_zero_rx') >= 1)) || lab_fail "node 2 saw no priority-0 advert"
# FAULT is stable: node 1 keeps out while the check fails.
sleep 0.5
vf_is_state 1 FAULT || lab_fail "node 1 left FAULT while chk_fault still fails: $(vf_state 1)"

touch "$LAB_DIR/ok-fault"
lab_wait_for "node 1 MASTER again once chk_fault is up" 4 vf_is_state 1 MASTER
lab_wait_for "node 2 BACKUP again" 2 vf_is_state 2 BACKUP
lab_wait_for "the VIP back on node 1 only" 2 vf_vip_only_on 1 $vip/24 1 2

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
INSTANCE VI_1 MASTER 150" "node 1"
vf_expect_file "$LAB_DIR/notify-2.log" "notify_backup
INSTANCE VI_1 BACKUP 100
notify_master
INSTANCE VI_1 MASTER 100
notify_backup
INSTANCE VI_1 BACKUP 100
notify_master
INSTANCE VI_1 MASTER 100
notify_backup
INSTANCE VI_1 BACKUP 100" "node 2"
echo "vrrp track_script: all checks passed"
