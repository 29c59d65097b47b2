# tests/lab/lib.sh: build a throw-away network of hosts in network namespaces for lab tests.
#
# Source it from a lab test, then:
#   lab_init [WATCHDOG_S]     skip (exit 77) unless root and netns work; set up prefix, dir, traps
#   lab_add_hosts N           hosts h1..hN, each eth0 on one bridge, 198.18.0.N/24, 2001:db8::N/64
#   lab_exec HOST CMD...      run CMD in a host's namespace (HOST: 1, h1 or br)
#   lab_spawn HOST CMD...     start CMD in the background there; pid in LAB_PID, killed at the end
#   lab_wait_for DESC T CMD.. poll CMD every 20 ms until it succeeds, or fail after T seconds
#
# Every name starts with LAB_PREFIX ("tl" + pid + 4 random hex digits), so parallel runs never
# share a namespace. Nothing is created in the root namespace: each veth pair is made directly
# inside its two namespaces. On exit (normal, error, INT, TERM or the watchdog) spawned
# processes are killed by pid and process group, the namespaces deleted, and the run's
# directory removed (kept with LAB_KEEP=1). On failure the logs are printed first.
#
# Environment: LAB_KEEP=1 keeps ${TMPDIR:-/tmp}/$LAB_PREFIX; LAB_TIMEOUT overrides the
# watchdog; LAB_REPORT=FILE appends "prefix/dir/ns/pid" lines for tests of this library.

# Defaults a test may read. Host N gets .N / ::N; keep N <= 99 so .100-.254 stay free for VIPs.
LAB_IP4_NET=198.18.0
LAB_IP4_PLEN=24
LAB_IP6_NET=2001:db8:
LAB_IP6_PLEN=64
LAB_MAX_HOSTS=99

LAB_PREFIX=""
LAB_DIR=""
LAB_LOG_DIR=""
LAB_BR_NS=""
LAB_HOSTS=0
LAB_NAMESPACES=()
LAB_PIDS=()
LAB_DEFERRED=()
LAB_PID=""
LAB__OWNER=""
LAB__CLEANED=0
LAB__T0=""
LAB__WATCHDOG=""

lab_log() {
  local now=${EPOCHREALTIME/[.,]/} t0=${LAB__T0:-${EPOCHREALTIME/[.,]/}}
  local ms=$(((now - t0) / 1000))
  printf 'lab [+%d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2
}

lab_fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

lab_skip() {
  printf 'SKIP: %s\n' "$*" >&2
  exit 77
}

lab__report() {
  if [[ -n ${LAB_REPORT:-} ]]; then
    printf '%s\n' "$*" >>"$LAB_REPORT"
  fi
}

# Prerequisites only; creates nothing. Exits 77 with the reason when the lab cannot run here.
lab_check() {
  if [[ $(id -u) != 0 ]]; then
    lab_skip "lab tests need root to create network namespaces (run as root, e.g. in CI)"
  fi
  command -v ip >/dev/null 2>&1 || lab_skip "the 'ip' command (iproute2) is not installed"
}

