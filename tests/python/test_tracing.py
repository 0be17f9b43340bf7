"""Trace context across actors: carried by messages through Python, Lua (and
C, see tests/c/test_trace.c) actors; OpenTelemetry spans for Python handlers
and asks, parented across languages, checked with the SDK's in-memory
exporter (the real SDK, not a mock)."""
import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import zactor
from opentelemetry.trace import SpanKind, StatusCode
from zactor import _zactor, tracing

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
LUA_ECHO_TRACE = "return { receive = function(ctx, m) return ctx:trace() end }"
# forwards {ref, text} to ref: the context goes along without Lua doing anything
LUA_RELAY = "return { receive = function(ctx, m) m[1]:tell(m[2]) end }"


class Echo(zactor.Actor):
    def receive(self, msg):
        return tracing.current()


@pytest.fixture(autouse=True)
def no_context():
    tracing.set_current(None)
    yield
    tracing.set_current(None)
    tracing.disable()


def test_context_is_carried_and_current_in_handlers(system):
    py = system.spawn(Echo)
    lua = system.spawn_lua(LUA_ECHO_TRACE)
    assert py.ask("x", timeout=5) is None and lua.ask("x", timeout=5) is None
    tracing.set_current(TP)
    assert tracing.current() == TP
    assert py.ask("x", timeout=5) == TP
    assert lua.ask("x", timeout=5) == TP
    with tracing.use(None):
        assert py.ask("x", timeout=5) is None
    assert tracing.current() == TP  # use() put it back
    tracing.set_current(None)
    assert lua.ask("x", timeout=5) is None


def test_bad_traceparent():
    with pytest.raises(ValueError, match="not a W3C traceparent"):
        tracing.set_current("00-abc")
    with pytest.raises(TypeError, match="traceparent must be a str or None"):
        tracing.set_current(42)
    assert tracing.current() is None


def test_spans_follow_python_lua_python(system):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    done = threading.Event()

    class Front(zactor.Actor):  # defined after enable(): wrapped by the hook
        def receive(self, msg):
            relay, back = msg
            relay.tell([back, "hi from python"])
            return "sent"

    class Back(zactor.Actor):
        def receive(self, msg):
            assert msg == "hi from python"
            done.set()

    back = system.spawn(Back, name="back")
    relay = system.spawn_lua(LUA_RELAY)
    front = system.spawn(Front, name="front")
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as root:
        assert tracing.ask(front, (relay, back), timeout=5) == "sent"
    assert done.wait(5)
    assert provider.force_flush()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    front_label, back_label = "test_tracing." + Front.__qualname__, "test_tracing." + Back.__qualname__
    assert set(spans) >= {"request", "ask", "receive " + front_label, "receive " + back_label}
    front_span = spans["receive " + front_label]
    back_span = spans["receive " + back_label]
    trace_id = root.get_span_context().trace_id
    assert all(s.context.trace_id == trace_id for s in spans.values())  # one trace
    assert spans["ask"].parent.span_id == root.get_span_context().span_id
    assert front_span.parent.span_id == spans["ask"].context.span_id
    # through the Lua actor, which records no span but passes the context on
    assert back_span.parent.span_id == front_span.context.span_id
    assert front_span.attributes["zactor.language"] == "python"
    assert front_span.attributes["zactor.behaviour"] == front_label
    assert front_span.attributes["zactor.actor"] == repr(front)
    assert front_span.attributes["zactor.message.tag"] == _zactor.TAG_PY
    assert back_span.attributes["zactor.message.tag"] >= 0  # MessagePack from Lua
    # enqueue -> start of handling: a thread hand-off at least
    assert front_span.attributes["zactor.mailbox.wait_ns"] > 0
    assert front_span.kind == SpanKind.CONSUMER and spans["ask"].kind == SpanKind.CLIENT
    assert spans["ask"].attributes["zactor.target"] == repr(front)
    assert root.start_time <= spans["ask"].start_time <= front_span.start_time
    assert front_span.start_time <= front_span.end_time <= spans["ask"].end_time
    # disabled: no more spans, the context is still carried
    tracing.disable()
    exporter.clear()
    tracing.set_current(TP)
    assert system.spawn(Echo).ask("x", timeout=5) == TP
    assert exporter.get_finished_spans() == ()


