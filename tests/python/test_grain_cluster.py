"""Grains across a cluster (issue 13, "In a cluster"): node processes on
127.0.0.1 serving a counter grain written in C (tests/native/grain_node.c,
driven through cffi, so this needs no language binding of grains), a
redis-server this module starts on a free port in a temporary directory for
the membership, the leases and the grains' state. What a user must see:

- a grain is active on one node at a time, whichever node a message comes from;
- after kill -9 of its node the next message activates it elsewhere from its
  stored state: no acknowledged increment is lost;
- a join moves about 1/N of the active grains, and only to the new node;
- a node paused past the suspicion timeout loses its grains to another node;
  when it resumes, its writes are refused as fenced and it deactivates.

Every child is killed at the end (SIGCONT first, for a stopped one); every
wait is bounded.
"""
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import pytest

from conftest import free_port, start_redis, wait_for

cffi = pytest.importorskip("cffi")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SUSPECT_MS = int(os.environ.get("ZA_GRAIN_TEST_SUSPECT_MS", "1500"))  # 1.5 s: the test stays short

NODE_SCRIPT = textwrap.dedent(
    """
    import sys
    import cffi

    libzactor, grain_node, url, cluster, name, storage, suspect = sys.argv[1:8]
    ffi = cffi.FFI()
    ffi.cdef('''
    int gn_start(const char *, const char *, const char *, const char *, unsigned, char *, int);
    int gn_inc(const char *, long long *, char *, int);
    int gn_get(const char *, long long *, char *, int);
    int gn_active(char *, int);
    void gn_stats(long long out[5]);
    int gn_nodes(void);
    void gn_stop(void);
    ''')
    ffi.dlopen(libzactor, ffi.RTLD_NOW | ffi.RTLD_GLOBAL)  # za_* for grain_node.so
    node = ffi.dlopen(grain_node)
    err = ffi.new("char[]", 512)
    me = node.gn_start(url.encode(), cluster.encode(), name.encode(), storage.encode(),
                       int(suspect), err, 512)
    if me <= 0:
        print("FAILED", me, ffi.string(err).decode(), flush=True)
        sys.exit(1)
    print("READY", me, flush=True)
    buf = ffi.new("char[]", 1 << 16)
    out = ffi.new("long long *")
    stats = ffi.new("long long[5]")
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd in ("inc", "get"):
            rc = (node.gn_inc if cmd == "inc" else node.gn_get)(args[0].encode(), out, err, 512)
            if rc == 0:
                print("OK", out[0], flush=True)
            else:
                print("ERR", rc, ffi.string(err).decode(errors="replace"), flush=True)
        elif cmd == "active":
            n = node.gn_active(buf, 1 << 16)
            print("OK", n, ffi.string(buf).decode(), flush=True)
        elif cmd == "stats":
            node.gn_stats(stats)
            print("OK", *list(stats), flush=True)
        elif cmd == "nodes":
            print("OK", node.gn_nodes(), flush=True)
        elif cmd == "quit":
            break
    node.gn_stop()
    print("BYE", flush=True)
    """
)


