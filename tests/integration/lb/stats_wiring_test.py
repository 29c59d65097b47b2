#!/usr/bin/env python3
"""tandem-lb's statistics as an operator meets them: the stats socket (a real unix client),
the stats page with its admin form, and the Prometheus exporter, against the real binary on
loopback with two small upstreams. Usage: stats_wiring_test.py BIN_DIR SOURCE_DIR"""

import base64
import http.client
import http.server
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lbtest import free_port, stats_command  # noqa: E402

BIN, SRC = sys.argv[1], sys.argv[2]
WORK = tempfile.mkdtemp(prefix="tandem-stats-")
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))


class Named(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def upstream(name):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Named)
    srv.daemon_threads = True
    srv.name = name
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def cli(path, line, timeout=5):
    """One-shot: a line in, everything until the server closes out."""
    return stats_command(path, line, timeout)


def request(port, method, target, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request(method, target, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data.decode("utf-8", "replace")


def traffic(port, n):
    return "".join(request(port, "GET", "/")[2] for _ in range(n))


def server_rows(port_or_sock):
    rows = {}
    for line in cli(port_or_sock, "show stat").splitlines():
        f = line.split(",")
        if len(f) > 20 and not line.startswith("#"):
            rows[(f[0], f[1])] = {"status": f[17], "weight": f[18], "stot": f[7]}
    return rows


def main():
    up1, up2 = upstream("1"), upstream("2")
    port = free_port()
    admin_sock = os.path.join(WORK, "admin.sock")
    user_sock = os.path.join(WORK, "user.sock")
    cfg = os.path.join(WORK, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
  nbthread 2
  stats socket {admin_sock} mode 660 level admin
  stats socket {user_sock} mode 600 level user
  stats timeout 1s
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:{port}
  http-request use-service prometheus-exporter if {{ path /metrics }}
  stats enable
  stats uri /stats
  stats refresh 5s
  stats realm Tandem
  stats auth admin:secret
  stats admin if TRUE
  default_backend be
backend be
  balance roundrobin
  server s1 127.0.0.1:{up1.server_address[1]}
  server s2 127.0.0.1:{up2.server_address[1]}
""")
    log = open(os.path.join(WORK, "lb.log"), "w")
    lb = subprocess.Popen([os.path.join(BIN, "tandem-lb"), "-f", cfg], stdout=log, stderr=log)
    try:
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(user_sock):
            time.sleep(0.05)
        time.sleep(0.2)
        run_checks(port, admin_sock, user_sock)
    finally:
        lb.send_signal(signal.SIGTERM)
        try:
            lb.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lb.kill()
            lb.wait()
        log.close()
    check("socket files removed at exit",
          not os.path.exists(admin_sock) and not os.path.exists(user_sock))
    if results["failed"]:
        print(open(os.path.join(WORK, "lb.log")).read()[-3000:])


def run_checks(port, admin_sock, user_sock):
    # The socket itself.
    check("admin socket mode 660", stat.S_IMODE(os.stat(admin_sock).st_mode) == 0o660,
          oct(os.stat(admin_sock).st_mode))
    check("user socket mode 600", stat.S_IMODE(os.stat(user_sock).st_mode) == 0o600)
    want = open(os.path.join(SRC, "tests/unit/lb/stats/testdata/show_stat.csv")).readline()
    got = cli(admin_sock, "show stat")
    check("show stat header is haproxy's", got.splitlines()[0] + "\n" == want,
          got.splitlines()[0][:80])
    check("show stat ends with an empty line", got.endswith("\n\n"))
    info = cli(user_sock, "show info")
    check("show info names the process", "Name: tandem-lb" in info and f"Pid: " in info, info[:200])
    if shutil.which("socat"):
        out = subprocess.run(["socat", "stdio", f"unix-connect:{admin_sock}"], input=b"show info\n",
                             capture_output=True, timeout=10).stdout.decode()
        check("socat stdio unix-connect works", "Nbthread: 2" in out, out[:200])

    # Traffic follows the runtime API.
    check("round robin to start with", traffic(port, 4) == "1212")
    check("disable server answers nothing", cli(admin_sock, "disable server be/s1") == "\n")
    check("disabled server gets no traffic", traffic(port, 4) == "2222")
    check("disabled server shows MAINT", server_rows(admin_sock)[("be", "s1")]["status"] == "MAINT")
    cli(admin_sock, "enable server be/s1")
    seq = traffic(port, 4)
    check("enabled again", sorted(seq) == ["1", "1", "2", "2"], seq)
    cli(admin_sock, "set weight be/s1 3")
    seq = traffic(port, 8)
    check("set weight 3:1", seq.count("1") == 6, seq)
    check("get weight", cli(user_sock, "get weight be/s1").startswith("3 (initial 1)"))
    cli(admin_sock, "set weight be/s1 1; set server be/s2 state drain")
    check("drained server gets no traffic", traffic(port, 4) == "1111")
    check("drained server shows DRAIN", server_rows(admin_sock)[("be", "s2")]["status"] == "DRAIN")
    cli(admin_sock, "set server be/s2 state ready")
    check("user level refused", cli(user_sock, "disable server be/s1").startswith("Permission denied"))
    check("unknown server", cli(admin_sock, "disable server be/nope").startswith("No such server."))

    # Interactive mode, idle timeout, line cap.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(admin_sock)
    s.sendall(b"prompt\n")
    first = s.recv(100)
    s.sendall(b"show cli level\n")
    time.sleep(0.2)
    second = s.recv(100)
    check("prompt mode", first == b"\n> " and second == b"admin\n\n> ", repr((first, second)))
    t0 = time.time()
    rest = s.recv(100)  # stats timeout 1s: the server closes
    check("idle session closed after stats timeout", rest == b"" and 0.5 < time.time() - t0 < 3,
          f"{time.time() - t0:.1f}s {rest!r}")
    s.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(admin_sock)
    try:
        s.sendall(b"x" * 40000)
        closed = s.recv(100) == b""
    except OSError:
        closed = True
    check("over-long line closes the session", closed)
    s.close()

    # The stats page.
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:secret").decode()}
    status, headers, _ = request(port, "GET", "/stats")
    check("page without credentials is 401", status == 401 and "Tandem" in headers.get("www-authenticate", ""),
          f"{status} {headers}")
    status, headers, body = request(port, "GET", "/stats", headers=auth)
    check("page is served", status == 200 and "text/html" in headers.get("content-type", "")
          and "s1" in body and "s2" in body, f"{status}")
    check("stats refresh", headers.get("refresh") == "5", str(headers))
    status, headers, body = request(port, "GET", "/stats;csv", headers=auth)
    check(";csv is haproxy's CSV", status == 200 and body.splitlines()[0] + "\n" == want, body[:80])
    status, headers, _ = request(port, "POST", "/stats", body="s=s1&action=drain&b=be",
                                 headers={**auth, "Content-Type": "application/x-www-form-urlencoded"})
    check("admin POST answers 303", status == 303 and headers.get("location", "").endswith(";st=DONE"),
          f"{status} {headers}")
    check("admin POST drained s1", server_rows(admin_sock)[("be", "s1")]["status"] == "DRAIN")
    request(port, "POST", "/stats", body="s=s1&action=ready&b=be", headers=auth)
    check("admin POST ready again", server_rows(admin_sock)[("be", "s1")]["status"] != "DRAIN")
    status, _, _ = request(port, "POST", "/stats", body="s=s1&action=ready&b=be&" + "x" * 40000,
                           headers=auth)
    check("over-large POST body is 413", status == 413, str(status))
    seq = traffic(port, 4)
    check("traffic after the page", sorted(seq) == ["1", "1", "2", "2"], seq)

    # tandem status reads the same socket.
    tandem = os.path.join(BIN, "tandem")
    if os.path.exists(tandem):
        import json
        r = subprocess.run([tandem, "status", "--json", "--lb-socket", admin_sock, "--vrrp-socket",
                            os.path.join(WORK, "none.sock")], capture_output=True, timeout=10)
        try:
            lb = json.loads(r.stdout)["tandem-lb"]
            be = [p for p in lb["proxies"] if p["name"] == "be"][0]
            ok = (r.returncode == 1 and lb["running"] and lb["threads"] == 2 and
                  [s["name"] for s in be["servers"]] == ["s1", "s2"] and
                  be["backend"]["status"] == "UP" and be["servers"][0]["sessions_total"] > 0)
        except (ValueError, KeyError, IndexError) as e:
            ok, lb = False, str(e)
        check("tandem status --json", ok, f"{r.returncode} {r.stdout[:300]!r}")
        r = subprocess.run([tandem, "status", "--lb-socket", admin_sock, "--vrrp-socket",
                            os.path.join(WORK, "none.sock")], capture_output=True, timeout=10)
        text = r.stdout.decode()
        check("tandem status text", "BACKEND" in text and any(
            l.split()[:3] == ["be", "s2", "no"] for l in text.splitlines() if l.strip()), text)
        r = subprocess.run([tandem, "status", "--lb-socket", os.path.join(WORK, "gone.sock"),
                            "--vrrp-socket", os.path.join(WORK, "none.sock")],
                           capture_output=True, timeout=10)
        check("tandem status without tandem-lb", r.returncode == 2 and
              b"stats socket" in r.stdout, r.stdout.decode())

    # Prometheus.
    status, headers, body = request(port, "GET", "/metrics")
    check("prometheus exporter", status == 200 and headers.get("content-type") == "text/plain; version=0.0.4"
          and 'haproxy_server_status{proxy="be",server="s1",state="UP"} 1' in body, f"{status} {body[:200]}")
    time.sleep(1.2)  # the view is refreshed every second
    _, _, body = request(port, "GET", "/metrics")
    check("prometheus counts the traffic",
          any(l.startswith('haproxy_backend_sessions_total{proxy="be"}') and float(l.split()[-1]) >= 20
              for l in body.splitlines()), "")


def refused_service():
    cfg = os.path.join(WORK, "bad.cfg")
    with open(cfg, "w") as f:
        f.write(f"""defaults
  mode http
frontend fe
  bind 127.0.0.1:{free_port()}
  http-request use-service nope
""")
    r = subprocess.run([os.path.join(BIN, "tandem-lb"), "-f", cfg], capture_output=True, timeout=10)
    check("unknown use-service refused at start", r.returncode == 1 and b"'nope'" in r.stderr,
          r.stderr.decode()[:200])


try:
    main()
    refused_service()
finally:
    shutil.rmtree(WORK, ignore_errors=True)
print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
