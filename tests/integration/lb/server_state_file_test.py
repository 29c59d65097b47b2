#!/usr/bin/env python3
"""haproxy's server state file in the real tandem-lb.

1. Started with `server-state-file` + `load-server-state-from-file global`, tandem-lb puts s1
   in maintenance and s2 in drain at weight 0 as the file says (the stats socket shows it, and
   traffic goes to s3 only); a malformed line is skipped with a warning naming file:line, a
   missing local file is a warning; `-c` does not read the file.
2. Under -W, a reload after the file changed applies the new file; after a runtime API change
   (newer than the file) a reload keeps the master's hand-over.
3. With Debian's haproxy 2.6: a state file haproxy wrote is applied by tandem-lb, and the file
   tandem-lb's `show servers state` writes is applied by haproxy (both ways).

Usage: server_state_file_test.py BIN_DIR. Unix sockets and 127.0.0.1 only; every wait bounded.
"""

import http.client
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lbtest import Proc, free_port, stats_command, wait_for  # noqa: E402

failures = []


def check(ok, what, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else f": {detail}"),
          flush=True)
    if not ok:
        failures.append(what)
    return ok


def upstream(name):
    body = name.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


def get(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    try:
        c.request("GET", "/")
        r = c.getresponse()
        return r.read().decode() if r.status == 200 else f"status {r.status}"
    except OSError as e:
        return f"error {e}"
    finally:
        c.close()


def answered_by(port, n=30):
    return sorted({get(port) for _ in range(n)})


def cli(sock, cmd, timeout=3.0):
    return stats_command(sock, cmd, timeout, retry_for=timeout)


def states(dump, backend):
    """server name -> (admin state, user weight) from a `show servers state` dump."""
    out = {}
    for line in dump.splitlines():
        f = line.split()
        if len(f) >= 9 and not line.startswith("#") and f[1] == backend:
            out[f[3]] = (int(f[6]), int(f[7]))
    return out


def op_states(dump, backend):
    """server name -> srv_op_state (0 DOWN, 2 UP) from a `show servers state` dump."""
    return {f[3]: int(f[5]) for f in (l.split() for l in dump.splitlines())
            if len(f) >= 9 and f[0] != "#" and f[1] == backend}


# A state file line as `show servers state` prints it (haproxy 2.6, 25 fields).
def line(be_id, be, srv_id, srv, port, op, admin, uweight, iweight):
    return (f"{be_id} {be} {srv_id} {srv} 127.0.0.1 {op} {admin} {uweight} {iweight} 5 1 0 "
            f"{0 if admin & 1 else 2} 0 0 0 0 - {port} - 0 0 - - 0\n")


HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state "
          "srv_uweight srv_iweight srv_time_since_last_change srv_check_status "
          "srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id "
          "srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
          "srv_check_addr srv_agent_addr srv_agent_port\n")