@pytest.fixture(scope="module")
def redis_port():
    tmp = tempfile.mkdtemp(prefix="za-grain-cluster-")
    port = free_port()
    proc = None
    try:
        # durable: a state write acknowledged by the store survives
        proc = start_redis(tmp, port, durable=True)
        yield port
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def binaries(tmp_path_factory):
    """libzactor.so (make lib, so it matches this checkout) and grain_node.so."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "lib"],
                       capture_output=True, text=True)
    so = os.path.join(ROOT, "build", "release", "libzactor.so")
    assert r.returncode == 0 and os.path.exists(so), "cannot build libzactor.so: " + r.stderr[-800:]
    out = tmp_path_factory.mktemp("grain-node") / "grain_node.so"
    # no -l: its za_* calls resolve to the libzactor the node loads first
    subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Werror", "-shared", "-fPIC",
                    "-I", os.path.join(ROOT, "csrc", "include"),
                    os.path.join(ROOT, "tests", "native", "grain_node.c"), "-o", str(out)],
                   check=True)
    return so, str(out)


class Node:
    """One node process; cmd() sends a line and waits (bounded) for its answer."""

    def __init__(self, proc, name):
        self.proc, self.name = proc, name
        self.lines = queue.Queue()
        self.id = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def cmd(self, text, timeout=30.0):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        line = self.line(timeout)
        assert line is not None, f"{self.name}: no answer to {text!r}"
        return line.split(" ", 2)

    def inc(self, key):
        """(True, count) or (False, error text)."""
        ans = self.cmd("inc " + key)
        return (True, int(ans[1])) if ans[0] == "OK" else (False, " ".join(ans[1:]))

    def get(self, key):
        ans = self.cmd("get " + key)
        assert ans[0] == "OK", f"{self.name}: get {key}: {ans}"
        return int(ans[1])

    def active(self):
        ans = self.cmd("active")
        assert ans[0] == "OK"
        return set(k for k in (ans[2] if len(ans) > 2 else "").split(",") if k)

    def stats(self):
        ans = self.cmd("stats")
        f, c, m, a, d = (int(x) for x in " ".join(ans[1:]).split())
        return {"fenced": f, "conflict": c, "moved": m, "activations": a, "deactivated": d}

    def nodes(self):
        return int(self.cmd("nodes")[1])


@pytest.fixture
def cluster(tmp_path, redis_port, binaries):
    """start(name) -> Node, all in one cluster named after the test."""
    script = tmp_path / "grain_node.py"
    script.write_text(NODE_SCRIPT)
    name = "g" + str(os.getpid()) + "-" + tmp_path.name[-12:]
    url = f"redis://127.0.0.1:{redis_port}/0"
    storage = f"redis://127.0.0.1:{redis_port}/1"
    started = []

    def start(node_name):
        p = subprocess.Popen([sys.executable, str(script), binaries[0], binaries[1], url, name,
                              node_name, storage, str(SUSPECT_MS)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
        started.append(p)
        n = Node(p, node_name)
        line = n.line(30)
        assert line and line.startswith("READY"), f"node {node_name} did not start: {line}"
        n.id = int(line.split()[1])
        return n

    yield start
    for p in started:
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
            p.kill()
        p.wait(timeout=10)


def stopped(pid):
    """True once every thread of pid is stopped (SIGSTOP is delivered
    asynchronously: a thread may still finish what it was doing)."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
        return True
    except OSError:
        return False


def start_nodes(start, names):
    nodes = [start(n) for n in names]
    assert wait_for(lambda: all(n.nodes() == len(nodes) for n in nodes), 15, 0.05), \
        "the nodes did not all see each other"
    return nodes


def host_of(nodes, key):
    """The one node where `key` is active (asserts there is exactly one)."""
    where = [n for n in nodes if key in n.active()]
    assert len(where) == 1, f"{key} active on {[n.name for n in where]}"
    return where[0]


def inc_until_ok(node, key, limit_s=30.0):
    """Retry an increment until one is acknowledged: (count, attempts, errors)."""
    errors = []
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        ok, v = node.inc(key)
        if ok:
            return v, len(errors) + 1, errors
        errors.append(v)
        time.sleep(0.05)
    pytest.fail(f"{node.name}: no increment of {key} succeeded in {limit_s} s: {errors[-3:]}")


def test_one_activation_from_every_node_and_takeover_after_kill(cluster):
    nodes = start_nodes(cluster, ["a", "b", "c"])
    acked = []
    for i in range(30):  # from every node in turn: one counter, one activation
        ok, v = nodes[i % 3].inc("k")
        assert ok, v
        acked.append(v)
    assert acked == list(range(1, 31))
    host = host_of(nodes, "k")
    for n in nodes:  # every node reads the same count
        assert n.get("k") == 30

    # kill -9 the node serving it: the next message activates it elsewhere
    # from the stored state
    t0 = time.monotonic()
    host.proc.kill()
    host.proc.wait(timeout=10)
    survivors = [n for n in nodes if n is not host]
    v, attempts, errors = inc_until_ok(survivors[0], "k")
    takeover = time.monotonic() - t0
    print(f"\ntakeover after kill -9: {takeover:.2f} s ({attempts} attempts)")
    # failures were refusals (the home was dead), never applied increments
    assert all("node" in e or "lease" in e for e in errors), errors
    assert v == 31, f"an acknowledged increment was lost or one counted twice: {v}"
    new_host = host_of(survivors, "k")
    assert new_host is not host
    # the other survivor may not have read the verdict yet: its asks to the
    # dead node fail (node-down) until it does, never counted
    v, _, errors = inc_until_ok(survivors[1], "k")
    assert v == 32, v
    assert all("node" in e for e in errors), errors
    assert all(n.get("k") == 32 for n in survivors)


