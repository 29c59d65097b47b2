"""Helpers shared by the Python integration tests of tandem-lb (tests/integration/lb/*.py,
tests/integration/reload/*.py): free ports, the runtime API on a stats socket, polling, and
a child process whose output goes to a log file."""

import re
import signal
import socket
import subprocess
import time


def free_port():
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stats_command(path, command, timeout=3.0, retry_for=0.0):
    """One runtime API command on the stats socket `path`; everything until the server
    closes. Connection errors are retried for `retry_for` seconds (a socket not there yet)."""
    end = time.monotonic() + retry_for
    while True:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(path)
                s.sendall(command.encode() + b"\n")
                out = b""
                while chunk := s.recv(65536):
                    out += chunk
                return out.decode()
        except OSError:
            if time.monotonic() >= end:
                raise
            time.sleep(0.05)


def wait_for(pred, timeout=5.0):
    """Polls `pred` until it holds (True) or `timeout` seconds passed (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


class Proc:
    """A child process, its stdout and stderr appended to `logpath`."""

    def __init__(self, args, logpath):
        self.logpath = logpath
        self.logf = open(logpath, "ab")
        self.p = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT)
        self.pid = self.p.pid

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def count(self, pattern):
        return len(re.findall(pattern, self.log()))

    def wait_log(self, pattern, n=1, timeout=5.0):
        """True once the log matches `pattern` `n` times; False at the time-out or when the
        process has exited short of that."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.count(pattern) >= n:
                return True
            if self.p.poll() is not None:
                return self.count(pattern) >= n
            time.sleep(0.01)
        return False

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the process (if running) and returns its exit status; kills it after
        `timeout` seconds."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()
        finally:
            self.logf.close()