def main():
    bindir = sys.argv[1]
    lb = os.path.join(bindir, "tandem-lb")
    work = tempfile.mkdtemp(prefix="tandem-ssf-")
    procs = []
    try:
        ports = {n: upstream(n) for n in ("s1", "s2", "s3")}
        fe = free_port()
        admin = os.path.join(work, "admin.sock")
        cfg = os.path.join(work, "lb.cfg")
        state = os.path.join(work, "global.state")
        with open(cfg, "w") as f:
            f.write(f"""global
    stats socket {admin} level admin
    server-state-base {work}
    server-state-file global.state
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
backend be
    balance roundrobin
    server s1 127.0.0.1:{ports['s1']} weight 10
    server s2 127.0.0.1:{ports['s2']} weight 10
    server s3 127.0.0.1:{ports['s3']} weight 10
backend loc
    load-server-state-from-file local
    server-state-file-name loc.state
    server a1 127.0.0.1:{ports['s1']}
backend chk
    server c1 127.0.0.1:{ports['s1']} check inter 500ms rise 3
    server c2 127.0.0.1:{ports['s2']} check inter 500ms rise 3
""")
        with open(state, "w") as f:
            f.write(HEADER + line(3, "be", 1, "s1", ports["s1"], 0, 1, 10, 10) +
                    line(3, "be", 2, "s2", ports["s2"], 2, 8, 0, 10) +
                    "3 be 3 s3 127.0.0.1 2 bogus 10 10\n" +
                    line(3, "be", 9, "gone", 1, 0, 1, 10, 10) +
                    line(4, "nosuch", 1, "s1", 1, 0, 1, 10, 10) +
                    line(6, "chk", 1, "c1", ports["s1"], 0, 0, 1, 1) +
                    line(6, "chk", 2, "c2", ports["s2"], 2, 0, 1, 1))

        # -c validates the keywords and does not read the file.
        with open(os.path.join(work, "garbage.state"), "w") as f:
            f.write("this is not a state file\n")
        cfg_c = os.path.join(work, "c.cfg")
        with open(cfg) as src, open(cfg_c, "w") as dst:
            dst.write(src.read().replace("global.state", "garbage.state"))
        r = subprocess.run([lb, "-c", "-f", cfg_c], capture_output=True, text=True, timeout=10)
        check(r.returncode == 0 and "garbage" not in r.stderr,
              "-c accepts the state keywords without reading the file", r.stdout + r.stderr)
        bad = os.path.join(work, "bad.cfg")
        with open(bad, "w") as f:
            f.write("backend be\n    load-server-state-from-file everywhere\n"
                    "    server s1 127.0.0.1:80\n")
        r = subprocess.run([lb, "-c", "-f", bad], capture_output=True, text=True, timeout=10)
        check(r.returncode == 1 and
              "bad.cfg:2:33: error: unknown load-server-state-from-file mode 'everywhere'"
              in r.stderr, "-c reports a bad mode with file:line:col", r.stderr)

        # 1. A plain start.
        p = Proc([lb, "-db", "-f", cfg], os.path.join(work, "plain.log"))
        procs.append(p)
        ok = wait_for(lambda: os.path.exists(admin) and
                      "be" in cli(admin, "show servers state be"))
        check(ok, "tandem-lb starts with the state file", p.log()[-2000:])
        st = states(cli(admin, "show servers state"), "be")
        check(st.get("s1") == (1, 10), "s1 in maintenance from the file", str(st))
        check(st.get("s2") == (8, 0), "s2 drained at weight 0 from the file", str(st))
        check(st.get("s3") == (0, 10), "s3 as configured", str(st))
        ops = op_states(cli(admin, "show servers state chk"), "chk")
        check(ops == {"c1": 0, "c2": 2}, "checked c1 saved DOWN starts DOWN, c2 UP", str(ops))
        check(wait_for(lambda: op_states(cli(admin, "show servers state chk"), "chk")
                       == {"c1": 2, "c2": 2}),
              "its checks bring c1 UP", cli(admin, "show servers state chk"))
        stat = cli(admin, "show stat")
        rows = {c[1]: c[17] for c in (l.split(",") for l in stat.splitlines())
                if len(c) > 17 and c[0] == "be"}
        check(rows.get("s1") == "MAINT" and rows.get("s2") == "DRAIN",
              "show stat: s1 MAINT, s2 DRAIN", str(rows))
        check(answered_by(fe) == ["s3"], "traffic goes to s3 only", str(answered_by(fe)))
        log = p.log()
        check(f"{state}:5: malformed server line skipped" in log,
              "the malformed line is a warning naming file:line", log[-2000:])
        check(f"cannot open server state file '{work}/loc.state'" in log,
              "a missing local file is a warning", log[-2000:])
        p.stop()
        check(p.p.returncode == 0, "tandem-lb stops cleanly", str(p.p.returncode))

        # 2. Under -W: a reload applies a changed file; a later API change survives a reload.
        os.unlink(admin) if os.path.exists(admin) else None
        m = Proc([lb, "-W", "-f", cfg], os.path.join(work, "master.log"))
        procs.append(m)
        ready = r"master: worker \d+ \(generation \d+\) ready"
        check(m.wait_log(ready, 1), "-W: the first worker is ready", m.log()[-2000:])
        st = states(cli(admin, "show servers state"), "be")
        check(st.get("s1") == (1, 10) and st.get("s2") == (8, 0),
              "-W: the first worker applied the file", str(st))
        time.sleep(0.05)  # the file's time after the hand-over's
        with open(state, "w") as f:
            f.write(HEADER + line(3, "be", 1, "s1", ports["s1"], 2, 0, 10, 10) +
                    line(3, "be", 2, "s2", ports["s2"], 2, 0, 10, 10) +
                    line(3, "be", 3, "s3", ports["s3"], 0, 1, 10, 10))
        m.p.send_signal(signal.SIGUSR2)
        check(m.wait_log(ready, 2), "-W: the reloaded worker is ready", m.log()[-2000:])
        st = states(cli(admin, "show servers state"), "be")
        check(st == {"s1": (0, 10), "s2": (0, 10), "s3": (1, 10)},
              "-W: the reload applied the changed file", str(st))
        check(answered_by(fe) == ["s1", "s2"], "traffic goes to s1 and s2",
              str(answered_by(fe)))
        time.sleep(0.05)
        cli(admin, "set server be/s1 state drain")
        m.p.send_signal(signal.SIGUSR2)
        check(m.wait_log(ready, 3), "-W: the third worker is ready", m.log()[-2000:])
        st = states(cli(admin, "show servers state"), "be")
        check(st == {"s1": (8, 10), "s2": (0, 10), "s3": (1, 10)},
              "-W: the hand-over, newer than the file, wins", str(st))
        check("server states from the previous worker, newer than" in m.log(),
              "-W: the log says which source won", m.log()[-2000:])
        # The reload script's way: dump, then reload: the same states.
        with open(state, "w") as f:
            f.write(cli(admin, "show servers state"))
        m.p.send_signal(signal.SIGUSR2)
        check(m.wait_log(ready, 4), "-W: the fourth worker is ready", m.log()[-2000:])
        st2 = states(cli(admin, "show servers state"), "be")
        check(st2 == st, "-W: dump then reload keeps every state", str(st2))
        m.stop()

        # 3. Golden interop with Debian's haproxy, both ways.
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.access(haproxy, os.X_OK):
            print("skip: no haproxy for the interop part")
        else:
            interop(haproxy, lb, work, ports, fe)
    finally:
        for p in procs:
            p.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


