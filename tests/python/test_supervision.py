"""Failures, restarts, supervision strategies, watch."""
import threading
import time

import pytest

import zactor
from conftest import Counter, wait_for


def test_exception_in_ask_reraised_with_traceback_and_note(system):
    ref = system.spawn(Counter)
    with pytest.raises(ValueError) as ei:
        ref.ask(("boom",))
    exc = ei.value
    assert str(exc) == "boom"
    # the actor-side frames are kept
    names = [tb.tb_frame.f_code.co_name for tb in _walk(exc.__traceback__)]
    assert "receive" in names
    assert any("Counter" in n for n in exc.__notes__)


def _walk(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_custom_exception_type_kept(system):
    class MyError(Exception):
        pass

    class A(zactor.Actor):
        def receive(self, msg):
            raise MyError(msg)

    ref = system.spawn(A)
    with pytest.raises(MyError, match="x"):
        ref.ask("x")
    f = ref.ask_async("y")
    assert isinstance(f.exception(timeout=2.0), MyError)


def test_failure_in_tell_goes_to_on_failure_and_restarts(system):
    events = []

    class A(zactor.Actor):
        def __init__(self):
            events.append("init")

        def on_start(self):
            events.append("start")

        def on_stop(self):
            events.append("stop")

        def on_failure(self, exc):
            events.append(("failure", type(exc).__name__))

        def receive(self, msg):
            if msg == "boom":
                raise KeyError("k")
            return self.context.restarts

    ref = system.spawn(A)
    ref.tell("boom")
    assert wait_for(lambda: events.count("init") == 2)
    assert events[:4] == ["init", "start", ("failure", "KeyError"), "init"]
    assert ref.ask("restarts?") == 1
    assert system.metrics()["restarts"] >= 1


def test_restart_keeps_queued_messages(system):
    gate = threading.Event()

    class A(zactor.Actor):
        def __init__(self):
            self.n = 0

        def on_failure(self, exc):
            pass

        def receive(self, msg):
            if msg == "gate-then-boom":
                gate.wait(2.0)
                raise RuntimeError("fail with a full mailbox")
            if msg == "get":
                return self.n
            self.n += msg

    ref = system.spawn(A)
    ref.tell("gate-then-boom")
    for _ in range(50):
        ref.tell(1)
    gate.set()
    # the 50 queued messages survive the restart and reach the new instance
    assert wait_for(lambda: ref.ask("get") == 50)


def test_max_restarts_then_stopped(system):
    class Bad(zactor.Actor):
        def on_failure(self, exc):
            pass

        def receive(self, msg):
            raise ValueError("always")

    ref = system.spawn(Bad, max_restarts=2, within=5.0)
    for _ in range(5):
        try:
            ref.tell("x")
        except zactor.ActorDeadError:
            break
        time.sleep(0.02)
    assert ref.join(timeout=3.0)


def test_failing_init_is_a_failure(system):
    class BadInit(zactor.Actor):
        def __init__(self):
            raise OSError("cannot start")

        def receive(self, msg):
            return msg

    ref = system.spawn(BadInit, restart="temporary")
    assert ref.join(timeout=2.0)


def test_temporary_actor_stops_on_failure(system):
    class A(zactor.Actor):
        def on_failure(self, exc):
            pass

        def receive(self, msg):
            raise ValueError("x")

    ref = system.spawn(A, restart="temporary")
    ref.tell(1)
    assert ref.join(timeout=2.0)


class Watcher(zactor.Actor):
    def __init__(self):
        self.seen = []

    def receive(self, msg):
        if isinstance(msg, zactor.Terminated):
            self.seen.append(msg)
        elif msg[0] == "watch":
            self.context.watch(msg[1])
        elif msg[0] == "seen":
            return list(self.seen)


def test_watch_normal_stop(system):
    target = system.spawn(Counter)
    w = system.spawn(Watcher)
    w.ask(("watch", target))
    target.stop()
    seen = wait_for(lambda: w.ask(("seen",)))
    assert seen[0].ref == target and seen[0].exc is None


def test_watch_failure_carries_exception(system):
    class A(zactor.Actor):
        def on_failure(self, exc):
            pass

        def receive(self, msg):
            raise LookupError("dead by failure")

    target = system.spawn(A, restart="temporary")
    w = system.spawn(Watcher)
    w.ask(("watch", target))
    target.tell("go")
    seen = wait_for(lambda: w.ask(("seen",)))
    assert seen[0].ref == target
    assert isinstance(seen[0].exc, LookupError)


def test_watch_dead_actor_notifies_at_once(system):
    target = system.spawn(Counter)
    target.stop()
    target.join(timeout=1.0)
    w = system.spawn(Watcher)
    w.ask(("watch", target))
    assert wait_for(lambda: w.ask(("seen",)))


class Parent(zactor.Actor):
    strategy = "one_for_all"

    def __init__(self):
        self.children = []

    def receive(self, msg):
        if msg == "spawn":
            a = self.context.spawn(Child, "a")
            b = self.context.spawn(Child, "b")
            self.children = [a, b]
            return self.children


class Child(zactor.Actor):
    def __init__(self, tag):
        self.tag = tag

    def on_failure(self, exc):
        pass

    def receive(self, msg):
        if msg == "boom":
            raise ValueError(self.tag)
        if msg == "parent?":
            return self.context.sender
        return (self.tag, self.context.restarts)


def test_one_for_all_restarts_siblings(system):
    p = system.spawn(Parent)
    a, b = p.ask("spawn")
    assert a.ask("x") == ("a", 0) and b.ask("x") == ("b", 0)
    a.tell("boom")
    assert wait_for(lambda: b.ask("x")[1] == 1)
    assert a.ask("x") == ("a", 1)


def test_children_stop_with_parent(system):
    p = system.spawn(Parent)
    a, b = p.ask("spawn")
    p.stop()
    assert p.join(timeout=2.0)
    assert a.join(timeout=2.0) and b.join(timeout=2.0)


def test_context_self_ref_and_sender(system):
    class A(zactor.Actor):
        def receive(self, msg):
            if msg == "me":
                return self.context.self_ref
            if msg == "sender":
                return self.context.sender
            if isinstance(msg, tuple):
                # ask another actor from inside: the sender seen there is us
                msg[1].tell(("report", self.context.self_ref))

    class Rec(zactor.Actor):
        def __init__(self):
            self.got = None

        def receive(self, msg):
            if msg == "got":
                return self.got
            self.got = (msg[1], self.context.sender)

    a = system.spawn(A)
    r = system.spawn(Rec)
    assert a.ask("me") == a
    assert a.ask("sender") is None  # asked from outside any actor
    a.tell(("go", r))
    got = wait_for(lambda: r.ask("got"))
    assert got[0] == a and got[1] == a


def test_context_outside_callbacks(system):
    holder = []

    class A(zactor.Actor):
        def __init__(self):
            holder.append(self.context)

        def receive(self, msg):
            return msg

    ref = system.spawn(A)
    ref.ask(1)
    ctx = holder[0]
    assert ctx.self_ref == ref
    with pytest.raises(RuntimeError):
        ctx.spawn(Counter)
    ctx.stop()  # from outside: stops the actor
    assert ref.join(timeout=2.0)
