# tests/lab/selftest.sh: shared by the tests of lib.sh itself. They run a lab script as a child
# process, let it end (well or badly), and then check from outside that nothing of it is left.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_check
SELF_WORK=$(mktemp -d "${TMPDIR:-/tmp}/tl-selftest.XXXXXX")
SELF_CHILD=""
self_cleanup() {
  if [[ -n $SELF_CHILD ]] && kill -0 "$SELF_CHILD" 2>/dev/null; then
    kill -TERM "$SELF_CHILD" 2>/dev/null || true
    wait "$SELF_CHILD" 2>/dev/null || true # errexit also applies in this trap
  fi
  rm -rf -- "$SELF_WORK"
}
trap self_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

self_root_links() { ip -o link | awk -F': ' '{print $2}' | sort; }
SELF_ROOT_LINKS=$(self_root_links)

# self_start NAME BASH-ARGS...: run a child bash with LAB_REPORT set, in the background; its
# output goes to $SELF_WORK/NAME.out, its report to $SELF_WORK/NAME.report. Sets SELF_CHILD.
self_start() {
  local name=$1
  shift
  : >"$SELF_WORK/$name.report"
  LAB_REPORT=$SELF_WORK/$name.report bash "$@" >"$SELF_WORK/$name.out" 2>&1 &
  SELF_CHILD=$!
}

# self_finish NAME: wait for the child and set SELF_RC; 77 skips this test too. The deadline
# is past the children's own watchdogs (20 s), which end them with a clean-up first.
self_finish() {
  local name=$1
  lab_poll 25 self_child_gone || lab_fail "$name: child still running after 25 s"
  SELF_RC=0
  wait "$SELF_CHILD" || SELF_RC=$?
  SELF_CHILD=""
  echo "--- output of $name (status $SELF_RC)"
  sed 's/^/  | /' "$SELF_WORK/$name.out"
  if ((SELF_RC == 77)); then
    lab_skip "$name: the child skipped"
  fi
}
self_child_gone() { ! kill -0 "$SELF_CHILD" 2>/dev/null; }

# self_assert_clean NAME: the run reported in NAME.report left no namespace, process,
# directory or root-namespace interface behind.
self_assert_clean() {
  local name=$1 report=$SELF_WORK/$1.report prefix dir pid left new
  prefix=$(awk '$1 == "prefix" {print $2}' "$report")
  dir=$(awk '$1 == "dir" {print $2}' "$report")
  [[ -n $prefix && -n $dir ]] || lab_fail "$name: no prefix reported"
  [[ $(awk '$1 == "ns"' "$report" | wc -l) -ge 2 ]] || lab_fail "$name: no namespaces reported"
  left=$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}')
  [[ -z $left ]] || lab_fail "$name: namespaces left behind: $left"
  [[ ! -e $dir ]] || lab_fail "$name: run directory $dir left behind"
  while read -r pid; do
    # Orphans are reaped by init; give it a moment.
    lab_poll 2 self_pid_gone "$pid" || lab_fail "$name: spawned pid $pid still runs"
  done < <(awk '$1 == "pid" {print $2}' "$report")
  new=$(comm -13 <(echo "$SELF_ROOT_LINKS") <(self_root_links))
  [[ -z $new ]] || lab_fail "$name: new interfaces in the root namespace: $new"
  echo "$name: $prefix cleaned up"
}
self_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

self_expect_output() {
  grep -qF -- "$2" "$SELF_WORK/$1.out" || lab_fail "$1: output lacks '$2'"
}
