"""Lua actors spawned from Python (System.spawn_lua): values across the two
languages (the shared conformance vectors), asks both ways, failures,
isolation (memory limit, runaway handlers), bad input."""
import json
import re
import math
import os
import time

import pytest

import zactor
from conftest import Counter, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ACTORS = os.path.join(ROOT, "tests", "lua", "actors")
VECTORS = os.path.join(ROOT, "tests", "conformance", "values.json")


def lua(name):
    return os.path.join(ACTORS, name + ".lua")


# The issue's counter behaviour, as Lua source text (spawn_lua takes text too).
with open(lua("counter")) as _f:
    COUNTER_SRC = _f.read()


# ------------------------------------------------------------ conformance


def _typed(v, system):
    """A conformance vector's typed value as the Python object it maps to."""
    kind, x = next(iter(v.items()))  # {"ref": n, "system": id} has a second key
    if kind == "nil":
        return None
    if kind in ("bool", "int", "str"):
        return x
    if kind == "uint":
        return int(x)
    if kind == "float":
        return float(x)  # also "inf", "-inf", "nan"
    if kind == "bin":
        return bytes.fromhex(x)
    if kind == "array":
        return [_typed(e, system) for e in x]
    if kind == "map":
        return {_typed(k, system): _typed(e, system) for k, e in x}
    if kind == "ref":
        return system.ref(x)
    raise AssertionError(f"unknown kind {kind}")


