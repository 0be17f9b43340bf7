"""Async handlers, the gaps left by issue 11's first pass: call chains that
cross Python and Lua actors (any cycle re-enters), concurrency= on every
spawn, stashed messages as dead letters at the final stop, and an async
on_stop that awaits (bounded by stop_timeout) on stop and on restart."""
import asyncio
import os

import pytest

import zactor
from zactor import _async
from conftest import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
CYCLER = os.path.join(os.path.dirname(HERE), "lua", "actors", "cycler.lua")


class Relay(zactor.Actor):
    """concurrency 1: ("relay", ref, msg) awaits ref's answer to msg."""

    async def receive(self, msg):
        if msg[0] == "relay":
            return await msg[1].ask_async(msg[2], timeout=1.0)
        if msg[0] == "ping":
            return "pong"
        return msg


# ------------------------------------------------------------- call chains


def test_cycle_python_lua_python_reenters(system):
    # A (Python) asks B (Lua), B asks C (Python), C asks A: the chain A's
    # handler started travels through the Lua actor, so A lets C's ask in.
    # (Each hop times out after 1 s: without re-entry the outer ask fails.)
    a, c = system.spawn(Relay), system.spawn(Relay)
    b = system.spawn_lua(CYCLER)
    msg = ("relay", b, ["via", c, ["relay", a, ["ping"]], 1.0])
    assert a.ask(msg, timeout=3.0) == "pong"


def test_cycle_lua_python_lua_reenters(system):
    # L1 (Lua, concurrency 1) asks P (Python), P asks L2 (Lua), L2 asks L1
    l1, l2 = system.spawn_lua(CYCLER), system.spawn_lua(CYCLER)
    p = system.spawn(Relay)
    msg = ["via", p, ["relay", l2, ["via", l1, ["ping"], 1.0]], 1.0]
    assert l1.ask(msg, timeout=3.0) == "pong"


def test_python_three_cycle_reenters(system):
    a, b, c = system.spawn(Relay), system.spawn(Relay), system.spawn(Relay)
    msg = ("relay", b, ("relay", c, ("relay", a, ("ping",))))
    assert a.ask(msg, timeout=3.0) == "pong"


def test_a_chain_does_not_let_strangers_in(system):
    # while A's chain is suspended, a message from outside it still waits
    order = []

    class Slow(zactor.Actor):
        async def receive(self, msg):
            await zactor.sleep(0.2)
            order.append("slow done")
            return "slow"

    class A(zactor.Actor):
        async def receive(self, msg):
            if msg == "stranger":
                order.append("stranger")
                return "ok"
            return await msg.ask_async("x", timeout=2.0)

    a, s = system.spawn(A), system.spawn(Slow)
    f = a.ask_async(s)
    assert wait_for(lambda: _async.live_handlers() == 2)
    assert a.ask("stranger", timeout=3.0) == "ok"
    assert f.result(timeout=3.0) == "slow"
    assert order == ["slow done", "stranger"]


# ------------------------------------------------------- spawn concurrency=


class Tracer(zactor.Actor):
    log: list = []

    async def receive(self, msg):
        Tracer.log.append(("start", msg))
        await zactor.sleep(0.05)
        Tracer.log.append(("end", msg))
        return msg


class Parent(zactor.Actor):
    def receive(self, msg):
        try:
            return self.context.spawn(Tracer, concurrency=msg)
        except (TypeError, ValueError) as e:
            return (type(e).__name__, str(e))


def _run_two(ref):
    Tracer.log = []
    fs = [ref.ask_async(1), ref.ask_async(2)]
    assert [f.result(timeout=3.0) for f in fs] == [1, 2]
    return [e[0] for e in Tracer.log]


def test_context_spawn_takes_concurrency(system):
    parent = system.spawn(Parent)
    assert _run_two(parent.ask(2, timeout=2.0)) == ["start", "start", "end", "end"]
    assert _run_two(parent.ask(1, timeout=2.0)) == ["start", "end", "start", "end"]
    assert _run_two(parent.ask(None, timeout=2.0)) == ["start", "end", "start", "end"]
    for bad in (0, -1, "2", 1.5, True):
        kind, text = parent.ask(bad, timeout=2.0)
        assert kind == "ValueError" and "concurrency" in text, (bad, text)


def test_every_spawn_entry_point_takes_concurrency(system):
    assert _run_two(system.spawn(Tracer, concurrency=2)) == ["start", "start", "end", "end"]
    assert _run_two(system.spawn(Tracer, concurrency=None)) == ["start", "end", "start", "end"]
    lua = system.spawn_lua(CYCLER, concurrency=2)
    assert lua.ask(["ping"], timeout=2.0) == "pong"
    with pytest.raises(ValueError, match="concurrency"):
        system.spawn(Tracer, concurrency=0)
    # a plain callable runs in an Actor subclass: the option applies to it too
    assert system.spawn(lambda m: m, concurrency=2).ask("x", timeout=2.0) == "x"
    class NotAnActor:
        pass

    with pytest.raises(TypeError, match="concurrency"):
        system.spawn(NotAnActor, concurrency=2)


# ------------------------------------------- stashed messages at final stop


