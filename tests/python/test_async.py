"""Async handlers (issue 11): ``async def receive`` / ``on_start``, awaiting
asks, zactor.sleep, gather/first/timeout, concurrency and call-chain
re-entry, stop/restart while suspended, errors to askers and supervisors."""
import os
import threading
import traceback

import pytest

import zactor
from zactor import _async
from conftest import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ACTORS = os.path.join(os.path.dirname(HERE), "lua", "actors")


class Echo(zactor.Actor):
    def receive(self, msg):
        if msg == "boom":
            raise KeyError("boom")
        return msg


class Slow(zactor.Actor):
    """Answers after ``msg`` seconds (a timer: never blocks a worker)."""

    concurrency = 100

    async def receive(self, msg):
        await zactor.sleep(msg)
        return msg


class Doubler(zactor.Actor):
    def __init__(self, target):
        self.target = target

    async def receive(self, msg):
        x = await self.target.ask_async(msg, timeout=2.0)
        return x * 2


def test_issue_snippet_async_receive_awaits_an_ask(system):
    b = system.spawn(Echo)
    c = system.spawn(Doubler, b)
    assert c.ask(21, timeout=2.0) == 42
    # many at once: each handler suspends, the answers resume them
    futs = [c.ask_async(i) for i in range(200)]
    assert [f.result(timeout=5.0) for f in futs] == [2 * i for i in range(200)]
    assert wait_for(lambda: _async.live_handlers() == 0)


def test_handlers_resume_on_the_workers_and_release_them(system):
    # 50 handlers suspended at once on a 2-worker system: none holds a worker
    # (a plain actor still answers meanwhile), all resume
    threads = set()

    class Napper(zactor.Actor):
        concurrency = 50

        async def receive(self, msg):
            threads.add(threading.get_ident())
            await zactor.sleep(0.2)
            threads.add(threading.get_ident())
            return msg

    n = system.spawn(Napper)
    e = system.spawn(Echo)
    futs = [n.ask_async(i) for i in range(50)]
    assert e.ask("still served", timeout=2.0) == "still served"
    assert sorted(f.result(timeout=5.0) for f in futs) == list(range(50))
    assert threading.get_ident() not in threads  # ran on runtime workers


def test_coroutine_is_never_sent_as_a_reply(system):
    class Plain(zactor.Actor):
        def receive(self, msg):
            return self.helper(msg)  # a plain receive returning a coroutine

        async def helper(self, msg):
            await zactor.sleep(0.001)
            return msg + 1

    p = system.spawn(Plain)
    assert p.ask(1, timeout=2.0) == 2


def test_async_on_start_runs_before_messages(system):
    class Starter(zactor.Actor):
        async def on_start(self):
            self.ready = False
            await zactor.sleep(0.05)
            self.ready = True

        def receive(self, msg):
            return self.ready

    s = system.spawn(Starter)
    assert s.ask("ready?", timeout=2.0) is True


def _run_interleave(system, conc):
    log = []

    class Account(zactor.Actor):
        concurrency = conc

        def __init__(self):
            self.balance = 0

        async def receive(self, msg):
            log.append(("start", msg))
            seen = self.balance
            await zactor.sleep(0.3)
            self.balance = seen + 1  # read-await-write: safe only with concurrency 1
            log.append(("end", msg))
            return self.balance

    a = system.spawn(Account)
    futs = [a.ask_async(i) for i in range(4)]
    results = [f.result(timeout=5.0) for f in futs]
    return log, results


def test_concurrency_one_runs_one_handler_at_a_time(system):
    log, results = _run_interleave(system, 1)
    assert log == [(k, i) for i in range(4) for k in ("start", "end")]
    assert results == [1, 2, 3, 4]  # state never seen half-updated


def test_concurrency_n_interleaves(system):
    log, results = _run_interleave(system, 4)
    assert [k for k, _ in log] == ["start"] * 4 + ["end"] * 4
    assert results == [1, 1, 1, 1]  # all read 0 before any wrote: interleaved


def test_spawn_concurrency_option(system):
    class Napper(zactor.Actor):
        async def receive(self, msg):
            await zactor.sleep(0.1)
            return msg

    log, _ = [], None
    n = system.spawn(Napper, concurrency=8)
    futs = [n.ask_async(i) for i in range(8)]
    assert [f.result(timeout=5.0) for f in futs] == list(range(8))
    with pytest.raises(ValueError, match="concurrency"):
        system.spawn(Napper, concurrency=0)
    with pytest.raises(ValueError, match="concurrency"):
        system.spawn(Napper, concurrency="2")


