"""Leak counts (issue 11): after many asks that are answered, cancelled,
timed out or failed, and actors stopped with handlers suspended, nothing
waits any more: zactor.live_handlers() (Python handlers),
zactor.live_lua_handlers() (Lua handlers) and the reply_slots gauge (asks
awaiting an answer, any language) of system.metrics() return to zero."""
import os

import pytest

import zactor
from conftest import wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SLEEPER = os.path.join(os.path.dirname(HERE), "lua", "actors", "sleeper.lua")
RACER = os.path.join(os.path.dirname(HERE), "lua", "actors", "racer.lua")


class Slow(zactor.Actor):
    concurrency = 64

    async def receive(self, msg):
        op, arg = msg
        if op == "nap":
            await zactor.sleep(arg)
            return arg
        return arg


class Caller(zactor.Actor):
    concurrency = 64

    def __init__(self, slow, lua):
        self.slow, self.lua = slow, lua

    async def receive(self, msg):
        s = self.slow
        if msg == "first":  # one winner, the loser cancelled
            return await zactor.first(s.ask_async(("nap", 0.2)), s.ask_async(("echo", 1)))
        if msg == "gather_fail":  # the first failure (an ask's timeout) cancels the rest
            try:
                await zactor.gather(s.ask_async(("nap", 0.2)),
                                    s.ask_async(("nap", 1.0), timeout=0.01))
            except zactor.AskTimeout:
                return "failed"
        if msg == "timeout":  # a timeout block cancels what it awaits
            try:
                async with zactor.timeout(0.01):
                    await s.ask_async(("nap", 0.2))
            except TimeoutError:
                return "timed out"
        if msg == "lua_first":  # a Lua actor's nap against a Python echo
            return await zactor.first(self.lua.ask_async(["nap", 0.2, "lua"]),
                                      s.ask_async(("echo", "py")))
        if msg == "park":  # suspended until its actor stops
            await zactor.sleep(30)
        return None


def counts(system):
    return zactor.live_handlers(), zactor.live_lua_handlers(), system.metrics()["reply_slots"]


def test_everything_waiting_returns_to_zero(system):
    assert "reply_slots" in system.metrics()
    slow = system.spawn(Slow)
    lua = system.spawn_lua(SLEEPER, concurrency=64)
    caller = system.spawn(Caller, slow, lua)
    racer = system.spawn_lua(RACER)
    futs = []
    for _ in range(20):
        for m in ("first", "gather_fail", "timeout", "lua_first"):
            futs.append(caller.ask_async(m, timeout=5.0))
        # a Lua handler's ctx:first: the Python loser is given up
        racer.tell(["first", [[lua, ["nap", 0.2, "x"]], [slow, ["echo", 1]]]])
    results = [f.result(timeout=10.0) for f in futs]
    assert results[:4] == [1, "failed", "timed out", "py"]
    parked = system.spawn(Caller, slow, lua)
    for _ in range(10):
        parked.tell("park")
    racer.tell(["try_ask", lua, ["nap", 30, "parked"], 60])  # a Lua handler parked too
    assert wait_for(lambda: zactor.live_handlers() >= 10 and zactor.live_lua_handlers() >= 1)
    assert wait_for(lambda: system.metrics()["reply_slots"] >= 1)  # racer's ask
    for a in (racer, lua):  # lua's handler naps 30 s: closed by the stop
        a.stop()
        assert a.join(timeout=5.0)
    parked.stop()
    assert parked.join(timeout=5.0)
    # the losers' naps end within 0.2 s; then nothing waits
    assert wait_for(lambda: counts(system) == (0, 0, 0), timeout=10.0), counts(system)


def test_a_held_ask_is_counted_until_answered(system):
    slow = system.spawn(Slow)
    f = slow.ask_async(("nap", 0.3), timeout=5.0)
    assert wait_for(lambda: system.metrics()["reply_slots"] >= 1)
    assert f.result(timeout=5.0) == 0.3
    assert wait_for(lambda: counts(system) == (0, 0, 0)), counts(system)
    # an ask given up by its asker (a blocking ask's timeout) waits for nothing
    with pytest.raises(TimeoutError):
        slow.ask(("nap", 0.3), timeout=0.01)
    assert wait_for(lambda: counts(system) == (0, 0, 0)), counts(system)


STOPPER = os.path.join(os.path.dirname(HERE), "lua", "actors", "stopper.lua")
COLLECTOR = os.path.join(os.path.dirname(HERE), "lua", "actors", "collector.lua")


def test_lua_stop_handler_in_workers0_cannot_wait_for_actors():
    # a Lua stop handler in a system without workers: ctx:sleep ends at once,
    # ctx:ask raises (the answer would have to run on this very thread)
    with zactor.System(workers=0) as s:
        obs = s.spawn_lua(COLLECTOR)
        target = s.spawn_lua(SLEEPER)
        a = s.spawn_lua(STOPPER, {"mode": "ask_fail", "obs": obs, "target": target,
                                  "msg": ["ping"]})
        b = s.spawn_lua(STOPPER, {"mode": "sleep", "obs": obs, "sec": 30})
        s.run()
        a.stop()
        b.stop()
        s.run()
        got = obs.ask(["get"], timeout=2.0)
    assert len(got) == 2, got
    assert "slept" in got
    fail = [g for g in got if g != "slept"][0]
    assert fail.startswith("false") and "workers = 0" in fail, fail
