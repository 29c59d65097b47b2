#!/bin/bash
# The classic cloud pair of examples/classic, run as written: node A (MASTER, 101) and
# node B (BACKUP, 100), unicast VRRP, chk_haproxy, notify_master, enable_script_security.
# Only the notify_master path is changed, to a script of the test's own (the example's
# moves an AWS elastic IP). Node A holds the address; when it dies node B takes over and
# its notify_master runs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
src=${TANDEM_SOURCE:?TANDEM_SOURCE must name the source tree}
lab_init 45
lab_add_hosts 2
vip=198.18.0.100

# enable_script_security refuses scripts under /tmp (world-writable): keep the notify
# script in a root-only folder of this run.
secure=/run/$LAB_PREFIX
mkdir -m 0755 "$secure"
lab_defer rm -rf "$secure"
for n in a b; do
  cat >"$secure/master-$n.sh" <<SH
#!/bin/sh
echo "node $n became MASTER" >> $LAB_DIR/notify.log
SH
  chmod 0755 "$secure/master-$n.sh"
  sed "s|/etc/keepalived/master.sh|$secure/master-$n.sh|" \
    "$src/examples/classic/node-$n.keepalived.conf" >"$LAB_DIR/node-$n.conf"
  # Only that line may differ from the example.
  [[ $(diff "$src/examples/classic/node-$n.keepalived.conf" "$LAB_DIR/node-$n.conf" | grep -c '^>') -eq 1 ]] ||
    lab_fail "the test changed more than the notify_master path of node $n"
done

declare -A PID
lab_spawn h1 "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node-a.conf" --control-socket "$LAB_DIR/a.sock"
PID[a]=$LAB_PID
lab_spawn h2 "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node-b.conf" --control-socket "$LAB_DIR/b.sock"
PID[b]=$LAB_PID
state_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/$1.sock" <<<"show state" | awk '$1 == "VI_1" {print $2}'; }
is_state() { [[ $(state_of "$1") == "$2" ]]; }
has_vip() {
  local out
  out=$(lab_exec "$1" ip -4 -o addr show dev eth0)
  grep -q " $vip/24" <<<"$out"
}
notified() { grep -q "$1" "$LAB_DIR/notify.log" 2>/dev/null; }

lab_wait_for "node A MASTER" 5 is_state a MASTER
lab_wait_for "node B BACKUP" 5 is_state b BACKUP
lab_wait_for "the VIP on node A" 2 has_vip h1
lab_wait_for "node A's notify_master" 2 notified "node a became MASTER"
has_vip h2 && lab_fail "the VIP is on node B as well"

# Node A dies (its link goes down). Advert interval 1 s: Master_Down_Interval of B (100)
# is 3.609 s.
lab_link_down h1
lab_wait_for "node B MASTER" 5 is_state b MASTER
lab_wait_for "the VIP on node B" 2 has_vip h2
lab_wait_for "node B's notify_master" 2 notified "node b became MASTER"
echo "examples/classic: all checks passed"
