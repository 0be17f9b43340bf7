"""Tracing across actors: W3C trace context carried by messages.

Every message sent while a trace context is current carries it (the
runtime does this in C for Python, Lua and C actors alike), and while an
actor handles such a message the context is current on that worker, so what
the handler sends carries it on. With no context set nothing is carried.

Without OpenTelemetry::

    zactor.tracing.set_current("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    ref.tell("hello")                    # carries it
    zactor.tracing.current()             # inside a handler: the message's

With the OpenTelemetry SDK (``pip install zactor[otel]``)::

    zactor.tracing.enable()              # spans go to the global TracerProvider
    with tracer.start_as_current_span("request"):
        zactor.tracing.ask(ref, msg, timeout=1.0)   # an "ask" span, and its context travels

``enable()`` records a span for each run of a Python actor's handler on a
message that carries a sampled context (attributes ``zactor.actor``,
``zactor.behaviour`` (module.qualname), ``zactor.language``,
``zactor.message.tag``, ``zactor.mailbox.wait_ns``), parented to the span
the message was sent from, whichever language sent it: Lua and C actors pass
the context on (and can read or set it, Lua's ``ctx:trace()``, C's
``za_ctx_trace``), so a chain Python -> Lua -> Python is one trace
(``languages=("python", "lua", "c")`` records their handler runs too).

How: the runtime records spans in C (csrc/spans.c: two clock reads and a
copy per span, no Python code on the message path) into a bounded buffer; a
thread of this module hands them to OpenTelemetry in batches (when a
quarter of the buffer is filled, or every 0.5 s), as span
objects (ReadableSpan) that build their fields only when an exporter reads
them. ``provider.force_flush()`` (or :func:`flush`) delivers what is
buffered. A span that finds the buffer full is dropped and counted
(:func:`dropped`).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional

from . import _zactor

__all__ = ["current", "set_current", "use", "enable", "disable", "enabled", "ask", "tell",
           "flush", "dropped", "otel_context"]


def current() -> Optional[str]:
    """The traceparent this thread's sends carry (inside a handler: its
    span's while spans are recorded, else the handled message's, unless
    changed), or None."""
    return _zactor._trace_get()


def set_current(traceparent: Optional[str]) -> None:
    """Set (or with None clear) the traceparent this thread's sends carry.
    Inside a handler it lasts until the handler returns. ValueError if it is
    not a W3C traceparent."""
    _zactor._trace_set(traceparent)


@contextmanager
def use(traceparent: Optional[str]) -> Iterator[None]:
    """``with use(tp):`` sends in the block carry ``tp``; the previous context
    comes back after."""
    before = current()
    set_current(traceparent)
    try:
        yield
    finally:
        set_current(before)


_LANGS = {"c": 1, "lua": 2, "python": 4}
_BATCH = 512

_state: dict = {"provider": None, "exporter": None, "pump": None, "cls": None, "processor": None}
_lock = threading.Lock()


def enabled() -> bool:
    return _state["provider"] is not None


def _span_class(provider):
    """The span type drained records are made of: a _SpanRecord (the C
    record) that is also an OpenTelemetry ReadableSpan, whose fields are
    built from the record the first time anything reads them."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    kinds = {1: SpanKind.CONSUMER, 2: SpanKind.CLIENT, 3: SpanKind.PRODUCER}
    names = {2: "ask", 3: "tell"}
    scope = InstrumentationScope("zactor")
    resource = getattr(provider, "resource", None)
    ok, error = Status(StatusCode.UNSET), Status(StatusCode.ERROR, "the handler failed")
    ask_error = Status(StatusCode.ERROR, "no answer")

    class ZactorSpan(_zactor._SpanRecord, ReadableSpan):
        def _z_build(self):
            kind = self._z_kind
            if kind == 1:
                beh = self._z_behaviour
                name = "receive " + beh
                attrs = {"zactor.actor": self._z_actor, "zactor.behaviour": beh,
                         "zactor.language": self._z_language, "zactor.message.tag": self._z_tag,
                         "zactor.mailbox.wait_ns": self._z_wait}
            else:
                name = names.get(kind, "span")
                attrs = {"zactor.target": self._z_actor}
            flags = TraceFlags(self._z_flags & 0xFF)
            parent_id = self._z_parent_id
            ReadableSpan.__init__(
                self, name=name,
                context=SpanContext(self._z_trace_id, self._z_span_id, False, flags),
                parent=SpanContext(self._z_trace_id, parent_id, False, flags) if parent_id else None,
                resource=resource, attributes=attrs, kind=kinds.get(kind, SpanKind.INTERNAL),
                status=(error if kind == 1 else ask_error) if self._z_failed else ok,
                start_time=self._z_start, end_time=self._z_end, instrumentation_scope=scope)

        def __getattr__(self, attr):
            # ReadableSpan's properties read self._name, self._context...:
            # the first such read builds them all (once: then they exist)
            if attr.startswith("_") and not attr.startswith("_z_") and "_name" not in self.__dict__:
                self._z_build()
                return object.__getattribute__(self, attr)
            raise AttributeError(attr)

    del trace
    return ZactorSpan


