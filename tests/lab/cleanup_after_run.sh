#!/bin/bash
# After a successful lab run (the smoke test, in a child process) nothing of it is left: its
# namespaces, its spawned processes, its directory, and the root namespace is as before.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/selftest.sh"

self_start smoke "$(dirname "${BASH_SOURCE[0]}")/smoke_ping.sh"
self_finish smoke
((SELF_RC == 0)) || lab_fail "smoke: status $SELF_RC"
self_assert_clean smoke
