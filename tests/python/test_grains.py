"""Virtual actors (zactor.Grain, JournaledGrain), persistent actors and
reminders from Python, on memory:// and sqlite (and one run over redis and
postgresql on real servers the fixtures of test_store.py start)."""
import os
import subprocess
import sys
import time

import pytest

import zactor
from conftest import wait_for
from test_store import pg_url, redis_url  # noqa: F401  (fixtures: real servers)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# What grains did, seen from the test (Python actors share the process).
EVENTS = []


def events(kind, key=None):
    return [e for e in EVENTS if e[0] == kind and (key is None or e[1] == key)]


@pytest.fixture(autouse=True)
def _clear_events():
    EVENTS.clear()
    yield
    EVENTS.clear()


@pytest.fixture(params=["memory", "sqlite"])
def url(request, tmp_path):
    return "memory://" if request.param == "memory" else f"sqlite://{tmp_path}/grains.db"


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite://{tmp_path}/grains.db"


class Account(zactor.Grain):
    grain_type = "test.Account"
    idle_timeout = 600.0

    async def on_activate(self):
        EVENTS.append(("activate", self.key, dict(self.state), self.version))
        self.state.setdefault("balance", 0)

    async def on_deactivate(self):
        EVENTS.append(("deactivate", self.key, dict(self.state)))

    async def receive(self, msg):
        op, *args = msg
        if op == "deposit":
            self.state["balance"] += args[0]
            await self.save()
        elif op == "bad_state":
            self.state["oops"] = object()
            try:
                await self.save()
            except (TypeError, ValueError) as e:
                del self.state["oops"]
                return f"refused: {e}"
            return "saved?!"
        elif op == "save_raw":
            self.state["balance"] += args[0]
            await self.save()  # a conflict propagates: the ask fails
        elif op == "clear":
            await self.clear()
            return dict(self.state)
        elif op == "deactivate":
            self.deactivate()
        elif op == "whoami":
            return [self.key, self.ref, self.context.system.grain_identity(self.ref)]
        elif op == "version":
            return self.version
        return self.state["balance"]


class ShortLived(Account):
    grain_type = "test.ShortLived"
    idle_timeout = 0.2


def test_account_deposits_and_lists(url):
    with zactor.System(workers=2, storage=url) as system:
        alice = system.grain(Account, "alice")
        assert isinstance(alice, zactor.ActorRef)
        assert system.grains() == []  # nothing activated by taking the ref
        assert alice.ask(("deposit", 10)) == 10
        assert alice.ask(("deposit", 5)) == 15
        assert alice.ask(("version",)) == 2
        assert system.grain(Account, "alice") == alice  # same (type, key), same ref
        [g] = system.grains()
        assert isinstance(g, zactor.GrainInfo)
        assert (g.type, g.key, g.ref, g.status) == ("test.Account", "alice", alice, "active")
        assert g.messages >= 3 and g.activation is not None and g.since.year >= 2024
        # an int key is its decimal text
        assert system.grain(Account, 42).ask(("whoami",))[0] == "42"
        key, ref, ident = system.grain(Account, "bob").ask(("whoami",))
        assert (key, ref, ident) == ("bob", system.grain(Account, "bob"), ("test.Account", "bob"))
        assert len(events("activate")) == 3


def test_state_survives_idle_deactivation(url):
    with zactor.System(workers=2, storage=url) as system:
        g = system.grain(ShortLived, "carol")
        assert g.ask(("deposit", 7)) == 7
        assert wait_for(lambda: not system.grains(), timeout=5.0)
        assert events("deactivate", "carol") == [("deactivate", "carol", {"balance": 7})]
        assert not g.is_alive()
        # the next message activates it again from the stored state
        assert g.ask(("deposit", 1)) == 8
        assert [e[2:] for e in events("activate", "carol")] == [({}, 0), ({"balance": 7}, 1)]