def test_join_moves_a_fair_share_only_to_the_new_node(cluster):
    nodes = start_nodes(cluster, ["a", "b", "c"])
    keys = [f"g{i}" for i in range(300)]
    for k in keys:
        assert nodes[0].get(k) == 0
    before = [n.active() for n in nodes]
    assert sum(len(s) for s in before) == 300
    assert set().union(*before) == set(keys)  # each active once
    assert all(len(s) > 50 for s in before), [len(s) for s in before]  # spread by placement

    d = cluster("d")
    nodes.append(d)
    assert wait_for(lambda: all(n.nodes() == 4 for n in nodes), 15, 0.05)

    # the grains whose home moved are deactivated on the old nodes
    def settled():
        now = [n.active() for n in nodes[:3]]
        deact = sum(n.stats()["deactivated"] for n in nodes[:3])
        return now if sum(len(s) for s in now) + deact == 300 else None
    after = wait_for(settled, 15, 0.1)
    assert after, "the moved grains were not deactivated"
    time.sleep(0.5)  # nothing more moves once settled
    after = [n.active() for n in nodes[:3]]
    moved = set(keys) - set().union(*after)
    print(f"\njoin 3 -> 4 nodes moved {len(moved)} of 300 grains (expected ~75)")
    assert 45 <= len(moved) <= 105, len(moved)
    for b, a in zip(before, after):
        assert a <= b  # nothing moved between old nodes

    # their next message activates them at their new home, the new node
    for k in keys:
        assert nodes[1].get(k) == 0
    assert d.active() == moved
    assert [n.active() for n in nodes[:3]] == after


def test_paused_node_is_taken_over_and_its_writes_are_fenced(cluster):
    nodes = start_nodes(cluster, ["a", "b", "c"])
    for i in range(5):
        ok, v = nodes[0].inc("f")
        assert ok and v == i + 1
    host = host_of(nodes, "f")
    others = [n for n in nodes if n is not host]

    # SIGSTOP past the suspicion timeout: the others declare it dead and the
    # next message activates the grain on one of them (the lease is free)
    host.proc.send_signal(signal.SIGSTOP)
    try:
        # what it was doing when stopped must not finish during the pause
        # (an ask in flight could otherwise be applied, its answer lost)
        assert wait_for(lambda: stopped(host.proc.pid), 10, 0.001)
        t0 = time.monotonic()
        v, attempts, errors = inc_until_ok(others[0], "f")
        print(f"\ntakeover after SIGSTOP: {time.monotonic() - t0:.2f} s ({attempts} attempts)")
        assert v == 6, (v, errors)
        # the other survivor may still send to the paused node until it reads
        # the verdict: such an ask fails (node-down) and, if the paused node
        # ever handles it, its write is fenced
        v, _, errors = inc_until_ok(others[1], "f")
        assert v == 7, (v, errors)
        assert all("node" in e for e in errors), errors
        assert host_of(others, "f") is not host
    finally:
        host.proc.send_signal(signal.SIGCONT)

    # resumed, the old host learns it was expelled and deactivates its
    # activation, whose save is refused: a newer lease fenced it
    assert wait_for(lambda: host.stats()["fenced"] >= 1, 15, 0.1), host.stats()
    assert wait_for(lambda: not host.active(), 15, 0.1)
    ok, err = host.inc("f")  # an expelled node activates nothing
    assert not ok, err
    # no update lost, none applied twice: the count is what was acknowledged
    assert all(n.get("f") == 7 for n in others)
