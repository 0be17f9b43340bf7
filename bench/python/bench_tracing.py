"""What tracing costs a Python ask (bench/RESULTS_http.md).

Three modes, alternated round by round in one process: no trace context
("off"); a context set on the asking thread, so every request carries it
and the handler sees it ("carried"); and zactor.tracing.enable() with the
OpenTelemetry SDK (a TracerProvider with a span processor that drops spans,
so the cost measured is recording, not exporting) with each ask made
through tracing.ask ("otel": two spans per ask, handed to the provider's
processors; "otel-exporter": the same with tracing.enable(exporter=...),
spans handed to the exporter in batches). Every span recorded in a run is
delivered before its clock stops (tracing.flush). Prints medians and writes
bench/results/tracing.json (OUT=path to write elsewhere).
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
    if mode.startswith("otel"):
        if NEW_API:
            tracing.enable(provider, exporter=Drop() if mode == "otel-exporter" else None)
        else:
            tracing.enable(provider)
        ref = system.spawn(Echo)  # (before 0.3: an incarnation started with the wrapped receive)
        ref.ask(0, timeout=5)
        t0 = time.perf_counter()
        for i in range(N):
            tracing.ask(ref, i, timeout=5)
        if NEW_API:
            tracing.flush()  # every span recorded in the run is handed over inside the timing
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
# zactor.tracing.flush exists since spans are recorded in C (csrc/spans.c);
# this script also runs against the earlier build for before/after figures
NEW_API = hasattr(tracing, "flush")
modes = ["off", "carried", "otel"] + (["otel-exporter"] if NEW_API else [])
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
with open(os.environ.get("OUT", "bench/results/tracing.json"), "w") as f:
    json.dump({"bench": "tracing", "n": N, "rounds": ROUNDS, "runs": res, "median": med, "cost_pct_paired": paired,
               "python": sys.version.split()[0]}, f, indent=1)