def test_deactivate_and_stop(url):
    with zactor.System(workers=2, storage=url) as system:
        g = system.grain(Account, "dave")
        assert g.ask(("deposit", 3)) == 3
        g.ask(("deactivate",))
        assert wait_for(lambda: events("deactivate", "dave"), timeout=5.0)
        assert g.ask(("deposit", 1)) == 4
        g.stop()  # on a grain ref: deactivates it (on_deactivate runs)
        assert wait_for(lambda: len(events("deactivate", "dave")) == 2, timeout=5.0)
        assert g.ask(("deposit", 1)) == 5  # and it comes back


def test_shutdown_runs_on_deactivate(sqlite_url):
    with zactor.System(workers=2, storage=sqlite_url) as system:
        system.grain(Account, "erin").ask(("deposit", 2))
    assert events("deactivate", "erin") == [("deactivate", "erin", {"balance": 2})]


def test_bad_keys_and_classes():
    with zactor.System(workers=1) as system:
        for bad in (None, 1.5, b"k", True, ("a",)):
            with pytest.raises(TypeError, match="grain key"):
                system.grain(Account, bad)
        with pytest.raises(ValueError):
            system.grain(Account, "")
        with pytest.raises(ValueError):
            system.grain(Account, "a\0b")
        with pytest.raises(ValueError):
            system.grain(Account, "k" * 2000)
        with pytest.raises(TypeError, match="Grain subclass"):
            system.grain(zactor.Actor, "x")
        with pytest.raises(LookupError, match="not registered"):
            system.grain("no.such.Type", "x")

        class Bad(zactor.Grain):
            idle_timeout = -1

        with pytest.raises(ValueError, match="idle_timeout"):
            system.grain(Bad, "x")
        with pytest.raises(TypeError, match="on_activate"):
            class Wrong(zactor.Grain):  # noqa: F841
                def on_start(self):
                    pass

        # another class under a type name already taken
        class Account2(Account):
            grain_type = "test.Account"

        system.grain(Account, "x")
        with pytest.raises(ValueError, match="already registered"):
            system.grain(Account2, "x")


def test_default_grain_type_is_module_and_qualname():
    class Plain(zactor.Grain):
        async def receive(self, msg):
            return self.context.system.grain_identity(self.ref)

    with zactor.System(workers=1) as system:
        assert system.grain(Plain, "k").ask(None) == (
            f"{__name__}.test_default_grain_type_is_module_and_qualname.<locals>.Plain", "k")


def test_save_of_a_state_outside_the_value_model_writes_nothing(sqlite_url):
    with zactor.System(workers=2, storage=sqlite_url) as system:
        g = system.grain(Account, "frank")
        assert g.ask(("deposit", 1)) == 1
        r = g.ask(("bad_state",))
        assert r.startswith("refused: ") and "nothing was written" in r
        assert g.ask(("version",)) == 1
    with zactor.Store(sqlite_url) as st:
        assert st.read(("test.Account", "frank")) == ({"balance": 1}, 1)


class Flaky(zactor.Grain):
    grain_type = "test.Flaky"

    async def on_activate(self):
        EVENTS.append(("activate", self.key))
        if len(events("activate", self.key)) == 1:
            raise RuntimeError("first activation fails")

    async def receive(self, msg):
        if msg == "boom":
            raise ValueError("handler boom")
        return len(events("activate", self.key))


def test_failing_activation_and_handler_end_the_activation(url):
    with zactor.System(workers=2, storage=url) as system:
        g = system.grain(Flaky, "gina")
        with pytest.raises(zactor.ActorFailed, match="first activation fails") as ei:
            g.ask("hi")
        # the asker gets the exception and its traceback as text
        assert "RuntimeError" in str(ei.value) and "Traceback" in str(ei.value)
        assert "in on_activate" in str(ei.value)
        assert g.ask("hi") == 2  # the next message activated it again
        with pytest.raises(ValueError, match="handler boom"):
            g.ask("boom")
        assert g.ask("hi") == 3  # a failure ended that activation too


