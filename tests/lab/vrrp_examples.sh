#!/bin/bash
# The classic cloud pair of examples/classic, run as written: node A (MASTER, 101) and
# node B (BACKUP, 100), unicast VRRP, chk_haproxy, notify_master, enable_script_security.
# Only the notify_master path is changed, to a script of the test's own (the example's
# moves an AWS elastic IP). Node A holds the address; when it dies node B takes over and
# its notify_master runs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

src=${TANDEM_SOURCE:?TANDEM_SOURCE must name the source tree}
lab_init 45
lab_add_hosts 2
vip=198.18.0.100

# enable_script_security refuses scripts under /tmp (world-writable): keep the notify
# script in a root-only folder of this run.
secure=/run/$LAB_PREFIX
mkdir -m 0755 "$secure"
lab_defer rm -rf "$secure"
# Node a runs as node 1 (h1), node b as node 2 (h2).
declare -A num=([a]=1 [b]=2)
for n in a b; do
  cat >"$secure/master-$n.sh" <<SH
#!/bin/sh
echo "node $n became MASTER" >> $LAB_DIR/notify.log
SH
  chmod 0755 "$secure/master-$n.sh"
  sed "s|/etc/keepalived/master.sh|$secure/master-$n.sh|" \
    "$src/examples/classic/node-$n.keepalived.conf" >"$LAB_DIR/node${num[$n]}.conf"
  # Only that line may differ from the example.
  [[ $(diff "$src/examples/classic/node-$n.keepalived.conf" "$LAB_DIR/node${num[$n]}.conf" | grep -c '^>') -eq 1 ]] ||
    lab_fail "the test changed more than the notify_master path of node $n"
done

vf_start 1
vf_start 2
notified() { grep -q "$1" "$LAB_DIR/notify.log" 2>/dev/null; }

lab_wait_for "node A MASTER" 5 vf_is_state 1 MASTER
lab_wait_for "node B BACKUP" 5 vf_is_state 2 BACKUP
lab_wait_for "the VIP on node A" 2 vf_has_addr 1 $vip/24
lab_wait_for "node A's notify_master" 2 notified "node a became MASTER"
vf_has_addr 2 $vip/24 && lab_fail "the VIP is on node B as well"

# Node A dies (its link goes down). Advert interval 1 s: Master_Down_Interval of B (100)
# is 3.609 s.
lab_link_down h1
lab_wait_for "node B MASTER" 5 vf_is_state 2 MASTER
lab_wait_for "the VIP on node B" 2 vf_has_addr 2 $vip/24
lab_wait_for "node B's notify_master" 2 notified "node b became MASTER"
echo "examples/classic: all checks passed"
