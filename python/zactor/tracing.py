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

    zactor.tracing.enable()              # before spawning the actors to trace
    with tracer.start_as_current_span("request"):
        zactor.tracing.ask(ref, msg, timeout=1.0)   # an "ask" span, and its context travels

``enable()`` records a span for each run of a Python actor's ``receive``
(attributes ``zactor.actor``, ``zactor.behaviour``, ``zactor.language``),
parented to the span the message was sent from, whichever language sent it:
Lua and C actors pass the context on (and can read or set it, Lua's
``ctx:trace()``, C's ``za_ctx_trace``), so a chain Python -> Lua -> Python is
one trace.
"""
from __future__ import annotations

import functools
import inspect
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from . import _zactor

__all__ = ["current", "set_current", "use", "enable", "disable", "enabled", "ask", "tell"]


def current() -> Optional[str]:
    """The traceparent this thread's sends carry (inside a handler: the
    handled message's unless changed), or None."""
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


_state: dict = {"tracer": None, "wrapped": [], "hook": None}


def enabled() -> bool:
    return _state["tracer"] is not None


def _traceparent_of(span) -> Optional[str]:
    sc = span.get_span_context()
    if not sc.is_valid:
        return None
    return "00-%032x-%016x-%02x" % (sc.trace_id, sc.span_id, int(sc.trace_flags))


def _parent_context(traceparent: Optional[str]):
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not traceparent:
        return None
    return TraceContextTextMapPropagator().extract({"traceparent": traceparent})


def _wrap_receive(cls) -> None:
    fn = cls.__dict__.get("receive")
    if fn is None or getattr(fn, "__zactor_traced__", False) or inspect.iscoroutinefunction(fn):
        return  # inherited (wrapped where defined), already wrapped, or async (not traced yet)

    @functools.wraps(fn)
    def receive(self, msg):
        tracer = _state["tracer"]
        if tracer is None:
            return fn(self, msg)
        from opentelemetry import trace

        ctx = getattr(self, "context", None)
        attrs = {"zactor.behaviour": type(self).__qualname__, "zactor.language": "python"}
        if ctx is not None:
            attrs["zactor.actor"] = repr(ctx.self_ref)
        with tracer.start_as_current_span(
            "receive " + type(self).__qualname__,
            context=_parent_context(current()),
            kind=trace.SpanKind.CONSUMER,
            attributes=attrs,
        ) as span:
            set_current(_traceparent_of(span))  # what the handler sends is our child
            return fn(self, msg)

    receive.__zactor_traced__ = True
    receive.__zactor_original__ = fn
    cls.receive = receive
    _state["wrapped"].append(cls)


def _all_subclasses(cls):
    out, todo = [], [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            out.append(sub)
            todo.append(sub)
    return out


def enable(tracer_provider: Any = None) -> None:
    """Record OpenTelemetry spans for Python actors' ``receive`` runs, and for
    :func:`ask`. Needs ``opentelemetry-sdk`` (``pip install zactor[otel]``).
    Affects actor classes defined before and after the call, for actors
    started after it. ``tracer_provider``: defaults to the global one."""
    try:
        from opentelemetry import trace
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("zactor.tracing.enable() needs OpenTelemetry: "
                          "pip install 'zactor[otel]' (opentelemetry-sdk)") from e
    from . import Actor

    _state["tracer"] = (tracer_provider or trace.get_tracer_provider()).get_tracer("zactor")
    for cls in [Actor] + _all_subclasses(Actor):
        _wrap_receive(cls)
    if _state["hook"] is None:
        previous = Actor.__dict__.get("__init_subclass__")

        def __init_subclass__(cls, **kw):
            if previous is not None:
                previous.__func__(cls, **kw)
            else:
                super(Actor, cls).__init_subclass__(**kw)
            _wrap_receive(cls)

        Actor.__init_subclass__ = classmethod(__init_subclass__)
        _state["hook"] = (previous,)


def disable() -> None:
    """Stop recording spans (the trace context is still carried)."""
    _state["tracer"] = None


def _client_span(name: str, ref):
    from opentelemetry import trace

    return _state["tracer"].start_as_current_span(
        name, kind=trace.SpanKind.PRODUCER if name == "tell" else trace.SpanKind.CLIENT,
        attributes={"zactor.target": repr(ref)})


def ask(ref, msg, timeout: Optional[float] = 5.0):
    """``ref.ask(msg, timeout)`` in an "ask" span (when enabled) whose context
    the request carries, so the handler's span is its child."""
    if _state["tracer"] is None:
        return ref.ask(msg, timeout=timeout)
    with _client_span("ask", ref) as span, use(_traceparent_of(span)):
        return ref.ask(msg, timeout=timeout)


def tell(ref, msg) -> None:
    """``ref.tell(msg)`` in a "tell" span (when enabled) whose context the
    message carries."""
    if _state["tracer"] is None:
        return ref.tell(msg)
    with _client_span("tell", ref) as span, use(_traceparent_of(span)):
        return ref.tell(msg)
