#!/bin/bash
# A lab run that fails midway, is killed with SIGTERM, or hangs past its watchdog still
# removes everything it made, and prints its logs when it failed. What a SIGKILLed run leaves
# is removed by the next run's lab_init.
# shellcheck disable=SC2016 # the child scripts are single-quoted on purpose
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/selftest.sh"
lib=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh

# 1. exit 1 midway, without errexit: the trap prints the logs and cleans up.
self_start exit1 -c '
  source "$1"
  lab_init 20
  lab_add_hosts 2
  lab_spawn h1 sleep 300
  echo "marker-in-a-log" >"$LAB_LOG_DIR/app.log"
  exit 1
  echo "not reached"' child "$lib"
self_finish exit1
((SELF_RC == 1)) || lab_fail "exit1: status $SELF_RC, want 1"
self_expect_output exit1 "marker-in-a-log"
self_expect_output exit1 "namespace "
self_assert_clean exit1

# 2. a failing command under errexit: the ERR trap names it, then the same clean-up.
self_start errexit -c '
  set -euo pipefail
  source "$1"
  lab_init 20
  lab_add_hosts 2
  lab_spawn h2 sleep 300
  lab_exec h1 ip link show nosuchdev
  echo "not reached"' child "$lib"
self_finish errexit
((SELF_RC != 0)) || lab_fail "errexit: status 0"
self_expect_output errexit "command failed"
self_assert_clean errexit

# 3. SIGTERM while the run waits.
self_start sigterm -c '
  source "$1"
  lab_init 20
  lab_add_hosts 2
  lab_spawn h1 sleep 300
  echo ready >>"$LAB_REPORT"
  wait' child "$lib"
self_ready() { grep -qx ready "$SELF_WORK/sigterm.report"; }
lab_poll 10 self_ready || lab_fail "sigterm: child never got ready"
kill -TERM "$SELF_CHILD"
self_finish sigterm
((SELF_RC == 143)) || lab_fail "sigterm: status $SELF_RC, want 143"
self_assert_clean sigterm

# 4. a hung foreground command: the 1 s watchdog stops it and the run cleans up.
start=${EPOCHREALTIME/[.,]/}
self_start watchdog -c '
  source "$1"
  lab_init 1
  lab_add_hosts 1
  sleep 30
  echo "not reached"' child "$lib"
self_finish watchdog
elapsed_ms=$(((${EPOCHREALTIME/[.,]/} - start) / 1000))
((SELF_RC != 0)) || lab_fail "watchdog: status 0"
((elapsed_ms < 10000)) || lab_fail "watchdog: took ${elapsed_ms}ms"
self_expect_output watchdog "watchdog: the run exceeded 1s"
self_assert_clean watchdog

# 5. SIGKILL leaves everything behind (no trap can run); the next lab_init removes it.
self_start sigkill -c '
  source "$1"
  lab_init 20
  lab_add_hosts 1
  lab_spawn h1 sleep 300
  kill -KILL $$' child "$lib"
self_finish sigkill
((SELF_RC == 137)) || lab_fail "sigkill: status $SELF_RC, want 137"
prefix=$(awk '$1 == "prefix" {print $2}' "$SELF_WORK/sigkill.report")
# A lab run in parallel (ctest -j2) may reap them as soon as the killed shell is gone; then
# its own log must show that no trap of the killed run cleaned up.
if ! ip netns list | grep -q "^$prefix-h1"; then
  grep -q "cleaned up $prefix" "$SELF_WORK/sigkill.out" &&
    lab_fail "sigkill: its namespaces were cleaned up by the killed run itself"
  echo "note: another run reaped $prefix before it was looked at"
fi
self_start reaper -c 'source "$1"; lab_init 20; lab_add_hosts 1' child "$lib"
self_finish reaper
((SELF_RC == 0)) || lab_fail "reaper: status $SELF_RC"
# A lab run in parallel (ctest -j2) may have reaped it first; either way it must be gone now.
grep -qF "removing stale namespace $prefix-h1" "$SELF_WORK/reaper.out" ||
  echo "note: another run reaped $prefix first"
self_assert_clean sigkill
self_assert_clean reaper
