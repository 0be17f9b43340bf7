"""Where a traced Python message's time goes (bench/RESULTS_http.md).

100 000 tells from the main thread to a Python actor per run, five modes
alternated seven times in one process, the minimum of each printed. A tell
is CPU-bound on the sending thread, so while the machine has a core to
spare the minimum is a stable per-message cost (four runs at load average
3-7 on the 2-core VM agreed within ~50 ns); with no core to spare it is not
(two runs at load average 10-11 gave 0.7-2.8 us for a plain tell).

  plain         ref.tell, no trace context
  carried       a context set: every message carries it
  recv_nodrain  spans recorded for the receiving Python actor (csrc/spans.c),
                the exporter thread stopped (recording only)
  recv_spans    the same, spans handed to a dropping exporter in batches
  traced        tracing.tell: a caller span per message too
"""
import time

import zactor
from zactor import tracing, _zactor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
class Drop(SpanExporter):
    def export(self, spans): return SpanExportResult.SUCCESS
class Sink(zactor.Actor):
    def receive(self, msg): pass
N=100000
TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
res={}
with zactor.System(workers=2) as s:
    r = s.spawn(Sink)
    def run(mode):
        r.ask(None, timeout=30)
        if mode != "plain": tracing.set_current(TP)
        if mode in ("recv_spans","traced","recv_nodrain"):
            tracing.enable(TracerProvider(), exporter=Drop(), capacity=1<<18)
        if mode == "recv_nodrain":
            tracing._state["pump"][1].set()  # stop the pump: measure recording only
        t=time.perf_counter()
        if mode == "traced":
            for i in range(N): tracing.tell(r, i)
        else:
            for i in range(N): r.tell(i)
        tracing.set_current(None)
        r.ask(None, timeout=30)
        dt=(time.perf_counter()-t)/N*1e9
        tracing.disable()
        return dt
    modes=["plain","carried","recv_nodrain","recv_spans","traced"]
    for k in range(7):
        for m in modes: res.setdefault(m,[]).append(run(m))
base=min(res["plain"])
for m in modes: print("%-13s min %5.0f ns  (+%4.0f)" % (m, min(res[m]), min(res[m])-base))
