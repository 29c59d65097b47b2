# tests/lab/vrrp_features_lib.sh: helpers shared by the tandem-vrrp lab tests (vrrp_*.sh):
# starting nodes, and the one copy of each poller they wait with (a node's state, its
# addresses, its log, its counters, a listener). Source it after lib.sh. Node N runs in host
# hN with the configuration $LAB_DIR/nodeN.conf and the control socket $LAB_DIR/nodeN.sock.
# Every predicate here answers once and at once; the tests bound their waits with
# lab_wait_for DESC TIMEOUT_S PREDICATE ARGS...

vf_bin=${TANDEM_BIN:?TANDEM_BIN must name the folder of the built programs}
declare -A VF_PID VF_LOG

# vf_notify_scripts N: $LAB_DIR/notify-N.sh (the generic notify) and notify-N-master.sh,
# -backup.sh, -fault.sh (the specific ones); all append one line to $LAB_DIR/notify-N.log,
# the specific ones as "notify_<state>" with their arguments (there should be none).
vf_notify_scripts() {
  local n=$1 s
  cat >"$LAB_DIR/notify-$n.sh" <<SH
#!/bin/sh
echo "\$*" >> $LAB_DIR/notify-$n.log
SH
  for s in master backup fault; do
    cat >"$LAB_DIR/notify-$n-$s.sh" <<SH
#!/bin/sh
echo "notify_$s\${*:+ \$*}" >> $LAB_DIR/notify-$n.log
SH
  done
  chmod 755 "$LAB_DIR"/notify-"$n"*.sh
}

# vf_notify_conf N: the notify lines of an instance of node N.
vf_notify_conf() {
  local n=$1
  printf '    notify %s\n' "$LAB_DIR/notify-$n.sh"
  printf '    notify_master %s\n' "$LAB_DIR/notify-$n-master.sh"
  printf '    notify_backup %s\n' "$LAB_DIR/notify-$n-backup.sh"
  printf '    notify_fault %s\n' "$LAB_DIR/notify-$n-fault.sh"
}

