"""What tracing costs a Python ask (bench/RESULTS_http.md).

Three modes, alternated round by round in one process: no trace context
("off"); a context set on the asking thread, so every request carries it
and the handler sees it ("carried"); and zactor.tracing.enable() with the
OpenTelemetry SDK (a TracerProvider with a span processor that drops spans,
so the cost measured is recording, not exporting) with each ask made
through tracing.ask ("otel": two spans per ask). Prints medians and writes
bench/results/tracing.json.
"""
import json
import os
import statistics
import sys
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import zactor
from zactor import tracing

N = int(os.environ.get("N", "20000"))
ROUNDS = int(os.environ.get("ROUNDS", "9"))
TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Drop(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


class Echo(zactor.Actor):
    def receive(self, msg):
        return msg


def run(system, mode):
    ref = system.spawn(Echo)
    ref.ask(0, timeout=5)
    tracing.set_current(TP if mode == "carried" else None)
    if mode == "otel":
        tracing.enable(provider)
        ref = system.spawn(Echo)  # an incarnation started with the wrapped receive
        ref.ask(0, timeout=5)
        t0 = time.perf_counter()
        for i in range(N):
            tracing.ask(ref, i, timeout=5)
        dt = time.perf_counter() - t0
        tracing.disable()
    else:
        t0 = time.perf_counter()
        for i in range(N):
            ref.ask(i, timeout=5)
        dt = time.perf_counter() - t0
    tracing.set_current(None)
    ref.stop()
    return N / dt


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Drop()))
modes = ["off", "carried", "otel"]
res = {m: [] for m in modes}
with zactor.System(workers=2) as system:
    run(system, "off")  # warm-up
    for r in range(ROUNDS):
        order = modes if r % 2 == 0 else modes[::-1]
        for m in order:
            res[m].append(run(system, m))
med = {m: statistics.median(v) for m, v in res.items()}
# cost per round against that round's "off" run (load that drifts over the
# run of a shared machine cancels out), then the median
paired = {m: statistics.median(100.0 * (o - x) / o for o, x in zip(res["off"], res[m]))
          for m in modes}
print(f"bench_tracing: Python ask round trips, 2 workers, N={N}, median of {ROUNDS}")
for m in modes:
    print(f"  {m:8s} {med[m]:10.0f} asks/s   cost vs off (paired rounds) {paired[m]:+6.1f} %   runs: "
          + " ".join(f"{x:.0f}" for x in res[m]))
os.makedirs("bench/results", exist_ok=True)
with open("bench/results/tracing.json", "w") as f:
    json.dump({"bench": "tracing", "n": N, "rounds": ROUNDS, "runs": res, "median": med, "cost_pct_paired": paired,
               "python": sys.version.split()[0]}, f, indent=1)
