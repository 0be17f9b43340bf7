"""Instruction counts of a traced vs an untraced Python ask, for callgrind
(bench/RESULTS_http.md): a steadier figure than timings on a shared VM.

    valgrind --tool=callgrind --fair-sched=yes --collect-atstart=no \
        --toggle-collect='Ref_ask' --toggle-collect='zpy_traced_ask' \
        --toggle-collect='zpy_traced' --toggle-collect='za__span_recv_*' \
        python bench/python/bench_tracing_cg.py MODE

MODE: "off" (ref.ask, no context) or "otel" (tracing.enable(exporter=...)
and tracing.ask). N asks (default 2000) after a warm-up. The counts cover
the asking thread's ask call (request, wait, answer) and the worker's
receive-span hooks; divide by N.
"""
import os
import sys

import zactor
from zactor import tracing

N = int(os.environ.get("N", "2000"))
mode = sys.argv[1] if len(sys.argv) > 1 else "off"


class Echo(zactor.Actor):
    def receive(self, msg):
        return msg


with zactor.System(workers=2) as system:
    ref = system.spawn(Echo)
    ref.ask(0, timeout=30)
    if mode == "otel":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans):
                return SpanExportResult.SUCCESS

        tracing.enable(TracerProvider(), exporter=Drop())
        ask = tracing.ask
        for i in range(50):
            ask(ref, i, timeout=30)
        for i in range(N):
            ask(ref, i, timeout=30)
        tracing.flush()
        tracing.disable()
    else:
        for i in range(50):
            ref.ask(i, timeout=30)
        for i in range(N):
            ref.ask(i, timeout=30)
print(mode, N)