def test_version_conflict_deactivates(sqlite_url):
    with zactor.System(workers=2, storage=sqlite_url) as system:
        g = system.grain(Account, "hank")
        assert g.ask(("deposit", 10)) == 10
        with zactor.Store(sqlite_url) as st:
            assert st.write(("test.Account", "hank"), {"balance": 100}, 1) == 2  # behind its back
        with pytest.raises(zactor.VersionConflict):
            g.ask(("save_raw", 1))
        # the stale activation is gone; the next one reads the stored state
        assert g.ask(("deposit", 1)) == 101
        assert issubclass(zactor.Fenced, zactor.StoreError)


class Gate(zactor.Grain):
    grain_type = "test.Gate"
    concurrency = 2

    async def receive(self, msg):
        if msg[0] == "hold":
            for _ in range(msg[1]):  # bounded: msg[1] * 10 ms
                if self.state.get("open"):
                    return "passed"
                await zactor.sleep(0.01)
            return "stuck"
        if msg == "open":
            self.state["open"] = True
            await self.save()
            return "opened"


class SerialGate(Gate):
    grain_type = "test.SerialGate"
    concurrency = 1


def test_concurrency_with_awaits(url):
    with zactor.System(workers=2, storage=url) as system:
        g = system.grain(Gate, "g")
        held = g.ask_async(("hold", 500), timeout=10)
        assert g.ask("open") == "opened"  # runs while "hold" is suspended
        assert held.result(10) == "passed"
        s = system.grain(SerialGate, "s")
        held = s.ask_async(("hold", 30), timeout=10)
        opened = s.ask_async("open", timeout=10)
        assert held.result(10) == "stuck"  # one at a time: "open" waited
        assert opened.result(10) == "opened"


def test_clear(sqlite_url):
    with zactor.System(workers=2, storage=sqlite_url) as system:
        g = system.grain(Account, "ivy")
        g.ask(("deposit", 4))
        assert g.ask(("clear",)) == {}  # initial_state()
        assert g.ask(("version",)) == 0
    with zactor.Store(sqlite_url) as st:
        assert st.read(("test.Account", "ivy")) is None


class Cart(zactor.JournaledGrain):
    grain_type = "test.Cart"
    snapshot_every = 3

    def initial_state(self):
        return {"items": []}

    def apply(self, state, event):
        EVENTS.append(("apply", self.key, event))
        op, item = event
        items = list(state["items"])
        if op == "add":
            items.append(item)
        else:
            items.remove(item)
        return {"items": items}

    async def receive(self, msg):
        if msg == "get":
            return [self.state, self.version]
        if msg == "leave":
            self.deactivate()
            return None
        if msg == "save":
            await self.save()
        return await self.persist(msg)


def test_journaled_grain_replays_snapshot_and_tail(url):
    with zactor.System(workers=2, storage=url) as system:
        c = system.grain(Cart, "joe")
        assert c.ask(("add", "apple")) == {"items": ["apple"]}
        c.ask(("add", "pear"))
        c.ask(("add", "plum"))
        c.ask(("remove", "apple"))
        assert c.ask("get") == [{"items": ["pear", "plum"]}, 4]
        with pytest.raises(RuntimeError, match="persist"):
            c.ask("save")
        with pytest.raises(TypeError):
            c.ask(("add", object()))  # not in the value model: nothing appended
        c = system.grain(Cart, "joe")
        assert c.ask("get")[1] == 4
        c.ask("leave")
        assert wait_for(lambda: not system.grains(), timeout=5.0)
        EVENTS.clear()
        # the snapshot at 3 plus the tail (event 4) rebuild the state
        assert c.ask("get") == [{"items": ["pear", "plum"]}, 4]
        assert events("apply") == [("apply", "joe", ["remove", "apple"])]


class Ticker(zactor.Grain):
    grain_type = "test.Ticker"

    async def receive(self, msg):
        if isinstance(msg, zactor.Reminder):
            EVENTS.append(("tick", self.key, msg))
            return None
        op, *args = msg
        if op == "remind":
            await self.remind(*args)
        elif op == "remind_kw":
            await self.remind(args[0], **args[1])
        elif op == "forget":
            return await self.forget(args[0])
        return None


