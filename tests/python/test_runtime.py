"""Timers, bounded mailboxes, dead letters, shutdown with work in flight."""
import threading
import time

import pytest

import zactor
from conftest import Counter, wait_for


class Log(zactor.Actor):
    def __init__(self):
        self.items = []

    def receive(self, msg):
        if msg == "items":
            return list(self.items)
        self.items.append(msg)


def test_send_after(system):
    log = system.spawn(Log)
    t0 = time.monotonic()
    system.send_after(0.05, log, {"tick": 1})
    assert wait_for(lambda: log.ask("items") == [{"tick": 1}])
    assert time.monotonic() - t0 >= 0.045


def test_send_after_cancel(system):
    log = system.spawn(Log)
    t = system.send_after(0.1, log, "never")
    assert t.cancel() is True
    assert t.cancel() is False
    time.sleep(0.2)
    assert log.ask("items") == []


def test_send_interval_and_cancel(system):
    log = system.spawn(Log)
    t = system.send_interval(0.01, log, "tick")
    assert wait_for(lambda: len(log.ask("items")) >= 3)
    t.cancel()
    time.sleep(0.03)
    n = len(log.ask("items"))
    time.sleep(0.1)
    assert len(log.ask("items")) == n


def test_timers_from_context(system):
    class Ticker(zactor.Actor):
        def __init__(self):
            self.ticks = 0
            self.timer = None

        def receive(self, msg):
            if msg == "start":
                self.timer = self.context.send_interval(0.01, self.context.self_ref, "tick")
            elif msg == "tick":
                self.ticks += 1
                if self.ticks == 3:
                    self.timer.cancel()
            elif msg == "ticks":
                return self.ticks

    ref = system.spawn(Ticker)
    ref.tell("start")
    assert wait_for(lambda: ref.ask("ticks") == 3)
    time.sleep(0.1)
    assert ref.ask("ticks") == 3


class Gated(zactor.Actor):
    """Blocks on an event on its first message, so its mailbox fills up."""

    def __init__(self, gate, entered=None):
        self.gate = gate
        self.entered = entered
        self.got = []

    def receive(self, msg):
        if msg == "wait":
            if self.entered is not None:
                self.entered.set()
            self.gate.wait(5.0)
        elif msg == "got":
            return list(self.got)
        else:
            self.got.append(msg)


def _ask_full_ok(ref, msg):
    try:
        return ref.ask(msg)
    except zactor.MailboxFull:  # still draining
        return None


def test_bounded_mailbox_fail(system):
    gate = threading.Event()
    entered = threading.Event()
    ref = system.spawn(Gated, gate, entered, capacity=2)
    ref.tell("wait")
    assert entered.wait(5.0)  # the actor is now inside receive: its mailbox is empty
    ref.tell(1)
    ref.tell(2)
    with pytest.raises(zactor.MailboxFull):
        ref.tell(3)
    gate.set()
    assert wait_for(lambda: _ask_full_ok(ref, "got") == [1, 2])


def test_bounded_mailbox_drop_newest_goes_to_dead_letters(system):
    letters = []
    system.on_dead_letter(letters.append)
    gate = threading.Event()
    entered = threading.Event()
    ref = system.spawn(Gated, gate, entered, capacity=1, on_full="drop_newest")
    ref.tell("wait")
    assert entered.wait(5.0)
    ref.tell("kept")
    ref.tell("dropped")  # no error: it becomes a dead letter
    gate.set()
    assert wait_for(lambda: _ask_full_ok(ref, "got") == ["kept"])
    assert wait_for(lambda: any(d.message == "dropped" for d in letters))
    d = [d for d in letters if d.message == "dropped"][0]
    assert d.reason == "dropped" and d.target == ref


def test_bounded_mailbox_block(system):
    gate = threading.Event()
    entered = threading.Event()
    ref = system.spawn(Gated, gate, entered, capacity=1, on_full="block", block_timeout=0.1)
    ref.tell("wait")
    assert entered.wait(5.0)
    ref.tell(1)
    t0 = time.monotonic()
    with pytest.raises(zactor.MailboxFull):
        ref.tell(2)
    assert time.monotonic() - t0 >= 0.09
    threading.Timer(0.05, gate.set).start()
    ref2 = system.spawn(Gated, threading.Event(), capacity=1, on_full="block", block_timeout=2.0)
    ref2.tell(1)
    ref2.tell(2)  # waits (GIL released) until the actor takes the first one
    assert wait_for(lambda: _ask_full_ok(ref2, "got") == [1, 2])


def test_dead_letters_of_stopped_actor(system):
    letters = []
    system.on_dead_letter(letters.append)
    gate = threading.Event()
    entered = threading.Event()
    ref = system.spawn(Gated, gate, entered)
    ref.tell("wait")
    assert entered.wait(5.0)
    for i in range(5):
        ref.tell(("queued", i))
    ref.stop()
    gate.set()
    ref.join(timeout=2.0)
    assert wait_for(lambda: len([d for d in letters if d.target == ref]) == 5)
    assert all(d.reason == "dead_target" for d in letters)
    assert sorted(d.message for d in letters) == [("queued", i) for i in range(5)]
    assert system.metrics()["dead_letters"] >= 5


def test_shutdown_drains_work_in_flight():
    processed = []

    class Slowish(zactor.Actor):
        def receive(self, msg):
            processed.append(msg)

    s = zactor.System(workers=2)
    refs = [s.spawn(Slowish) for _ in range(4)]
    n = 20000
    for i in range(n):
        refs[i % 4].tell(i)
    assert s.shutdown(timeout=10.0) is True
    assert len(processed) == n  # nothing lost
    assert sorted(processed) == list(range(n))


def test_shutdown_timeout_turns_leftovers_into_dead_letters():
    letters = []
    gate = threading.Event()
    stopped = []

    class Stuck(zactor.Actor):
        def receive(self, msg):
            if msg == "stuck":
                gate.wait(0.6)

        def on_stop(self):
            stopped.append(True)

    s = zactor.System(workers=1)
    s.on_dead_letter(letters.append)
    ref = s.spawn(Stuck)
    ref.tell("stuck")
    for i in range(10):
        ref.tell(i)
    time.sleep(0.05)
    assert s.shutdown(timeout=0.1) is False
    # every message was either handled or reported as a dead letter
    assert stopped == [True]
    assert all(d.reason in ("shutdown", "dead_target") for d in letters)


def test_on_stop_runs_at_shutdown():
    stopped = []

    class A(zactor.Actor):
        def receive(self, msg):
            pass

        def on_stop(self):
            stopped.append(self.context.self_ref)

    with zactor.System(workers=2) as s:
        refs = [s.spawn(A) for _ in range(10)]
    assert sorted(r.id for r in stopped) == sorted(r.id for r in refs)