def interop(haproxy, lb, work, ports, fe):
    hsock = os.path.join(work, "h.sock")
    hstate = os.path.join(work, "h.state")
    hcfg = os.path.join(work, "h.cfg")
    servers = "".join(f"    server {n} 127.0.0.1:{ports[n]} weight 10\n"
                      for n in ("s1", "s2", "s3"))
    with open(hcfg, "w") as f:
        f.write(f"""global
    stats socket {hsock} level admin
    server-state-file {hstate}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global
backend be
    balance roundrobin
{servers}""")
    # haproxy's own dump: s1 maint, s2 drain at weight 0, s3 at weight 4.
    open(hstate, "w").close()
    h = Proc([haproxy, "-db", "-f", hcfg], os.path.join(work, "h1.log"))
    try:
        if not check(wait_for(lambda: os.path.exists(hsock)), "haproxy starts", h.log()[-1500:]):
            return
        for c in ("disable server be/s1", "set server be/s2 state drain",
                  "set weight be/s2 0", "set weight be/s3 4"):
            cli(hsock, c)
        dump = cli(hsock, "show servers state")
    finally:
        h.stop()
    check(states(dump, "be") == {"s1": (1, 10), "s2": (8, 0), "s3": (0, 4)},
          "haproxy's dump has the states set on its CLI", dump)
    with open(hstate, "w") as f:
        f.write(dump)
    tsock = os.path.join(work, "t.sock")
    tcfg = os.path.join(work, "t.cfg")
    with open(tcfg, "w") as f:
        f.write(f"""global
    stats socket {tsock} level admin
    server-state-file {hstate}
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    load-server-state-from-file global
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be
backend be
    balance roundrobin
{servers}""")
    t = Proc([lb, "-db", "-f", tcfg], os.path.join(work, "t.log"))
    try:
        if not check(wait_for(lambda: os.path.exists(tsock)), "tandem-lb starts with haproxy's file",
                     t.log()[-1500:]):
            return
        st = states(cli(tsock, "show servers state"), "be")
        check(st == {"s1": (1, 10), "s2": (8, 0), "s3": (0, 4)},
              "tandem-lb applies the file haproxy wrote", f"{st}\n{t.log()[-1500:]}")
        check(answered_by(fe) == ["s3"], "tandem-lb: traffic to s3 only", str(answered_by(fe)))
        # The other way: tandem-lb's dump, with s3 drained too, read by haproxy.
        cli(tsock, "set server be/s3 state drain")
        cli(tsock, "set server be/s1 state ready")
        tdump = cli(tsock, "show servers state")
    finally:
        t.stop()
    with open(hstate, "w") as f:
        f.write(tdump)
    os.unlink(hsock) if os.path.exists(hsock) else None
    h = Proc([haproxy, "-db", "-f", hcfg], os.path.join(work, "h2.log"))
    try:
        if check(wait_for(lambda: os.path.exists(hsock)), "haproxy starts with tandem-lb's file",
                 h.log()[-1500:]):
            st = states(cli(hsock, "show servers state"), "be")
            check(st == {"s1": (0, 10), "s2": (8, 0), "s3": (8, 4)},
                  "haproxy applies the file tandem-lb wrote", f"{st}\n{h.log()[-1500:]}")
    finally:
        h.stop()


if __name__ == "__main__":
    sys.exit(main())