def test_reminders(url):
    with zactor.System(workers=2, storage=url) as system:
        t = system.grain(Ticker, "t1")
        t.ask(("remind_kw", "fast", {"period": 1.0, "due": 0.05}))
        assert wait_for(lambda: events("tick", "t1"), timeout=5.0)
        tick = events("tick", "t1")[0][2]
        assert isinstance(tick, zactor.Reminder)
        assert (tick.name, tick.missed, tick.period) == ("fast", 0, 1.0)
        assert abs(tick.due - time.time()) < 60
        assert t.ask(("forget", "fast")) is True
        assert t.ask(("forget", "fast")) is False
        with pytest.raises(ValueError, match="period"):
            t.ask(("remind", "x", 0.5, 1.0))  # the minimum period is 1 s
        with pytest.raises(TypeError, match="reminder name"):
            t.ask(("remind", "", 1.0, 1.0))
        # from outside the grain; a reminder activates a deactivated grain
        u = system.grain(Ticker, "t2")
        system.remind(u, "out", period=5.0, due=0.05)
        assert wait_for(lambda: events("tick", "t2"), timeout=5.0)
        assert system.forget(u, "out") is True
        assert system.forget(u, "out") is False


class Caller(zactor.Actor):
    async def receive(self, msg):
        g = self.context.grain(Account, msg)
        return await g.ask_async(("deposit", 2))


class Bank(zactor.Grain):
    grain_type = "test.Bank"

    async def receive(self, msg):
        who, amount = msg
        # a grain calling another grain
        return await self.context.grain(Account, who).ask_async(("deposit", amount))


def test_grain_refs_from_actors_and_grains(url):
    with zactor.System(workers=2, storage=url) as system:
        assert system.spawn(Caller).ask("kim") == 2
        assert system.grain(Bank, "central").ask(["kim", 3]) == 5


class Orders(zactor.Actor):
    persistence_type = "test.Orders"

    def initial_state(self):
        return {"orders": []}

    def on_start(self):
        EVENTS.append(("start", {"orders": list(self.state["orders"])}, self.version))

    async def receive(self, msg):
        if msg == "get":
            return self.state
        self.state["orders"].append(msg)
        return await self.save()


class Child(zactor.Actor):
    async def receive(self, msg):
        ref = self.context.spawn(Orders, persistence_id=msg)
        return await ref.ask_async("x")


class NoPid(zactor.Actor):
    async def receive(self, msg):
        self.state = {"x": 1}
        await self.save()


def test_persistent_actor(url):
    with zactor.System(workers=2, storage=url) as system:
        a = system.spawn(Orders, persistence_id="orders-1")
        assert a.ask("apple") == 1
        assert a.ask("pear") == 2
        a.stop()
        assert a.join(5)
        b = system.spawn(Orders, persistence_id="orders-1")
        assert b.ask("get") == {"orders": ["apple", "pear"]}
        assert events("start") == [("start", {"orders": []}, 0),
                                   ("start", {"orders": ["apple", "pear"]}, 2)]
        assert system.spawn(Child).ask("orders-2") == 1  # Context.spawn
        with pytest.raises(RuntimeError, match="persistence_id"):
            system.spawn(NoPid).ask("go")
        with pytest.raises(TypeError):
            system.spawn(Orders, persistence_id=1.5)
        with pytest.raises(TypeError, match="Grain"):
            system.spawn(Account, persistence_id="x")
    if url.startswith("sqlite"):
        with zactor.Store(url) as st:
            assert st.read(("test.Orders", "orders-1")) == ({"orders": ["apple", "pear"]}, 2)


def test_bad_storage_urls():
    with pytest.raises(ValueError):
        zactor.System(workers=1, storage="bogus://x")
    with pytest.raises(zactor.StoreUnavailable):
        zactor.System(workers=1, storage="redis://127.0.0.1:1/0")