def test_call_chain_reenters_instead_of_deadlocking(system):
    class A(zactor.Actor):
        def __init__(self):
            self.b = None

        async def receive(self, msg):
            if msg[0] == "set":
                self.b = msg[1]
                return None
            if msg[0] == "go":
                # A (concurrency 1) waits for B, which asks A back: same chain
                return await self.b.ask_async(("via", self.context.self_ref), timeout=2.0)
            if msg[0] == "inner":
                return "inner-from-A"

    class B(zactor.Actor):
        async def receive(self, msg):
            return "B+" + await msg[1].ask_async(("inner",), timeout=2.0)

    a = system.spawn(A)
    b = system.spawn(B)
    a.ask(("set", b), timeout=2.0)
    assert a.ask(("go",), timeout=3.0) == "B+inner-from-A"


def test_other_chains_wait_their_turn(system):
    order = []

    class One(zactor.Actor):
        async def receive(self, msg):
            order.append(("start", msg))
            await zactor.sleep(0.1)
            order.append(("end", msg))
            return msg

    o = system.spawn(One)
    f1 = o.ask_async("first")
    f2 = o.ask_async("second")  # an outside ask: a chain of its own, waits
    assert (f1.result(timeout=3.0), f2.result(timeout=3.0)) == ("first", "second")
    assert order == [("start", "first"), ("end", "first"), ("start", "second"), ("end", "second")]


def test_gather_all_and_first_failure_cancels_the_rest(system):
    e = system.spawn(Echo)
    slow = system.spawn(Slow)
    dls = []
    system.on_dead_letter(dls.append)

    class G(zactor.Actor):
        async def receive(self, msg):
            if msg == "all":
                return await zactor.gather(e.ask_async(1), slow.ask_async(0.05), e.ask_async(3))
            try:
                await zactor.gather(e.ask_async("boom"), slow.ask_async(0.3))
            except KeyError as exc:
                return "caught " + str(exc)

    g = system.spawn(G)
    assert g.ask("all", timeout=3.0) == [1, 0.05, 3]
    assert g.ask("fail", timeout=3.0) == "caught 'boom'"
    # the abandoned ask's late reply becomes a dead letter
    assert wait_for(lambda: any(getattr(d, "reason", None) == "late_reply" for d in dls), 3.0), dls


def test_first_returns_the_fastest_and_cancels_the_others(system):
    slow = system.spawn(Slow)
    dls = []
    system.on_dead_letter(dls.append)

    class F(zactor.Actor):
        async def receive(self, msg):
            return await zactor.first(slow.ask_async(0.4), slow.ask_async(0.01))

    f = system.spawn(F)
    assert f.ask("go", timeout=3.0) == 0.01
    assert wait_for(lambda: any(getattr(d, "reason", None) == "late_reply" for d in dls), 3.0), dls


def test_timeout_cancels_what_is_awaited_then_raises(system):
    slow = system.spawn(Slow)

    class T(zactor.Actor):
        async def receive(self, msg):
            if msg == "caught":
                try:
                    async with zactor.timeout(0.05):
                        await slow.ask_async(1.0)
                except TimeoutError as exc:
                    return "timed out: " + str(exc)
            if msg == "sleep":
                async with zactor.timeout(0.05):
                    await zactor.sleep(5.0)
            if msg == "fast":
                async with zactor.timeout(1.0):
                    return await slow.ask_async(0.01)

    t = system.spawn(T)
    assert t.ask("caught", timeout=3.0).startswith("timed out")
    with pytest.raises(TimeoutError):
        t.ask("sleep", timeout=3.0)
    assert t.ask("fast", timeout=3.0) == 0.01


