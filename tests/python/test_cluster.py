"""The cluster from Python: several Python processes (subprocess) on
127.0.0.1 and a redis-server this module starts on a free port in a
temporary directory. Every child is killed at the end; every wait is bounded.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import pytest

import zactor

from conftest import free_port, start_redis, wait_for

NODE_SCRIPT = textwrap.dedent(
    """
    import sys
    import zactor

    class Inventory(zactor.Actor):
        def __init__(self):
            self.items = {}

        def receive(self, msg):
            op, *args = msg
            if op == "get":
                return {"item": args[0], "count": 7}
            if op == "echo":
                return args[0]
            if op == "add":
                self.items[args[0]] = self.items.get(args[0], 0) + args[1]
            elif op == "count":
                return sum(self.items.values())
            elif op == "boom":
                raise ValueError("boom " + str(args[0]))
            elif op == "trace":  # the trace context the request came with
                return zactor.tracing.current()

    url, cluster, name = sys.argv[1:4]
    secret = sys.argv[4] if len(sys.argv) > 4 else None
    import os
    spawnable = [p for p in os.environ.get("ZA_SPAWNABLE", "").split(",") if p]
    pickle = os.environ.get("ZA_PICKLE") == "1"
    with zactor.Cluster(url, name=cluster, node_name=name, secret=secret,
                        spawnable=spawnable, pickle=pickle) as cl, \\
            zactor.System(workers=2, cluster=cl) as system:
        system.spawn(Inventory, name="inventory@" + name)
        print("READY", system.node.id, flush=True)
        sys.stdin.read()  # until the test closes our stdin (or kills us)
    """
)


@pytest.fixture(scope="module")
def redis_url():
    tmp = tempfile.mkdtemp(prefix="za-pycluster-")
    port = free_port()
    proc = None
    try:
        proc = start_redis(tmp, port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def nodes(tmp_path):
    """Start node processes: start(url, cluster, name) -> (Popen, node id)."""
    script = tmp_path / "node.py"
    script.write_text(NODE_SCRIPT)
    started = []

    def start(url, cluster, name, secret=None, env=None):
        p = subprocess.Popen([sys.executable, str(script), url, cluster, name]
                             + ([secret] if secret else []),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
        started.append(p)
        line = ""
        deadline = time.monotonic() + 30
        while not line.startswith("READY") and time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line and p.poll() is not None:
                break
        assert line.startswith("READY"), f"node {name} did not start (rc={p.poll()})"
        return p, int(line.split()[1])

    yield start
    for p in started:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
            p.kill()
        p.wait(timeout=10)


def test_tell_ask_lookup_across_python_nodes(redis_url, nodes):
    events = []
    with zactor.Cluster(redis_url, name="shop", node_name="api-1") as cluster, \
            zactor.System(workers=2, cluster=cluster) as system:
        system.on_node_event(events.append)
        proc, b_id = nodes(redis_url, "shop", "api-2")  # joins after us: a NodeUp
        me = system.node
        assert isinstance(me, zactor.Node)
        assert me.name == "api-1" and me.endpoint.startswith("tcp://127.0.0.1:")
        assert wait_for(lambda: len(system.nodes()) == 2, 10)
        assert {n.name for n in system.nodes()} == {"api-1", "api-2"}

        inv = wait_for(lambda: system.lookup("inventory@api-2"), 10)
        assert inv is not None and inv.node == b_id != me.id
        assert inv.ask(("get", 3), timeout=5.0) == {"item": 3, "count": 7}
        for i in range(200):  # FIFO per sender -> receiver
            inv.tell(("add", "x", 1))
        assert inv.ask(("count",), timeout=5.0) == 200
        with pytest.raises(zactor.ActorError, match="boom 9"):
            inv.ask(("boom", 9), timeout=5.0)
        # a trace context crosses nodes with the request (and only when set)
        tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        with zactor.tracing.use(tp):
            assert inv.ask(("trace",), timeout=5.0) == tp
        assert inv.ask(("trace",), timeout=5.0) is None
        assert system.lookup("nobody") is None

        # names are cluster-wide
        local = system.spawn(lambda msg: msg, name="local-echo")
        assert local.node == me.id
        # references travel inside messages, there and back, and stay usable
        assert inv.ask(("echo", [inv, local]), timeout=5.0) == [inv, local]
        back = inv.ask(("echo", local), timeout=5.0)
        assert back.ask("still me", timeout=5.0) == "still me"
        with pytest.raises(ValueError, match="already registered"):
            system.spawn(lambda msg: msg, name="inventory@api-2")

        # kill -9: the ask fails with NodeDownError when the node is declared
        # dead, well before its own 30 s timeout
        proc.kill()
        proc.wait(timeout=10)
        t0 = time.monotonic()
        with pytest.raises(zactor.NodeDownError, match="node-down") as exc:
            inv.ask(("get", 1), timeout=30.0)
        assert isinstance(exc.value, zactor.ActorDeadError)
        assert time.monotonic() - t0 < 15
        assert wait_for(lambda: any(isinstance(e, zactor.NodeDown) for e in events), 5)
        down = [e for e in events if isinstance(e, zactor.NodeDown)][0]
        assert down.node.id == b_id and down.node.name == "api-2"
        assert any(isinstance(e, zactor.NodeUp) and e.node.name == "api-2" for e in events)
        assert [n.name for n in system.nodes()] == ["api-1"]
        assert system.lookup("inventory@api-2") is None


def test_bad_settings_are_clear_errors(redis_url):
    with pytest.raises(ConnectionError, match="cannot connect to Redis"):
        zactor.Cluster(f"redis://127.0.0.1:{free_port()}/0", name="x")
    with pytest.raises(ValueError, match="non-loopback"):
        zactor.Cluster(redis_url, name="x", listen="tcp://0.0.0.0:0")
    with pytest.raises(ValueError, match="redis://"):
        zactor.Cluster("http://127.0.0.1", name="x")
    with pytest.raises(TypeError, match="name="):
        zactor.Cluster(redis_url)
    with pytest.raises(TypeError, match="zactor.Cluster"):
        zactor.System(workers=1, cluster="redis://127.0.0.1")
    with zactor.Cluster(redis_url, name="x", node_name="solo") as c:
        with pytest.raises(ValueError, match="taken"):
            zactor.Cluster(redis_url, name="x", node_name="solo")
        assert [n.name for n in c.nodes()] == ["solo"]
        assert c.stats()["malformed"] == 0
    with pytest.raises(ValueError, match="closed"):
        zactor.System(workers=1, cluster=c)
    with zactor.System(workers=1) as s:
        assert s.node is None and s.nodes() == []


def test_secret_links(redis_url, nodes):
    key = zactor.Cluster.new_secret()
    assert isinstance(key, str) and len(key) == 40
    with pytest.raises(ValueError, match="secret"):
        zactor.Cluster(redis_url, name="vault", secret="short")
    nodes(redis_url, "vault", "v-2", key)
    with zactor.Cluster(redis_url, name="vault", node_name="v-1", secret=key) as cluster, \
            zactor.System(workers=2, cluster=cluster) as system:
        inv = wait_for(lambda: system.lookup("inventory@v-2"), 10)
        assert inv is not None
        assert inv.ask(("get", "k"), timeout=5.0) == {"item": "k", "count": 7}
        # a process without the key: its connection is refused and counted
        with socket.create_connection(("127.0.0.1", int(system.node.endpoint.rsplit(":", 1)[1]))) as s:
            # a ZMTP 3.0 greeting offering the NULL mechanism (no key)
            s.sendall(b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00")
                      + b"\x00" + b"\x00" * 31)
            assert wait_for(lambda: cluster.stats()["auth_failed"] >= 1, 10)
        assert cluster.stats()["malformed"] == 0
        assert inv.ask(("get", "k2"), timeout=5.0)["item"] == "k2"


APP_ACTORS = textwrap.dedent(
    """
    import zactor

    class Counter(zactor.Actor):
        def __init__(self, start=0):
            self.n = start

        def receive(self, msg):
            op, *args = msg
            if op == "add":
                self.n += args[0]
            return self.n

    class Boom(zactor.Actor):
        def __init__(self):
            raise RuntimeError("no counter today")

        def receive(self, msg):
            return msg
    """
)

WORKER_LUA = """
local base
return {
  init = function(ctx, b) base = b or 0 end,
  receive = function(ctx, msg) return { "lua", base + msg[2], ctx:node().id, #ctx:nodes() } end,
}
"""


def test_spawn_on_another_node(redis_url, nodes, tmp_path, monkeypatch):
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "actors.py").write_text(APP_ACTORS)
    worker = tmp_path / "worker.lua"
    worker.write_text(WORKER_LUA)
    proc, b_id = nodes(redis_url, "spawn", "api-2",
                       env={"PYTHONPATH": str(tmp_path),
                            "ZA_SPAWNABLE": f"myapp.actors:*,{worker}"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with zactor.Cluster(redis_url, name="spawn", node_name="api-1") as cluster, \
            zactor.System(workers=2, cluster=cluster) as system:
        assert wait_for(lambda: len(system.nodes()) == 2, 10)
        # a Python class by import path, by node name: it runs there
        p = system.spawn("myapp.actors:Counter", 5, node="api-2", name="counter@api-2")
        assert isinstance(p, zactor.ActorRef) and p.node == b_id
        assert p.ask(("add", 2), timeout=5.0) == 7
        assert system.lookup("counter@api-2") == p
        # by node id, and a class object (named by its import path)
        from myapp.actors import Counter
        q = system.spawn(Counter, node=b_id)
        assert q.node == b_id and q != p and q.ask(("add", 1), timeout=5.0) == 1
        # a Lua actor from a file the node allowed, with init arguments
        w = system.spawn_lua(str(worker), 40, node="api-2")
        assert w.node == b_id
        assert w.ask(("x", 2), timeout=5.0) == ["lua", 42, b_id, 2]

        # refusals and failures, each naming what went wrong
        with pytest.raises(PermissionError, match="does not allow spawning 'os:system'"):
            system.spawn("os:system", node="api-2")
        with pytest.raises(PermissionError, match="does not allow"):
            system.spawn_lua("other.lua", node="api-2")
        with pytest.raises(PermissionError, match="does not allow"):
            system.spawn_native("/tmp/libevil.so", "beh", node="api-2")
        with pytest.raises(zactor.SpawnError, match="AttributeError.*Nope"):
            system.spawn("myapp.actors:Nope", node="api-2")
        # as with a local spawn, __init__ runs after spawn returned (there):
        # its failure is the actor's, seen by its askers
        boom = system.spawn("myapp.actors:Boom", node="api-2")
        assert boom.node == b_id
        with pytest.raises(zactor.ActorError, match="no counter today"):
            boom.ask(("x",), timeout=5.0)
        with pytest.raises(ValueError, match="already registered"):
            system.spawn("myapp.actors:Counter", node="api-2", name="counter@api-2")
        with pytest.raises(ValueError, match="no live member named 'api-9'"):
            system.spawn("myapp.actors:Counter", node="api-9")
        with pytest.raises(TypeError, match="importable"):
            system.spawn(lambda m: m, node="api-2")
        with pytest.raises(TypeError, match="only name="):
            system.spawn("myapp.actors:Counter", node="api-2", capacity=3)
        # all of it lives there: this node spawned nothing
        assert all(n.node == b_id for n in (p, q, w, boom))
        assert system.metrics()["actors_alive"] == 0

        # a node that does not answer: TimeoutError, then it answers again
        proc.send_signal(signal.SIGSTOP)

        def stopped():
            with open(f"/proc/{proc.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "T"
        assert wait_for(stopped, 5)
        try:
            with pytest.raises(TimeoutError, match="no answer within"):
                system.spawn("myapp.actors:Counter", node="api-2", timeout=0.5)
        finally:
            proc.send_signal(signal.SIGCONT)
        assert system.spawn("myapp.actors:Counter", 1, node="api-2").ask(("get",)) == 1


class Point:
    """Not a MessagePack value: crosses nodes only pickled."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def test_pickle_between_python_nodes(redis_url, nodes, tmp_path):
    from fractions import Fraction

    key = zactor.Cluster.new_secret()
    with pytest.raises(ValueError, match="pickle=True needs secret"):
        zactor.Cluster(redis_url, name="pk", pickle=True)
    with pytest.raises(TypeError, match="bool"):
        zactor.Cluster(redis_url, name="pk", secret=key, pickle="yes")
    nodes(redis_url, "pk", "pk-2", key, env={"ZA_PICKLE": "1", "ZA_SPAWNABLE": "*"})
    nodes(redis_url, "pk", "plain-3", key)  # same key, but no pickle
    with zactor.Cluster(redis_url, name="pk", node_name="pk-1", secret=key,
                        pickle=True) as cluster, \
            zactor.System(workers=2, cluster=cluster) as system:
        inv = wait_for(lambda: system.lookup("inventory@pk-2"), 10)
        plain = wait_for(lambda: system.lookup("inventory@plain-3"), 10)
        assert inv is not None and plain is not None
        # any picklable object, there and back (the answer is pickled too)
        assert inv.ask(("echo", Fraction(1, 3)), timeout=5.0) == Fraction(1, 3)
        assert inv.ask(("echo", {1, 2, 3}), timeout=5.0) == {1, 2, 3}
        # values MessagePack carries still go as values
        assert inv.ask(("echo", [1, "a"]), timeout=5.0) == [1, "a"]
        inv.tell(("add", "pickled", 1))
        assert inv.ask(("count",), timeout=5.0) == 1
        # a node without pickle: refused there with a clear error, no crash
        with pytest.raises(zactor.ActorError, match="does not accept pickled"):
            plain.ask(("echo", Fraction(1, 3)), timeout=5.0)
        assert plain.ask(("get", 1), timeout=5.0)["count"] == 7
        # a class the other node cannot import: its unpickling fails there
        with pytest.raises(zactor.ActorError, match="test_cluster"):
            inv.ask(("echo", Point(1, 2)), timeout=5.0)
        # a Lua actor on the pickle node: refused (a dead letter there, an
        # error to the asker), and it keeps working
        lua = system.spawn_lua("return { receive = function(ctx, m) return m end }",
                               node="pk-2")
        with pytest.raises(zactor.ActorError, match="cannot go to a lua actor"):
            lua.ask(Fraction(1, 3), timeout=5.0)
        lua.tell({1, 2})
        assert lua.ask([1, 2], timeout=5.0) == [1, 2]
        assert cluster.stats()["malformed"] == 0

    # this side without pickle: the TypeError says how to get there
    with zactor.Cluster(redis_url, name="pk", node_name="pk-4", secret=key) as cluster, \
            zactor.System(workers=1, cluster=cluster) as system:
        inv = wait_for(lambda: system.lookup("inventory@pk-2"), 10)
        with pytest.raises(TypeError, match="pickle=True"):
            inv.tell(("echo", Fraction(1, 3)))