@pytest.mark.parametrize("server", ["redis", "postgresql"])
def test_grains_on_servers(server, request):
    url = request.getfixturevalue("redis_url" if server == "redis" else "pg_url")[0]
    key = f"{server}-{os.getpid()}-{time.monotonic_ns()}"
    with zactor.System(workers=2, storage=url) as system:
        g = system.grain(ShortLived, key)
        assert g.ask(("deposit", 5)) == 5
        assert wait_for(lambda: not system.grains(), timeout=5.0)
        assert g.ask(("deposit", 1)) == 6
        c = system.grain(Cart, key)
        for i in range(4):
            c.ask(("add", i))
        assert c.ask("get") == [{"items": [0, 1, 2, 3]}, 4]
    with zactor.System(workers=2, storage=url) as system:  # another process's view
        assert system.grain(ShortLived, key).ask(("version",)) == 2
        assert system.grain(Cart, key).ask("get") == [{"items": [0, 1, 2, 3]}, 4]


def test_native_grain(tmp_path):
    import shutil

    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    pytest.importorskip("cffi")
    so = str(tmp_path / "libcounter.so")
    subprocess.run([cc, "-std=c11", "-O2", "-shared", "-fPIC", "-I",
                    os.path.join(ROOT, "csrc", "include"),
                    os.path.join(ROOT, "tests", "native", "counter.c"), "-o", so], check=True)
    with zactor.System(workers=2) as system:
        c = system.grain_native(so, "counter_behaviour", "n1", 10)
        c.tell(["add", 5])
        assert c.ask(["get"]) == 15
        assert system.grain_identity(c) == ("counter_behaviour", "n1")
        assert system.grain("counter_behaviour", "n1") == c
        assert system.grain("counter_behaviour", "n2").ask(["get"]) == 10


def test_demo_survives_a_restart(tmp_path):
    demo = os.path.join(ROOT, "python", "examples", "grains_demo.py")
    db = str(tmp_path / "bank.db")
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    def run():
        p = subprocess.run([sys.executable, demo, db], capture_output=True, text=True,
                           timeout=60, env=env)
        assert p.returncode == 0, p.stderr
        return p.stdout

    first = run()
    assert "balance 10" in first and "reminder set" in first
    second = run()
    assert "balance 20" in second, second
    assert "reminder 'interest'" in second and "reminder received" in second, second
    assert "active: demo.Account alice" in second


LUA_ACCOUNT = os.path.join(ROOT, "tests", "lua", "actors", "g_account.lua")


def test_lua_and_python_grains_call_each_other(url):
    if not os.path.exists(LUA_ACCOUNT):
        pytest.skip("the Lua grain behaviours are not in this tree")
    with zactor.System(workers=2, storage=url) as system:
        try:
            lua = system.grain_lua(LUA_ACCOUNT, "lucy", grain_type="test.LuaAccount")
        except RuntimeError as e:
            pytest.skip(str(e))
        assert lua.ask(["deposit", 5]) == 5
        assert system.grain("test.LuaAccount", "lucy") == lua
        # Python -> Lua: a Python grain asks the Lua grain
        assert system.grain(Bank, "b").ask(["x", 1]) == 1  # (warms test.Account)
        py = system.grain(Account, "paul")
        # Lua -> Python: the Lua grain asks a Python grain by its type name
        assert lua.ask(["ask_grain", "test.Account", "paul", ["deposit", 3]]) == 3
        assert py.ask(("deposit", 1)) == 4
        # a state written in Lua is read by Python (the value model)
        lua.ask(["deactivate"])
        assert wait_for(lambda: all(g.key != "lucy" for g in system.grains()), timeout=5.0)
        if url.startswith("sqlite"):
            with zactor.Store(url) as st:
                state, _ = st.read(("test.LuaAccount", "lucy"))
                assert state["balance"] == 5 and state["deactivated"] is True
        with pytest.raises(ValueError):
            system.grain_lua("return 1 +", "k", grain_type="test.BadLua")


