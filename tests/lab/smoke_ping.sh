#!/bin/bash
# Smoke test of the lab: two hosts reach each other over IPv4 and IPv6, a node can die and
# come back, spawned processes are tracked, and the root namespace never sees an interface.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_check
root_links_before=$(ip -o link | awk -F': ' '{print $2}' | sort)

lab_init 20
lab_add_hosts 2

# ping_ok FROM TO_ADDR: three echoes, all answered, each within a second.
ping_ok() {
  local out
  out=$(lab_exec "$1" ping -n -c 3 -i 0.2 -W 1 "$2" 2>&1) || { echo "$out" >&2; return 1; }
  grep -q ' 3 received' <<<"$out" || { echo "$out" >&2; return 1; }
}

for pair in "1 2" "2 1"; do
  read -r from to <<<"$pair"
  ping_ok "h$from" "$(lab_ip4 "$to")" || lab_fail "IPv4 ping h$from -> h$to"
  ping_ok "h$from" "$(lab_ip6 "$to")" || lab_fail "IPv6 ping h$from -> h$to"
  lab_log "h$from -> h$to: IPv4 and IPv6 ok"
done

# Addresses are usable at once: no IPv6 address may still be tentative (DAD is off).
if lab_exec h1 ip -6 addr show dev eth0 | grep -q tentative; then
  lab_fail "h1 has tentative IPv6 addresses"
fi

# The root namespace has no new interface while the lab is up.
root_links_during=$(ip -o link | awk -F': ' '{print $2}' | sort)
new_links=$(comm -13 <(echo "$root_links_before") <(echo "$root_links_during"))
[[ -z $new_links ]] || lab_fail "new interfaces in the root namespace: $new_links"

# Node death and revival keep the addresses; waiting is on the event, with a deadline.
lab_link_down h2
if lab_exec h1 ping -n -c 1 -W 1 "$(lab_ip4 2)" >/dev/null 2>&1; then
  lab_fail "h2 still answers with its link down"
fi
lab_link_up h2
lab_wait_for "h2 back on IPv4" 5 lab_exec h1 ping -n -c 1 -W 1 "$(lab_ip4 2)"
lab_wait_for "h2 back on IPv6" 5 lab_exec h1 ping -n -c 1 -W 1 "$(lab_ip6 2)"

# A spawned process runs in its host's namespace, in its own process group, until clean-up.
lab_spawn h1 sleep 300
sleeper=$LAB_PID
[[ $(readlink "/proc/$sleeper/ns/net") == "$(lab_exec h1 readlink /proc/self/ns/net)" ]] ||
  lab_fail "spawned process is not in h1's namespace"
[[ $(ps -o pgid= -p "$sleeper" | tr -d ' ') == "$sleeper" ]] ||
  lab_fail "spawned process does not lead its own process group"

if lab_have_netem; then
  lab_netem h1 "delay 100ms"
  rtt=$(lab_exec h1 ping -n -c 1 -W 2 "$(lab_ip4 2)" | sed -n 's/.*time=\([0-9]*\).*/\1/p')
  ((rtt >= 100)) || lab_fail "netem delay 100ms gave an rtt of ${rtt}ms"
  lab_netem h1 off
else
  lab_log "no netem in this kernel: lab_netem not exercised"
fi

lab_log "smoke ok"
