#!/usr/bin/env python3
"""bench/pair/client.py: the client of the pair benchmark (bench/pair/run.sh).

  client.py run HOST PORT INTERVAL_S TIMEOUT_S MAX_S OUT
      Starts one HTTP/1.0 request (a new TCP connection) to HOST:PORT every INTERVAL_S
      seconds, on schedule, whatever the earlier ones are doing (they run side by side, never
      more than TIMEOUT_S / INTERVAL_S + 1 at once). A request succeeds when the whole answer
      ("HTTP/1.x 200", then the connection closed by the server) arrives within TIMEOUT_S of
      its start; otherwise it fails (refused, reset, timed out, another status). One line per
      request, written when it ends: "START_EPOCH_S LATENCY_MS ok|fail REASON". Stops after
      MAX_S seconds or on SIGTERM/SIGINT (then lets the requests in flight finish, at most
      TIMEOUT_S). Bounded: at most MAX_S / INTERVAL_S requests.

  client.py analyze OUT T_FAULT TIMEOUT_S
      Prints "OUTAGE_MS FAILED TOTAL PRE_FAILED MAX_OK_LATENCY_MS RECOVERED":
      OUTAGE_MS the longest gap, in start times, between two successful requests with only
      failed ones between them (0 when no request failed); FAILED the failed requests started
      from T_FAULT - TIMEOUT_S on (those before cannot be the fault's); PRE_FAILED the others
      (should be 0); RECOVERED 1 when the last request succeeded.
"""
import errno
import selectors
import signal
import socket
import sys
import time


def run(host, port, interval, timeout, max_s, out_path):
    sel = selectors.DefaultSelector()
    out = open(out_path, "w", buffering=1)
    request = f"GET /ok.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: tandem-bench-pair\r\n\r\n".encode()
    stop = [False]

    def on_signal(_sig, _frame):
        stop[0] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t_end = time.time() + max_s
    next_t = time.time()
    pending = {}  # fileno -> [sock, start, deadline, buffer, sent]

    def finish(fd, ok, reason):
        sock, start = pending[fd][0], pending[fd][1]
        try:
            sel.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
        del pending[fd]
        out.write(f"{start:.6f} {(time.time() - start) * 1000:.1f} {'ok' if ok else 'fail'} {reason}\n")

    while True:
        now = time.time()
        issuing = not stop[0] and now < t_end
        if not issuing and not pending:
            break
        if issuing and now >= next_t:
            # On schedule: a late loop catches up with one request, never with a burst.
            next_t = max(next_t + interval, now)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            start = time.time()
            rc = s.connect_ex((host, port))
            pending[s.fileno()] = [s, start, start + timeout, b"", False]
            if rc not in (0, errno.EINPROGRESS):
                finish(s.fileno(), False, "connect:" + errno.errorcode.get(rc, str(rc)))
            else:
                sel.register(s, selectors.EVENT_WRITE)
        # Time out what is overdue.
        now = time.time()
        for fd in [fd for fd, p in pending.items() if p[2] <= now]:
            finish(fd, False, "timeout")
        wake = [p[2] for p in pending.values()]
        if issuing:
            wake.append(next_t)
        wait = max(0.0, min(wake) - time.time()) if wake else 0.01
        for key, _ev in sel.select(timeout=wait):
            fd = key.fd
            if fd not in pending:
                continue
            p = pending[fd]
            s = p[0]
            if not p[4]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(fd, False, "connect:" + errno.errorcode.get(err, str(err)))
                    continue
                try:
                    s.send(request)
                except OSError as e:
                    finish(fd, False, "send:" + errno.errorcode.get(e.errno, str(e.errno)))
                    continue
                p[4] = True
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                finish(fd, False, "recv:" + errno.errorcode.get(e.errno, str(e.errno)))
                continue
            if data:
                p[3] += data
                if len(p[3]) > 1 << 20:
                    finish(fd, False, "too-long")
                continue
            head = p[3].split(b"\r\n", 1)[0]
            if head.startswith(b"HTTP/1.") and head[9:12] == b"200":
                finish(fd, True, "200")
            else:
                finish(fd, False, "status:" + (head[9:12].decode(errors="replace") or "none"))
    out.close()


def analyze(path, t_fault, timeout):
    recs = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                recs.append((float(parts[0]), float(parts[1]), parts[2] == "ok"))
    recs.sort()
    failed = sum(1 for r in recs if not r[2] and r[0] >= t_fault - timeout)
    pre = sum(1 for r in recs if not r[2] and r[0] < t_fault - timeout)
    outage = 0.0
    last_ok = None
    in_run = False
    for start, _lat, ok in recs:
        if ok:
            if in_run and last_ok is not None:
                outage = max(outage, (start - last_ok) * 1000)
            last_ok = start
            in_run = False
        else:
            in_run = True
    if in_run and last_ok is not None and recs:
        # Not recovered by the end of the run: the gap is at least this long.
        outage = max(outage, (recs[-1][0] - last_ok) * 1000)
    max_lat = max((r[1] for r in recs if r[2]), default=0.0)
    recovered = 1 if recs and recs[-1][2] else 0
    print(f"{outage:.1f} {failed} {len(recs)} {pre} {max_lat:.1f} {recovered}")


def main():
    if len(sys.argv) == 8 and sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]),
            float(sys.argv[6]), sys.argv[7])
    elif len(sys.argv) == 5 and sys.argv[1] == "analyze":
        analyze(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
