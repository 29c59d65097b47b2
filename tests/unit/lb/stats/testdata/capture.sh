#!/bin/bash
# Regenerates the haproxy 2.6 captures beside this script (or in $1) from Debian's haproxy
# running haproxy.cfg on unix sockets only: show stat/info/servers state, help, the answers
# to the runtime commands in commands.txt, and the Prometheus exporter's output.
# Needs haproxy, socat and curl. Exit 77 when one is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
for b in haproxy socat curl; do command -v $b >/dev/null || { echo "no $b"; exit 77; }; done
dir=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
sed "s|@DIR@|$dir|g" "$here/haproxy.cfg" > "$dir/h.cfg"
haproxy -f "$dir/h.cfg" -db >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$dir/admin.sock" ] && [ -S "$dir/fe.sock" ] && break; sleep 0.1; done
q() { printf '%s\n' "$2" | timeout 5 socat stdio "unix-connect:$dir/$1.sock"; }
haproxy -v | sed -n 1p > "$out/haproxy_version.txt"
q admin "show stat" > "$out/show_stat.csv"
q admin "show info" > "$out/show_info.txt"
q admin "show servers state" | sed -n 1,2p > "$out/servers_state_header.txt"
q admin help > "$out/help.txt"
# commands.txt: "LEVEL COMMAND" per line; the answers go to answers.txt after "### LEVEL COMMAND".
: > "$out/answers.txt"
while read -r level cmd; do
  [ -z "$level" ] || [ "${level:0:1}" = "#" ] && continue
  printf '### %s %s\n' "$level" "$cmd" >> "$out/answers.txt"
  q "$level" "$cmd" >> "$out/answers.txt"
done < "$here/commands.txt"
curl -s --unix-socket "$dir/fe.sock" http://localhost/metrics > "$out/metrics.txt"
[ -s "$out/metrics.txt" ] && [ -s "$out/show_stat.csv" ]
