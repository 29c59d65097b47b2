#!/bin/bash
# Captures again from the installed haproxy (testdata/capture.sh, unix sockets only) and checks
# that the stored captures the unit tests compare tandem with are still what haproxy 2.6 says:
# the CSV header, show info's field names, the servers-state header, help, the CLI answers and
# the exporter's metric names and types. Skips (77) without haproxy 2.6, socat or curl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
data=$here/testdata
command -v haproxy >/dev/null || { echo "skip: no haproxy"; exit 77; }
case "$(haproxy -v | sed -n 1p)" in
  *"version 2.6."*) ;;
  *) echo "skip: the captures are of haproxy 2.6, this is: $(haproxy -v | sed -n 1p)"; exit 77 ;;
esac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rc=0
"$data/capture.sh" "$out" || rc=$?
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || { echo "capture failed ($rc)"; exit 1; }

fail=0
same() {  # what, stored, fresh
  if ! diff -u "$2" "$3"; then echo "FAIL: $1 differs from the stored capture"; fail=1; fi
}
head -1 "$data/show_stat.csv" > "$out/h.stored"; head -1 "$out/show_stat.csv" > "$out/h.fresh"
same "show stat header" "$out/h.stored" "$out/h.fresh"
cut -d: -f1 "$data/show_info.txt" > "$out/i.stored"; cut -d: -f1 "$out/show_info.txt" > "$out/i.fresh"
same "show info field names" "$out/i.stored" "$out/i.fresh"
same "show servers state header" "$data/servers_state_header.txt" "$out/servers_state_header.txt"
same "help" "$data/help.txt" "$out/help.txt"
same "CLI answers" "$data/answers.txt" "$out/answers.txt"
grep '^# TYPE' "$data/metrics.txt" > "$out/m.stored"; grep '^# TYPE' "$out/metrics.txt" > "$out/m.fresh"
same "metric names and types" "$out/m.stored" "$out/m.fresh"
[ "$fail" = 0 ] && echo "captures match haproxy $(haproxy -v | sed -n 1p | awk '{print $3}')"
exit $fail
