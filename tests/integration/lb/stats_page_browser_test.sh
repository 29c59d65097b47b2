#!/usr/bin/env bash
# The stats page as a browser shows it: tandem-lb with two backends, one server put in
# maintenance over the stats socket and one dead upstream, the page loaded by headless
# Chromium (--dump-dom) and checked for every proxy and server with its state, then a
# screenshot. Usage: stats_page_browser_test.sh BIN_DIR OUT_DIR   (exit 77: no chromium)
set -u
bin=$1
out=${2:-$(mktemp -d)}
browser=$(command -v chromium || true)
if [ -z "$browser" ]; then
  echo "skip: no chromium binary (scripts/install-deps installs Debian's chromium)"
  exit 77
fi
for tool in python3 socat curl; do
  command -v "$tool" >/dev/null || { echo "skip: $tool missing"; exit 77; }
done
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-page.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
passes=0
failures=0
ok() { echo "ok   $1"; passes=$((passes + 1)); }
bad() { echo "FAIL $1"; failures=$((failures + 1)); }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up1=$(free_port); up2=$(free_port); dead=$(free_port); lbport=$(free_port)
for p in $up1 $up2; do
  mkdir -p "$work/www$p" && echo "hello $p" > "$work/www$p/index.html"
  python3 -m http.server "$p" --bind 127.0.0.1 --directory "$work/www$p" >/dev/null 2>&1 &
  pids+=($!)
done
cat > "$work/haproxy.cfg" <<EOF
global
  stats socket $work/admin.sock mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend www
  bind 127.0.0.1:$lbport
  stats enable
  stats uri /stats
  stats admin if TRUE
  use_backend api if { path_beg /api }
  default_backend web
backend web
  balance roundrobin
  server web1 127.0.0.1:$up1 check inter 300ms
  server web2 127.0.0.1:$up2 check inter 300ms
backend api
  server api1 127.0.0.1:$up2 check inter 300ms
  server api2 127.0.0.1:$dead check inter 300ms
EOF
"$bin/tandem-lb" -f "$work/haproxy.cfg" >"$work/lb.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$work/admin.sock" ] && break; sleep 0.1; done
# Traffic once the upstreams answer and their first checks passed.
for _ in $(seq 50); do
  n=$(echo "show stat" | socat -t 5 stdio "unix-connect:$work/admin.sock" | grep -cE '^(web,web1|web,web2|api,api1),.*,UP,')
  [ "$n" = 3 ] && break
  sleep 0.1
done
echo "disable server web/web2" | socat -t 5 stdio "unix-connect:$work/admin.sock" >/dev/null
served=0
for _ in $(seq 10); do
  [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lbport/")" = 200 ] && served=$((served + 1))
done
if [ "$served" -eq 10 ]; then ok "10 requests served"; else bad "10 requests served ($served)"; fi
sleep 2  # checks take api2 down; the view is refreshed every second

url="http://127.0.0.1:$lbport/stats"
chrome() {
  timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d "$work/chrome.XXXXXX")" "$@" 2>>"$work/chrome.log"
}
chrome --dump-dom "$url;norefresh" > "$work/dom.html"
if [ -s "$work/dom.html" ]; then ok "chromium loaded the page"; else bad "chromium loaded the page"; fi

# Each server's row: its name and its status cell in the same <tr>.
row_state() {  # row_state PROXY SERVER -> the status text of that row
  python3 - "$work/dom.html" "$1" "$2" <<'PY'
import html.parser, sys
path, proxy, server = sys.argv[1:]
# Each proxy's table follows an <h2> with its name.
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.rows = []; self.cur = None; self.table = None; self.in_h2 = False
    def handle_starttag(self, tag, attrs):
        if tag == "h2": self.in_h2 = True; self.table = ""
        if tag == "tr": self.cur = []
        if tag in ("td", "th") and self.cur is not None: self.cur.append("")
    def handle_endtag(self, tag):
        if tag == "h2": self.in_h2 = False
        if tag == "tr" and self.cur is not None: self.rows.append((self.table, self.cur)); self.cur = None
    def handle_data(self, d):
        if self.in_h2: self.table += d.strip()
        elif self.cur: self.cur[-1] += d
p = P(); p.feed(open(path).read())
for table, cells in p.rows:
    cells = [c.strip() for c in cells]
    if server in cells and table == proxy:
        for c in cells:
            for s in ("MAINT", "DRAIN", "NOLB", "DOWN", "UP", "OPEN", "no check"):
                if c.startswith(s): print(s); sys.exit(0)
print("?")
PY
}
for want in "web web1 UP" "web web2 MAINT" "api api1 UP" "api api2 DOWN"; do
  set -- $want
  got=$(row_state "$1" "$2")
  if [ "$got" = "$3" ]; then ok "$1/$2 is $3"; else bad "$1/$2 is $3 (page says $got)"; fi
done
for px in www web api; do
  if grep -q "$px" "$work/dom.html"; then ok "proxy $px shown"; else bad "proxy $px shown"; fi
done
chrome --screenshot="$out/stats-page.png" --window-size=1366,900 "$url;norefresh" >/dev/null
if [ -s "$out/stats-page.png" ]; then ok "screenshot $out/stats-page.png"; else bad "screenshot"; fi
if [ "$failures" -ne 0 ]; then
  tail -20 "$work/lb.log"; tail -5 "$work/chrome.log"; head -c 2000 "$work/dom.html"
fi
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