def _deliver(spans) -> None:
    if not spans:
        return
    exporter = _state["exporter"]
    if exporter is not None:
        exporter.export(spans)
        return
    for proc, exp in _targets(_state["provider"]):  # (processors added later count too)
        if exp is not None:
            # a SimpleSpanProcessor exports each span as it ends: the same
            # export, one call per batch, with instrumentation suppressed
            # as it does (so the exporter's own I/O is not traced)
            token = _suppress()
            try:
                exp.export(spans)
            finally:
                _unsuppress(token)
        else:
            for sp in spans:
                proc.on_end(sp)


def _suppress():
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, set_value

    return attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


def _unsuppress(token):
    from opentelemetry.context import detach

    detach(token)


def _targets(provider):
    """(processor, exporter-or-None) for each span processor of the
    provider: SimpleSpanProcessors are served by their exporter directly."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    multi = getattr(provider, "_active_span_processor", None)
    procs = getattr(multi, "_span_processors", None)
    if procs is None:  # another provider: its processor chain as a whole
        return [(multi, None)] if multi is not None else []
    out = []
    for p in procs:
        if getattr(p, "_zactor_flush", False):
            continue
        exp = getattr(p, "span_exporter", None) if type(p) is SimpleSpanProcessor else None
        out.append((p, exp))
    return out


def _drain_all() -> None:
    while True:
        spans = _zactor._spans_drain(4096)
        if not spans:
            return
        _deliver(spans)


def _pump(stop: threading.Event, batch: int) -> None:
    # Hands spans over in batches: waits (without the GIL) until a quarter
    # of the buffer is filled or 0.5 s passed, so a busy system pays one
    # wake-up and one Python call per few thousand spans (each wake-up takes
    # the GIL and a core from the actors), and an idle one shows its spans
    # within half a second.
    while not stop.is_set():
        _zactor._spans_wait(batch, 0.5)
        if _state["cls"] is None:
            return
        try:
            with _lock:
                _drain_all()
        except Exception:  # an exporter's failure must not end the pump
            import traceback
            traceback.print_exc()


def flush(timeout: float = 1.0) -> None:
    """Deliver every span recorded so far (waiting up to ``timeout`` for
    handlers running now to end)."""
    if _state["cls"] is None:
        return
    _zactor._spans_quiesce(timeout)
    with _lock:
        _drain_all()


def dropped() -> int:
    """Spans dropped because the buffer was full (the exporter fell behind)."""
    return _zactor._spans_dropped()


def _flush_processor_class():
    from opentelemetry.sdk.trace import SpanProcessor

    class _Flush(SpanProcessor):
        """Added to the provider: its force_flush and shutdown first deliver
        zactor's buffered spans (then flush the other processors again, so a
        BatchSpanProcessor exports them too)."""

        _zactor_flush = True

        def __init__(self, provider):
            self._provider = provider
            self._busy = False

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            if self._busy or _state["provider"] is not self._provider:
                return True
            self._busy = True
            try:
                flush(min(timeout_millis / 1000.0, 1.0))
                multi = getattr(self._provider, "_active_span_processor", None)
                for p in getattr(multi, "_span_processors", ()):
                    if p is not self:
                        p.force_flush(timeout_millis)
            finally:
                self._busy = False
            return True

        def shutdown(self) -> None:
            self.force_flush()

    return _Flush


def enable(tracer_provider: Any = None, *, exporter: Any = None,
           languages: Iterable[str] = ("python",), capacity: int = 16384) -> None:
    """Record spans for handler runs of actors in ``languages`` (any of
    "python", "lua", "c") and for :func:`ask` / :func:`tell`, and hand them
    to OpenTelemetry: to ``tracer_provider``'s span processors (default: the
    global provider), or, with ``exporter`` (a SpanExporter), straight to
    its ``export`` in batches (the cheapest path: no per-span processor
    call). ``capacity``: spans buffered until handed over. Needs
    ``opentelemetry-sdk`` (``pip install zactor[otel]``)."""
    try:
        from opentelemetry import context as otel_context_mod
        from opentelemetry import trace
        from opentelemetry.trace.propagation import _SPAN_KEY
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("zactor.tracing.enable() needs OpenTelemetry: "
                          "pip install 'zactor[otel]' (opentelemetry-sdk)") from e
    langs = 0
    for lang in languages:
        if lang not in _LANGS:
            raise ValueError(f"unknown language {lang!r}: use 'python', 'lua' or 'c'")
        langs |= _LANGS[lang]
    if not isinstance(capacity, int) or not 1 <= capacity <= 1 << 24:
        raise ValueError("capacity must be an int in 1..16777216")
    provider = tracer_provider or trace.get_tracer_provider()
    disable()
    # where the current OpenTelemetry span lives, so tracing.ask reads it
    # from C (with another runtime context: no parent from OpenTelemetry)
    rt = getattr(otel_context_mod, "_RUNTIME_CONTEXT", None)
    var = getattr(rt, "_current_context", None)
    import contextvars
    if not isinstance(var, contextvars.ContextVar):
        var = None
    cls = _span_class(provider)
    _zactor._spans_configure(cls, var, _SPAN_KEY if var is not None else None)
    _zactor._spans_enable(langs, capacity)
    _state.update(provider=provider, exporter=exporter, cls=cls)
    if exporter is None and hasattr(provider, "add_span_processor"):
        proc = _state["processor"]
        if proc is None or proc._provider is not provider:
            proc = _flush_processor_class()(provider)
            provider.add_span_processor(proc)
            _state["processor"] = proc
    stop = threading.Event()
    t = threading.Thread(target=_pump, args=(stop, max(_BATCH, capacity // 4)), name="zactor-spans",
                         daemon=True)
    _state["pump"] = (t, stop)
    t.start()


def disable() -> None:
    """Stop recording spans and deliver those recorded (the trace context
    is still carried)."""
    _zactor._spans_enable(0, 0)
    pump = _state["pump"]
    if pump is not None:
        t, stop = pump
        stop.set()
        if t is not threading.current_thread():
            t.join(5)
        _state["pump"] = None
    if _state["cls"] is not None:
        flush(0.5)
    _state.update(provider=None, exporter=None)


def otel_context() -> Any:
    """An OpenTelemetry Context whose parent is this thread's trace context
    (inside a handler: its span), for spans of your own:
    ``tracer.start_as_current_span("work", context=tracing.otel_context())``."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    tp = current()
    if tp is None:
        return None
    parts = tp.split("-")
    sc = SpanContext(int(parts[1], 16), int(parts[2], 16), True, TraceFlags(int(parts[3], 16)))
    return trace.set_span_in_context(NonRecordingSpan(sc))


_traced = _zactor._traced


def ask(ref, msg, timeout: Optional[float] = 5.0):
    """``ref.ask(msg, timeout)`` in an "ask" span (when enabled) whose context
    the request carries, so the handler's span is its child."""
    return _traced(2, ref, msg, timeout)


def tell(ref, msg) -> None:
    """``ref.tell(msg)`` in a "tell" span (when enabled) whose context the
    message carries."""
    return _traced(3, ref, msg, None)