# lab_init [WATCHDOG_S]: prerequisites, unique prefix, per-run directory, clean-up traps, the
# bridge namespace and a watchdog that ends the run (with clean-up) after WATCHDOG_S seconds,
# so that a hung test is cleaned up before ctest's TIMEOUT kills it with SIGKILL.
lab_init() {
  local watchdog=${LAB_TIMEOUT:-${1:-100}}
  lab_check
  [[ -z $LAB__OWNER ]] || lab_fail "lab_init called twice"
  LAB__T0=${EPOCHREALTIME/[.,]/}
  LAB__OWNER=$BASHPID
  LAB_PREFIX=$(printf 'tl%d%04x' "$$" $((RANDOM % 65536)))
  LAB_DIR=${TMPDIR:-/tmp}/$LAB_PREFIX
  LAB_LOG_DIR=$LAB_DIR/logs
  LAB_BR_NS=$LAB_PREFIX-br

  trap 'lab__cleanup' EXIT
  trap 'lab_log "interrupted (SIGINT)"; exit 130' INT
  trap 'lab_log "terminated (SIGTERM)"; exit 143' TERM
  if [[ $- == *e* ]]; then
    # With errexit, say which command ended the run; the EXIT trap then cleans up.
    set -o errtrace
    trap 'lab__on_err $? "$BASH_COMMAND"' ERR
  fi

  mkdir -p "$LAB_LOG_DIR" || lab_fail "cannot create $LAB_LOG_DIR"
  lab__report "prefix $LAB_PREFIX"
  lab__report "dir $LAB_DIR"
  lab_log "prefix $LAB_PREFIX, dir $LAB_DIR (LAB_KEEP=1 keeps it)"
  lab__reap_stale

  local err
  if ! err=$(ip netns add "$LAB_BR_NS" 2>&1); then
    lab_skip "cannot create a network namespace here: $err"
  fi
  lab__track_ns "$LAB_BR_NS"
  ip -n "$LAB_BR_NS" link set lo up
  # The bridge only forwards: no IPv6 of its own on it or its ports (no RS, MLD, DAD noise).
  lab__sysctl "$LAB_BR_NS" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$LAB_BR_NS" link add br0 type bridge forward_delay 0 stp_state 0 mcast_snooping 0 ||
    lab_fail "cannot create a bridge in $LAB_BR_NS"
  ip -n "$LAB_BR_NS" link set br0 up

  if ((watchdog > 0)); then
    lab__start_watchdog "$watchdog"
  fi
}

lab__on_err() {
  local i
  lab_log "command failed (status $1): $2"
  for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
    printf '    at %s:%s (%s)\n' "${BASH_SOURCE[i]}" "${BASH_LINENO[i - 1]}" "${FUNCNAME[i]}" >&2
  done
}

lab__track_ns() {
  LAB_NAMESPACES+=("$1")
  printf '%s\n' "$1" >>"$LAB_DIR/namespaces"
  lab__report "ns $1"
}

lab__sysctl() {
  local ns=$1
  shift
  ip netns exec "$ns" sysctl -q -w "$@" >/dev/null || lab_fail "sysctl $* in $ns"
}

# A detached timer: when it fires it writes a marker, kills the script's foreground children
# (bash runs a trap only after the current command ends) and sends SIGTERM to the script.
# It gives up if the script is gone (its parent changed), so it never signals a reused pid.
lab__start_watchdog() {
  local secs=$1
  # shellcheck disable=SC2016 # expanded by the watchdog shell
  setsid bash -c '
    sleep "$1" || exit 0
    [[ $(ps -o ppid= -p $$ | tr -d " ") == "$2" ]] || exit 0
    echo "$1" >"$3/watchdog-fired"
    for c in $(ps -o pid= --ppid "$2"); do
      [[ $c == "$$" ]] || kill -TERM "$c" 2>/dev/null
    done
    kill -TERM "$2"' lab-watchdog "$secs" "$$" "$LAB_DIR" </dev/null >/dev/null 2>&1 &
  LAB__WATCHDOG=$!
  disown "$LAB__WATCHDOG" # no "Killed" job notice when clean-up stops it
  echo "$LAB__WATCHDOG" >"$LAB_DIR/watchdog"
}

