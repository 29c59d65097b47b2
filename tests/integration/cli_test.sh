#!/usr/bin/env bash
# The three programs as an operator meets them: flags, exit codes, and diagnostics that
# name file:line:col. Usage: cli_test.sh BIN_DIR SOURCE_DIR
set -u
bin=$1
src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
passes=0

check() {  # check NAME EXPECTED_STATUS PATTERN -- CMD...
  local name=$1 want=$2 pattern=$3
  shift 4
  local out status
  out=$("$@" 2>&1)
  status=$?
  if [ "$status" -ne "$want" ]; then
    echo "FAIL $name: exit $status, wanted $want"; echo "$out" | sed 's/^/    /'
    failures=$((failures + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output does not match /$pattern/"; echo "$out" | sed 's/^/    /'
    failures=$((failures + 1)); return
  fi
  echo "ok   $name"
  passes=$((passes + 1))
}

ex=$src/examples/classic

# tandem-vrrp: keepalived's flags.
check "vrrp -t accepts node A" 0 "is valid \\(1 instance" -- "$bin/tandem-vrrp" -t -f "$ex/node-a.keepalived.conf"
check "vrrp --config-test --use-file= node B" 0 "is valid \\(1 instance" -- "$bin/tandem-vrrp" --config-test "--use-file=$ex/node-b.keepalived.conf"
printf 'vrrp_instance VI_1 {\n    state MASTER\n    notify "/x.sh\n' > "$work/broken.conf"
check "vrrp -t reports file:line:col" 1 "broken.conf:3:[0-9]+: error: .*" -- "$bin/tandem-vrrp" -t -f "$work/broken.conf"
check "vrrp -t reports the unclosed block too" 1 "broken.conf:1:[0-9]+: error: .*" -- "$bin/tandem-vrrp" -t -f "$work/broken.conf"
check "vrrp -t on a missing file" 1 "$work/missing.conf" -- "$bin/tandem-vrrp" -t -f "$work/missing.conf"
check "vrrp unknown flag" 2 "unknown option '--bogus'" -- "$bin/tandem-vrrp" --bogus
check "vrrp --help" 0 "--use-file" -- "$bin/tandem-vrrp" --help
sed 's/    unicast_peer {/    unicst_peer {/' "$ex/node-a.keepalived.conf" > "$work/typo.conf"
check "vrrp -t names a misspelled keyword and suggests" 1 "typo.conf:25:5: error: unknown keyword 'unicst_peer'.*" -- "$bin/tandem-vrrp" -t -f "$work/typo.conf"
check "vrrp -t suggestion" 1 "did you mean 'unicast_peer'" -- "$bin/tandem-vrrp" -t -f "$work/typo.conf"
sed "s|/etc/keepalived/master.sh|$work/no-such-notify.sh|" "$ex/node-a.keepalived.conf" > "$work/nonotify.conf"
check "vrrp refuses to start with a missing notify script" 1 "cannot start: \\(VI_1\\) notify script: $work/no-such-notify.sh: no such file" -- "$bin/tandem-vrrp" -n -l -f "$work/nonotify.conf" --control-socket "$work/c.sock"

# tandem-lb: haproxy's flags.
check "lb -c accepts the classic haproxy.cfg" 0 "valid" -- "$bin/tandem-lb" -c -f "$ex/haproxy.cfg"
mkdir -p "$work/conf.d"
cp "$ex/haproxy.cfg" "$work/conf.d/10-main.cfg"
printf 'backend extra\n    server s1 "127.0.0.1:8080 check\n' > "$work/conf.d/20-extra.cfg"
check "lb -c on a folder reports the bad file's line" 1 "20-extra.cfg:2:[0-9]+: error: .*" -- "$bin/tandem-lb" -c -f "$work/conf.d"
printf 'frontend fe\n    bind :8080\n    defualt_backend be\nbackend be\n    server s1 127.0.0.1:80\n' > "$work/typo.cfg"
check "lb -c names a misspelled keyword" 1 "typo.cfg:3:5: error: unknown keyword 'defualt_backend'" -- "$bin/tandem-lb" -c -f "$work/typo.cfg"
check "lb -c suggests the right one" 1 "did you mean 'default_backend'" -- "$bin/tandem-lb" -c -f "$work/typo.cfg"
check "lb -cc true" 0 "" -- "$bin/tandem-lb" -cc "version_atleast(2.4)"
check "lb -cc false" 1 "" -- "$bin/tandem-lb" -cc "defined(TANDEM_SURELY_UNSET_VAR)"
check "lb -c without -f" 1 "no configuration file" -- "$bin/tandem-lb" -c
check "lb -vv" 0 "tandem-lb version" -- "$bin/tandem-lb" -vv
check "lb unknown flag" 1 "unknown option '-Z'" -- "$bin/tandem-lb" -Z

# tandem-lb serving: a web server on loopback behind it, routing by ACL, health checks.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
web_port=$(free_port)
lb_port=$(free_port)
mkdir -p "$work/www" && echo "hello from the web server" >"$work/www/index.html"
(cd "$work/www" && exec timeout 30 python3 -m http.server "$web_port" --bind 127.0.0.1 >/dev/null 2>&1) &
web_pid=$!
cat >"$work/serve.cfg" <<CFG
defaults
    mode http
    timeout connect 500ms
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:$lb_port
    acl is_status path /status-not-served
    use_backend empty if is_status
    default_backend web
backend web
    option httpchk GET /
    server w1 127.0.0.1:$web_port check inter 100 fall 1 rise 1
backend empty
    retries 0
    server none 127.0.0.1:1
CFG
timeout 30 "$bin/tandem-lb" -db -f "$work/serve.cfg" >"$work/lb.log" 2>&1 &
lb_pid=$!
get() { curl -s -m 2 -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$lb_port$1"; }
wait_status() {  # wait_status PATH CODE: up to 5 s
  for _ in $(seq 1 100); do [ "$(get "$1")" = "$2" ] && return 0; sleep 0.05; done
  return 1
}
if wait_status /index.html 200 && grep -q "hello from the web server" "$work/body"; then
  echo "ok   lb serves a request through to the web server"; passes=$((passes + 1))
else
  echo "FAIL lb serves a request through to the web server"; sed 's/^/    /' "$work/lb.log"; failures=$((failures + 1))
fi
if [ "$(get /status-not-served)" = 503 ]; then
  echo "ok   lb routes by ACL (use_backend ... if) to a backend with no server up: 503"; passes=$((passes + 1))
else
  echo "FAIL lb ACL routing"; failures=$((failures + 1))
fi
kill "$web_pid" 2>/dev/null; wait "$web_pid" 2>/dev/null
if wait_status /index.html 503 && grep -q "Server web/w1 is DOWN, reason: Layer4 connection problem" "$work/lb.log"; then
  echo "ok   lb takes a dead server out after its health check and answers 503"; passes=$((passes + 1))
else
  echo "FAIL lb health check"; sed 's/^/    /' "$work/lb.log"; failures=$((failures + 1))
fi
kill -TERM "$lb_pid" 2>/dev/null
if wait "$lb_pid"; then
  echo "ok   lb stops on SIGTERM"; passes=$((passes + 1))
else
  echo "FAIL lb exit status on SIGTERM"; failures=$((failures + 1))
fi

# tandem: the operator's command.
check "tandem --help" 0 "demo" -- "$bin/tandem" --help
check "tandem bogus" 2 "unknown command 'bogus'" -- "$bin/tandem" bogus
check "tandem status with no daemon says so" 2 "tandem-vrrp  is the daemon running\\? cannot connect to $work/none.sock" -- "$bin/tandem" status --vrrp-socket "$work/none.sock" --lb-socket "$work/none2.sock"
check "tandem status --json" 2 '"running": false' -- "$bin/tandem" status --json --vrrp-socket "$work/none.sock" --lb-socket "$work/none2.sock"
check "tandem demo reads the examples" 0 "node-a.keepalived.conf +ok" -- "$bin/tandem" demo --examples "$ex"
check "tandem demo unknown option" 2 "unknown option '--bogus'" -- "$bin/tandem" demo --bogus
check "tandem demo --bound out of range" 2 "N=SECONDS with N from 1 to 4" -- "$bin/tandem" demo --bound 7=1
check "tandem demo-web bad port" 2 "bad port 'x'" -- "$bin/tandem" demo-web --name w --port x
# The demo without root's privileges: tandem-lb on loopback over five web servers, web3 killed;
# --check fails unless the health check took web3 out and no request failed after that.
check "tandem demo --local --check" 0 "0 after the health check took web3 out" -- \
  env TMPDIR="$work" "$bin/tandem" demo --local --check --json "$work/local.json"
if grep -q '"mode": "local"' "$work/local.json" 2>/dev/null && grep -q '"within_bound": true' "$work/local.json"; then
  echo "ok   tandem demo --local --json"; passes=$((passes + 1))
else
  echo "FAIL tandem demo --local --json"; cat "$work/local.json" 2>&1 | sed 's/^/    /'; failures=$((failures + 1))
fi
if ls -d "$work"/tandem-demo-* >/dev/null 2>&1; then
  echo "FAIL tandem demo --local left its folder"; failures=$((failures + 1))
else
  echo "ok   tandem demo --local removes its folder"; passes=$((passes + 1))
fi
# As a user without privileges (when this runs as root and setpriv is there), the plain
# `tandem demo` says why the pair cannot run and runs the loopback part.
as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nobody_tmp=""
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  nobody_tmp=$(mktemp -d "${TMPDIR:-/tmp}/tandem-cli-user.XXXXXX") && chmod 777 "$nobody_tmp"
fi
if [ -n "$nobody_tmp" ] && as_user test -x "$bin/tandem" && as_user test -w "$nobody_tmp"; then
  check "tandem demo without root says so" 0 "cannot run here: it needs root" -- \
    as_user env TMPDIR="$nobody_tmp" "$bin/tandem" demo --check
  check "tandem demo --clean without root" 1 "needs root" -- as_user "$bin/tandem" demo --clean
  rm -rf "$nobody_tmp"
else
  [ -z "$nobody_tmp" ] || rm -rf "$nobody_tmp"
  echo "skip tandem demo as a user (not root, or no setpriv, or the build is not reachable)"
fi

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
