#!/usr/bin/env python3
"""Turns bench/lb/run.sh's raw results (a TSV file) into the two tables it prints.

Raw lines:
  perf  SCENARIO PROXY ROUND REQUESTS DURATION_US P50_US P99_US ERRORS CPU_TICKS
  mem   PROXY N RSS_BEFORE_KB RSS_AFTER_KB ALIVE
Each figure is the median over the rounds; the ratio is to HAProxy's median in the same run.
"x by round" divides each round's figure by HAProxy's in the same round (the runs of a round
follow each other, so a machine that speeds up or slows down during the run moves both)
and gives the median and range of those ratios.
"""
import argparse
import os
import statistics
import sys

SCENARIOS = {
    "ka": "HTTP keep-alive, 64 B",
    "close": "HTTP new connection per request, 64 B",
    "tcp": "TCP mode, 100 KB, keep-alive",
}
PROXIES = ["haproxy", "tandem-lb", "tandem-lb-b", "nginx"]


def ratio(value, base):
    if base is None or base == 0 or value is None:
        return "-"
    return f"{value / base:.2f}"


def fmt(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    tck = os.sysconf("SC_CLK_TCK")
    perf, mem = {}, {}
    with open(args.raw) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "perf":
                _, sc, px, rnd, req, dur, p50, p99, err, ticks = p
                req, dur, ticks = int(req), int(dur), int(ticks)
                perf.setdefault((sc, px), []).append({
                    "round": rnd,
                    "rps": req / (dur / 1e6) if dur else 0.0,
                    "p50": int(p50) / 1000.0,
                    "p99": int(p99) / 1000.0,
                    "cpu": (ticks / tck) / req * 1e5 if req else None,
                    "util": 100.0 * (ticks / tck) / (dur / 1e6) if dur else None,
                    "err": int(err),
                })
            elif p[0] == "mem":
                _, px, n, before, after, alive = p
                mem[px] = (int(n), int(before), int(after), int(alive))

    def med(runs, key):
        vals = [r[key] for r in runs if r[key] is not None]
        return statistics.median(vals) if vals else None

    def by_round(runs, base, key):
        """Median (min-max) over the rounds of runs[key] / base[key] in the same round."""
        if not base:
            return "-"
        b = {r["round"]: r[key] for r in base}
        rs = [r[key] / b[r["round"]] for r in runs
              if r[key] is not None and b.get(r["round"])]
        if not rs:
            return "-"
        return f"{statistics.median(rs):.2f} ({min(rs):.2f}-{max(rs):.2f})"

    head = ["scenario", "proxy", "req/s", "x", "p50 ms", "x", "p99 ms", "x",
            "CPU s/100k req", "x", "proxy CPU %", "req/s min-max", "runs", "errors",
            "req/s x by round", "CPU x by round"]
    rows = []
    for sc, title in SCENARIOS.items():
        base = perf.get((sc, "haproxy"))
        b = {k: med(base, k) for k in ("rps", "p50", "p99", "cpu")} if base else {}
        for px in PROXIES:
            runs = perf.get((sc, px))
            if not runs:
                continue
            m = {k: med(runs, k) for k in ("rps", "p50", "p99", "cpu", "util")}
            lo = min(r["rps"] for r in runs)
            hi = max(r["rps"] for r in runs)
            rows.append([title, px,
                         f"{m['rps']:.0f}", ratio(m["rps"], b.get("rps")),
                         fmt(m["p50"], 2), ratio(m["p50"], b.get("p50")),
                         fmt(m["p99"], 2), ratio(m["p99"], b.get("p99")),
                         fmt(m["cpu"], 2), ratio(m["cpu"], b.get("cpu")),
                         fmt(m["util"], 0), f"{lo:.0f}-{hi:.0f}", str(len(runs)),
                         str(sum(r["err"] for r in runs)),
                         by_round(runs, base, "rps"), by_round(runs, base, "cpu")])
    mhead = ["proxy", "idle connections", "alive at the end", "RSS before (KB)",
             "RSS after (KB)", "bytes per idle connection", "x"]
    mrows = []
    base = None
    if "haproxy" in mem:
        n, before, after, _ = mem["haproxy"]
        base = (after - before) * 1024 / n if n else None
    for px in PROXIES:
        if px not in mem:
            continue
        n, before, after, alive = mem[px]
        per = (after - before) * 1024 / n if n else None
        mrows.append([px, str(n), str(alive), str(before), str(after), fmt(per, 0),
                      ratio(per, base)])
    for h, r in ((head, rows), (mhead, mrows)):
        if not r:
            continue
        if args.markdown:
            print("| " + " | ".join(h) + " |")
            print("|" + "---|" * len(h))
            for row in r:
                print("| " + " | ".join(row) + " |")
        else:
            widths = [max(len(x) for x in col) for col in zip(h, *r)]
            for row in [h] + r:
                print("  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip())
        print()
    print("x: the figure divided by HAProxy's (req/s: higher is better; the others: lower).")
    print("Medians over the rounds; CPU is the proxy's utime+stime from /proc over the run.")
    print("x by round: each round's figure over HAProxy's in the same round; median (range).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