class Forwarder(zactor.Actor):
    async def receive(self, msg):
        grain, amount = msg  # a grain reference inside a message
        return await grain.ask_async(("deposit", amount))


def test_grain_refs_travel_and_await_from_asyncio():
    import asyncio

    with zactor.System(workers=2) as system:
        g = system.grain(Account, "lena")
        assert repr(g) == "<ActorRef grain test.Account/lena>"
        assert system.spawn(Forwarder).ask((g, 4)) == 4

        async def main():
            return await g.ask_async(("deposit", 1), timeout=5)

        assert asyncio.run(main()) == 5
        g.send(("deposit", 1))  # one-way
        assert g.ask(("deposit", 0)) == 6
        assert system.grain_identity(system.spawn(Forwarder)) is None


class Stubborn(zactor.Grain):
    grain_type = "test.Stubborn"

    async def receive(self, msg):
        self.state["balance"] = self.state.get("balance", 0) + msg
        try:
            await self.save()
        except zactor.VersionConflict:
            return "conflict"
        return self.state["balance"]

    async def on_deactivate(self):
        try:
            await self.save()  # a stale activation: refused, nothing written
            EVENTS.append(("last_save", "written"))
        except zactor.VersionConflict as e:
            EVENTS.append(("last_save", str(e)))


def test_a_stale_activation_cannot_write_again(sqlite_url):
    with zactor.System(workers=2, storage=sqlite_url) as system:
        g = system.grain(Stubborn, "sam")
        assert g.ask(5) == 5
        with zactor.Store(sqlite_url) as st:
            st.write(("test.Stubborn", "sam"), {"balance": 100}, 1)
        assert g.ask(1) == "conflict"  # caught: the runtime deactivates it anyway
        assert wait_for(lambda: events("last_save"), timeout=5.0)
        assert "refused" in events("last_save")[0][1]
        assert g.ask(1) == 101  # a new activation from the stored state
    # (that activation's on_deactivate saved at shutdown: version 4)
    assert [e[1] for e in events("last_save")][1:] == ["written"]
    with zactor.Store(sqlite_url) as st:
        assert st.read(("test.Stubborn", "sam")) == ({"balance": 101}, 4)


def test_http_grains_endpoint_lists_python_grains():
    """GET /grains shows the active grains an operator would look for, with a
    filter by type; a deactivated grain is gone from it."""
    import json
    import urllib.request
    with zactor.System(workers=2, http="127.0.0.1:0") as system:
        system.grain(Account, "alice").ask(("deposit", 1))
        system.grain(Account, "bob").ask(("deposit", 2))

        def get(path):
            with urllib.request.urlopen(system.http_url + path, timeout=10) as r:
                assert r.status == 200
                return json.loads(r.read())

        body = get("/grains")
        assert body["total"] == 2
        keys = sorted((g["type"], g["key"], g["status"]) for g in body["grains"])
        assert keys == [("test.Account", "alice", "active"), ("test.Account", "bob", "active")]
        assert get("/grains?type=nope")["grains"] == []
        system.grain(Account, "bob").stop()
        assert wait_for(lambda: get("/grains")["total"] == 1, timeout=5.0)
        assert [g["key"] for g in get("/grains")["grains"]] == ["alice"]


def test_system_grains_registers_classes_at_start():
    """System(grains=[...]) registers classes before any grain(...) call, so
    messages for them can arrive from elsewhere (here: by type name); a bad
    entry is a TypeError and no system is left running."""
    with zactor.System(workers=2, grains=[Account]) as system:
        assert system.grain("test.Account", "zoe").ask(("deposit", 3)) == 3
        assert system.register_grain(Account) == "test.Account"  # idempotent
        with pytest.raises(TypeError, match="Grain subclass"):
            system.register_grain(object)
    with pytest.raises(TypeError, match="zactor.Grain subclasses"):
        zactor.System(workers=1, grains=[Account, "nope"])
