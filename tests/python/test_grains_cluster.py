"""Python grains in a cluster: two Python node processes share a Redis
(membership, leases) and a redis:// store. Whichever node a message comes
from, a grain is active on exactly one node (its rendezvous home), its state
is one sequence of saves, and a Python grain class works the same on every
node. The redis-server is started by test_cluster.py's fixture; every child
is killed at the end; every wait is bounded.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import zactor

from conftest import wait_for
from test_cluster import redis_url  # noqa: F401  (the module's redis-server fixture)

NODE_SCRIPT = textwrap.dedent(
    """
    import sys
    import time
    import zactor

    class Counter(zactor.Grain):
        grain_type = "t.Counter"

        async def receive(self, msg):
            self.state["n"] = self.state.get("n", 0) + 1
            await self.save()
            return [self.state["n"], zactor_node]

    url, name = sys.argv[1:3]
    with zactor.Cluster(url, name="grains", node_name=name) as cl, \\
            zactor.System(workers=2, cluster=cl, storage=url, grains=[Counter]) as system:
        zactor_node = system.node.id
        print("READY", system.node.id, flush=True)
        for line in sys.stdin:
            cmd, *args = line.split()
            if cmd == "inc":
                print("OK", *system.grain(Counter, args[0]).ask("inc", timeout=10.0), flush=True)
            elif cmd == "members":  # wait (bounded) until this node sees n members
                deadline = time.monotonic() + 15
                while len(system.nodes()) < int(args[0]) and time.monotonic() < deadline:
                    time.sleep(0.02)
                print("OK", len(system.nodes()), flush=True)
            elif cmd == "active":
                print("OK", " ".join(sorted(g.key for g in system.grains())) or "-", flush=True)
    """
)

zactor_node = 0


class Counter(zactor.Grain):
    grain_type = "t.Counter"  # the same grain type as the node process's class

    async def receive(self, msg):
        self.state["n"] = self.state.get("n", 0) + 1
        await self.save()
        return [self.state["n"], zactor_node]


def test_python_grains_have_one_home_across_python_nodes(redis_url, tmp_path):  # noqa: F811
    global zactor_node
    script = tmp_path / "node.py"
    script.write_text(NODE_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), redis_url, "g-2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY"), f"node did not start: {line!r} rc={proc.poll()}"
        other = int(line.split()[1])

        def node(cmd):
            proc.stdin.write(cmd + "\n")
            proc.stdin.flush()
            reply = proc.stdout.readline().split()
            assert reply and reply[0] == "OK", reply
            return reply[1:]

        with zactor.Cluster(redis_url, name="grains", node_name="g-1") as cl, \
                zactor.System(workers=2, cluster=cl, storage=redis_url,
                              grains=[Counter]) as system:
            zactor_node = system.node.id
            assert wait_for(lambda: len(system.nodes()) == 2, 15)
            assert node("members 2") == ["2"]  # both views agree before any grain is placed
            keys = [f"k{i}" for i in range(24)]
            homes = {}
            for k in keys:  # first from here, then from the other node
                n, home = system.grain(Counter, k).ask("inc", timeout=10.0)
                assert n == 1
                homes[k] = home
                n2, home2 = (int(x) for x in node(f"inc {k}"))
                assert (n2, home2) == (2, home)  # one state, one home
            assert set(homes.values()) == {system.node.id, other}  # both nodes host some
            here = {g.key for g in system.grains()}
            there = set(node("active")) - {"-"}
            assert here == {k for k in keys if homes[k] == system.node.id}
            assert there == {k for k in keys if homes[k] == other}
            assert not here & there  # never active on both
            # a third round from here: still counting in the same state
            assert [system.grain(Counter, k).ask("inc", timeout=10.0)[0] for k in keys] == [3] * 24
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
