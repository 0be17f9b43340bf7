"""Python grains: activation latency (cold, with state, warm), calls/s to a
warm grain, save()s/s, per storage provider (memory, sqlite).

    python bench/python/bench_grains.py [--quick]

Prints the figures and writes bench/results/grains_python.json.
"""
import json
import os
import statistics
import sys
import tempfile
import time

import zactor

QUICK = "--quick" in sys.argv


class Account(zactor.Grain):
    grain_type = "bench.Account"

    async def receive(self, msg):
        if msg == "save":
            self.state["n"] = self.state.get("n", 0) + 1
            await self.save()
        elif msg == "leave":
            self.deactivate()
        return self.state.get("n", 0)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def run(url):
    out = {}
    n_cold = 300 if QUICK else 2000
    with zactor.System(workers=2, storage=url) as system:
        # cold activation, nothing stored: first ask to a new key
        lat = []
        for i in range(n_cold):
            g = system.grain(Account, f"c{i}")
            t = time.perf_counter()
            g.ask("get")
            lat.append(time.perf_counter() - t)
        out["activate_cold_empty_us"] = {"p50": pct(lat, 50) * 1e6, "p99": pct(lat, 99) * 1e6}
        # state writes: one grain, sequential save()s (each durable when it returns)
        g = system.grain(Account, "saver")
        n_save = 300 if QUICK else 2000
        t = time.perf_counter()
        for _ in range(n_save):
            g.ask("save")
        out["save_seq_per_s"] = n_save / (time.perf_counter() - t)
        # many grains saving at once (asks in flight together)
        n_par = 2000 if QUICK else 10000
        refs = [system.grain(Account, f"p{i % 500}") for i in range(n_par)]
        t = time.perf_counter()
        futs = [r.ask_async("save", timeout=60) for r in refs]
        for f in futs:
            f.result(60)
        out["save_500_grains_per_s"] = n_par / (time.perf_counter() - t)
        # cold activation with state: deactivate the 500 savers, touch them again
        for i in range(500):
            system.grain(Account, f"p{i}").tell("leave")
        deadline = time.monotonic() + 30
        while any(x.key.startswith("p") for x in system.grains()) and time.monotonic() < deadline:
            time.sleep(0.01)
        lat = []
        for i in range(500):
            g = system.grain(Account, f"p{i}")
            t = time.perf_counter()
            g.ask("get")
            lat.append(time.perf_counter() - t)
        out["activate_cold_with_state_us"] = {"p50": pct(lat, 50) * 1e6,
                                              "p99": pct(lat, 99) * 1e6}
        # warm: a grain that is active
        g = system.grain(Account, "warm")
        g.ask("get")
        lat = []
        n_warm = 2000 if QUICK else 20000
        t0 = time.perf_counter()
        for _ in range(n_warm):
            t = time.perf_counter()
            g.ask("get")
            lat.append(time.perf_counter() - t)
        out["warm_ask_per_s"] = n_warm / (time.perf_counter() - t0)
        out["warm_ask_us"] = {"p50": pct(lat, 50) * 1e6, "p99": pct(lat, 99) * 1e6}
        # one-way calls to a warm grain (tell), then one ask to drain
        n_tell = 20000 if QUICK else 200000
        t = time.perf_counter()
        for _ in range(n_tell):
            g.send("get")
        g.ask("get", timeout=60)
        out["warm_tell_per_s"] = n_tell / (time.perf_counter() - t)
    return out


def main():
    res = {}
    with tempfile.TemporaryDirectory() as d:
        for name, url in (("memory", "memory://"), ("sqlite", f"sqlite://{d}/bench.db")):
            res[name] = run(url)
            print(f"== {name}")
            for k, v in res[name].items():
                if isinstance(v, dict):
                    print(f"  {k:28s} p50 {v['p50']:8.1f}  p99 {v['p99']:8.1f}")
                else:
                    print(f"  {k:28s} {v:10.0f}")
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "results", "grains_python.json")
    with open(path, "w") as f:
        json.dump({"quick": QUICK, "results": res, "time": time.time()}, f, indent=1)
    print("wrote", os.path.normpath(path))


if __name__ == "__main__":
    main()