# What a run killed with SIGKILL (e.g. by a ctest TIMEOUT) left: namespaces and directories
# named like ours whose owning shell is gone. Remove them, the processes still inside those
# namespaces and the run's watchdog, all by pid. Directories kept with LAB_KEEP=1 stay.
lab__reap_stale() {
  local ns dir owner p w
  while read -r ns _; do
    [[ $ns =~ ^tl([0-9]+)[0-9a-f]{4}-(br|h[0-9]+)$ ]] || continue
    owner=${BASH_REMATCH[1]}
    [[ -d /proc/$owner ]] && continue
    lab_log "removing stale namespace $ns (its run, pid $owner, is gone)"
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null || true
  done < <(ip netns list 2>/dev/null)
  for dir in "${TMPDIR:-/tmp}"/tl*; do
    [[ -d $dir && ${dir##*/} =~ ^tl([0-9]+)[0-9a-f]{4}$ ]] || continue
    owner=${BASH_REMATCH[1]}
    [[ -d /proc/$owner || -e $dir/kept ]] && continue
    w=$(cat "$dir/watchdog" 2>/dev/null) || w=""
    if [[ -n $w ]] && tr '\0' ' ' <"/proc/$w/cmdline" 2>/dev/null | grep -q "lab-watchdog [0-9]* $owner "; then
      lab__kill_group KILL "$w"
    fi
    lab_log "removing stale run directory $dir"
    rm -rf -- "$dir"
  done
}

# lab_ns HOST: the namespace of HOST (1, h1 or br).
lab_ns() {
  case $1 in
    br) printf '%s\n' "$LAB_BR_NS" ;;
    h[0-9]* | [0-9]*)
      local n=${1#h}
      if ! [[ $n =~ ^[0-9]+$ ]] || ((10#$n < 1 || 10#$n > LAB_HOSTS)); then
        lab_fail "no such lab host: $1"
      fi
      printf '%s-h%d\n' "$LAB_PREFIX" $((10#$n))
      ;;
    *) lab_fail "no such lab host: $1" ;;
  esac
}

# lab_ip4 N / lab_ip6 N (N or hN): host N's address, without prefix length.
lab_ip4() { printf '%s.%d\n' "$LAB_IP4_NET" $((10#${1#h})); }
lab_ip6() { printf '%s:%d\n' "$LAB_IP6_NET" $((10#${1#h})); }

# lab_add_hosts N: N more hosts. Host i is namespace $LAB_PREFIX-hi with eth0 (MAC
# 02:74:6c:00:00:ii) whose peer pi is a port of br0 in the bridge namespace.
lab_add_hosts() {
  local count=$1 i ns first=$((LAB_HOSTS + 1))
  [[ -n $LAB__OWNER ]] || lab_fail "call lab_init before lab_add_hosts"
  if ! [[ $count =~ ^[0-9]+$ ]] || ((count < 1 || LAB_HOSTS + count > LAB_MAX_HOSTS)); then
    lab_fail "lab_add_hosts: want 1..$LAB_MAX_HOSTS hosts in all, asked for $count more"
  fi
  for ((i = first; i < first + count; i++)); do
    ns=$LAB_PREFIX-h$i
    ip netns add "$ns" || lab_fail "cannot create namespace $ns"
    lab__track_ns "$ns"
    LAB_HOSTS=$i
    # Both ends are born in their namespaces; the root namespace never sees them.
    ip link add "p$i" netns "$LAB_BR_NS" type veth peer name eth0 netns "$ns" \
      address "$(printf '02:74:6c:00:00:%02x' "$i")" || lab_fail "cannot create veth for h$i"
    # No DAD (addresses usable at once, also link-local) and keep addresses over link down/up.
    lab__sysctl "$ns" net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.eth0.accept_dad=0 \
      net.ipv6.conf.eth0.keep_addr_on_down=1
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$(lab_ip4 "$i")/$LAB_IP4_PLEN" dev eth0
    ip -n "$ns" addr add "$(lab_ip6 "$i")/$LAB_IP6_PLEN" dev eth0 nodad
    ip -n "$ns" link set eth0 up
    ip -n "$LAB_BR_NS" link set "p$i" master br0 up
  done
  lab_log "hosts h$first..h$LAB_HOSTS up; namespaces: ${LAB_NAMESPACES[*]}"
}

lab_exec() {
  local ns
  ns=$(lab_ns "$1") || exit 1
  shift
  ip netns exec "$ns" "$@"
}

# lab_spawn HOST CMD...: run CMD in the background in HOST's namespace as leader of its own
# session and process group; output goes to $LAB_LOG_DIR/HOST-N-CMD.log. Sets LAB_PID.
# Returns once CMD runs inside the namespace (or has already exited), so the next step of the
# test may rely on it; it does not wait for CMD to be ready (use lab_wait_for for that).
lab_spawn() {
  local host=$1 ns log want i
  ns=$(lab_ns "$host") || exit 1
  shift
  log=$LAB_LOG_DIR/$host-$((${#LAB_PIDS[@]} + 1))-${1##*/}.log
  # In a non-interactive shell a background job is no group leader, so setsid does not fork
  # and ip netns exec execs CMD: $! is CMD's pid, its process group and its session.
  setsid ip netns exec "$ns" "$@" </dev/null >"$log" 2>&1 &
  LAB_PID=$!
  LAB_PIDS+=("$LAB_PID")
  lab__report "pid $LAB_PID"
  lab_log "spawned pid $LAB_PID in $host: $* (log $log)"
  want=$(stat -L -c 'net:[%i]' "/run/netns/$ns")
  for ((i = 0; i < 250; i++)); do
    [[ $(readlink "/proc/$LAB_PID/ns/net" 2>/dev/null) == "$want" ]] && break
    kill -0 "$LAB_PID" 2>/dev/null || break
    sleep 0.02
  done
}

# lab_defer CMD...: run CMD at clean-up, before processes are killed (last deferred first).
lab_defer() {
  LAB_DEFERRED+=("$(printf '%q ' "$@")")
}

# lab_poll TIMEOUT_S CMD...: 0 as soon as CMD succeeds, 1 at the deadline; polls every 20 ms.
# CMD's output of the last try is in $LAB_DIR/poll.out (works before lab_init too).
lab_poll() {
  local timeout=$1
  shift
  local deadline out=/dev/null
  [[ -z $LAB_DIR ]] || out=$LAB_DIR/poll.out
  deadline=$((${EPOCHREALTIME/[.,]/} + $(lab__usec "$timeout")))
  while :; do
    if "$@" >"$out" 2>&1; then
      return 0
    fi
    ((${EPOCHREALTIME/[.,]/} < deadline)) || return 1
    sleep 0.02
  done
}

# lab_wait_for DESC TIMEOUT_S CMD...: lab_poll, failing the test with DESC on timeout.
lab_wait_for() {
  local desc=$1 timeout=$2
  shift 2
  if ! lab_poll "$timeout" "$@"; then
    if [[ -n $LAB_DIR ]]; then
      lab_log "last output of: $*"
      sed 's/^/    /' "$LAB_DIR/poll.out" >&2
    fi
    lab_fail "timed out after ${timeout}s waiting for $desc"
  fi
}

lab__usec() {
  [[ $1 =~ ^([0-9]+)(\.([0-9]{1,6}))?$ ]] || lab_fail "bad number of seconds: $1"
  local frac=${BASH_REMATCH[3]}000000
  echo $((10#${BASH_REMATCH[1]} * 1000000 + 10#${frac:0:6}))
}

# Node death and revival: the node's own link goes down (the bridge port loses carrier).
lab_link_down() { lab_exec "$1" ip link set eth0 down; }
lab_link_up() { lab_exec "$1" ip link set eth0 up; }

# lab_have_netem: whether this kernel has sch_netem (some CI kernels lack it).
lab_have_netem() {
  lab_exec br tc qdisc replace dev lo root netem delay 0ms >/dev/null 2>&1 || return 1
  lab_exec br tc qdisc del dev lo root >/dev/null 2>&1 || true
}

lab_need_netem() {
  command -v tc >/dev/null 2>&1 || lab_skip "tc (iproute2) is not installed"
  lab_have_netem || lab_skip "this kernel has no netem qdisc (sch_netem); loss and delay tests cannot run"
}

# lab_netem HOST "delay 10ms loss 5%": netem on HOST's eth0 (egress); "" or "off" removes it.
lab_netem() {
  local host=$1 spec=${2:-off}
  if [[ $spec == off ]]; then
    lab_exec "$host" tc qdisc del dev eth0 root 2>/dev/null || true
    return 0
  fi
  lab_need_netem
  # shellcheck disable=SC2086 # the spec is a list of netem words
  lab_exec "$host" tc qdisc replace dev eth0 root netem $spec || lab_fail "netem '$spec' on $host"
}

# lab_dump: addresses, links and bridge ports of the whole lab, for a failing test's output.
lab_dump() {
  local ns
  for ns in "${LAB_NAMESPACES[@]}"; do
    echo "--- namespace $ns"
    ip -n "$ns" -br link 2>&1
    ip -n "$ns" -br addr 2>&1
  done
}

lab__kill_group() {
  local sig=$1 pid=$2
  kill "-$sig" -- "-$pid" 2>/dev/null
  kill "-$sig" "$pid" 2>/dev/null
}

lab__alive() {
  local pid=$1
  kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null
}

lab__cleanup() {
  local rc=$? pid ns i alive left
  # Subshells and children that sourced this file are not the owner; only the owner cleans.
  [[ $BASHPID == "$LAB__OWNER" && $LAB__CLEANED == 0 ]] || return 0
  LAB__CLEANED=1
  set +o errexit +o errtrace +o nounset
  trap - ERR INT TERM
  trap '' INT TERM # finish the clean-up even when interrupted again

  if [[ -n $LAB__WATCHDOG ]]; then
    lab__kill_group KILL "$LAB__WATCHDOG"
    if [[ -e $LAB_DIR/watchdog-fired ]]; then
      lab_log "watchdog: the run exceeded $(<"$LAB_DIR/watchdog-fired")s and was stopped"
      ((rc != 0)) || rc=1
    fi
  fi

  for ((i = ${#LAB_DEFERRED[@]} - 1; i >= 0; i--)); do
    eval "${LAB_DEFERRED[i]}" || lab_log "deferred clean-up failed: ${LAB_DEFERRED[i]}"
  done

  if ((rc != 0 && rc != 77)); then
    lab_log "run failed (status $rc); state and logs follow"
    lab_dump >&2
    for f in "$LAB_LOG_DIR"/*; do
      [[ -f $f ]] || continue
      echo "--- log $f (last 100 lines)" >&2
      tail -n 100 "$f" >&2
    done
  fi

  # Spawned processes: SIGTERM to each process group, up to 2 s to exit, then SIGKILL.
  for pid in "${LAB_PIDS[@]}"; do lab__kill_group TERM "$pid"; done
  for ((i = 0; i < 100; i++)); do
    alive=0
    for pid in "${LAB_PIDS[@]}"; do lab__alive "$pid" && alive=1; done
    ((alive)) || break
    sleep 0.02
  done
  for pid in "${LAB_PIDS[@]}"; do lab__kill_group KILL "$pid"; done
  # Whatever else still runs inside our namespaces (e.g. "lab_exec h1 cmd &") is ours too.
  for ns in "${LAB_NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  # Reap them quietly (no "Terminated" job notices). Never a bare "wait": it would wait for
  # every child of the test, not just ours.
  if ((${#LAB_PIDS[@]} > 0)); then
    wait "${LAB_PIDS[@]}" 2>/dev/null
  fi

  # Deleting a namespace destroys its end of each veth pair, and with it the peer.
  for ((i = ${#LAB_NAMESPACES[@]} - 1; i >= 0; i--)); do
    ns=${LAB_NAMESPACES[i]}
    if ! ip netns del "$ns" 2>/dev/null && [[ -e /run/netns/$ns ]]; then
      lab_log "could not delete namespace $ns"
      ((rc != 0)) || rc=1
    fi
  done
  left=$(ip netns list 2>/dev/null | grep -c "^$LAB_PREFIX-")
  if ((left > 0)); then
    lab_log "$left namespaces with prefix $LAB_PREFIX- remain"
    ((rc != 0)) || rc=1
  fi

  if [[ ${LAB_KEEP:-0} == 1 ]]; then
    : >"$LAB_DIR/kept"
    lab_log "kept $LAB_DIR"
  elif [[ -n $LAB_DIR && $LAB_DIR == */tl[0-9]* ]]; then
    rm -rf -- "$LAB_DIR"
  fi
  lab_log "cleaned up $LAB_PREFIX (status $rc)"
  exit "$rc"
}