def memory_provider():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


class Boom(zactor.Actor):
    def receive(self, msg):
        if msg == "boom":
            raise RuntimeError("boom")
        return msg


def test_lua_and_c_handler_spans_join_the_trace(system):
    """languages=("python", "lua"): the Lua relay's handler run is a span too,
    between the Python sender's and the Python receiver's."""
    provider, exporter = memory_provider()
    tracing.enable(provider, languages=("python", "lua"))
    done = threading.Event()

    class Sink(zactor.Actor):
        def receive(self, msg):
            done.set()

    sink = system.spawn(Sink)
    relay = system.spawn_lua(LUA_RELAY)
    tracing.tell(relay, [sink, "x"])
    assert done.wait(5)
    assert provider.force_flush()
    spans = exporter.get_finished_spans()
    by_kind = {s.name.split(" ")[0]: s for s in spans}
    tell_span = by_kind["tell"]
    lua_span = [s for s in spans if s.attributes.get("zactor.language") == "lua"][0]
    sink_span = [s for s in spans if s.name == "receive test_tracing." + Sink.__qualname__][0]
    assert tell_span.parent is None  # no current span: a new trace
    assert lua_span.parent.span_id == tell_span.context.span_id
    assert sink_span.parent.span_id == lua_span.context.span_id
    assert lua_span.name == "receive lua" and lua_span.attributes["zactor.behaviour"] == "lua"
    assert len({s.context.trace_id for s in spans}) == 1


def test_exporter_gets_batches_failures_and_unsampled(system):
    """exporter=: spans go straight to SpanExporter.export in batches; a
    failing handler's span has an error status; a context that is not
    sampled is carried but records nothing."""
    exporter = InMemorySpanExporter()
    tracing.enable(TracerProvider(), exporter=exporter)
    ref = system.spawn(Boom)
    for i in range(50):
        assert tracing.ask(ref, i, timeout=5) == i
    with pytest.raises(RuntimeError, match="boom"):  # the handler's own exception
        tracing.ask(ref, "boom", timeout=5)
    tracing.flush()
    spans = exporter.get_finished_spans()
    receives = [s for s in spans if s.name == "receive test_tracing.Boom"]
    asks = [s for s in spans if s.name == "ask"]
    assert len(receives) == 51 and len(asks) == 51
    assert receives[-1].status.status_code == StatusCode.ERROR
    assert asks[-1].status.status_code == StatusCode.ERROR
    assert all(s.status.status_code == StatusCode.UNSET for s in receives[:-1])
    assert {r.parent.span_id for r in receives} == {a.context.span_id for a in asks}
    assert tracing.dropped() == 0
    exporter.clear()
    unsampled = TP[:-2] + "00"
    tracing.set_current(unsampled)
    assert system.spawn(Echo).ask("x", timeout=5) == unsampled  # carried as it came
    tracing.flush()
    assert exporter.get_finished_spans() == ()


def test_enable_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown language 'cobol'"):
        tracing.enable(TracerProvider(), languages=("cobol",))
    with pytest.raises(ValueError, match="capacity"):
        tracing.enable(TracerProvider(), capacity=0)
    assert not tracing.enabled()


def test_otel_context_parents_user_spans(system):
    provider, exporter = memory_provider()
    tracing.enable(provider)
    tracer = provider.get_tracer("user")

    class Worker(zactor.Actor):
        def receive(self, msg):
            with tracer.start_as_current_span("inner", context=tracing.otel_context()):
                return tracing.current()

    w = system.spawn(Worker)
    with tracer.start_as_current_span("outer"):
        tracing.ask(w, 1, timeout=5)
    assert provider.force_flush()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["inner"].parent.span_id == spans["receive test_tracing." + Worker.__qualname__].context.span_id
    assert tracing.otel_context() is None  # no context on this thread now
