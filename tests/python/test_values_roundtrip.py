"""Values that go out of Python and come back unchanged (issue 10, findings
16 and 17): a Lua echo actor and a C echo actor (which replies with the
very bytes it got) must return what they were sent, the few documented
exceptions must be errors at the send, and a ref of one System must never
come back bound to an actor of another."""
import math
import os
import shutil
import subprocess

import pytest

import zactor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

LUA_ECHO = "return { receive = function(ctx, msg) return msg end }"


def same(a, b):
    """Equal, of the same types all the way down (1 != 1.0 != True), NaN == NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            kb = [x for x in b if x == k and type(x) is type(k)]
            if len(kb) != 1 or not same(v, b[kb[0]]):
                return False
        return True
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


@pytest.fixture(scope="module")
def echo_so(tmp_path_factory):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("native") / "libecho.so"
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-I",
                    os.path.join(ROOT, "csrc", "include"),
                    os.path.join(ROOT, "tests", "native", "echo.c"), "-o", str(out)], check=True)
    return str(out)


@pytest.fixture(scope="module")
def sysm():
    with zactor.System(workers=2) as s:
        yield s


@pytest.fixture(scope="module")
def lua_echo(sysm):
    return sysm.spawn_lua(LUA_ECHO)


@pytest.fixture(scope="module")
def c_echo(sysm, echo_so):
    return sysm.spawn_native(echo_so, "echo_behaviour")


# ------------------------------------------------ finding 16: shapes kept

SHAPES = [
    [1, None, 3, None],
    [1, None],
    [None],
    {},
    [],
    {"a": None},
    {None: 1},
    {1: "a", 2: "b"},
    {1: "a"},
    {"x": {}, "y": [], "z": [None, {}]},
    2**63,
    2**64 - 1,
    [2**63, -2**63, 2**64 - 1],
    b"hi",
    b"",
    [b"text-like bytes", "text"],
    {b"k": b"v"},
    {True: 1, False: 0},
    -0.0,
    float("inf"),
    [float("nan")],
    {1.5: "float key"},
]


@pytest.mark.parametrize("value", SHAPES, ids=[repr(v) for v in SHAPES])
def test_lua_echo_keeps_shape(lua_echo, value):
    back = lua_echo.ask(value, timeout=5)
    assert same(value, back), f"{value!r} came back as {back!r}"


@pytest.mark.parametrize("value", SHAPES, ids=[repr(v) for v in SHAPES])
def test_c_echo_keeps_shape(c_echo, value):
    back = c_echo.ask(value, timeout=5)
    assert same(value, back), f"{value!r} came back as {back!r}"


def test_nan_map_key_is_refused_at_the_send(lua_echo, c_echo):
    for target in (lua_echo, c_echo):
        with pytest.raises(ValueError, match="NaN"):
            target.tell({float("nan"): 1})


def test_documented_changes(lua_echo, c_echo):
    for target in (lua_echo, c_echo):
        assert same(target.ask((1, (2, 3)), timeout=5), [1, [2, 3]])  # tuples -> lists
        assert same(target.ask(bytearray(b"ab"), timeout=5), b"ab")  # bytearray -> bytes
    # Lua stores an integral float key as an integer key (1.0 == 1 in Python too)
    assert lua_echo.ask({1.0: "x"}, timeout=5) == {1: "x"}


def test_lua_sees_null_arrays_maps_and_bytes(sysm):
    probe = sysm.spawn_lua("""
    return { receive = function(ctx, msg)
      local z = zactor
      return {
        msg.arr[2] == z.null, #msg.arr, getmetatable(msg.arr) == nil,
        getmetatable(msg.map) == z.map_mt, next(msg.map) == nil,
        tostring(msg.bin), #msg.bin, msg.bin:sub(2, 3), z.is_bytes(msg.bin),
        type(msg.str), tostring(msg.big), math.type(msg.max),
        z.array{1, 2}, z.map{}, z.map{[1] = "a"}, z.bytes("\\xff\\x00"),
      }
    end }
    """)
    got = probe.ask({"arr": [1, None, 3], "map": {}, "bin": b"abcd", "str": "abcd",
                     "big": 2**64 - 1, "max": 2**63 - 1}, timeout=5)
    assert got == [True, 3, True, True, True, "abcd", 4, "bc", True, "string",
                   str(2**64 - 1), "integer", [1, 2], {}, {1: "a"}, b"\xff\x00"]


# ----------------------------------------------- finding 17: foreign refs


def test_ref_of_another_system_does_not_alias_through_lua():
    with zactor.System(workers=1) as a, zactor.System(workers=1) as b:
        class Victim(zactor.Actor):
            def receive(self, msg):
                return "wrong actor"

        class Target(zactor.Actor):
            def receive(self, msg):
                return "target"

        target = a.spawn(Target)
        b.spawn(Victim)  # the actor a's ref would alias in b (same slot)
        echo_b = b.spawn_lua(LUA_ECHO)
        try:
            back = echo_b.ask(target, timeout=5)
        except (zactor.ActorFailed, ValueError) as e:
            assert "foreign" in str(e) or "another System" in str(e)
            return
        # if it came back, it must still be a's target, never b's victim
        assert back.ask("hi", timeout=5) == "target"


def test_ref_of_another_system_does_not_alias_through_c(echo_so):
    with zactor.System(workers=1) as a, zactor.System(workers=1) as b:
        class Victim(zactor.Actor):
            def receive(self, msg):
                return "wrong actor"

        class Target(zactor.Actor):
            def receive(self, msg):
                return "target"

        target = a.spawn(Target)
        b.spawn(Victim)
        echo_b = b.spawn_native(echo_so, "echo_behaviour")
        with pytest.raises(ValueError, match="foreign|another System"):
            back = echo_b.ask([target], timeout=5)
            back[0].ask("hi", timeout=5)


def test_own_refs_still_round_trip(sysm, lua_echo, c_echo):
    class T(zactor.Actor):
        def receive(self, msg):
            return "me"

    t = sysm.spawn(T)
    for target in (lua_echo, c_echo):
        back = target.ask({"r": [t]}, timeout=5)
        assert back["r"][0] == t
        assert back["r"][0].ask(1, timeout=5) == "me"


# ------------------------------------------------------ property tests

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

scalars = (st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**64 - 1)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
           | st.binary(max_size=20))
keys = (st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
        | st.integers(min_value=-2**63, max_value=2**64 - 1) | st.binary(max_size=8))
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=5)
                      | st.dictionaries(keys, kids, max_size=5), max_leaves=20)

PROP = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


@PROP
@given(values)
def test_property_lua_echo_returns_what_it_got(lua_echo, v):
    assert same(v, lua_echo.ask(v, timeout=5))


@PROP
@given(values)
def test_property_c_echo_returns_what_it_got(c_echo, v):
    assert same(v, c_echo.ask(v, timeout=5))