def test_async_exception_reaches_asker_and_supervisor(system):
    failures = []

    class Failing(zactor.Actor):
        def __init__(self):
            self.n = 0

        async def receive(self, msg):
            self.n += 1
            await zactor.sleep(0.001)
            if msg == "fail":
                raise LookupError("lost after await")
            return self.n

        def on_failure(self, exc):
            failures.append(exc)

    f = system.spawn(Failing)
    assert f.ask("x", timeout=2.0) == 1
    with pytest.raises(LookupError, match="lost after await") as ei:
        f.ask("fail", timeout=2.0)
    tb = "".join(traceback.format_exception(ei.value))
    assert "in receive" in tb  # the handler's own frame
    assert failures and isinstance(failures[0], LookupError)
    # the supervisor restarted it: fresh state
    assert f.ask("x", timeout=2.0) == 1


def test_stop_closes_suspended_handlers(system):
    finally_ran = []

    class Holder(zactor.Actor):
        concurrency = 3

        async def receive(self, msg):
            try:
                await zactor.sleep(30)
            finally:
                finally_ran.append(msg)

    h = system.spawn(Holder)
    futs = [h.ask_async(i) for i in range(5)]  # 3 suspended, 2 stashed
    assert wait_for(lambda: _async.live_handlers() == 3)
    h.stop()
    for f in futs:
        with pytest.raises(zactor.ActorDeadError):
            f.result(timeout=3.0)
    assert sorted(finally_ran) == [0, 1, 2]
    assert _async.live_handlers() == 0


def test_restart_closes_suspended_handlers(system):
    finally_ran = []

    class Mixed(zactor.Actor):
        concurrency = 2

        async def receive(self, msg):
            if msg == "hold":
                try:
                    await zactor.sleep(30)
                finally:
                    finally_ran.append("hold")
            await zactor.sleep(0.01)
            raise RuntimeError("crash")

    m = system.spawn(Mixed)
    held = m.ask_async("hold")
    assert wait_for(lambda: _async.live_handlers() == 1)
    with pytest.raises(RuntimeError, match="crash"):
        m.ask("crash", timeout=2.0)
    with pytest.raises(zactor.ActorDeadError):
        held.result(timeout=2.0)
    assert finally_ran == ["hold"]
    assert wait_for(lambda: _async.live_handlers() == 0)


def test_shutdown_with_suspended_handlers():
    finally_ran = []

    class Holder(zactor.Actor):
        concurrency = 10

        async def receive(self, msg):
            try:
                await zactor.sleep(30)
            finally:
                finally_ran.append(msg)

    s = zactor.System(workers=2)
    h = s.spawn(Holder)
    for i in range(10):
        h.tell(i)
    assert wait_for(lambda: _async.live_handlers() == 10)
    s.shutdown(timeout=5.0)
    assert sorted(finally_ran) == list(range(10))
    assert _async.live_handlers() == 0


def test_awaiting_something_else_is_a_clear_error(system):
    class Odd:
        def __await__(self):
            yield 42  # neither zactor's nor asyncio's

    class Bad(zactor.Actor):
        async def receive(self, msg):
            await Odd()

    b = system.spawn(Bad)
    with pytest.raises(TypeError, match="cannot await"):
        b.ask("x", timeout=2.0)


def test_plain_receive_still_refuses_to_await(system):
    e = system.spawn(Echo)

    class Plain(zactor.Actor):
        def receive(self, msg):
            fut = e.ask_async(1)
            try:
                fut.__await__()
            except RuntimeError as exc:
                return str(exc)
            return "no error"

    assert "inside an actor" in system.spawn(Plain).ask("x", timeout=2.0)


def test_python_awaits_lua_and_lua_awaits_python(system):
    echo = system.spawn_lua(os.path.join(ACTORS, "echo.lua"))
    d = system.spawn(Doubler, echo)
    assert d.ask(21, timeout=2.0) == 42
    proxy = system.spawn_lua(os.path.join(ACTORS, "proxy.lua"))
    py_echo = system.spawn(Echo)
    d2 = system.spawn(Doubler, py_echo)
    # Lua asks the async Python actor (MessagePack reply)
    assert proxy.ask(("via", d2, 5), timeout=3.0) == 10


def test_outside_actors_the_helpers_are_asyncio(system):
    import asyncio

    e = system.spawn(Echo)

    async def main():
        a, b = await zactor.gather(e.ask_async(1), e.ask_async(2))
        await zactor.sleep(0.001)
        f = await zactor.first(e.ask_async(3))
        async with zactor.timeout(1.0):
            g = await e.ask_async(4)
        return [a, b, f, g]

    assert asyncio.run(main()) == [1, 2, 3, 4]


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError):
        zactor.timeout(-1)
    with pytest.raises(ValueError):
        zactor.first()


