"""Async handlers (issue 11): a handler awaiting an ask, against asyncio.

    build/venv/bin/python bench/python/bench_async.py [--n 20000] [--runs 3] [--no-write]

  py->py     an ``async def receive`` awaits ``ref.ask_async`` of another
             Python actor, N times in a row inside one handler: round trips/s
             and the median of the per-await latencies (perf_counter_ns).
  py->lua    the same, awaiting a Lua echo actor.
  lua->lua   a Lua handler awaits ``ctx:ask`` of a Lua echo actor N times in
             a row (the handler suspends and resumes on each reply): round
             trips/s and the mean per round trip (Lua actors have no clock,
             so no per-await median; the same figure bench/bench_lua.lua
             prints for the ping-pong).
  py->aio    a handler awaits an asyncio future that zactor's asyncio loop
             thread completes (the cost of awaiting anything asyncio).
  asyncio    the same request/reply written without zactor: two asyncio tasks
             with an asyncio.Queue mailbox each (the request carries the
             asker's queue; the asker awaits its own queue).
  suspended  100k handlers suspended at once (each in ``await
             zactor.sleep(600)``, concurrency 100k): RSS growth per suspended
             handler, and how long stopping the actor (closing them all) takes.

Each rate is the median of --runs runs (min-max shown). Results go to
bench/results/async.json and bench/RESULTS_async.md.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

import zactor  # noqa: E402
from zactor import _async  # noqa: E402

ECHO_LUA = "return { receive = function(ctx, m) return m end }\n"
PING_LUA = """return { receive = function(ctx, m)
  local target, n = m[1], m[2]
  for i = 1, n do ctx:ask(target, i, 5) end
  return n
end }
"""


class Echo(zactor.Actor):
    def receive(self, msg):
        return msg


class Driver(zactor.Actor):
    def __init__(self, target):
        self.target = target

    async def receive(self, n):
        lat = []
        t = self.target
        clock = time.perf_counter_ns
        t0 = clock()
        for i in range(n):
            a = clock()
            await t.ask_async(i)
            lat.append(clock() - a)
        total = clock() - t0
        return total, statistics.median(lat)


class AioDriver(zactor.Actor):
    """Awaits asyncio futures completed on zactor's asyncio loop thread."""

    async def receive(self, n):
        loop = asyncio.get_running_loop()
        lat = []
        clock = time.perf_counter_ns
        t0 = clock()
        for i in range(n):
            a = clock()
            f = loop.create_future()
            loop.call_soon(f.set_result, i)
            await f
            lat.append(clock() - a)
        total = clock() - t0
        return total, statistics.median(lat)


def bench_aio_future(s, n):
    d = s.spawn(AioDriver)
    d.ask(min(n, 1000), timeout=60)
    total, med = d.ask(n, timeout=600)
    d.stop()
    return n / (total / 1e9), med / 1000.0


def bench_zactor(s, target, n):
    d = s.spawn(Driver, target)
    d.ask(min(n, 1000), timeout=60)  # warm-up
    total, med = d.ask(n, timeout=600)
    d.stop()
    return n / (total / 1e9), med / 1000.0


def bench_lua_lua(s, pong, n):
    ping = s.spawn_lua(PING_LUA)
    ping.ask([pong, min(n, 1000)], timeout=60)  # warm-up
    t0 = time.perf_counter_ns()
    ping.ask([pong, n], timeout=600)
    total = time.perf_counter_ns() - t0
    ping.stop()
    return n / (total / 1e9), total / n / 1000.0


