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
from zactor import tracing

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
    assert set(spans) >= {"request", "ask", "receive " + Front.__qualname__,
                          "receive " + Back.__qualname__}
    front_span = spans["receive " + Front.__qualname__]
    back_span = spans["receive " + Back.__qualname__]
    trace_id = root.get_span_context().trace_id
    assert all(s.context.trace_id == trace_id for s in spans.values())  # one trace
    assert spans["ask"].parent.span_id == root.get_span_context().span_id
    assert front_span.parent.span_id == spans["ask"].context.span_id
    # through the Lua actor, which records no span but passes the context on
    assert back_span.parent.span_id == front_span.context.span_id
    assert front_span.attributes["zactor.language"] == "python"
    assert front_span.attributes["zactor.behaviour"] == Front.__qualname__
    assert front_span.attributes["zactor.actor"] == repr(front)
    # disabled: no more spans, the context is still carried
    tracing.disable()
    exporter.clear()
    tracing.set_current(TP)
    assert system.spawn(Echo).ask("x", timeout=5) == TP
    assert exporter.get_finished_spans() == ()