def test_asyncio_awaitables_inside_a_handler(system):
    import asyncio

    class Aio(zactor.Actor):
        concurrency = 2

        def __init__(self):
            self.q = None

        async def receive(self, msg):
            if msg == "sleep":
                await asyncio.sleep(0.01)
                await asyncio.sleep(0)  # a bare yield: other messages go first
                return "slept"
            if msg == "get":
                self.q = self.q or asyncio.Queue()
                return await self.q.get()  # resumed by a put from another handler
            if msg[0] == "put":
                self.q = self.q or asyncio.Queue()
                self.q.put_nowait(msg[1])
                return "put"
            if msg == "timeout":
                try:
                    async with zactor.timeout(0.05):
                        await asyncio.sleep(10)
                except TimeoutError:
                    return "timed out"

    a = system.spawn(Aio)
    assert a.ask("sleep", timeout=3.0) == "slept"
    got = a.ask_async("get")
    assert wait_for(lambda: _async.live_handlers() == 1)
    assert a.ask(("put", "item"), timeout=3.0) == "put"
    assert got.result(timeout=3.0) == "item"
    assert a.ask("timeout", timeout=3.0) == "timed out"
    assert wait_for(lambda: _async.live_handlers() == 0)


def test_workers0_runs_async_handlers_on_a_virtual_clock():
    with zactor.System(workers=0) as s:
        e = s.spawn(Echo)

        class V(zactor.Actor):
            async def receive(self, msg):
                if msg == "sleep":
                    await zactor.sleep(3600)
                    return "woke"
                if msg == "timeout":
                    try:
                        async with zactor.timeout(10):
                            await zactor.sleep(3600)
                    except TimeoutError:
                        return "timed out"
                return await e.ask_async(msg) * 2

        v = s.spawn(V)
        f = v.ask_async("sleep")
        s.run()
        assert f.done() and f.result() == "woke"
        assert _async.virtual_time(s) == 3600.0  # an hour, in no real time
        f = v.ask_async("timeout")
        s.run()
        assert f.result() == "timed out"
        assert _async.virtual_time(s) == 3610.0
        assert v.ask(21, timeout=2.0) == 42  # a blocking ask runs the actors too
        assert v.ask("sleep", timeout=2.0) == "woke"  # ...and moves the clock
        assert _async.virtual_time(s) == 7210.0


def test_restart_keeps_the_stashed_messages(system):
    class Crashy(zactor.Actor):
        def __init__(self):
            self.incarnation = self.context.restarts

        async def receive(self, msg):
            if msg == "crash":
                await zactor.sleep(0.05)
                raise RuntimeError("crash")
            return (msg, self.incarnation)

    c = system.spawn(Crashy)
    crash = c.ask_async("crash")
    queued = [c.ask_async(i) for i in range(3)]  # stashed behind the crashing handler
    with pytest.raises(RuntimeError):
        crash.result(timeout=3.0)
    # a restart keeps queued messages: the new incarnation handles them, in order
    assert [f.result(timeout=3.0) for f in queued] == [(0, 1), (1, 1), (2, 1)]


def test_an_error_while_closing_a_handler_is_reported(system, caplog):
    class Messy(zactor.Actor):
        async def receive(self, msg):
            try:
                await zactor.sleep(30)
            finally:
                raise ValueError("cleanup failed")

    m = system.spawn(Messy)
    m.tell("x")
    assert wait_for(lambda: _async.live_handlers() == 1)
    with caplog.at_level("ERROR", logger="zactor"):
        m.stop()
        assert wait_for(lambda: "cleanup failed" in caplog.text)
    assert _async.live_handlers() == 0


def test_reentry_through_a_lua_actor(system):
    # Python (concurrency 1) awaits Lua, which asks the Python actor back:
    # the Lua actor's ask carries no chain, it is let in as the actor asked
    proxy = system.spawn_lua(os.path.join(ACTORS, "proxy.lua"))

    class P(zactor.Actor):
        async def receive(self, msg):
            if msg == "inner":
                return "inner!"
            return await proxy.ask_async(("via", self.context.self_ref, "inner", 2.0), timeout=3.0)

    p = system.spawn(P)
    assert p.ask("go", timeout=5.0) == "inner!"
