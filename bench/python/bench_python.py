"""zactor's Python binding against Pykka, side by side in one run.

    build/venv/bin/python bench/python/bench_python.py [--runs 5] [--only tell,ask]
                          [--scale 1.0] [--no-write]

`make bench-python` installs Pykka into build/venv (for the benchmark only) and
runs this. Five measurements, each taken `--runs` times with zactor and Pykka
interleaved (zactor run 1, Pykka run 1, zactor run 2, ...) so both see the
same machine load; the report gives the median and the min-max of each.

  tell      tell() from the main thread into one actor: N messages sent, the
            clock stops when the actor has handled all N (an ask for its count
            returns N). Sending and handling both count.
  ask       sequential blocking asks from the main thread (ask() and wait for
            the answer, N times); the actor returns the message.
  pingpong  two actors tell a counter back and forth N times (N hops); the
            last hop sets a threading.Event the main thread waits on.
  asyncio   `await ref.ask_async(i)` N times in a row inside asyncio.run().
            Pykka has no non-blocking await (its Future.__await__ yields once
            and then blocks the event loop in get()); the Pykka column uses
            `await loop.run_in_executor(pool, future.get)` with a one-thread
            pool, the usual way to await a blocking future without blocking
            the loop. Pykka's own `await future` is measured too (pykka_await).
  spawn     spawn N actors of a class with a trivial __init__, then ask the
            last one: the clock stops when it has started and answered.

Results: bench/results/python.json and the table in bench/RESULTS_python.md
(between the RESULTS markers; the text around them is kept).
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import platform
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

import zactor  # noqa: E402

try:
    import pykka
except ImportError:  # pragma: no cover
    pykka = None

TARGETS = {  # from the issue (issue 3), on the 2-core machine
    "tell": 5_000_000,
    "ask": 150_000,
    "pingpong": 1_000_000,
    "asyncio": 50_000,
    "spawn": 100_000,
}
UNITS = {
    "tell": "msg/s",
    "ask": "asks/s",
    "pingpong": "hops/s",
    "asyncio": "awaits/s",
    "spawn": "actors/s",
}
# messages per run; Pykka's are smaller so each run takes a similar time
SIZES = {
    "tell": (1_000_000, 100_000),
    "ask": (100_000, 20_000),
    "pingpong": (1_000_000, 50_000),
    "asyncio": (50_000, 10_000),
    "spawn": (100_000, 2_000),
}


# ------------------------------------------------------------------ zactor

class ZCounter(zactor.Actor):
    def __init__(self):
        self.n = 0

    def receive(self, msg):
        if msg is None:
            return self.n
        self.n += 1


class ZEcho(zactor.Actor):
    def receive(self, msg):
        return msg


class ZPing(zactor.Actor):
    def __init__(self):
        self.peer = None

    def receive(self, msg):
        if type(msg) is int:
            if msg:
                self.peer.tell(msg - 1)
            else:
                self.done.set()
        elif msg is not None:  # ("peer", ref, event)
            self.peer, self.done = msg[1], msg[2]


class ZNop(zactor.Actor):
    def receive(self, msg):
        return msg


def z_tell(n):
    with zactor.System() as s:
        ref = s.spawn(ZCounter)
        ref.ask(None)
        tell = ref.tell
        t0 = time.perf_counter()
        for _ in range(n):
            tell(1)
        got = ref.ask(None, timeout=120)
        dt = time.perf_counter() - t0
    assert got == n, got
    return n / dt


def z_ask(n):
    with zactor.System() as s:
        ref = s.spawn(ZEcho)
        ask = ref.ask
        for i in range(1000):
            ask(i)
        t0 = time.perf_counter()
        for i in range(n):
            ask(i)
        dt = time.perf_counter() - t0
    return n / dt


def z_pingpong(n):
    with zactor.System() as s:
        a, b = s.spawn(ZPing), s.spawn(ZPing)
        done = threading.Event()
        a.tell(("peer", b, done))
        b.tell(("peer", a, done))
        a.ask(None)
        b.ask(None)
        t0 = time.perf_counter()
        a.tell(n)
        if not done.wait(120):
            raise RuntimeError("ping-pong did not finish")
        dt = time.perf_counter() - t0
    return n / dt


def z_asyncio(n):
    with zactor.System() as s:
        ref = s.spawn(ZEcho)

        async def main():
            ask = ref.ask_async
            for i in range(1000):
                await ask(i)
            t0 = time.perf_counter()
            for i in range(n):
                await ask(i)
            return time.perf_counter() - t0

        dt = asyncio.run(main())
    return n / dt


def z_spawn(n):
    with zactor.System() as s:
        spawn = s.spawn
        t0 = time.perf_counter()
        for _ in range(n):
            last = spawn(ZNop)
        last.ask(None, timeout=120)
        dt = time.perf_counter() - t0
    return n / dt


# ------------------------------------------------------------------- Pykka

if pykka is not None:

    class PCounter(pykka.ThreadingActor):
        def __init__(self):
            super().__init__()
            self.n = 0

        def on_receive(self, msg):
            if msg is None:
                return self.n
            self.n += 1

    class PEcho(pykka.ThreadingActor):
        def on_receive(self, msg):
            return msg

    class PPing(pykka.ThreadingActor):
        def __init__(self):
            super().__init__()
            self.peer = None

        def on_receive(self, msg):
            if type(msg) is int:
                if msg:
                    self.peer.tell(msg - 1)
                else:
                    self.done.set()
            elif msg is not None:
                self.peer, self.done = msg[1], msg[2]

    class PNop(pykka.ThreadingActor):
        def on_receive(self, msg):
            return msg


def p_tell(n):
    ref = PCounter.start()
    try:
        ref.ask(None)
        tell = ref.tell
        t0 = time.perf_counter()
        for _ in range(n):
            tell(1)
        got = ref.ask(None, timeout=120)
        dt = time.perf_counter() - t0
    finally:
        ref.stop()
    assert got == n, got
    return n / dt


def p_ask(n):
    ref = PEcho.start()
    try:
        ask = ref.ask
        for i in range(500):
            ask(i)
        t0 = time.perf_counter()
        for i in range(n):
            ask(i)
        dt = time.perf_counter() - t0
    finally:
        ref.stop()
    return n / dt


def p_pingpong(n):
    a, b = PPing.start(), PPing.start()
    try:
        done = threading.Event()
        a.tell(("peer", b, done))
        b.tell(("peer", a, done))
        a.ask(None)
        b.ask(None)
        t0 = time.perf_counter()
        a.tell(n)
        if not done.wait(120):
            raise RuntimeError("ping-pong did not finish")
        dt = time.perf_counter() - t0
    finally:
        a.stop()
        b.stop()
    return n / dt


def p_asyncio(n):
    ref = PEcho.start()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        async def main():
            loop = asyncio.get_running_loop()
            ask = ref.ask
            for i in range(200):
                await loop.run_in_executor(pool, ask(i, block=False).get)
            t0 = time.perf_counter()
            for i in range(n):
                await loop.run_in_executor(pool, ask(i, block=False).get)
            return time.perf_counter() - t0

        dt = asyncio.run(main())
    finally:
        pool.shutdown()
        ref.stop()
    return n / dt


def p_asyncio_await(n):
    ref = PEcho.start()
    try:
        async def main():
            ask = ref.ask
            t0 = time.perf_counter()
            for i in range(n):
                await ask(i, block=False)
            return time.perf_counter() - t0

        dt = asyncio.run(main())
    finally:
        ref.stop()
    return n / dt


def p_spawn(n):
    refs = []
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            refs.append(PNop.start())
        refs[-1].ask(None, timeout=120)
        dt = time.perf_counter() - t0
    finally:
        pykka.ActorRegistry.stop_all()
    return n / dt


BENCHES = {
    "tell": (z_tell, p_tell),
    "ask": (z_ask, p_ask),
    "pingpong": (z_pingpong, p_pingpong),
    "asyncio": (z_asyncio, p_asyncio),
    "spawn": (z_spawn, p_spawn),
}


# -------------------------------------------------------- machine load

def _cpu_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


class ExtLoad:
    """CPU used by OTHER processes while a run goes on, in cores (this
    machine is shared: other jobs' load distorts the figures)."""

    def __enter__(self):
        self.j0 = _cpu_jiffies()
        self.o0 = os.times()
        return self

    def __exit__(self, *exc):
        j1, o1 = _cpu_jiffies(), os.times()
        self.cores = None
        if self.j0 and j1 and j1[1] > self.j0[1]:
            hz = os.sysconf("SC_CLK_TCK")
            own = (o1.user + o1.system - self.o0.user - self.o0.system) * hz
            ncpu = os.cpu_count() or 1
            busy = j1[0] - self.j0[0]
            self.cores = max(0.0, (busy - own) / (j1[1] - self.j0[1]) * ncpu)


def wait_quiet(max_wait, threshold=0.25):
    """Wait (up to max_wait s) until other processes use < threshold cores."""
    deadline = time.monotonic() + max_wait
    while True:
        with ExtLoad() as e:
            time.sleep(0.3)
        if e.cores is None or e.cores < threshold or time.monotonic() > deadline:
            return e.cores


# ------------------------------------------------------------------ report

def summary(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": xs}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def fmt(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.0f}"


def table(results):
    rows = [
        "| benchmark | zactor median | zactor min-max | Pykka median | zactor/Pykka | target | met? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in BENCHES:
        if name not in results:
            continue
        r = results[name]
        z = r["zactor"]
        p = r.get("pykka")
        unit = UNITS[name]
        pm = fmt(p["median"]) if p else "-"
        ratio = f"{z['median'] / p['median']:.0f}x" if p else "-"
        tgt = TARGETS[name]
        met = "yes" if z["median"] >= tgt else "no"
        rows.append(
            f"| {name} ({unit}) | {fmt(z['median'])} | {fmt(z['min'])} - {fmt(z['max'])} | "
            f"{pm} | {ratio} | >= {fmt(tgt)} | {met} |"
        )
    loads = [
        f"{name} {'/'.join('?' if c is None else f'{c:.2f}' for c in results[name]['other_load_cores'])}"
        for name in BENCHES
        if name in results and results[name].get("other_load_cores")
    ]
    if loads:
        rows.append("")
        rows.append("CPU used by other processes during each zactor run (cores of 2): " + "; ".join(loads) + ".")
    if "pykka_await" in results.get("asyncio", {}):
        pa = results["asyncio"]["pykka_await"]
        rows.append("")
        rows.append(
            f"Pykka's own `await future` (blocks the event loop in get()): median "
            f"{fmt(pa['median'])} awaits/s ({fmt(pa['min'])} - {fmt(pa['max'])})."
        )
    return "\n".join(rows)


def write_md(path, header, tbl):
    begin, end = "<!-- RESULTS BEGIN -->", "<!-- RESULTS END -->"
    block = f"{begin}\n{header}\n\n{tbl}\n{end}"
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = "# zactor Python binding: benchmarks\n\n" + block + "\n" + text
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated subset of " + ",".join(BENCHES))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every N")
    ap.add_argument("--no-pykka", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument("--quiet-wait", type=float, default=5.0,
                    help="before each measurement wait up to this many seconds for other "
                         "processes to use < 0.25 cores (0: don't wait)")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "python.json"))
    ap.add_argument("--md", default=os.path.join(ROOT, "bench", "RESULTS_python.md"))
    ap.add_argument("--render", action="store_true",
                    help="only rewrite the markdown table from the JSON file")
    args = ap.parse_args()
    if args.render:
        with open(args.json) as f:
            saved = json.load(f)
        write_md(args.md, md_header(saved), table(saved["results"]))
        return
    names = [n for n in args.only.split(",") if n] or list(BENCHES)
    use_pykka = pykka is not None and not args.no_pykka
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    raw = {n: {"zactor": [], "pykka": [], "pykka_await": [], "ext_load": []} for n in names}

    def measure(fn, n):
        if args.quiet_wait > 0:
            wait_quiet(args.quiet_wait)
        with ExtLoad() as e:
            v = fn(n)
        return v, e.cores

    for run in range(args.runs):
        for name in names:
            zf, pf = BENCHES[name]
            zn, pn = (max(1, int(x * args.scale)) for x in SIZES[name])
            v, ext = measure(zf, zn)
            raw[name]["zactor"].append(v)
            raw[name]["ext_load"].append(ext)
            line = f"run {run + 1}/{args.runs} {name:9s} zactor {fmt(v):>9s} {UNITS[name]:9s}"
            line += f" (other load {ext:.2f} cores)" if ext is not None else ""
            if use_pykka:
                pv, _ = measure(pf, pn)
                raw[name]["pykka"].append(pv)
                line += f"   pykka {fmt(pv):>9s}   x{v / pv:.0f}"
                if name == "asyncio":
                    raw[name]["pykka_await"].append(measure(p_asyncio_await, pn)[0])
            print(line, flush=True)
    load1 = os.getloadavg()
    results = {}
    for name in names:
        r = {"zactor": summary(raw[name]["zactor"]), "unit": UNITS[name],
             "other_load_cores": raw[name]["ext_load"],
             "target": TARGETS[name], "n_zactor": int(SIZES[name][0] * args.scale)}
        if use_pykka:
            r["pykka"] = summary(raw[name]["pykka"])
            r["n_pykka"] = int(SIZES[name][1] * args.scale)
            r["ratio"] = r["zactor"]["median"] / r["pykka"]["median"]
            if raw[name]["pykka_await"]:
                r["pykka_await"] = summary(raw[name]["pykka_await"])
        r["met"] = r["zactor"]["median"] >= TARGETS[name]
        results[name] = r
    machine = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "pykka": _pykka_version() if use_pykka else None,
        "loadavg_before": load0,
        "loadavg_after": load1,
    }
    tbl = table(results)
    print()
    print(tbl)
    if args.no_write:
        return
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    saved = {"date": started,
             "command": " ".join(["build/venv/bin/python", "bench/python/bench_python.py"] + sys.argv[1:]),
             "runs": args.runs, "scale": args.scale, "machine": machine, "results": results}
    with open(args.json, "w") as f:
        json.dump(saved, f, indent=2)
    write_md(args.md, md_header(saved), tbl)
    print(f"\nwrote {os.path.relpath(args.json, ROOT)} and {os.path.relpath(args.md, ROOT)}")


def md_header(saved):
    m = saved["machine"]
    l0, l1 = m["loadavg_before"][0], m["loadavg_after"][0]
    return (
        f"Run {saved['date']}: `{saved['command']}` (`make bench-python`; {saved['runs']} runs "
        f"each, zactor and Pykka interleaved).\n"
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, Pykka {m['pykka']}, "
        f"{m['platform']}; load average {l0:.2f} before, {l1:.2f} after (other jobs share "
        f"this machine)."
    )


def _pykka_version():
    try:
        from importlib.metadata import version

        return version("pykka")
    except Exception:  # pragma: no cover
        return "?"


if __name__ == "__main__":
    main()