def bench_asyncio(n):
    async def server(inbox):
        while True:
            msg, reply_to = await inbox.get()
            if msg is None:
                return
            reply_to.put_nowait(msg)

    async def main():
        inbox, mine = asyncio.Queue(), asyncio.Queue()
        srv = asyncio.create_task(server(inbox))
        lat = []
        clock = time.perf_counter_ns
        t0 = clock()
        for i in range(n):
            a = clock()
            inbox.put_nowait((i, mine))
            await mine.get()
            lat.append(clock() - a)
        total = clock() - t0
        inbox.put_nowait((None, None))
        await srv
        return total, statistics.median(lat)

    total, med = asyncio.run(main())
    return n / (total / 1e9), med / 1000.0


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bench_suspended(s, k):
    class Holder(zactor.Actor):
        concurrency = k

        async def receive(self, msg):
            await zactor.sleep(600)

    h = s.spawn(Holder)
    h.ask_async(None)  # (one to create the driver state before measuring)
    deadline = time.monotonic() + 60
    while _async.live_handlers() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    before = rss_kb()
    t0 = time.perf_counter()
    for i in range(k - 1):
        h.tell(i)
    while _async.live_handlers() < k and time.monotonic() < deadline:
        time.sleep(0.01)
    t_susp = time.perf_counter() - t0
    held = _async.live_handlers()
    after = rss_kb()
    t0 = time.perf_counter()
    h.stop()
    while _async.live_handlers() > 0 and time.monotonic() < deadline + 60:
        time.sleep(0.01)
    t_stop = time.perf_counter() - t0
    return {
        "held": held,
        "bytes_per_suspended": (after - before) * 1024 / max(1, held - 1),
        "suspend_all_s": t_susp,
        "stop_all_s": t_stop,
    }


def fmt(xs, unit=""):
    m = statistics.median(xs)
    return f"{m:,.2f}{unit} ({min(xs):,.2f}-{max(xs):,.2f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--suspended", type=int, default=100000)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    res = {"py_py": [], "py_lua": [], "lua_lua": [], "py_aio": [], "asyncio": []}
    with zactor.System(workers=2) as s:
        echo = s.spawn(Echo)
        lecho = s.spawn_lua(ECHO_LUA)
        for _ in range(a.runs):
            res["py_py"].append(bench_zactor(s, echo, a.n))
            res["py_lua"].append(bench_zactor(s, lecho, a.n))
            res["lua_lua"].append(bench_lua_lua(s, lecho, a.n * 5))
            res["py_aio"].append(bench_aio_future(s, a.n // 4))
            res["asyncio"].append(bench_asyncio(a.n))
        susp = bench_suspended(s, a.suspended)
    out = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "n": a.n,
        "runs": a.runs,
    }
    lines = ["| pattern | round trips/s | median await latency (µs) |", "|---|---|---|"]
    mean_only = {"lua_lua"}
    for key, label in (("py_py", "Python handler awaits Python actor"),
                       ("py_lua", "Python handler awaits Lua actor"),
                       ("lua_lua", "Lua handler awaits Lua actor (ctx:ask; latency: mean)"),
                       ("py_aio", "Python handler awaits an asyncio future (loop thread)"),
                       ("asyncio", "asyncio baseline (Queue mailbox per task)")):
        rates = [r for r, _ in res[key]]
        lats = [m for _, m in res[key]]
        lat_key = "mean_latency_us" if key in mean_only else "median_latency_us"
        out[key] = {"rate_per_s": statistics.median(rates), lat_key: statistics.median(lats),
                    "rates": rates, "latencies_us": lats}
        lines.append(f"| {label} | {fmt(rates)} | {fmt(lats)} |")
    out["speedup_vs_asyncio"] = out["py_py"]["rate_per_s"] / out["asyncio"]["rate_per_s"]
    out["suspended"] = susp
    lines.append("")
    lines.append(f"py->py vs asyncio baseline: {out['speedup_vs_asyncio']:.2f}x")
    lines.append(f"{susp['held']:,} handlers suspended at once: "
                 f"{susp['bytes_per_suspended']:,.0f} bytes each (RSS growth), "
                 f"suspending all took {susp['suspend_all_s']:.2f} s, stopping the actor "
                 f"(closing all) {susp['stop_all_s']:.2f} s")
    text = "\n".join(lines)
    print(text)
    if not a.no_write:
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "async.json"), "w") as f:
            json.dump(out, f, indent=2)
        with open(os.path.join(ROOT, "bench", "RESULTS_async.md"), "w") as f:
            f.write("# Async handlers (bench/python/bench_async.py)\n\n")
            f.write(f"{out['cpus']} CPUs, Python {out['python']}, n={a.n}, median of {a.runs} runs "
                    "(min-max).\n\n")
            f.write(text + "\n")


if __name__ == "__main__":
    main()