# vf_start N: start node N (tandem-vrrp in the foreground, logging to stderr).
vf_start() {
  local n=$1
  lab_spawn "h$n" "$vf_bin/tandem-vrrp" -n -l -f "$LAB_DIR/node$n.conf" \
    --control-socket "$LAB_DIR/node$n.sock"
  # shellcheck disable=SC2034 # for the tests that source this file
  VF_PID[$n]=$LAB_PID
  VF_LOG[$n]=$LAB_LOG_DIR/h$n-${#LAB_PIDS[@]}-tandem-vrrp.log # as lab_spawn names it
}

vf_ctl() { socat -t 2 - "UNIX-CONNECT:$LAB_DIR/node$1.sock" <<<"$2"; }
# vf_state N [INSTANCE]: the state node N reports for INSTANCE (VI_1 unless given).
vf_state() { vf_ctl "$1" "show state" | awk -v i="${2:-VI_1}" '$1 == i {print $2}'; }
# vf_is_state N STATE [INSTANCE]: whether INSTANCE (VI_1 unless given) of node N is in STATE.
vf_is_state() { [[ $(vf_state "$1" "${3:-VI_1}") == "$2" ]]; }
# vf_jq N FILTER: the filter applied to node N's "show state json".
vf_jq() { vf_ctl "$1" "show state json" | jq -r "$2"; }
vf_is_jq() { [[ $(vf_jq "$1" "$2") == "$3" ]]; }
# vf_prio N: the effective priority of node N's first instance.
vf_prio() { vf_jq "$1" '.instances[0].effective_priority'; }
# vf_rx_at_least N COUNT: node N's first instance has received at least COUNT adverts. Prints
# the count, for lab_wait_for's message when it times out.
vf_rx_at_least() {
  local rx
  rx=$(vf_jq "$1" '.instances[0].counters.adverts_rx')
  echo "adverts_rx=$rx"
  ((${rx:-0} >= $2))
}

# vf__addrs N ADDR: the listing of node N's eth0 addresses of ADDR's family (IPv4 or IPv6).
# The listing is read whole first: ip writes one line at a time, and under pipefail a
# "| grep -q" that stops at the first match can turn ip's SIGPIPE into a false answer.
vf__addrs() {
  local fam=-4
  [[ $2 == *:* ]] && fam=-6
  lab_exec "h${1#h}" ip "$fam" -o addr show dev eth0
}
# vf_has_addr N ADDR/LEN...: node N's eth0 carries every one of the addresses. N is a host
# number or name (2 or h2).
vf_has_addr() {
  local n=$1 a out
  shift
  for a in "$@"; do
    out=$(vf__addrs "$n" "$a") || return 1
    grep -q " $a " <<<"$out" || return 1
  done
}
# vf_no_addr N ADDR/LEN...: node N's eth0 carries none of the addresses (false as well when
# the listing cannot be read).
vf_no_addr() {
  local n=$1 a out
  shift
  for a in "$@"; do
    out=$(vf__addrs "$n" "$a") || return 1
    grep -q " $a " <<<"$out" && return 1
  done
  return 0
}

# vf_vip_only_on N ADDR/LEN HOSTS...: the address on node N and on no other of HOSTS.
vf_vip_only_on() {
  local n=$1 addr=$2 h
  shift 2
  vf_has_addr "$n" "$addr" || return 1
  for h in "$@"; do
    [[ $h == "$n" ]] && continue
    vf_no_addr "$h" "$addr" || return 1
  done
  return 0
}

# vf_listening N PORT: a TCP socket of host N listens on PORT (the listing read whole first).
vf_listening() {
  local out
  out=$(lab_exec "h${1#h}" ss -ltn "sport = :$2") || return 1
  grep -q LISTEN <<<"$out"
}

# vf_tcpdump HOST ARGS...: start tcpdump ARGS... on host HOST (N or hN) with line-buffered
# output and wait (up to 5 s) until it listens. Its output is in VF_TCPDUMP_LOG.
vf_tcpdump() {
  local host=h${1#h}
  shift
  lab_spawn "$host" tcpdump -l "$@"
  VF_TCPDUMP_LOG=$LAB_LOG_DIR/$host-${#LAB_PIDS[@]}-tcpdump.log # as lab_spawn names it
  lab_wait_for "tcpdump on $host listening" 5 grep -q "listening on" "$VF_TCPDUMP_LOG"
}

vf_exited() { ! kill -0 "$1" 2>/dev/null; }
vf_now_ms() { echo $((${EPOCHREALTIME/[.,]/} / 1000)); }
# vf_count N PATTERN / vf_logged N PATTERN: how many lines of node N's log match PATTERN
# (grep's basic regex) / whether one does.
vf_count() { grep -c -- "$2" "${VF_LOG[$1]}" || true; }
vf_logged() { grep -q -- "$2" "${VF_LOG[$1]}"; }

# vf_entered_ms N STATE [INSTANCE]: ms since the epoch of node N's last
# "(INSTANCE) Entering STATE STATE" (INSTANCE VI_1 unless given).
vf_entered_ms() {
  local line ts
  line=$(grep "(${3:-VI_1}) Entering $2 STATE" "${VF_LOG[$1]}" | tail -1)
  [[ -n $line ]] || return 1
  ts=${line%% *}
  date -d "${ts/T/ } UTC" +%s%3N
}

vf_lines_at_least() { [[ -f $1 && $(wc -l <"$1") -ge $2 ]]; }

# vf_expect_file FILE EXPECTED DESC [WAIT_S]: FILE's content is EXPECTED. Waits up to WAIT_S
# (3 unless given; 0: one look) for FILE to have as many lines, then compares.
vf_expect_file() {
  local file=$1 want=$2 desc=$3 wait=${4:-3} n
  n=$(printf '%s\n' "$want" | wc -l)
  lab_poll "$wait" vf_lines_at_least "$file" "$n" || true
  local got
  got=$(cat "$file" 2>/dev/null || true)
  if [[ $got != "$want" ]]; then
    lab_log "$desc: expected:"
    printf '%s\n' "$want" | sed 's/^/    /' >&2
    lab_log "$desc: got:"
    printf '%s\n' "$got" | sed 's/^/    /' >&2
    lab_fail "$desc: wrong notify calls"
  fi
}

# vf_within DESC MEASURED_MS BOUND_MS: fail when MEASURED_MS > BOUND_MS, or when it is
# negative (a time read from a log that lacks the line comes out so).
vf_within() {
  lab_log "$1: ${2} ms (bound ${3} ms)"
  (($2 <= $3)) || lab_fail "$1 took ${2} ms > ${3} ms"
  (($2 >= 0)) || lab_fail "$1: ${2} ms is before the event; the log lacks the transition?"
}

# vf_unicast_conf N PEER PRIORITY [INSIDE] [BEFORE]: node N's configuration: one VRRPv3
# instance VI_1 at 0.1 s, unicast between hosts N and PEER, carrying VF_VIP (198.18.0.100/24
# unless set). INSIDE is extra lines for the instance block; BEFORE goes ahead of it (the
# track_* blocks the instance names).
vf_unicast_conf() {
  local n=$1 peer=$2 prio=$3 inside=${4:-} before=${5:-}
  cat >"$LAB_DIR/node$n.conf" <<CONF
$before
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority $prio
    version 3
    advert_int 0.1
    unicast_src_ip $(lab_ip4 "$n")
    unicast_peer {
        $(lab_ip4 "$peer")
    }
    virtual_ipaddress {
        ${VF_VIP:-198.18.0.100/24} dev eth0
    }
$inside
}
CONF
}
