#!/usr/bin/env python3
"""Opens N idle keep-alive HTTP connections to a proxy, for bench/lb/run.sh.

Each connection sends one GET, reads the whole answer (Content-Length framing) and stays open
without sending anything more. When all are open the script prints "ready N" and waits for a
line on stdin; then it checks how many connections the proxy has closed meanwhile, prints
"alive N" and exits (closing them all). Bounded: gives up after --deadline seconds.
"""
import argparse
import asyncio
import sys


async def open_one(host, port, path, sem, conns, failures):
    async with sem:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.split(b"\r\n")[0].decode(errors="replace"))
            await reader.readexactly(length)
            conns.append((reader, writer))
        except Exception as exc:  # counted and reported, never fatal
            failures.append(repr(exc))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/small")
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--parallel", type=int, default=200)
    ap.add_argument("--deadline", type=float, default=120)
    args = ap.parse_args()
    sem = asyncio.Semaphore(args.parallel)
    conns, failures = [], []
    try:
        await asyncio.wait_for(
            asyncio.gather(*(open_one(args.host, args.port, args.path, sem, conns, failures)
                             for _ in range(args.n))),
            args.deadline)
    except asyncio.TimeoutError:
        failures.append("deadline")
    if failures:
        print(f"failures {len(failures)} first: {failures[0]}", file=sys.stderr)
    print(f"ready {len(conns)}", flush=True)
    loop = asyncio.get_running_loop()
    await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.deadline)
    # The loop has run meanwhile, so a connection the proxy closed has seen its EOF or reset.
    alive = sum(1 for reader, _ in conns if not reader.at_eof() and reader.exception() is None)
    print(f"alive {alive}", flush=True)
    for _, writer in conns:
        writer.close()


if __name__ == "__main__":
    asyncio.run(main())
