"""A Python program driving Lua actors on every core (System.spawn_lua).

    build/venv/bin/python bench/python/bench_python_lua.py [--runs 5] [--no-write]

  tell      the main thread tells N small messages, round robin, to one Lua
            counter per worker; the clock stops when an ask for each
            counter's total returns its share.
  ask       sequential blocking asks from Python to one Lua actor (echo).
  parallel  CPU work in Lua: W jobs of a fixed integer loop, spread over one
            Lua actor per worker thread, all asked at once (ask_async); the
            same jobs run one after another in a single Lua actor give the
            speed-up from using every core. The GIL is never involved.
  wordcount the showcase's work (python/examples/wordcount_demo.py) on an
            8 MB corpus: MB/s through Lua counters + the native C merger,
            against the single-threaded pure-Python count of the same text.

Each figure is the median of --runs runs (min-max shown). Results go to
bench/results/python_lua.json and the table between the markers in
bench/RESULTS_lua.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python", "examples"))

import zactor  # noqa: E402
import wordcount_demo  # noqa: E402

COUNTER = """
local n = 0
return { receive = function(ctx, m) if m == "n" then return n end n = n + 1 end }
"""
ECHO = "return { receive = function(ctx, m) return m end }\n"
WORK = """
return { receive = function(ctx, iters)
  local x = 0
  for i = 1, iters do x = (x + i * 7) % 1000003 end
  return x
end }
"""


def bench_tell(s, n):
    counters = [s.spawn_lua(COUNTER) for _ in range(s.workers)]
    k = len(counters)
    t0 = time.perf_counter()
    for i in range(n):
        counters[i % k].tell(i)
    for i, c in enumerate(counters):
        want = n // k + (1 if i < n % k else 0)
        while c.ask("n", timeout=30) != want:
            time.sleep(0.0005)
    return n / (time.perf_counter() - t0)


def bench_ask(s, n):
    echo = s.spawn_lua(ECHO)
    echo.ask(0, timeout=5)
    t0 = time.perf_counter()
    for i in range(n):
        echo.ask(i, timeout=5)
    return (time.perf_counter() - t0) / n * 1e6


def bench_parallel(s, jobs, iters):
    workers = [s.spawn_lua(WORK) for _ in range(s.workers)]
    single = workers[0]
    t0 = time.perf_counter()
    for _ in range(jobs):
        single.ask(iters, timeout=120)
    t_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    futs = [workers[j % len(workers)].ask_async(iters, timeout=120) for j in range(jobs)]
    for f in futs:
        f.result(timeout=120)
    t_all = time.perf_counter() - t0
    return t_one / t_all


def bench_wordcount(text, chunks, so):
    with zactor.System() as s:
        merger = s.spawn_native(so, "merge_counts_behaviour")
        progress = s.spawn(wordcount_demo.Progress)
        lua = os.path.join(ROOT, "lua", "examples", "wordcount.lua")
        workers = [s.spawn_lua(lua, merger, progress, None) for _ in range(2 * s.workers)]
        t0 = time.perf_counter()
        futs = [workers[i % len(workers)].ask_async(("chunk", i, c), timeout=60)
                for i, c in enumerate(chunks)]
        for f in futs:
            f.result(timeout=60)
        stats = merger.ask(("stats",), timeout=10)
        dt = time.perf_counter() - t0
        assert stats["chunks"] == len(chunks)
    t0 = time.perf_counter()
    wordcount_demo.python_count(text)
    t_py = time.perf_counter() - t0
    mb = len(text) / 1e6
    return mb / dt, mb / t_py


def med(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    n_tell = int(500_000 * args.scale)
    n_ask = int(50_000 * args.scale)
    text = wordcount_demo.make_corpus(os.path.join(ROOT, "build", "demo", "corpus-8MB.txt"), 8)
    chunks = wordcount_demo.split_chunks(text, 64 * 1024)
    so = wordcount_demo.build_merger()
    res = {k: [] for k in ("tell", "ask", "parallel", "wordcount", "wordcount_python")}
    for r in range(args.runs):
        with zactor.System() as s:
            res["tell"].append(bench_tell(s, n_tell))
            res["ask"].append(bench_ask(s, n_ask))
            res["parallel"].append(bench_parallel(s, 4 * s.workers, int(3_000_000 * args.scale)))
            workers = s.workers
        a, b = bench_wordcount(text, chunks, so)
        res["wordcount"].append(a)
        res["wordcount_python"].append(b)
        print(f"run {r + 1}: tell {res['tell'][-1]:,.0f}/s  ask {res['ask'][-1]:.2f} us  "
              f"parallel x{res['parallel'][-1]:.2f}  wordcount {a:.1f} MB/s "
              f"(pure Python {b:.1f} MB/s)", file=sys.stderr)
    out = {k: med(v) for k, v in res.items()}
    rows = [
        ("Python tells into Lua actors (one per worker)", f"{out['tell']['median'] / 1e6:.2f} M msg/s",
         f"{out['tell']['min'] / 1e6:.2f}-{out['tell']['max'] / 1e6:.2f}"),
        ("Python -> Lua ask round trip", f"{out['ask']['median']:.2f} us",
         f"{out['ask']['min']:.2f}-{out['ask']['max']:.2f}"),
        (f"Lua CPU work on {workers} workers vs 1 actor", f"{out['parallel']['median']:.2f}x",
         f"{out['parallel']['min']:.2f}-{out['parallel']['max']:.2f}"),
        ("word count, Lua counters + C merger", f"{out['wordcount']['median']:.1f} MB/s",
         f"{out['wordcount']['min']:.1f}-{out['wordcount']['max']:.1f}"),
        ("word count, pure Python (1 thread)", f"{out['wordcount_python']['median']:.1f} MB/s",
         f"{out['wordcount_python']['min']:.1f}-{out['wordcount_python']['max']:.1f}"),
    ]
    table = ["| Python driving Lua actors | median | min-max |", "|---|---|---|"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text_out = "\n".join(table)
    print(text_out)
    if args.no_write:
        return
    meta = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                        "python": platform.python_version()},
            "date": time.strftime("%Y-%m-%d %H:%M"), "runs": args.runs,
            "sizes": {"tell": n_tell, "ask": n_ask}, "results": out}
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "python_lua.json"), "w") as f:
        json.dump(meta, f, indent=2)
    md = os.path.join(ROOT, "bench", "RESULTS_lua.md")
    begin, end = "<!-- PYLUA BEGIN -->", "<!-- PYLUA END -->"
    body = (f"{begin}\nCommand: `build/venv/bin/python bench/python/bench_python_lua.py "
            f"--runs {args.runs}` ({meta['date']}, {os.cpu_count()} CPUs, medians of "
            f"{args.runs} runs)\n\n{text_out}\n{end}")
    cur = open(md).read() if os.path.exists(md) else ""
    if begin in cur and end in cur:
        cur = cur[:cur.index(begin)] + body + cur[cur.index(end) + len(end):]
    else:
        cur = cur.rstrip() + "\n\n## A Python program driving Lua actors\n\n" + body + "\n"
    with open(md, "w") as f:
        f.write(cur)


if __name__ == "__main__":
    main()