def _same(a, b):
    """Equal and of the same types all the way down (1 != 1.0 here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if a.keys() != b.keys():  # NaN keys: match by repr
            ka, kb = sorted(a, key=repr), sorted(b, key=repr)
            return len(ka) == len(kb) and all(
                _same(x, y) and _same(a[x], b[y]) for x, y in zip(ka, kb))
        return all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


with open(VECTORS) as _f:
    _VECTORS = json.load(_f)["vectors"]


@pytest.mark.parametrize("vec", _VECTORS, ids=[v["name"] for v in _VECTORS])
def test_conformance_vector(vec):
    with zactor.System(workers=1) as s:
        want = _typed(vec["value"], s)
        got = s.unpack(bytes.fromhex(vec["hex"]))
        assert _same(got, want), f"decode {vec['hex']}: {got!r} != {want!r}"
        if vec.get("unordered"):
            assert _same(s.unpack(zactor.pack(want)), want)
        elif not vec.get("decode_only"):
            assert zactor.pack(want).hex() == vec["hex"]


with open(VECTORS) as _f:
    _INVALID = json.load(_f)["invalid"]


@pytest.mark.parametrize("vec", _INVALID, ids=[v["name"] for v in _INVALID])
def test_conformance_invalid_vector(vec):
    # e.g. a str that is not UTF-8 (fuzz: a2 ff fe) is refused, never a str
    # with surrogate escapes that zactor.pack would then refuse to send
    with zactor.System(workers=1) as s:
        with pytest.raises(ValueError, match=re.escape(vec["error"])):
            s.unpack(bytes.fromhex(vec["hex"]))


def test_unpack_rejects_malformed_bytes():
    with zactor.System(workers=1) as s:
        with pytest.raises(ValueError, match="MessagePack"):
            s.unpack(b"\x92\x01")  # array of 2 with one element
        with pytest.raises(ValueError):
            s.unpack(b"")


def test_pack_rejects_values_that_cannot_cross():
    with pytest.raises(TypeError, match="cross languages"):
        zactor.pack({"f": object()})


# ------------------------------------------------------------ Python <-> Lua


def test_issue_example_counter_from_source(system):
    ref = system.spawn_lua(COUNTER_SRC, 10, name="lcounter")
    assert isinstance(ref, zactor.ActorRef)
    ref.tell(("add", 5))
    assert ref.ask(("get",), timeout=2.0) == 15
    assert system.lookup("lcounter") == ref
    ref.stop()
    assert ref.join(timeout=2.0)
    with pytest.raises(zactor.ActorDeadError):
        ref.tell(("add", 1))


def test_spawn_from_file_and_values_keep_their_types(system):
    echo = system.spawn_lua(lua("echo"))
    msg = {"i": 1, "f": 1.0, "neg": -7, "s": "h\u00e9", "l": [1, [2.5, "x"], {"k": True}],
           "empty": [], "none_in_map": False, "ref": echo}
    got = echo.ask(msg, timeout=2.0)
    assert _same(got, msg)
    assert got["ref"] == echo
    assert echo.ask(3, timeout=2.0) == 3 and isinstance(echo.ask(3, timeout=2.0), int)
    assert isinstance(echo.ask(3.0, timeout=2.0), float)
    assert echo.ask(b"\xff\x00", timeout=2.0) == b"\xff\x00"
    # None inside a list is zactor.null in Lua: the list keeps its length
    assert echo.ask([1, None, 3], timeout=2.0) == [1, None, 3]


def test_lua_actor_asks_python_actor_and_back(system):
    py = system.spawn(Counter, 40)
    proxy = system.spawn_lua(lua("proxy"))
    # Python -> Lua -> (ctx:ask suspends the handler) -> Python -> reply chain
    assert proxy.ask(("via", py, ("get",)), timeout=2.0) == 40
    py.tell(("add", 2))
    assert proxy.ask(("via", py, ("get",)), timeout=2.0) == 42
    # the Lua actor sees the Python actor's failure as an error value
    ok, err = proxy.ask(("try", py, ("boom",)), timeout=2.0)
    assert ok is False and "boom" in err


def test_python_actor_asks_lua_actor_inside_receive(system):
    results = []

    class Asker(zactor.Actor):
        def __init__(self, target):
            self.target = target

        def receive(self, msg):
            fut = self.target.ask_async(("get",), timeout=2.0)
            fut.add_done_callback(lambda f: results.append(f.result() * 2))

    target = system.spawn_lua(COUNTER_SRC, 21)
    asker = system.spawn(Asker, target)
    asker.tell("go")
    assert wait_for(lambda: results == [42])


def test_lua_error_in_ask_is_raised_with_traceback(system):
    ref = system.spawn_lua(COUNTER_SRC, 0)
    with pytest.raises(zactor.ActorFailed) as ei:
        ref.ask(("boom",), timeout=2.0)
    assert "boom" in str(ei.value) and "traceback" in str(ei.value)
    # permanent by default: restarted, init ran again with the same arguments
    assert ref.ask(("get",), timeout=2.0) == 0


def test_lua_failure_in_tell_restarts_and_keeps_queued_messages(system):
    collector = system.spawn_lua(lua("collector"), name="coll")
    fwd = system.spawn_lua(lua("forwarder"), "coll")
    for m in ["a", "boom", "b", "c"]:
        fwd.tell(m)
    assert wait_for(lambda: collector.ask(["count"], timeout=2.0) == 3)
    assert collector.ask(["get"], timeout=2.0) == ["a", "b", "c"]
    assert fwd.ask("restarts", timeout=2.0) == 1


def test_temporary_lua_actor_dies_on_failure(system):
    ref = system.spawn_lua(COUNTER_SRC, 0, restart="temporary")
    ref.tell(("boom",))
    assert ref.join(timeout=2.0)
    with pytest.raises(zactor.ActorDeadError):
        ref.ask(("get",), timeout=1.0)


def test_memory_limit_fails_only_that_actor(system):
    hog = system.spawn_lua(lua("hog"), memory_limit=2 * 1024 * 1024, restart="temporary")
    other = system.spawn_lua(lua("hog"))
    with pytest.raises(zactor.ActorFailed, match="memory"):
        hog.ask(["grow", 10_000], timeout=5.0)
    assert hog.join(timeout=2.0)
    assert other.ask("ping", timeout=2.0) == "pong"


def test_runaway_handler_is_stopped_by_its_budget(system):
    hog = system.spawn_lua(lua("hog"), budget=0.2)
    t0 = time.monotonic()
    with pytest.raises(zactor.ActorFailed):
        hog.ask("spin", timeout=5.0)
    assert time.monotonic() - t0 < 4.0
    # restarted (permanent), serving again; the worker was not lost
    assert hog.ask("ping", timeout=2.0) == "pong"


def test_bad_specs_and_options_are_clear_errors(system):
    with pytest.raises(ValueError, match="cannot load"):
        system.spawn_lua("return {")
    with pytest.raises(ValueError, match="no_such_file.lua"):
        system.spawn_lua("no_such_file.lua")
    # the chunk runs in the actor's own state: a behaviour without receive
    # fails at start; spawn_lua does not wait for it, the first ask says why
    bad = system.spawn_lua("return { init = function() end }", restart="temporary")
    with pytest.raises(zactor.ActorDeadError, match=r"actor \d+\.\d+ failed to start: .*no 'receive' function"):
        bad.ask("hi", timeout=5)
    with pytest.raises(TypeError):
        system.spawn_lua(42)
    with pytest.raises(ValueError, match="memory_limit"):
        system.spawn_lua(COUNTER_SRC, memory_limit=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        system.spawn_lua(COUNTER_SRC, colour="blue")
    with pytest.raises(ValueError, match="unknown strategy"):
        system.spawn_lua(COUNTER_SRC, strategy="sometimes")
    assert system.spawn_lua(COUNTER_SRC, 4, strategy="one_for_all").ask(["get"]) == 4
    with pytest.raises(TypeError, match="cross languages"):
        system.spawn_lua(COUNTER_SRC, object())


def test_unencodable_message_is_refused_and_nothing_is_enqueued(system):
    echo = system.spawn_lua(lua("echo"))
    with pytest.raises(TypeError, match="cross languages"):
        echo.tell({"fn": lambda: 1})
    with pytest.raises(TypeError):
        echo.ask([1, {2, 3}], timeout=1.0)
    assert echo.ask("seen", timeout=2.0) == 1  # only this message arrived


def test_python_actor_spawns_a_lua_actor(system):
    class Spawner(zactor.Actor):
        def __init__(self, sys_):
            self.sys = sys_

        def receive(self, msg):
            return self.sys.spawn_lua(COUNTER_SRC, msg)

    sp = system.spawn(Spawner, system)
    child = sp.ask(7, timeout=3.0)
    assert child.ask(("get",), timeout=2.0) == 7


def test_mixed_python_lua_traffic_many_actors(system):
    """Python counters fed by Lua forwarders and the reverse, in parallel."""
    n_lua, per = 8, 200
    collector = system.spawn_lua(lua("collector"), name="mixcoll")
    fwds = [system.spawn_lua(lua("forwarder"), "mixcoll") for _ in range(n_lua)]
    py = [system.spawn(Counter, 0) for _ in range(n_lua)]
    for i in range(per):
        for f, p in zip(fwds, py):
            f.tell(i)
            p.tell(("add", 1))
    assert wait_for(lambda: collector.ask(["count"], timeout=2.0) == n_lua * per, timeout=10)
    assert all(p.ask(("get",), timeout=2.0) == per for p in py)
    items = collector.ask(["get"], timeout=2.0)
    assert sorted(items) == sorted(list(range(per)) * n_lua)


RELAY = """
local target
return {
  init = function(ctx, t) target = t end,
  receive = function(ctx, msg)
    if msg[1] == "ask_through" then return ctx:ask(target, msg[2], 2.0) end
    target:tell(msg)
  end,
}
"""


def test_python_lua_and_c_actors_together(system, tmp_path):
    """Python -> Lua -> C traffic in parallel, and a Lua actor asking the C
    actor on behalf of Python."""
    import shutil
    import subprocess
    cc = shutil.which("cc") or shutil.which("gcc")
    so = tmp_path / "libcounter.so"
    subprocess.run([cc, "-std=c11", "-O2", "-shared", "-fPIC", "-I",
                    os.path.join(ROOT, "csrc", "include"),
                    os.path.join(ROOT, "tests", "native", "counter.c"), "-o", str(so)], check=True)
    native = system.spawn_native(str(so), "counter_behaviour", 0)
    relays = [system.spawn_lua(RELAY, native) for _ in range(4)]

    class Feeder(zactor.Actor):
        def receive(self, n):
            for i in range(n):
                relays[i % len(relays)].tell(["add", 1])
            return n

    feeders = [system.spawn(Feeder) for _ in range(4)]
    futs = [f.ask_async(2500) for f in feeders]
    assert sum(f.result(timeout=10) for f in futs) == 10_000
    assert wait_for(lambda: native.ask(["get"], timeout=2.0) == 10_000, timeout=10)
    assert relays[0].ask(["ask_through", ["get"]], timeout=3.0) == 10_000


def test_spawn_lua_concurrency_option(system):
    # tracer.lua records when each "nap" handler starts and ends; "a" sleeps
    # long and "b" arrives meanwhile: the order says whether they interleaved
    def events(ref):
        ref.tell(("nap", 0.3, "a"))
        assert ref.ask(("nap", 0, "b"), timeout=3.0) == "b"
        def log4():
            log = ref.ask(("log",), timeout=2.0)
            return log if len(log) == 4 else None

        got = wait_for(log4, 5.0)
        assert got is not None
        return got

    serial = ["start a", "end a", "start b", "end b"]
    assert events(system.spawn_lua(lua("tracer"), concurrency=1)) == serial
    assert events(system.spawn_lua(lua("tracer"))) == serial  # default 1
    assert events(system.spawn_lua(lua("tracer"), concurrency=2)) == [
        "start a", "start b", "end b", "end a"]
    for bad in (0, 65536, -1):  # zpy_count's rule, as for memory_limit
        with pytest.raises((ValueError, OverflowError), match="concurrency"):
            system.spawn_lua(lua("tracer"), concurrency=bad)
    for bad in (1.5, "2"):
        with pytest.raises(TypeError, match="concurrency"):
            system.spawn_lua(lua("tracer"), concurrency=bad)
