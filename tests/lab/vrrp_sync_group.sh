#!/bin/bash
# vrrp_sync_group: two instances per node (one per VIP) move together. A failure that puts
# only VI_2 of the master node in FAULT takes VI_1 with it, so the other node holds both
# addresses; the group's notify scripts get keepalived's GROUP arguments.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
lab_init 45
lab_add_hosts 2

write_conf() {  # write_conf N PEER PRIORITY
  cat >"$LAB_DIR/notify-$1.sh" <<SH
#!/bin/sh
echo "\$*" >> $LAB_DIR/notify-$1.log
SH
  chmod 755 "$LAB_DIR/notify-$1.sh"
  local inst
  {
    cat <<CONF
track_file vi2_down {
    file $LAB_DIR/down-$1
    weight 0
    init_file 0 overwrite
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    notify $LAB_DIR/notify-$1.sh
}
CONF
    for inst in 1 2; do
      cat <<CONF
vrrp_instance VI_$inst {
    interface eth0
    virtual_router_id 5$inst
    priority $3
    version 3
    advert_int 0.1
    unicast_src_ip $(lab_ip4 "$1")
    unicast_peer {
        $(lab_ip4 "$2")
    }
    virtual_ipaddress {
        198.18.0.10$inst/24 dev eth0
    }
    $([[ $inst == 2 ]] && echo "track_file { vi2_down }")
}
CONF
    done
  } >"$LAB_DIR/node$1.conf"
}
write_conf 1 2 200
write_conf 2 1 100
for n in 1 2; do
  lab_spawn "h$n" "$bin/tandem-vrrp" -n -l -f "$LAB_DIR/node$n.conf" --control-socket "$LAB_DIR/node$n.sock"
done
state_of() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"show state" | awk -v i="$2" '$1 == i {print $2}'; }
both() { [[ $(state_of "$1" VI_1) == "$2" && $(state_of "$1" VI_2) == "$3" ]]; }
addrs() {
  local out
  out=$(lab_exec "h$1" ip -4 -o addr show dev eth0)
  grep -o "198\.18\.0\.10[12]/24" <<<"$out" | sort | tr '\n' ' '
}
has_addrs() { [[ $(addrs "$1") == "$2" ]]; }
notified() { grep -qx "$2" "$LAB_DIR/notify-$1.log" 2>/dev/null; }

lab_wait_for "node 1 MASTER for both" 5 both 1 MASTER MASTER
lab_wait_for "node 2 BACKUP for both" 5 both 2 BACKUP BACKUP
lab_wait_for "both VIPs on node 1" 2 has_addrs 1 "198.18.0.101/24 198.18.0.102/24 "
lab_wait_for "node 1's group notify MASTER" 2 notified 1 "GROUP G MASTER"

# Only VI_2 fails on node 1; the group takes VI_1 along.
echo 1 >"$LAB_DIR/down-1"
lab_wait_for "node 1 FAULT for both" 2 both 1 FAULT FAULT
lab_wait_for "node 2 MASTER for both" 2 both 2 MASTER MASTER
lab_wait_for "both VIPs on node 2" 2 has_addrs 2 "198.18.0.101/24 198.18.0.102/24 "
lab_wait_for "no VIP left on node 1" 2 has_addrs 1 ""
lab_wait_for "node 1's group notify FAULT" 2 notified 1 "GROUP G FAULT"
lab_wait_for "node 2's group notify MASTER" 2 notified 2 "GROUP G MASTER"

echo 0 >"$LAB_DIR/down-1"
lab_wait_for "node 1 MASTER for both again" 3 both 1 MASTER MASTER
lab_wait_for "node 2 BACKUP for both again" 2 both 2 BACKUP BACKUP
lab_wait_for "both VIPs back on node 1" 2 has_addrs 1 "198.18.0.101/24 198.18.0.102/24 "
echo "vrrp sync group: all checks passed"
