"""zactor.Store: the storage layer from Python, on every provider.

memory:// and sqlite:// need nothing; redis:// and postgresql:// run on real
servers these fixtures start on a free 127.0.0.1 port in a temporary
directory and always stop (finalizers run even when a test fails).
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import zactor

PG_BIN = "/usr/lib/postgresql/15/bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def stop(proc, sig=signal.SIGTERM, grace=10.0):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def redis_url():
    tmp = tempfile.mkdtemp(prefix="za-pyredis-")
    port = free_port()
    log = open(os.path.join(tmp, "redis.log"), "wb")
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
         "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                    c.sendall(b"PING\r\n")
                    return c.recv(16).startswith(b"+PONG")
            except OSError:
                return False
        wait_until(up, 15, "redis-server")
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        stop(proc)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_url():
    tmp = tempfile.mkdtemp(prefix="za-pypg-")
    # PostgreSQL refuses to run as root: initdb and the server run as postgres
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        pw = pwd.getpwnam(user)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    pwfile = os.path.join(tmp, "pw")
    with open(pwfile, "w") as f:
        f.write("pypw\n")
    if user:
        os.chown(pwfile, pw.pw_uid, pw.pw_gid)
    data = os.path.join(tmp, "data")
    subprocess.run(
        [f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "--pwfile", pwfile, "-E", "UTF8",
         "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"],
        user=user, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    port = free_port()
    log = open(os.path.join(tmp, "pg.log"), "wb")
    proc = subprocess.Popen(
        [f"{PG_BIN}/postgres", "-D", data, "-p", str(port), "-k", tmp,
         "-c", "listen_addresses=127.0.0.1"],
        user=user, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: subprocess.run(
            [f"{PG_BIN}/pg_isready", "-h", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL).returncode == 0, 30, "postgres")
        yield f"postgresql://postgres:pypw@127.0.0.1:{port}/postgres", proc
    finally:
        stop(proc, signal.SIGINT)  # fast shutdown
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(params=["memory", "sqlite", "redis", "postgresql"])
def store(request, tmp_path):
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite://{tmp_path}/store.db"
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")[0]
    else:
        url = request.getfixturevalue("pg_url")[0]
    with zactor.Store(url) as s:
        # every test works on keys of its own (the servers live per module)
        _PREFIX[id(s)] = request.node.name
        yield s
        del _PREFIX[id(s)]


_PREFIX = {}


def key(store, name):
    return (_PREFIX[id(store)], name)


VALUES = [
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, "", "héllo ✓", b"\x00\xff",
    [1, "two", [3.0, None]], {"balance": 10, "items": ["a", "b"], "nested": {"k": b"v"}},
]


def test_values_round_trip(store):
    for i, v in enumerate(VALUES):
        k = key(store, f"v{i}")
        assert store.write(k, v, 0) == 1
        assert store.read(k) == (v, 1)
    # tuples travel as lists, as in messages
    store.write(key(store, "t"), (1, 2), 0)
    assert store.read(key(store, "t")) == ([1, 2], 1)


def test_versions_and_conflicts(store):
    k = key(store, "acct")
    assert store.read(k) is None
    assert store.write(k, {"n": 1}, 0) == 1
    assert store.write(k, {"n": 2}, 1) == 2
    with pytest.raises(zactor.VersionConflict, match="expected 1, stored 2"):
        store.write(k, {"n": 99}, 1)
    with pytest.raises(zactor.VersionConflict):
        store.write(k, {"n": 99}, 0)
    assert store.read(k) == ({"n": 2}, 2)  # nothing written by the losers
    assert issubclass(zactor.VersionConflict, zactor.StoreError)
    assert issubclass(zactor.StoreError, zactor.ActorError)


def test_clear(store):
    k = key(store, "c")
    store.write(k, 1, 0)
    with pytest.raises(zactor.VersionConflict):
        store.clear(k, version=5)
    assert store.read(k) == (1, 1)
    store.clear(k, version=1)
    assert store.read(k) is None
    store.clear(k)  # any version, also when absent
    assert store.write(k, 2, 0) == 1


def test_journal(store):
    j = key(store, "cart")
    assert store.highest(j) == 0
    assert store.replay(j) == []
    with pytest.raises(zactor.VersionConflict, match="highest is 0"):
        store.append(j, 2, "gap")
    for seq in (1, 2, 3):
        assert store.append(j, seq, ["added", seq]) == seq
    with pytest.raises(zactor.VersionConflict):
        store.append(j, 3, "again")
    assert store.replay(j) == [(1, ["added", 1]), (2, ["added", 2]), (3, ["added", 3])]
    assert store.replay(j, from_seq=2, max=1) == [(2, ["added", 2])]
    store.delete_to(j, 2)
    assert store.replay(j) == [(3, ["added", 3])]
    assert store.highest(j) == 3
    assert store.append(j, 4, "d") == 4


def test_fencing(store):
    k = key(store, "fenced")
    assert store.write(k, "a", 0, fence=5) == 1
    with pytest.raises(zactor.Fenced, match="fenced: token 3 < stored 5"):
        store.write(k, "stale", 1, fence=3)
    assert store.read(k) == ("a", 1)  # nothing written
    assert store.write(k, "b", 1, fence=5) == 2  # the holder itself
    assert store.write(k, "c", 2) == 3  # not fenced: as before
    with pytest.raises(zactor.VersionConflict):  # Fenced is a kind of conflict
        store.write(k, "stale", 3, fence=4)
    with pytest.raises(zactor.Fenced):
        store.clear(k, fence=1)
    store.clear(k, fence=7)
    assert store.read(k) is None
    with pytest.raises(zactor.Fenced, match="token 6 < stored 7"):  # the token outlives it
        store.write(k, "x", 0, fence=6)
    j = key(store, "fencedj")
    assert store.append(j, 1, "e1", fence=2) == 1
    with pytest.raises(zactor.Fenced):
        store.append(j, 2, "e2", fence=1)
    with pytest.raises(zactor.Fenced):
        store.delete_to(j, 1, fence=1)
    store.delete_to(j, 1, fence=3)
    assert store.replay(j) == []
    assert issubclass(zactor.Fenced, zactor.VersionConflict)
    for bad in (-1, 2**63, "1"):
        with pytest.raises(ValueError, match="fenc"):
            store.write(k, "x", 0, fence=bad)


def test_keys(store):
    store.write(("a:b", "c"), 1, 0)
    store.write(("a", "b:c"), 2, 0)
    store.write("a:b:c", 3, 0)  # a bare str is ("", id)
    assert store.read(("a:b", "c"))[0] == 1
    assert store.read(("a", "b:c"))[0] == 2
    assert store.read(("", "a:b:c"))[0] == 3
    with pytest.raises(TypeError, match="key"):
        store.read(42)
    with pytest.raises(TypeError, match="key"):
        store.read(("a", "b", "c"))
    with pytest.raises(ValueError, match="1..1024"):
        store.read("")
    with pytest.raises(ValueError, match="NUL"):
        store.read("a\x00b")


def test_bad_values_write_nothing(store):
    k = key(store, "bad")
    with pytest.raises(TypeError):
        store.write(k, object(), 0)
    with pytest.raises(TypeError):
        store.append(k, 1, {1: object()})
    assert store.read(k) is None
    assert store.highest(k) == 0
    with pytest.raises(ValueError, match="version"):
        store.write(k, 1, -1)
    with pytest.raises(ValueError, match="sequence numbers start at 1"):
        store.append(k, 0, "x")


def test_threads_write_concurrently(store):
    errors = []

    def writer(i):
        try:
            k = key(store, f"w{i}")
            for v in range(30):
                assert store.write(k, v, v) == v + 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for i in range(6):
        assert store.read(key(store, f"w{i}")) == (29, 30)


def test_sqlite_survives_reopen(tmp_path):
    url = f"sqlite://{tmp_path}/db.sqlite"
    with zactor.Store(url) as s:
        s.write("k", {"x": 1}, 0)
        s.append("j", 1, "e1")
    assert s.closed
    with zactor.Store(url) as s:
        assert s.read("k") == ({"x": 1}, 1)
        assert s.replay("j") == [(1, "e1")]
        assert s.scheme == "sqlite"


def test_open_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown store URL"):
        zactor.Store("mysql://x")
    with pytest.raises(ValueError, match="bad redis URL"):
        zactor.Store("redis://host:notaport")
    with pytest.raises(zactor.StoreError, match="cannot open"):
        zactor.Store(f"sqlite://{tmp_path}/no/such/dir/x.db")
    with pytest.raises(zactor.StoreUnavailable) as ei:
        zactor.Store(f"redis://127.0.0.1:{free_port()}/0")
    assert isinstance(ei.value, ConnectionError)
    with pytest.raises(ValueError, match="timeout"):
        zactor.Store("memory://", timeout=0)


def test_closed_store_refuses():
    s = zactor.Store("memory://")
    s.close()
    s.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        s.read("k")
    assert "closed" in repr(s)


def test_postgres_bad_password(pg_url):
    url = pg_url[0].replace(":pypw@", ":wrong@")
    with pytest.raises(zactor.StoreAuthError, match="password authentication failed") as ei:
        zactor.Store(url)
    assert isinstance(ei.value, PermissionError)


def test_redis_paused_times_out_then_recovers(redis_url):
    url, proc = redis_url
    with zactor.Store(url, timeout=0.3) as s:
        s.write("p", 1, 0)
        proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(zactor.StoreTimeout) as ei:
                s.read("p")
            assert isinstance(ei.value, TimeoutError)
        finally:
            proc.send_signal(signal.SIGCONT)
    with zactor.Store(url) as s:
        assert s.read("p") == (1, 1)


def test_refs_need_a_system():
    with zactor.System(workers=1) as system:
        ref = system.spawn(lambda msg: msg)
        with zactor.Store("memory://", system=system) as s:
            s.write("r", {"who": ref}, 0)
            (value, version) = s.read("r")
            assert value["who"] == ref
        with zactor.Store("memory://") as s:
            s.write("r", [ref], 0)
            with pytest.raises(TypeError, match="system="):
                s.read("r")


class Saver(zactor.Actor):
    def __init__(self, store):
        self.store = store

    def receive(self, msg):
        try:
            self.store.read("x")
        except RuntimeError as e:
            return str(e)
        return "no error"


def test_blocking_store_call_refused_in_actor():
    with zactor.System(workers=1) as system, zactor.Store("memory://") as s:
        a = system.spawn(Saver, s)
        assert "would block inside an actor" in a.ask("go", timeout=10)
