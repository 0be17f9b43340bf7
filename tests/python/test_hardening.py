"""Issue 10 ("Hardening"), the Python findings: one test (or table) per
finding, each failing on the code before its fix."""
import asyncio
import gc
import math
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import zactor

from conftest import Counter, wait_for


def run_script(src, timeout=60):
    """Run src in a fresh interpreter (a crash must not take pytest down)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(src)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Echo(zactor.Actor):
    def receive(self, msg):
        return msg


# ------------------------------------------- 3: a System dropped, not shut down


def test_dropped_system_without_shutdown_is_safe():
    # A helper that forgets shutdown(), called in a loop: the cyclic GC
    # collected the system while a worker was about to start its actor.
    r = run_script(
        """
        import gc, zactor

        class A(zactor.Actor):
            def __init__(self, n):
                self.n = n
            def receive(self, msg):
                return msg

        def helper(i):
            s = zactor.System(workers=2)
            for _ in range(3):
                s.spawn(A, i).tell(i)

        for i in range(300):
            helper(i)
            if i % 7 == 0:
                gc.collect()
        gc.collect()
        print("ok")
        """,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "ok" in r.stdout


# ---------------------------------------- 4: user callbacks on worker threads


class Slow(zactor.Actor):
    def receive(self, msg):
        time.sleep(0.05)
        return msg


def test_done_callback_may_block():
    # The reply of a Python actor completes the future on the worker that
    # runs it: the callback must not run there (a blocking ask would stall).
    with zactor.System(workers=2) as s:
        slow, echo = s.spawn(Slow), s.spawn(Echo)
        out = []
        done = threading.Event()

        def cb(fut):
            try:
                out.append((threading.current_thread().name, echo.ask(fut.result(), timeout=2)))
            except BaseException as e:  # pragma: no cover - the failure being tested
                out.append(("error", repr(e)))
            done.set()

        f = slow.ask_async(7)
        f.add_done_callback(cb)
        assert done.wait(5)
        name, value = out[0]
        assert value == 7, out
        assert not name.startswith("Dummy"), out  # not a runtime worker


def test_dead_letter_callback_may_block_and_shut_down():
    with zactor.System(workers=2) as s:
        echo = s.spawn(Echo)
        other = zactor.System(workers=1)
        out = []
        done = threading.Event()

        def on_dl(dl):
            try:
                out.append((threading.current_thread().name, echo.ask("x", timeout=2)))
                other.shutdown(timeout=1)
                out.append(other.closed)
            except BaseException as e:  # pragma: no cover
                out.append(("error", repr(e)))
            done.set()

        s.on_dead_letter(on_dl)
        # a late reply: the dead letter comes from the worker running Slow,
        # and a worker entering the Python host used to run the callback
        with pytest.raises(zactor.AskTimeout):
            s.spawn(Slow).ask("late", timeout=0.001)
        for _ in range(5):
            echo.tell(0)
        assert done.wait(5), out
        assert out[0][1] == "x", out
        assert not out[0][0].startswith("Dummy"), out
        assert out[1] is True, out


# -------------------------------------------------- 5: an uninitialised System

UNINIT_CALLS = {
    "spawn": lambda s: s.spawn(Echo),
    "metrics": lambda s: s.metrics(),
    "prometheus": lambda s: s.prometheus(),
    "lookup": lambda s: s.lookup("x"),
    "spawn_lua": lambda s: s.spawn_lua("return {receive=function() end}"),
    "ref": lambda s: s.ref(1),
    "run": lambda s: s.run(),
    "wait_idle": lambda s: s.wait_idle(0.01),
    "send_after": lambda s: s.send_after(0.1, None, 1),
    "send_interval": lambda s: s.send_interval(0.1, None, 1),
    "with": lambda s: s.__enter__(),
    "exit": lambda s: s.__exit__(None, None, None),
    "shutdown": lambda s: s.shutdown(),
    "on_dead_letter": lambda s: s.on_dead_letter(print),
    "unpack": lambda s: s.unpack(b"\x90"),
    "spawn_native": lambda s: s._spawn_behaviour(1),
}


@pytest.mark.parametrize("how", ["subclass", "new"])
def test_uninitialised_system_raises(how):
    # each call in a subprocess: before the fix, most of them segfault
    results = {}
    for name in UNINIT_CALLS:
        r = run_script(
            f"""
            import zactor, sys
            sys.path.insert(0, {os.path.dirname(__file__)!r})
            from test_hardening import UNINIT_CALLS
            class Forgetful(zactor.System):
                def __init__(self):
                    pass
            s = Forgetful() if {how == "subclass"} else zactor.System.__new__(zactor.System)
            try:
                UNINIT_CALLS[{name!r}](s)
            except RuntimeError as e:
                print("RuntimeError", e)
            except BaseException as e:
                print("other", type(e).__name__, e)
            else:
                print("no error")
            """
        )
        results[name] = (r.returncode, r.stdout.strip())
    bad = {k: v for k, v in results.items() if v[0] != 0 or not v[1].startswith("RuntimeError")}
    assert not bad, bad
    assert "super().__init__()" in results["spawn"][1]


# ----------------------------------------------- 9: shutdown(timeout) is bounded


def test_shutdown_is_bounded_by_a_running_handler():
    r = run_script(
        """
        import time, zactor, warnings
        class Stuck(zactor.Actor):
            def receive(self, msg):
                while True:
                    time.sleep(0.05)
        s = zactor.System(workers=2)
        ref = s.spawn(Stuck)
        ref.tell(1)
        time.sleep(0.2)
        t0 = time.monotonic()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            ok = s.shutdown(timeout=1)
        dt = time.monotonic() - t0
        print("RESULT", ok, round(dt, 2), s.closed, s.abandoned, [str(x.message) for x in w])
        """,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT")][0]
    _, ok, dt, closed, *rest = line.split(" ", 4)
    assert ok == "False", line
    assert float(dt) < 2.5, line
    assert closed == "True", line
    assert "Stuck" in line, line


# --------------------------- 10: asyncio.run(ask_async) inside a plain receive


def test_await_inside_receive_is_refused():
    r = run_script(
        """
        import asyncio, zactor
        class Echo(zactor.Actor):
            def receive(self, msg):
                return msg
        class Nested(zactor.Actor):
            def __init__(self, other):
                self.other = other
            def receive(self, msg):
                async def go():
                    return await self.other.ask_async(msg)
                return asyncio.run(go())
        with zactor.System(workers=2) as s:
            echo = s.spawn(Echo)
            nested = s.spawn(Nested, echo)
            try:
                nested.ask(1, timeout=3)
            except RuntimeError as e:
                print("RuntimeError", e)
            except BaseException as e:
                print("other", type(e).__name__, e)
            print("echo", echo.ask(2, timeout=3))
        """,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "RuntimeError" in r.stdout and "inside an actor" in r.stdout, r.stdout
    assert "echo 2" in r.stdout, r.stdout


# ---------------------------------------- 13: a Lua message Python cannot build

LUA_BAD_SENDER = """
return {
  receive = function(ctx, msg)
    if msg[1] == "ask" then
      local ok, err = pcall(ctx.ask, ctx, msg[2], {[{1}] = 2}, 1.0)
      return {ok, tostring(err)}
    end
    if msg[1] == "tell" then ctx:tell(msg[2], {[{1}] = 2}) end
  end,
}
"""


def test_unbuildable_lua_message_fails_loudly():
    with zactor.System(workers=2) as s:
        dls = []
        s.on_dead_letter(dls.append)
        py = s.spawn(Echo)
        lua = s.spawn_lua(LUA_BAD_SENDER)
        ok, err = lua.ask(("ask", py), timeout=3)
        assert ok is False
        assert "did not reply" not in err, err
        assert "unhashable" in err, err
        before = s.metrics()["failures"]
        lua.tell(("tell", py))
        assert wait_for(lambda: s.metrics()["failures"] > before)
        assert wait_for(lambda: any(d.reason == "failed" for d in dls)), dls


# ------------------------------------------- 14: shutdown(timeout=inf / nan)


class SlowCount(zactor.Actor):
    def __init__(self, box):
        self.box = box

    def receive(self, msg):
        time.sleep(0.002)
        self.box.append(msg)


def test_shutdown_inf_drains_everything():
    s = zactor.System(workers=2)
    box = []
    ref = s.spawn(SlowCount, box)
    for i in range(50):
        ref.tell(i)
    assert s.shutdown(timeout=math.inf) is True
    assert box == list(range(50))


def test_shutdown_nan_is_an_error():
    with zactor.System(workers=1) as s:
        with pytest.raises(ValueError, match="timeout"):
            s.shutdown(timeout=math.nan)
        assert not s.closed


def test_shutdown_leftovers_are_labelled_shutdown():
    s = zactor.System(workers=2)
    dls = []
    s.on_dead_letter(dls.append)
    box = []
    ref = s.spawn(SlowCount, box)
    for i in range(200):
        ref.tell(i)
    assert s.shutdown(timeout=0.05) is False
    assert dls
    assert {d.reason for d in dls} == {"shutdown"}, {d.reason for d in dls}


# ------------------------------------------------------ 15: one rule for numbers

INF, NAN = math.inf, math.nan


def _cases():
    def ref(s):
        return s.spawn(Echo)

    yield "send_after inf", lambda s: s.send_after(INF, ref(s), 1), ValueError, "delay"
    yield "send_after nan", lambda s: s.send_after(NAN, ref(s), 1), ValueError, "delay"
    yield "send_after -1", lambda s: s.send_after(-1, ref(s), 1), ValueError, "delay"
    yield "send_after 2**32 ms", lambda s: s.send_after(2**32 / 1000, ref(s), 1), OverflowError, "delay"
    yield "send_interval inf", lambda s: s.send_interval(INF, ref(s), 1), ValueError, "interval"
    yield "send_interval 0", lambda s: s.send_interval(0, ref(s), 1), ValueError, "interval"
    yield "send_interval delay nan", lambda s: s.send_interval(1, ref(s), 1, delay=NAN), ValueError, "delay"
    yield "ask_async nan", lambda s: ref(s).ask_async(1, timeout=NAN), ValueError, "timeout"
    yield "ask_async -1", lambda s: ref(s).ask_async(1, timeout=-1), ValueError, "timeout"
    yield "ask nan", lambda s: ref(s).ask(1, timeout=NAN), ValueError, "timeout"
    yield "ask -1", lambda s: ref(s).ask(1, timeout=-1), ValueError, "timeout"
    yield "ask 1e10", lambda s: ref(s).ask(1, timeout=1e10), OverflowError, "timeout"
    yield "join -1", lambda s: ref(s).join(-1), ValueError, "timeout"
    yield "result nan", lambda s: ref(s).ask_async(1).result(NAN), ValueError, "timeout"
    yield "wait_idle -1", lambda s: s.wait_idle(-1), ValueError, "timeout"
    yield "shutdown -1", lambda s: s.shutdown(-1), ValueError, "timeout"
    yield "backoff -1", lambda s: s.spawn(Echo, backoff=-1), ValueError, "backoff"
    yield "backoff inf", lambda s: s.spawn(Echo, backoff=INF), ValueError, "backoff"
    yield "backoff (1, nan)", lambda s: s.spawn(Echo, backoff=(1, NAN)), ValueError, "backoff"
    yield "within -1", lambda s: s.spawn(Echo, within=-1), ValueError, "within"
    yield "within inf", lambda s: s.spawn(Echo, within=INF), ValueError, "within"
    yield "block_timeout -1", lambda s: s.spawn(Echo, on_full="block", capacity=1, block_timeout=-1), ValueError, "block_timeout"
    yield "capacity 2**32", lambda s: s.spawn(Echo, capacity=2**32), OverflowError, "capacity"
    yield "capacity 2**32+1", lambda s: s.spawn(Echo, capacity=2**32 + 1), OverflowError, "capacity"
    yield "capacity -1", lambda s: s.spawn(Echo, capacity=-1), ValueError, "capacity"
    yield "max_restarts 2**32", lambda s: s.spawn(Echo, max_restarts=2**32), OverflowError, "max_restarts"
    yield "workers 2**32", lambda s: zactor.System(workers=2**32), OverflowError, "workers"
    yield "workers 2**32+1", lambda s: zactor.System(workers=2**32 + 1), OverflowError, "workers"
    yield "System batch 2**32", lambda s: zactor.System(workers=1, batch=2**32), OverflowError, "batch"
    yield "System within -1", lambda s: zactor.System(workers=1, within=-1), ValueError, "within"
    yield "System within nan", lambda s: zactor.System(workers=1, within=NAN), ValueError, "within"
    yield "System budget_ms nan", lambda s: zactor.System(workers=1, budget_ms=NAN), ValueError, "budget_ms"
    yield "System max_restarts -1", lambda s: zactor.System(workers=1, max_restarts=-1), ValueError, "max_restarts"
    yield "run 2**32", lambda s: s.run(2**32), OverflowError, "max_turns"
    yield "ref -1", lambda s: s.ref(-1), ValueError, "id"
    yield "lua budget inf", lambda s: s.spawn_lua("return {}", budget=INF), ValueError, "budget"
    yield "lua memory_limit 0", lambda s: s.spawn_lua("return {}", memory_limit=0), ValueError, "memory_limit"


CASES = list(_cases())


@pytest.mark.parametrize("name,call,exc,param", CASES, ids=[c[0] for c in CASES])
def test_numbers_one_rule(name, call, exc, param):
    with zactor.System(workers=1) as s:
        with pytest.raises(exc, match=param):
            call(s)


def test_infinite_timeouts_mean_no_limit():
    with zactor.System(workers=2) as s:
        ref = s.spawn(Slow)
        assert ref.ask(1, timeout=INF) == 1
        assert ref.ask_async(2, timeout=INF).result(INF) == 2
        assert s.wait_idle(0.01) is False
        ref.stop()
        assert ref.join(INF) is True
        blocker = s.spawn(Echo, on_full="block", capacity=1, block_timeout=INF)
        assert blocker.ask(3, timeout=INF) == 3


# ------------------------------------------------ 20: MessagePack decode peak


def test_decode_peak_memory_is_bounded():
    r = run_script(
        """
        import resource, zactor
        row = list(range(100))   # small ints: cached objects, the expansion is the tree
        data = zactor.pack([row] * 40000)    # ~4 MB
        s = zactor.System(workers=0)
        import gc; gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        v = s.unpack(data)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        assert v[-1] == row
        print("RATIO", len(data), (after - before) / len(data))
        """,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    n, ratio = map(float, r.stdout.split("RATIO")[1].split())
    assert n > 3_000_000
    assert ratio < 16, ratio


# --------------------------------------------------- 21: AskTimeout's message


def test_ask_timeout_message_has_the_number():
    with zactor.System(workers=2) as s:
        ref = s.spawn(Slow)
        with pytest.raises(zactor.AskTimeout, match=r"no reply within 0\.01 s"):
            ref.ask(1, timeout=0.01)
        with pytest.raises(zactor.AskTimeout, match=r"no reply within 0\.01 s"):
            ref.ask_async(1).result(0.01)
        with pytest.raises(zactor.AskTimeout, match=r"no reply within 0\.01 s"):
            ref.ask_async(1, timeout=0.01).result()


# ------------------------------------------------- 25: int overflow messages


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1])
def test_int_overflow_names_messagepack_range(value):
    with pytest.raises(OverflowError, match=r"-2\*\*63 \.\. 2\*\*64-1"):
        zactor.pack(value)


# ------------------- 12: one Python actor blocked in I/O stalls the others


class Sleeper(zactor.Actor):
    def receive(self, msg):
        time.sleep(msg)
        return "slept"


@pytest.mark.parametrize("lead", [0.1, 0.001])
def test_blocked_handler_does_not_stall_other_python_actors(lead):
    # lead: how long the other actor's ask comes after the sleep began (a
    # message queued early in the long turn must not wait for its end)
    with zactor.System(workers=4) as s:
        sleeper, echo = s.spawn(Sleeper), s.spawn(Echo)
        assert echo.ask(0) == 0
        sleeper.tell(2.0)
        time.sleep(lead)
        t0 = time.monotonic()
        assert echo.ask(1, timeout=5) == 1
        assert time.monotonic() - t0 < 0.5
        assert sleeper.ask(0, timeout=5) == "slept"


def test_cpu_bound_handler_shares_the_python_host():
    class Spin(zactor.Actor):
        def receive(self, msg):
            end = time.monotonic() + msg
            while time.monotonic() < end:
                pass

    with zactor.System(workers=2) as s:
        spin, echo = s.spawn(Spin), s.spawn(Echo)
        assert echo.ask(0) == 0
        spin.tell(1.5)
        time.sleep(0.05)
        t0 = time.monotonic()
        assert echo.ask(1, timeout=5) == 1
        assert time.monotonic() - t0 < 0.5


# ------------------------------------------------ strings for the C API (25)

def test_names_and_sources_with_nul_are_refused():
    """The C API takes NUL-terminated strings: a str with a NUL inside would
    reach it cut short (a name registered as its prefix), so it is refused."""
    with zactor.System(workers=1) as s:
        with pytest.raises(ValueError, match="name must not contain a NUL"):
            s.spawn(lambda m: m, name="svc\0evil")
        assert s.lookup("svc") is None
        ref = s.spawn(lambda m: m, name="svc")
        with pytest.raises(ValueError, match="name must not contain a NUL"):
            s.lookup("svc\0other")
        assert s.lookup("svc") == ref
        with pytest.raises(ValueError, match="Lua behaviour must not contain a NUL"):
            s.spawn_lua("return { receive = function(ctx, m) return m end }\0junk")


def test_open_io_os_must_be_a_bool():
    with zactor.System(workers=1) as s:
        with pytest.raises(TypeError, match="open_io_os must be a bool"):
            s.spawn_lua("return { receive = function(ctx, m) return io ~= nil end }",
                        open_io_os="false")
        lua = s.spawn_lua("return { receive = function(ctx, m) return io ~= nil end }",
                          open_io_os=False)
        assert lua.ask(1, timeout=5.0) is False