def test_final_stop_makes_stashed_messages_dead_letters(system):
    dls = []
    system.on_dead_letter(dls.append)

    class Holder(zactor.Actor):
        async def receive(self, msg):
            await zactor.sleep(30)

    h = system.spawn(Holder)
    before = system.metrics()["delivered"]
    h.tell("held")
    h.tell({"stashed": 1})
    h.tell({"stashed": 2})
    # all three were received (two of them stashed), none is in the mailbox
    assert wait_for(lambda: system.metrics()["delivered"] >= before + 3)
    dead0 = system.metrics()["dead_letters"]
    h.stop()
    assert h.join(timeout=3.0)
    assert wait_for(lambda: len(dls) == 2), dls
    assert [d.message for d in dls] == [{"stashed": 1}, {"stashed": 2}]
    assert {d.reason for d in dls} == {"dead_target"}
    assert all(d.target == h for d in dls)
    assert system.metrics()["dead_letters"] == dead0 + 2


# ---------------------------------------------------------- async on_stop


class Store(zactor.Actor):
    saved: list = []
    concurrency = 10  # a "slow" save does not hold the others

    async def receive(self, msg):
        if msg == "slow":
            await zactor.sleep(30)
        Store.saved.append(msg)
        return f"saved {msg}"


def test_async_on_stop_awaits_an_ask_and_a_sleep(system):
    log = []
    store = system.spawn(Store)

    class Saver(zactor.Actor):
        async def on_stop(self):
            try:
                log.append(await store.ask_async("state", timeout=2.0))
                await zactor.sleep(0.01)
                await asyncio.sleep(0.01)  # an asyncio awaitable too
                log.append(await zactor.gather(store.ask_async("a"), store.ask_async("b")))
            finally:
                log.append("finally")

        def receive(self, msg):
            return msg

    s = system.spawn(Saver)
    assert s.ask("hi", timeout=2.0) == "hi"
    s.stop()
    assert s.join(timeout=5.0)
    assert log == ["saved state", ["saved a", "saved b"], "finally"]


def test_async_on_stop_is_bounded_by_stop_timeout(system, caplog):
    log = []
    store = system.spawn(Store)

    class Stuck(zactor.Actor):
        stop_timeout = 0.2

        async def on_stop(self):
            try:
                await store.ask_async("slow", timeout=60.0)
                log.append("never")
            finally:
                log.append("finally")

        def receive(self, msg):
            return msg

    s = system.spawn(Stuck)
    s.ask("x", timeout=2.0)
    with caplog.at_level("ERROR", logger="zactor"):
        s.stop()
        assert s.join(timeout=5.0)
        assert wait_for(lambda: "stop_timeout=0.2" in caplog.text), caplog.text
    assert log == ["finally"]


def test_async_on_stop_with_a_timeout_block(system):
    log = []
    store = system.spawn(Store)

    class Careful(zactor.Actor):
        async def on_stop(self):
            try:
                async with zactor.timeout(0.05):
                    await store.ask_async("slow", timeout=60.0)
            except TimeoutError:
                log.append("timed out")
            log.append(await store.ask_async("fallback", timeout=2.0))

        def receive(self, msg):
            return msg

    s = system.spawn(Careful)
    s.ask("x", timeout=2.0)
    s.stop()
    assert s.join(timeout=5.0)
    assert log == ["timed out", "saved fallback"]


def test_async_on_stop_awaits_on_restart(system):
    # one_for_all: when Crasher fails, its sibling Saver is restarted too,
    # and Saver's async on_stop (it did not fail) awaits a save first
    log = []
    store = system.spawn(Store)

    class Saver(zactor.Actor):
        def __init__(self):
            self.incarnation = self.context.restarts

        async def on_stop(self):
            log.append(await store.ask_async(f"saver {self.incarnation}", timeout=2.0))

        def receive(self, msg):
            return self.incarnation

    class Crasher(zactor.Actor):
        def receive(self, msg):
            raise RuntimeError("crash")

    class Sup(zactor.Actor):
        strategy = "one_for_all"

        def receive(self, msg):
            return (self.context.spawn(Saver), self.context.spawn(Crasher))

    sup = system.spawn(Sup)
    saver, crasher = sup.ask("go", timeout=2.0)
    assert saver.ask("x", timeout=2.0) == 0
    crasher.tell("x")
    assert wait_for(lambda: saver.ask("x", timeout=2.0) == 1)
    assert log == ["saved saver 0"]


def test_async_on_stop_in_workers0_cannot_wait_for_actors():
    log = []
    with zactor.System(workers=0) as s:
        store = s.spawn(Store)

        class W(zactor.Actor):
            async def on_stop(self):
                await zactor.sleep(5)  # the virtual clock: passes at once
                try:
                    await store.ask_async("x", timeout=2.0)
                except RuntimeError as e:
                    log.append(str(e))

            def receive(self, msg):
                return msg

        w = s.spawn(W)
        s.run()
        w.stop()
        s.run()
    assert len(log) == 1 and "workers=0" in log[0]


def test_shutdown_with_an_async_on_stop_that_awaits():
    log = []

    class Saver(zactor.Actor):
        stop_timeout = 0.5

        async def on_stop(self):
            try:
                await zactor.sleep(0.01)
                log.append("slept")
                await zactor.sleep(30)  # more than stop_timeout: closed
            finally:
                log.append("finally")

        def receive(self, msg):
            return msg

    s = zactor.System(workers=2)
    try:
        ref = s.spawn(Saver)
        assert ref.ask("x", timeout=2.0) == "x"
    finally:
        assert s.shutdown(timeout=5.0)
    assert log == ["slept", "finally"]
