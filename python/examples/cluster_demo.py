"""The cluster demo (`make demo-cluster`): one word count on three nodes.

Starts a redis-server (a free port, a temporary directory) and three cluster
members: this process and another Python process (both serve a Python
word-count actor), and a Lua process (a Lua word-count actor). This process
also coordinates: it looks the workers up by name across the cluster, sends
them chunks of the corpus (the main demo's), kills the other Python node with
kill -9 part-way, and finishes on the survivors: the asks that were on the
dead node fail with NodeDownError as soon as the cluster declares it dead, and
their chunks are sent again. The merged count is checked against a
single-threaded count of the same text: no chunk lost, none counted twice.
Everything it started is stopped at the end.

    python python/examples/cluster_demo.py [--mb 1] [--chunks 48]
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import zactor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from wordcount_demo import make_corpus  # noqa: E402  (the main demo's corpus)

CLUSTER = "demo"


class WordCounter(zactor.Actor):
    def receive(self, msg):
        _, text = msg
        return dict(collections.Counter(re.findall(r"[a-z]+", text.lower())))


def serve(url: str, name: str) -> None:
    """A Python member: serve wc@<name> until stdin closes."""
    with zactor.Cluster(url, name=CLUSTER, node_name=name) as cluster, \
            zactor.System(workers=2, cluster=cluster) as system:
        system.spawn(WordCounter, name="wc@" + name)
        print("READY", system.node.id, flush=True)
        sys.stdin.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chunks_of(text: str, n: int) -> list:
    """n chunks cut at whitespace, so no word is split."""
    out, start, size = [], 0, max(1, len(text) // n)
    while start < len(text):
        end = min(len(text), start + size)
        while end < len(text) and not text[end].isspace():
            end += 1
        out.append(text[start:end])
        start = end
    return out


def start(cmd, what):
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 30
    line = ""
    while not line.startswith("READY") and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line and p.poll() is not None:
            break
    if not line.startswith("READY"):
        p.kill()
        raise SystemExit(f"{what} did not start")
    return p


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=1.0)
    ap.add_argument("--chunks", type=int, default=48)
    ap.add_argument("--serve", nargs=2, metavar=("URL", "NAME"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0

    text = make_corpus(os.path.join(ROOT, "build", "demo", f"corpus-{args.mb}mb.txt"), args.mb)
    chunks = chunks_of(text, args.chunks)
    tmp = tempfile.mkdtemp(prefix="za-demo-cluster-")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    procs = []
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--dir", tmp, "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    procs.append(redis)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("redis-server did not start")
                time.sleep(0.05)
        print(f"redis-server on 127.0.0.1:{port}")
        py2 = start([sys.executable, os.path.abspath(__file__), "--serve", url, "py-2"], "py-2")
        procs.append(py2)
        lua = start(["lua5.4", "lua/examples/cluster_node.lua", url, CLUSTER, "lua-1"], "lua-1")
        procs.append(lua)

        with zactor.Cluster(url, name=CLUSTER, node_name="py-1") as cluster, \
                zactor.System(workers=2, cluster=cluster) as system:
            system.on_node_event(lambda e: print(f"  event: {type(e).__name__} {e.node.name} "
                                                 f"(node {e.node.id})"))
            system.spawn(WordCounter, name="wc@py-1")
            workers = {}
            deadline = time.monotonic() + 10
            while len(workers) < 3 and time.monotonic() < deadline:
                for name in ("py-1", "py-2", "lua-1"):
                    ref = system.lookup("wc@" + name)
                    if ref is not None:
                        workers[name] = ref
                time.sleep(0.05)
            print("members:", ", ".join(f"{n.name} (node {n.id})" for n in system.nodes()))
            print(f"{len(chunks)} chunks of ~{len(text) // len(chunks) // 1024} KB to "
                  f"{', '.join(sorted(workers))}")

            total = collections.Counter()
            todo = collections.deque(range(len(chunks)))
            inflight = {}  # future -> (chunk, worker name)
            done_by = collections.Counter()
            resent = 0
            killed = False
            t0 = time.monotonic()
            order = ["py-1", "py-2", "lua-1"]
            rr = 0
            while todo or inflight:
                live = [n for n in order if n in workers]
                while todo and len(inflight) < 2 * len(live):
                    name = live[rr % len(live)]
                    rr += 1
                    i = todo.popleft()
                    inflight[workers[name].ask_async(("count", chunks[i]), timeout=30.0)] = (i, name)
                for fut in [f for f in inflight if f.done()]:
                    i, name = inflight.pop(fut)
                    try:
                        total.update(fut.result())
                        done_by[name] += 1
                    except zactor.ActorDeadError as e:  # NodeDownError is one
                        print(f"  chunk {i} on {name} failed ({type(e).__name__}: {e}); sent again")
                        workers.pop(name, None)
                        todo.append(i)
                        resent += 1
                if not killed and sum(done_by.values()) >= len(chunks) // 3:
                    killed = True
                    print(f"kill -9 py-2 (pid {py2.pid}) after {sum(done_by.values())} chunks")
                    py2.kill()
                    py2.wait()
                time.sleep(0.001)
            took = time.monotonic() - t0

        expect = collections.Counter(re.findall(r"[a-z]+", text.lower()))
        ok = total == expect
        print(f"done in {took:.2f} s: chunks per node {dict(done_by)}, {resent} sent again")
        print(f"{sum(total.values())} words, {len(total)} distinct: "
              f"{'exact, no chunk lost' if ok else 'MISMATCH'}")
        return 0 if ok else 1
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    p.stdin and p.stdin.close()
                except OSError:
                    pass
                p.kill()
            p.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
