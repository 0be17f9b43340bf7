"""The API of the issue's example, and its bad paths."""
import time

import pytest

import zactor
from conftest import Counter, wait_for


def test_issue_example(system):
    ref = system.spawn(Counter, 10, name="counter")
    ref.tell(("add", 5))
    assert ref.ask(("get",), timeout=1.0) == 15
    fut = ref.ask_async(("get",))
    assert isinstance(fut, zactor.Future)
    assert fut.result(timeout=1.0) == 15
    assert fut.done()
    assert system.lookup("counter") == ref
    ref.stop()
    assert ref.join(timeout=1.0) is True
    assert not ref.is_alive()


def test_messages_are_the_objects_themselves(system):
    ref = system.spawn(Counter)
    obj = {"big": list(range(1000))}
    assert ref.ask(("echo", obj)) is obj


def test_ask_timeout(system):
    ref = system.spawn(Counter)
    t0 = time.monotonic()
    with pytest.raises(zactor.AskTimeout) as ei:
        ref.ask(("sleep", 0.5), timeout=0.1)
    assert isinstance(ei.value, TimeoutError)
    assert time.monotonic() - t0 < 0.45
    # the actor is fine afterwards; the late reply became a dead letter
    assert ref.ask(("get",), timeout=2.0) == 0


def test_future_result_timeout_does_not_cancel(system):
    ref = system.spawn(Counter)
    fut = ref.ask_async(("sleep", 0.2))
    with pytest.raises(TimeoutError):
        fut.result(timeout=0.01)
    assert fut.result(timeout=2.0) == "slept"


def test_ask_async_timeout(system):
    ref = system.spawn(Counter)
    fut = ref.ask_async(("sleep", 0.3), timeout=0.05)
    with pytest.raises(zactor.AskTimeout):
        fut.result(timeout=2.0)


def test_dead_actor(system):
    ref = system.spawn(Counter)
    ref.stop()
    assert ref.join(timeout=1.0)
    with pytest.raises(zactor.ActorDeadError):
        ref.tell(("add", 1))
    with pytest.raises(zactor.ActorDeadError):
        ref.ask(("get",), timeout=1.0)
    with pytest.raises(zactor.ActorDeadError):
        ref.ask_async(("get",))
    assert ref.stop() is False  # idempotent


def test_stop_with_queued_ask_gives_dead_error(system):
    ref = system.spawn(Counter)
    slow = ref.ask_async(("sleep", 0.2))
    queued = ref.ask_async(("get",))
    time.sleep(0.05)
    ref.stop()
    assert slow.result(timeout=2.0) == "slept"
    with pytest.raises(zactor.ActorDeadError):
        queued.result(timeout=2.0)


def test_future_callbacks_and_cancel(system):
    ref = system.spawn(Counter, 3)
    seen = []
    fut = ref.ask_async(("get",))
    fut.add_done_callback(lambda f: seen.append(f.result()))
    assert fut.result(timeout=1.0) == 3
    assert wait_for(lambda: seen == [3])
    # callback added after completion runs at once
    fut.add_done_callback(lambda f: seen.append("late"))
    assert seen == [3, "late"]
    # cancel a pending ask
    slow = ref.ask_async(("sleep", 0.3))
    pending = ref.ask_async(("get",))
    assert pending.cancel() is True
    assert pending.cancelled()
    assert pending.done()
    with pytest.raises(zactor.CancelledError if hasattr(zactor, "CancelledError") else Exception):
        pending.result()
    assert slow.result(timeout=2.0) == "slept"
    assert slow.cancel() is False


def test_lookup_and_names(system):
    ref = system.spawn(Counter, name="c1")
    assert system.lookup("c1") == ref
    assert system.lookup("nope") is None
    with pytest.raises(ValueError):
        system.spawn(Counter, name="c1")
    ref.stop()
    ref.join(timeout=1.0)
    assert wait_for(lambda: system.lookup("c1") is None)
    again = system.spawn(Counter, name="c1")
    assert system.lookup("c1") == again != ref


def test_refs_hash_and_eq(system):
    a = system.spawn(Counter)
    b = system.spawn(Counter)
    assert a != b
    assert len({a, b, system.lookup("x") or a}) == 2
    assert "ActorRef" in repr(a)


def test_bad_arguments(system):
    with pytest.raises(TypeError):
        system.spawn(42)
    with pytest.raises(ValueError):
        system.spawn(Counter, restart="sometimes")
    with pytest.raises(TypeError):
        system.spawn(Counter, bogus_option=1)
    with pytest.raises(ValueError):
        zactor.System(workers=-1)


def test_plain_callable_actor(system):
    ref = system.spawn(lambda msg: msg * 2)
    assert ref.ask(21) == 42


def test_plain_callable_child_with_extra_args(system):
    class Parent(zactor.Actor):
        def receive(self, msg):
            if msg == "spawn":
                # extra spawn args come before each message
                return self.context.spawn(lambda k, m: m * k, 3)
            return self.context.spawn(msg)

    parent = system.spawn(Parent)
    child = parent.ask("spawn")
    assert child.ask(14) == 42
    with pytest.raises(TypeError, match="Actor class or a callable"):
        parent.ask(42)


def test_spawn_kwargs(system):
    ref = system.spawn(Counter, kwargs={"start": 7})
    assert ref.ask(("get",)) == 7


def test_after_shutdown_everything_is_dead():
    s = zactor.System(workers=1)
    ref = s.spawn(Counter)
    assert s.shutdown() is True
    assert s.closed
    with pytest.raises(zactor.ActorDeadError):
        ref.tell(("add", 1))
    with pytest.raises(zactor.ActorDeadError):
        s.spawn(Counter)
    assert s.shutdown() is True  # idempotent


def test_metrics_and_prometheus(system):
    ref = system.spawn(Counter)
    for _ in range(100):
        ref.tell(("add", 1))
    assert ref.ask(("get",)) == 100
    m = system.metrics()
    assert m["sent"] >= 101
    assert m["spawned"] >= 1
    assert m["actors_alive"] >= 1
    assert set(m["queue_latency"]) == {"count", "p50_ns", "p95_ns", "p99_ns", "max_ns"}
    text = system.prometheus()
    assert "zactor" in text and "\n" in text


def test_blocking_calls_refused_inside_actors(system):
    class Asker(zactor.Actor):
        def receive(self, target):
            try:
                target.ask(("get",))
            except RuntimeError as e:
                return str(e)
            return "no error"

    target = system.spawn(Counter)
    a = system.spawn(Asker)
    assert "ask_async" in a.ask(target)


def test_ask_async_between_actors(system):
    class Forwarder(zactor.Actor):
        def receive(self, msg):
            target, reply_to = msg
            fut = target.ask_async(("get",))
            fut.add_done_callback(lambda f: reply_to.tell(("add", f.result())))

    target = system.spawn(Counter, 5)
    sink = system.spawn(Counter)
    fwd = system.spawn(Forwarder)
    fwd.tell((target, sink))
    assert wait_for(lambda: sink.ask(("get",)) == 5)
