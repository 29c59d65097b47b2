#!/usr/bin/env python3
"""tandem-lb -W under load while its master reloads it again and again.

Checks that no client request fails and no connection is refused or reset across the
reloads, that old workers leave, that a broken file keeps the old worker serving and is
reported as file:line:col, that a changed file is served after the reload (another backend,
a bind added and removed), and that the old style `-sf PID` hand-over works.

Usage: lb_reload_test.py TANDEM_LB [--reloads N] [--nbthread N] [--haproxy PATH]
With --haproxy the same load and reloads run against `haproxy -W` instead (a comparison,
not a test: its figures are printed). Every loop is bounded in count and time; traffic stays
on 127.0.0.1.
"""

import argparse
import http.client
import http.server
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lbtest import Proc, free_port, stats_command  # noqa: E402

DEADLINE = time.monotonic() + 55  # ctest gives 90 s; stay well within


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- upstream (own process)


def serve_upstream(port, body):
    payload = body.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 512
        daemon_threads = True

    Server(("127.0.0.1", port), Handler).serve_forever()


def wait_port(port, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


def free_port6():
    """A free port on ::1, or None when this host has no IPv6 loopback."""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]
    except OSError:
        return None


def get(port, timeout=3.0, host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


# ---------------------------------------------------------------- the load


class Load:
    """Client threads: half open a connection per request, half keep one alive."""

    def __init__(self, port, threads=6, max_requests=200000):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = 0
        self.connections = 0
        self.failures = []
        self.idle_closed = 0  # keep-alive connections the server closed while idle (FIN seen)
        self.ka_retries = 0  # closed just as the request went out: retried (RFC 9112 9.3.1)
        self.max_requests = max_requests
        self.threads = [
            threading.Thread(target=self.run, args=(i % 2 == 1,), daemon=True)
            for i in range(threads)
        ]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(10)

    def fail(self, what):
        with self.lock:
            self.failures.append(what)

    def count(self, requests=0, connections=0):
        with self.lock:
            self.requests += requests
            self.connections += connections
            return self.requests

    def run(self, keep_alive):
        conn = None
        reused = False
        while not self.stop.is_set() and time.monotonic() < DEADLINE:
            if self.count() >= self.max_requests:
                break
            if conn is not None and conn.sock is not None and \
                    select.select([conn.sock], [], [], 0)[0]:
                # Readable while idle: the server closed it (a stopping worker does so with
                # its idle connections). Clients check this before reusing (urllib3 does).
                conn.close()
                conn = None
                with self.lock:
                    self.idle_closed += 1
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                self.count(connections=1)
                reused = False
            try:
                conn.request("GET", "/")
                r = conn.getresponse()
                body = r.read().decode()
                if r.status != 200 or body not in ("A", "B"):
                    self.fail(f"status {r.status} body {body[:40]!r}")
                self.count(requests=1)
                if not keep_alive or r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                else:
                    reused = True
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError) as e:
                conn.close()
                conn = None
                if reused:
                    # The server closed an idle keep-alive connection while the request was
                    # on its way: nothing was answered, a client retries on a new one.
                    with self.lock:
                        self.ka_retries += 1
                else:
                    self.fail(f"{type(e).__name__}: {e}")
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = None
                self.fail(f"{type(e).__name__}: {e}")
        if conn is not None:
            conn.close()


# ---------------------------------------------------------------- processes


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return sorted(out)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


TANDEM_READY = r"master: worker \d+ \(generation \d+\) ready"
HAPROXY_READY = r"Loading success"

CONFIG = """global
    nbthread {nbthread}
    hard-stop-after 5s
{extra_global}
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout http-keep-alive 2s

frontend fe
    bind 127.0.0.1:{port}
{extra_bind}
    default_backend be

backend be
    server s1 127.0.0.1:{upstream}
"""


def write_config(path, **kw):
    kw.setdefault("extra_global", "")
    kw.setdefault("extra_bind", "")
    with open(path, "w") as f:
        f.write(CONFIG.format(**kw))


# ---------------------------------------------------------------- the checks


