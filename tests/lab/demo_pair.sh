#!/bin/bash
# `tandem demo` as a lab test: the pair in network namespaces, its four faults measured by the
# client, and --check failing the run when an outage is over its bound. The bounds: a killed or
# restarted proxy (faults 1 and 2) 0.5 s, below node B's Master_Down_Interval (0.72 s at the
# demo's 0.2 s advert interval), so a regression to waiting for silence is caught; a dead link
# (fault 3) 3 x Master_Down_Interval + 0.3 s; a backup stopping (fault 4) no failed request.
# Then the clean-up: the demo interrupted mid-run (SIGINT) leaves no namespace and no process,
# and what a run killed with SIGKILL left is swept by the next run.
set -euo pipefail
# lab_poll only: the demo makes its own namespaces, so there is no lab_init here.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
if [[ $(id -u) != 0 ]]; then
  echo "SKIP: the demo's pair needs root to create network namespaces"
  exit 77
fi
command -v ip >/dev/null || { echo "SKIP: no ip (iproute2)"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/demo-pair.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
# Namespaces of a demo run: td-<pid>-<node>.
demo_namespaces() { ip netns list | awk '{print $1}' | grep -E "^td-$1-" || true; }
# The pid of the run whose output is in FILE ("run td-<pid>-*, files in ...").
run_pid() { sed -n 's/^ *run td-\([0-9]*\)-\*.*/\1/p' "$1" | head -1; }
# start_demo OUT: `tandem demo` in the background (pid in $pid), its output in OUT; returns
# once the client is served steadily, or fails the test after 15 s.
start_demo() {
  "$bin/tandem" demo >"$1" 2>&1 &
  pid=$!
  lab_poll 15 grep -q "client: served steadily" "$1" ||
    { kill -INT "$pid"; cat "$1"; fail "the demo did not get going"; }
}

# 1. The whole demo with --check.
start=$(date +%s)
set +e
timeout -s INT 150 "$bin/tandem" demo --check --json "$work/demo.json" >"$work/out.txt" 2>&1 &
pid=$!
wait "$pid"
rc=$?
set -e
cat "$work/out.txt"
took=$(($(date +%s) - start))
echo "demo_pair: the demo took ${took} s, exit status $rc"
[[ -s $work/demo.json ]] || fail "no JSON written"
jq . "$work/demo.json"
((rc == 0)) || fail "tandem demo --check exited $rc"
((took <= 90)) || fail "the demo took ${took} s (it should take about a minute or less)"
[[ $(jq -r '.mode' "$work/demo.json") == pair ]] || fail "the demo did not run the pair"
[[ $(jq '.faults | length' "$work/demo.json") == 5 ]] || fail "not five measured steps"
for id in 1 2 3 3b 4; do
  f=$(jq -c --arg id "$id" '.faults[] | select(.id == $id)' "$work/demo.json")
  [[ -n $f ]] || fail "fault $id missing"
  [[ $(jq -r .recovered <<<"$f") == true ]] || fail "fault $id: the client was not served again"
  [[ $(jq -r .within_bound <<<"$f") == true ]] || fail "fault $id over its bound: $f"
done
mdi=$(jq -r .master_down_interval_s "$work/demo.json")
# The takeovers as the daemons logged them: fault 1 at once (track_proxy), fault 3 after silence.
t1=$(jq -r '.faults[] | select(.id == "1") | .takeover_s' "$work/demo.json")
t3=$(jq -r '.faults[] | select(.id == "3") | .takeover_s' "$work/demo.json")
awk -v t="$t1" -v m="$mdi" 'BEGIN {exit !(t != "null" && t < m / 2)}' ||
  fail "fault 1: node B took over after ${t1} s, not at once (Master_Down_Interval ${mdi} s)"
# Node B counts Master_Down_Interval from the last advert it heard, up to one interval before
# the link went down.
adv=$(jq -r .advert_int_s "$work/demo.json")
awk -v t="$t3" -v m="$mdi" -v a="$adv" 'BEGIN {exit !(t != "null" && t >= (m - a) * 0.9 && t <= 3 * m)}' ||
  fail "fault 3: node B took over after ${t3} s; expected about Master_Down_Interval (${mdi} s)"
[[ $(jq -r '.faults[] | select(.id == "4") | .failed' "$work/demo.json") == 0 ]] ||
  fail "fault 4: requests failed while a backup left"
grep -q "node B: BACKUP -> MASTER" "$work/out.txt" || fail "no state change in the timeline"
pid=$(run_pid "$work/out.txt")
[[ -n $pid ]] || fail "the demo did not say its run's name"
[[ -z $(demo_namespaces "$pid") ]] || fail "namespaces left: $(demo_namespaces "$pid")"
[[ ! -e ${TMPDIR:-/tmp}/tandem-demo-$pid ]] || fail "the run's folder was left"

# 2. A bound too tight for any real run makes --check fail (the check can fail).
set +e
timeout -s INT 150 "$bin/tandem" demo --check --bound 3=0.001 >"$work/out2.txt" 2>&1 &
pid=$!
wait "$pid"
rc=$?
set -e
grep -E "^3\. .*OVER" "$work/out2.txt" || { cat "$work/out2.txt"; fail "fault 3 not marked OVER"; }
((rc == 1)) || { cat "$work/out2.txt"; fail "--check with an impossible bound exited $rc, not 1"; }
pid=$(run_pid "$work/out2.txt")
[[ -n $pid ]] || fail "the second run did not say its run's name"
[[ -z $(demo_namespaces "$pid") ]] || fail "namespaces left after the second run"

# 3. Interrupted while the pair runs: exit 130, nothing left.
start_demo "$work/out3.txt"
kids=$(ip netns pids "td-$pid-a" | xargs)
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
((rc == 130)) || { cat "$work/out3.txt"; fail "interrupted demo exited $rc, not 130"; }
[[ -z $(demo_namespaces "$pid") ]] || fail "namespaces left after SIGINT: $(demo_namespaces "$pid")"
for k in $kids; do
  ! kill -0 "$k" 2>/dev/null || fail "process $k of node A still runs after SIGINT"
done
# 4. Killed (SIGKILL: no clean-up of its own): the next run sweeps what it left.
start_demo "$work/out4.txt"
kids=$(ip netns pids "td-$pid-a" | xargs)
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
[[ -n $(demo_namespaces "$pid") ]] || fail "nothing left to sweep after SIGKILL (the test is wrong)"
timeout -s INT 60 "$bin/tandem" demo --local >"$work/out5.txt" 2>&1 || { cat "$work/out5.txt"; fail "demo --local failed"; }
grep -q "removed what a dead demo run left: namespace td-$pid-a" "$work/out5.txt" ||
  { cat "$work/out5.txt"; fail "the next run did not say it swept run $pid"; }
[[ -z $(demo_namespaces "$pid") ]] || fail "namespaces of the killed run left: $(demo_namespaces "$pid")"
for k in $kids; do
  ! kill -0 "$k" 2>/dev/null || fail "process $k of the killed run still runs"
done
[[ ! -e ${TMPDIR:-/tmp}/tandem-demo-$pid ]] || fail "the killed run's folder was left"
echo "demo_pair: all checks passed"
