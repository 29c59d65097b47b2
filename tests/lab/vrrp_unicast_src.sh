#!/bin/bash
# A unicast_src_ip that is not on the interface yet (a cloud adds it late): tandem-vrrp says
# so once and waits, sending nothing; when the address appears it starts the instance.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/vrrp_features_lib.sh"

lab_init 30
lab_add_hosts 2
late=198.18.0.22
cat >"$LAB_DIR/node2.conf" <<CONF
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    version 3
    advert_int 0.1
    unicast_src_ip $late
    unicast_peer {
        $(lab_ip4 1)
    }
    virtual_ipaddress {
        198.18.0.100/24 dev eth0
    }
}
CONF
vf_start 2

lab_wait_for "the waiting line" 3 vf_logged 2 "unicast_src_ip $late is not on eth0 yet: waiting for it before starting"
sleep 0.5  # five advert intervals: it must stay quiet that long
vf_is_state 2 INIT || lab_fail "the instance started without its source address: $(vf_state 2)"
[[ $(vf_count 2 "is not on eth0 yet") -eq 1 ]] || lab_fail "the waiting line was repeated"

lab_exec h2 ip addr add "$late/24" dev eth0
lab_wait_for "the instance starting once the address is there" 3 vf_logged 2 "$late is on eth0 now: starting"
lab_wait_for "the instance in BACKUP" 2 vf_is_state 2 BACKUP
lab_wait_for "the lone node becoming MASTER" 2 vf_is_state 2 MASTER
echo "unicast_src_ip wait: all checks passed"