class Checks:
    def __init__(self):
        self.failed = 0

    def __call__(self, ok, what, detail=""):
        log(("ok   " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
        if not ok:
            self.failed += 1
        return ok


def reload_under_load(check, proc, master_pid, ready, port, reloads, label):
    """`reloads` SIGUSR2 to the master, each after the previous worker is ready."""
    load = Load(port)
    load.start()
    time.sleep(0.3)
    done = 0
    t0 = time.monotonic()
    for i in range(reloads):
        if time.monotonic() > DEADLINE - 15:
            break
        n = proc.count(ready)
        os.kill(master_pid, signal.SIGUSR2)
        if not proc.wait_log(ready, n + 1, timeout=5):
            check(False, f"{label}: reload {i + 1} became ready", proc.log()[-2000:])
            break
        done += 1
        time.sleep(random.uniform(0.1, 0.2))
    elapsed = time.monotonic() - t0
    time.sleep(0.3)
    load.finish()
    figures = (f"{label}: {load.requests} requests on {load.connections} connections, "
               f"{done} reloads in {elapsed:.1f} s, {len(load.failures)} failures, "
               f"{load.idle_closed} idle keep-alive closes seen, {load.ka_retries} keep-alive retries")
    log("FIGURES " + figures)
    return load, done


def tandem_suite(args, check, work, up_a, up_b):
    port = free_port()
    port2 = free_port()
    cfg = os.path.join(work, "lb.cfg")
    write_config(cfg, port=port, upstream=up_a, nbthread=args.nbthread)
    pidfile = os.path.join(work, "lb.pid")
    proc = Proc([args.binary, "-W", "-f", cfg, "-p", pidfile], os.path.join(work, "master.log"))
    try:
        if not check(proc.wait_log(TANDEM_READY, 1), "master starts a worker that gets ready",
                     proc.log()):
            return
        with open(pidfile) as f:
            check(int(f.read()) == proc.pid, "the pid file holds the master's pid")
        check(get(port) == (200, "A"), "the first worker serves")

        # 1. Reloads under load: nothing lost.
        load, done = reload_under_load(check, proc, proc.pid, TANDEM_READY, port,
                                       args.reloads, "tandem-lb -W")
        check(done == args.reloads, f"{args.reloads} reloads done", f"only {done}")
        check(load.requests > 0 and not load.failures,
              "no request failed and no connection was refused or reset across the reloads",
              f"{len(load.failures)} failures, first: {load.failures[:5]}")
        # Old workers finish their sessions and leave.
        end = time.monotonic() + 8
        while time.monotonic() < end and len(children_of(proc.pid)) > 1:
            time.sleep(0.05)
        kids = children_of(proc.pid)
        check(len(kids) == 1, "old workers have all left (one worker remains)", f"{kids}")
        left = proc.count(r"master: old worker \d+ \(generation \d+\) left")
        check(left >= done, "the master reaped every old worker", f"{left} of {done}")

        # 2. A broken file: the old worker keeps serving, the error names file:line:col.
        worker = children_of(proc.pid)
        with open(cfg, "a") as f:
            f.write("    balanse roundrobin\n")
        broken_line = sum(1 for _ in open(cfg))
        n = proc.count(r"reload failed")
        os.kill(proc.pid, signal.SIGUSR2)
        check(proc.wait_log(r"reload failed", n + 1), "a broken file fails the reload",
              proc.log()[-1500:])
        check(re.search(re.escape(cfg) + rf":{broken_line}:\d+", proc.log()) is not None,
              "the error is reported as file:line:col", proc.log()[-1500:])
        check(children_of(proc.pid) == worker and get(port) == (200, "A"),
              "the old worker keeps serving after the failed reload")

        # A file the loader accepts but the worker cannot serve (a server name that does not
        # resolve): the new worker exits before it is ready, the old one stays.
        with open(cfg, "w") as f:
            f.write(CONFIG.format(port=port, upstream=up_a, nbthread=args.nbthread,
                                  extra_global="", extra_bind="").replace(
                                      f"127.0.0.1:{up_a}", "no-such-host.invalid:80"))
        n = proc.count(r"reload failed")
        os.kill(proc.pid, signal.SIGUSR2)
        check(proc.wait_log(r"reload failed", n + 1) and
              "exited before accepting" in proc.log() and "no-such-host.invalid" in proc.log(),
              "a worker that cannot start fails the reload, with its reason", proc.log()[-1500:])
        check(children_of(proc.pid) == worker and get(port) == (200, "A"),
              "the old worker keeps serving after the new one failed")

        # 3. A changed file: another backend server and a second bind, seen after the reload.
        extra = f"    bind 127.0.0.1:{port2}"
        port6 = free_port6()
        if port6:
            extra += f"\n    bind [::1]:{port6} v6only"
        write_config(cfg, port=port, upstream=up_b, nbthread=args.nbthread, extra_bind=extra)
        n = proc.count(TANDEM_READY)
        os.kill(proc.pid, signal.SIGUSR2)
        check(proc.wait_log(TANDEM_READY, n + 1), "the changed file reloads", proc.log()[-1500:])
        check(get(port) == (200, "B"), "the new backend server answers after the reload")
        check(get(port2) == (200, "B"), "the added bind serves after the reload")
        if port6:
            check(get(port6, host="::1") == (200, "B"), "the added IPv6 bind serves")
        # The bind goes away: its socket is closed once the old worker has left.
        write_config(cfg, port=port, upstream=up_b, nbthread=args.nbthread)
        n = proc.count(TANDEM_READY)
        os.kill(proc.pid, signal.SIGUSR2)
        check(proc.wait_log(TANDEM_READY, n + 1), "the bind's removal reloads")
        check(proc.wait_log(rf"closing 127.0.0.1:{port2}", 1), "the removed bind is closed")
        try:
            get(port2, timeout=1)
            refused = False
        except OSError:
            refused = True
        check(refused, "the removed bind refuses connections")
        check(get(port) == (200, "B"), "the kept bind still serves")

        # 4. SIGTERM to the master: the workers stop, the master leaves, the pid file goes.
        workers = children_of(proc.pid)
        rc = proc.stop(signal.SIGTERM, timeout=10)
        check(rc == 0, "the master stops on SIGTERM with status 0", f"status {rc}")
        check(not any(alive(w) for w in workers), "no worker outlives the master")
        check(not os.path.exists(pidfile), "the pid file is removed")
    finally:
        if proc.p.poll() is None:
            for w in children_of(proc.pid):
                os.kill(w, signal.SIGKILL)
            proc.stop(signal.SIGKILL)


def sf_suite(args, check, work, up_a):
    """haproxy's old reload: a new process binds beside the old (SO_REUSEPORT), then -sf."""
    port = free_port()
    cfg = os.path.join(work, "sf.cfg")
    write_config(cfg, port=port, upstream=up_a, nbthread=args.nbthread)
    old = Proc([args.binary, "-f", cfg], os.path.join(work, "sf-old.log"))
    new = None
    try:
        check(wait_port(port) and get(port) == (200, "A"), "-sf: the first process serves")
        load = Load(port, threads=4)
        load.start()
        time.sleep(0.3)
        new = Proc([args.binary, "-f", cfg, "-sf", str(old.pid)], os.path.join(work, "sf-new.log"))
        try:
            old.p.wait(8)
            gone = True
        except subprocess.TimeoutExpired:
            gone = False
        time.sleep(0.3)
        load.finish()
        log(f"FIGURES -sf: {load.requests} requests on {load.connections} connections, "
            f"{len(load.failures)} failures, {load.ka_retries} keep-alive retries")
        check(gone and old.p.returncode == 0, "-sf: the old process leaves gracefully",
              f"{old.log()[-800:]}")
        check(new.p.poll() is None and get(port) == (200, "A"), "-sf: the new process serves")
    finally:
        old.stop(signal.SIGKILL)
        if new:
            new.stop(signal.SIGTERM)


def notify_suite(args, check, work, up_a):
    """-Ws: systemd's notify protocol on $NOTIFY_SOCKET (READY, RELOADING, STOPPING)."""
    port = free_port()
    cfg = os.path.join(work, "notify.cfg")
    write_config(cfg, port=port, upstream=up_a, nbthread=args.nbthread)
    path = os.path.join(work, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(5)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    logf = open(os.path.join(work, "notify.log"), "ab")
    p = subprocess.Popen([args.binary, "-Ws", "-f", cfg], stdout=logf, stderr=subprocess.STDOUT,
                         env=env)

    def next_message():
        try:
            return sock.recv(4096).decode()
        except OSError:
            return ""

    try:
        m = next_message()
        check("READY=1" in m and f"MAINPID={p.pid}" in m, "-Ws: READY=1 with the master's pid",
              repr(m))
        p.send_signal(signal.SIGUSR2)
        m = next_message()
        check("RELOADING=1" in m, "-Ws: RELOADING=1 on reload", repr(m))
        m = next_message()
        check("READY=1" in m and "STATUS=" in m, "-Ws: READY=1 once the new worker serves",
              repr(m))
        p.send_signal(signal.SIGTERM)
        m = next_message()
        check("STOPPING=1" in m, "-Ws: STOPPING=1 on stop", repr(m))
        check(p.wait(10) == 0, "-Ws: the master stops")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        logf.close()
        sock.close()


def server_states(path):
    """{server: (admin_state, uweight)} from `show servers state`."""
    states = {}
    for line in stats_command(path, "show servers state").splitlines():
        w = line.split()
        if len(w) > 8 and not line.startswith("#"):
            states[w[3]] = (int(w[6]), int(w[7]))
    return states


def state_suite(args, check, work, up_a, up_b):
    """States set over the runtime API (drain, maintenance, weight) survive reloads."""
    port = free_port()
    cfg = os.path.join(work, "state.cfg")
    sock = os.path.join(work, "state.sock")
    config = CONFIG.replace("    server s1 127.0.0.1:{upstream}\n",
                            "    server s1 127.0.0.1:{upstream} weight 10\n"
                            "    server s2 127.0.0.1:{upstream} weight 10\n"
                            "    server s3 127.0.0.1:{upstream} weight 10\n")
    extra = f"    stats socket {sock} mode 600 level admin"

    def write(upstream):
        with open(cfg, "w") as f:
            f.write(config.format(port=port, upstream=upstream, nbthread=args.nbthread,
                                  extra_global=extra, extra_bind=""))

    write(up_a)
    proc = Proc([args.binary, "-W", "-db", "-f", cfg], os.path.join(work, "state.log"))
    try:
        if not check(proc.wait_log(TANDEM_READY, 1), "state: the master's worker is ready",
                     proc.log()[-1500:]):
            return
        stats_command(sock, "set server be/s1 state drain; set server be/s2 state maint; "
                      "set weight be/s3 4")
        before = server_states(sock)
        check(before == {"s1": (8, 10), "s2": (1, 10), "s3": (0, 4)},
              "state: drain, maintenance and a weight are set", repr(before))
        for i in range(2):
            proc.p.send_signal(signal.SIGUSR2)
            check(proc.wait_log(TANDEM_READY, i + 2), f"state: reload {i + 1} is ready",
                  proc.log()[-1500:])
            after = server_states(sock)
            check(after == before, f"state: the states survive reload {i + 1}", repr(after))
        check(get(port) == (200, "A"), "state: the drained and maintained servers' peer serves")
        # Back to ready over the API: that too is what the next worker gets.
        stats_command(sock, "set server be/s2 state ready")
        proc.p.send_signal(signal.SIGUSR2)
        check(proc.wait_log(TANDEM_READY, 4), "state: reload 3 is ready", proc.log()[-1500:])
        check(server_states(sock).get("s2") == (0, 10), "state: a server set ready stays ready")
        # A file that gives s3 another weight wins over the operator's old one.
        config = config.replace("s3 127.0.0.1:{upstream} weight 10", "s3 127.0.0.1:{upstream} weight 20")
        write(up_a)
        proc.p.send_signal(signal.SIGUSR2)
        check(proc.wait_log(TANDEM_READY, 5), "state: reload 4 is ready", proc.log()[-1500:])
        check(server_states(sock).get("s3") == (0, 20),
              "state: a weight changed in the file replaces the operator's",
              repr(server_states(sock)))
    finally:
        proc.stop()


def crash_suite(args, check, work, up_a):
    """A worker that dies on its own takes the master with it (haproxy's default)."""
    port = free_port()
    cfg = os.path.join(work, "crash.cfg")
    write_config(cfg, port=port, upstream=up_a, nbthread=args.nbthread)
    proc = Proc([args.binary, "-W", "-f", cfg], os.path.join(work, "crash.log"))
    try:
        if not check(proc.wait_log(TANDEM_READY, 1), "crash: the worker starts", proc.log()):
            return
        for w in children_of(proc.pid):
            os.kill(w, signal.SIGKILL)
        try:
            rc = proc.p.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 128 + signal.SIGKILL and "died unexpectedly" in proc.log(),
              "crash: the master leaves with the worker's status", f"status {rc}")
    finally:
        proc.stop(signal.SIGKILL)


def upgrade_suite(args, check, work, up_a):
    """A binary replaced on disk (as a package upgrade does): the reload's worker runs it."""
    port = free_port()
    cfg = os.path.join(work, "upgrade.cfg")
    write_config(cfg, port=port, upstream=up_a, nbthread=args.nbthread)
    binary = os.path.join(work, "tandem-lb")
    shutil.copy2(args.binary, binary)
    proc = Proc([binary, "-W", "-f", cfg], os.path.join(work, "upgrade.log"))
    try:
        if not check(proc.wait_log(TANDEM_READY, 1), "upgrade: the worker starts", proc.log()):
            return
        shutil.copy2(args.binary, binary + ".new")
        os.rename(binary + ".new", binary)  # the old inode lives on in the running processes
        os.kill(proc.pid, signal.SIGUSR2)
        ok = proc.wait_log(TANDEM_READY, 2)
        end = time.monotonic() + 5  # the old worker leaves
        while time.monotonic() < end and len(children_of(proc.pid)) > 1:
            time.sleep(0.02)
        workers = children_of(proc.pid)
        exes = []
        for w in workers:
            try:
                exes.append(os.readlink(f"/proc/{w}/exe"))
            except OSError:
                pass
        check(ok and exes and all(e == binary for e in exes) and get(port) == (200, "A"),
              "upgrade: after the reload the worker runs the binary now on disk",
              f"{exes} {proc.log()[-800:]}")
    finally:
        proc.stop(signal.SIGTERM)


HAPROXY_CONFIG = """global
    nbthread {nbthread}
    hard-stop-after 5s
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout http-keep-alive 2s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    server s1 127.0.0.1:{upstream}
"""


def haproxy_comparison(args, check, work, up_a):
    port = free_port()
    cfg = os.path.join(work, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(HAPROXY_CONFIG.format(port=port, upstream=up_a, nbthread=args.nbthread))
    proc = Proc([args.haproxy, "-W", "-f", cfg], os.path.join(work, "haproxy.log"))
    try:
        if not check(proc.wait_log(HAPROXY_READY, 1), "haproxy -W starts", proc.log()):
            return
        reload_under_load(check, proc, proc.pid, HAPROXY_READY, port, args.reloads, "haproxy -W")
    finally:
        proc.stop(signal.SIGTERM)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--reloads", type=int, default=50)
    ap.add_argument("--nbthread", type=int, default=1)
    ap.add_argument("--haproxy")
    ap.add_argument("--upstream", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.upstream:
        serve_upstream(int(args.upstream[0]), args.upstream[1])
        return 0

    check = Checks()
    ups = []
    with tempfile.TemporaryDirectory(prefix="tandem-reload.") as work:
        try:
            up_a, up_b = free_port(), free_port()
            for p, body in ((up_a, "A"), (up_b, "B")):
                ups.append(subprocess.Popen([sys.executable, __file__, "x", "--upstream",
                                             str(p), body]))
            if not (wait_port(up_a) and wait_port(up_b)):
                log("FAIL the fake upstreams did not start")
                return 1
            if args.haproxy:
                haproxy_comparison(args, check, work, up_a)
            else:
                tandem_suite(args, check, work, up_a, up_b)
                state_suite(args, check, work, up_a, up_b)
                notify_suite(args, check, work, up_a)
                crash_suite(args, check, work, up_a)
                upgrade_suite(args, check, work, up_a)
                sf_suite(args, check, work, up_a)
        finally:
            for u in ups:
                u.kill()
                u.wait()
    log(f"{'FAILED' if check.failed else 'PASSED'} ({check.failed} failure(s))")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main())
