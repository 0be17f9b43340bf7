"""asyncio, Ctrl-C, interpreter exit, fork, deterministic mode, stress."""
import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import zactor
from conftest import Counter, wait_for


# ------------------------------------------------------------------ asyncio

def test_await_ask_async(system):
    ref = system.spawn(Counter, 1)

    async def main():
        values = await asyncio.gather(*(ref.ask_async(("echo", i)) for i in range(200)))
        return values, await ref.ask_async(("get",))

    values, got = asyncio.run(main())
    assert values == list(range(200)) and got == 1


def test_await_does_not_block_the_loop(system):
    ref = system.spawn(Counter)

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.create_task(ticker())
        assert await ref.ask_async(("sleep", 0.3)) == "slept"
        t.cancel()
        return ticks

    assert asyncio.run(main()) >= 10


def test_await_exception_and_timeout(system):
    ref = system.spawn(Counter)

    async def main():
        with pytest.raises(ValueError):
            await ref.ask_async(("boom",))
        with pytest.raises(zactor.AskTimeout):
            await ref.ask_async(("sleep", 0.5), timeout=0.05)

    asyncio.run(main())


def test_asyncio_cancel_cancels_the_ask(system):
    ref = system.spawn(Counter)

    async def main():
        fut = ref.ask_async(("sleep", 0.3))
        task = asyncio.ensure_future(_await(fut))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return fut

    fut = asyncio.run(main())
    assert fut.cancelled()


async def _await(f):
    return await f


# ------------------------------------------------------------ subprocesses

def _run(code, **kw):
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_ctrl_c_during_result():
    p = _run("""
        import time, zactor
        class Slow(zactor.Actor):
            def receive(self, msg):
                time.sleep(msg)
        with zactor.System(workers=2) as s:
            ref = s.spawn(Slow)
            fut = ref.ask_async(3.0)
            print("ready", flush=True)
            t0 = time.monotonic()
            try:
                fut.result()
            except KeyboardInterrupt:
                print("interrupted after %.2f" % (time.monotonic() - t0), flush=True)
            try:
                ref.ask(3.0, timeout=30)
            except KeyboardInterrupt:
                print("ask interrupted", flush=True)
    """)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    line = p.stdout.readline()
    assert line.startswith("interrupted after"), (line, p.stderr.read())
    assert float(line.split()[-1]) < 1.0
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=20)
    assert "ask interrupted" in out, err
    assert p.returncode == 0, err


def test_ctrl_c_during_shutdown():
    """A drain that would take ~10 s: Ctrl-C makes shutdown stop without it,
    raise KeyboardInterrupt, and the leftovers become dead letters."""
    p = _run("""
        import time, zactor
        class Slow(zactor.Actor):
            def receive(self, msg):
                time.sleep(0.05)
        s = zactor.System(workers=2)
        dead = []
        s.on_dead_letter(dead.append)
        ref = s.spawn(Slow)
        for i in range(200):
            ref.tell(i)
        print("shutting down", flush=True)
        t0 = time.monotonic()
        try:
            s.shutdown(timeout=60)
            print("not interrupted", flush=True)
        except KeyboardInterrupt:
            print("interrupted after %.2f" % (time.monotonic() - t0), flush=True)
        print("closed", s.closed, "dead letters", len(dead) > 100, flush=True)
    """)
    assert p.stdout.readline().strip() == "shutting down"
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    lines = out.splitlines()
    assert lines and lines[0].startswith("interrupted after"), (out, err)
    assert float(lines[0].split()[-1]) < 3.0
    assert "closed True dead letters True" in out, (out, err)
    assert p.returncode == 0, err


def test_exit_with_live_actors():
    p = _run("""
        import zactor
        class Busy(zactor.Actor):
            def __init__(self, peer=None):
                self.peer = peer
            def receive(self, msg):
                if self.peer is not None:
                    try:
                        self.peer.tell(msg + 1)
                    except zactor.ActorDeadError:
                        # at exit both top-level actors are stopped, in no set
                        # order: the peer may go first. A failure here would
                        # (by design) run on_failure instead of on_stop.
                        pass
            def on_stop(self):
                print("stopped", flush=True)
        s = zactor.System(workers=2)
        a = s.spawn(Busy)
        b = s.spawn(Busy, a)
        s.send_interval(0.001, b, 0)
        for i in range(1000):
            b.tell(i)
        print("leaving", flush=True)
        # no shutdown: the exit hook must stop and join the system
    """)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert out.split() == ["leaving", "stopped", "stopped"], (out, err)
    assert "Fatal" not in err and "Traceback" not in err, err


def test_fork_child_gets_clear_error():
    p = _run("""
        import os, zactor
        s = zactor.System(workers=2)
        ref = s.spawn(lambda m: m)
        assert ref.ask(1) == 1
        pid = os.fork()
        if pid == 0:
            try:
                ref.tell(1)
                os._exit(3)
            except RuntimeError as e:
                ok = "fork" in str(e)
            # a fresh system works in the child
            with zactor.System(workers=1) as s2:
                r2 = s2.spawn(lambda m: m * 2)
                ok = ok and r2.ask(4) == 8
            os._exit(0 if ok else 4)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
        assert ref.ask(2) == 2
        s.shutdown()
    """)
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert "child 0" in out, (out, err)


# ------------------------------------------------------- deterministic mode

def _scenario():
    order = []

    class Node(zactor.Actor):
        def __init__(self, name):
            self.name = name

        def receive(self, msg):
            order.append((self.name, msg))
            hops, peers = msg[0], msg[1]
            if hops:
                for p in peers:
                    p.tell((hops - 1, peers))
            return self.name

    s = zactor.System(workers=0)
    nodes = [s.spawn(Node, f"n{i}") for i in range(3)]
    nodes[0].tell((3, nodes))
    assert s.workers == 0
    s.run()
    last = nodes[1].ask((0, []))
    s.shutdown()
    return [(n, h) for n, (h, _) in order], last


def test_manual_mode_is_deterministic():
    a, la = _scenario()
    b, lb = _scenario()
    assert a == b and la == lb == "n1"
    assert len(a) == 1 + 3 + 9 + 27 + 1


def test_manual_mode_tell_waits_for_run():
    with zactor.System(workers=0) as s:
        seen = []
        ref = s.spawn(lambda m: seen.append(m))
        ref.tell(1)
        assert seen == []
        assert s.run() >= 1
        assert seen == [1]
        assert ref.ask(2) is None and seen == [1, 2]
        with pytest.raises(RuntimeError):
            zactor.System(workers=1).run()


# ------------------------------------------------------------------ stress

def test_stress_many_python_actors():
    class Relay(zactor.Actor):
        def __init__(self):
            self.count = 0

        def receive(self, msg):
            if msg == "count":
                return self.count
            self.count += 1
            hops, ring = msg
            if hops:
                ring[hops % len(ring)].tell((hops - 1, ring))

    with zactor.System(workers=2) as s:
        ring = [s.spawn(Relay) for _ in range(300)]
        for i in range(50):
            ring[i].tell((200, ring))
        total = 50 * 201
        assert wait_for(lambda: sum(r.ask("count") for r in ring) == total, timeout=30)
        m = s.metrics()
        assert m["dead_letters"] == 0
