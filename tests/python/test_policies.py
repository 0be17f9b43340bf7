"""Supervision strategies and restart policies the first suite left out
(rest_for_one, stop, escalate, transient, backoff), message priorities, and
the glue's newer paths: the sliced blocking ask, actor recognition through
the runtime (refs from lookup), cells dropped at an actor's final stop, and
`await` (the poll fast path, parked tasks, several awaiters, cancellation)."""
import asyncio
import threading
import time

import pytest

import zactor
from conftest import Counter, wait_for


class Kid(zactor.Actor):
    """A child that records each start in a shared list (objects are passed
    by reference between Python actors, so the list is the test's own)."""

    def __init__(self, name, log):
        self.name = name
        log.append(name)

    def on_failure(self, exc):
        pass

    def receive(self, msg):
        if msg == "boom":
            raise ValueError(self.name)
        if msg == "stop":
            self.context.stop()
            return None
        return (self.name, self.context.restarts)


def make_parent(strategy):
    class P(zactor.Actor):
        def __init__(self, log):
            self.log = log
            log.append("parent")
            self.kids = []

        def on_failure(self, exc):
            pass

        def receive(self, msg):
            if msg == "kids":
                if not self.kids:
                    self.kids = [self.context.spawn(Kid, n, self.log) for n in ("a", "b", "c")]
                return self.kids
            if msg == "restarts":
                return self.context.restarts
            return msg

    P.strategy = strategy
    P.__qualname__ = P.__name__ = f"Parent_{strategy}"
    return P


def test_rest_for_one_restarts_the_failed_child_and_later_ones(system):
    log = []
    p = system.spawn(make_parent("rest_for_one"), log)
    a, b, c = p.ask("kids")
    for r in (a, b, c):
        r.ask("x")
    b.tell("boom")
    assert wait_for(lambda: c.ask("x")[1] == 1)
    assert b.ask("x") == ("b", 1)
    assert a.ask("x") == ("a", 0)  # spawned before b: untouched
    assert log.count("a") == 1 and log.count("b") == 2 and log.count("c") == 2


def test_stop_strategy_stops_the_failed_child_only(system):
    log = []
    p = system.spawn(make_parent("stop"), log)
    a, b, c = p.ask("kids")
    b.tell("boom")
    assert b.join(timeout=2.0)
    with pytest.raises(zactor.ActorDeadError):
        b.ask("x")
    assert a.ask("x") == ("a", 0) and c.ask("x") == ("c", 0)
    assert p.ask("restarts") == 0 and log.count("b") == 1


def test_escalate_fails_the_parent(system):
    log = []
    p = system.spawn(make_parent("escalate"), log)
    a, b, c = p.ask("kids")
    b.tell("boom")
    # the parent fails in turn: the system restarts it (its children with it)
    assert wait_for(lambda: p.ask("restarts") == 1)
    assert log.count("parent") == 2
    for r in (a, b, c):
        assert r.join(timeout=2.0)
    assert len(p.ask("kids")) == 3  # the new incarnation spawns new children


def test_transient_restarts_on_failure_not_after_a_normal_stop(system):
    log = []

    class Sup(zactor.Actor):
        def receive(self, msg):
            return self.context.spawn(Kid, "t", log, restart="transient")

    kid = system.spawn(Sup).ask("spawn")
    kid.tell("boom")
    assert wait_for(lambda: kid.ask("x") == ("t", 1))
    kid.tell("stop")
    assert kid.join(timeout=2.0)
    time.sleep(0.05)
    assert not kid.is_alive() and log == ["t", "t"]


def test_backoff_delays_restarts(system):
    starts = []

    class Flaky(zactor.Actor):
        def __init__(self):
            starts.append(time.monotonic())

        def on_failure(self, exc):
            pass

        def receive(self, msg):
            raise RuntimeError("again")

    ref = system.spawn(Flaky, backoff=0.1, max_restarts=5)
    wait_for(lambda: len(starts) == 1)
    ref.tell("x")
    assert wait_for(lambda: len(starts) == 2, timeout=3.0)
    # first delay: 100 ms +-25% jitter
    assert 0.06 <= starts[1] - starts[0] <= 1.0
    ref.tell("x")
    assert wait_for(lambda: len(starts) == 3, timeout=3.0)
    # doubled for the second restart within the window
    assert starts[2] - starts[1] >= 0.12
    with pytest.raises(TypeError):
        system.spawn(Flaky, backoff=(0.1, "x"))


def test_priorities_are_served_high_first():
    got = []

    class Rec(zactor.Actor):
        def receive(self, msg):
            got.append(msg)

    with zactor.System(workers=0) as s:  # deterministic: nothing runs before run()
        ref = s.spawn(Rec)
        s.run()
        for i in range(3):
            ref.tell(("low", i), priority="low")
            ref.tell(("normal", i))
            ref.tell(("high", i), priority="high")
        s.run()
        assert [m[0] for m in got] == ["high"] * 3 + ["normal"] * 3 + ["low"] * 3
        assert [m[1] for m in got] == [0, 1, 2] * 3
        with pytest.raises(ValueError):
            ref.tell(1, priority="urgent")
        with pytest.raises(TypeError):
            ref.tell(1, prio="high")
        with pytest.raises(TypeError):
            ref.tell()
        with pytest.raises(TypeError):
            ref.tell(1, 2)


def test_blocking_ask_timeout_then_late_reply_is_a_dead_letter(system):
    letters = []
    system.on_dead_letter(letters.append)
    ref = system.spawn(Counter)
    t0 = time.monotonic()
    with pytest.raises(zactor.AskTimeout):
        ref.ask(("sleep", 0.3), timeout=0.05)
    assert time.monotonic() - t0 < 0.25
    with pytest.raises(zactor.AskTimeout):
        ref.ask(("sleep", 0.01), timeout=0)
    assert wait_for(lambda: sum(d.reason == "late_reply" for d in letters) == 2)
    assert ref.ask(("echo", 7), timeout=None) == 7  # None: the default timeout


def test_blocking_ask_from_many_threads(system):
    refs = [system.spawn(Counter) for _ in range(3)]
    errors = []

    def worker(k):
        try:
            for i in range(300):
                assert refs[(k + i) % 3].ask(("echo", (k, i))) == (k, i)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_refs_from_lookup_know_their_actor(system):
    class Slow(zactor.Actor):
        def __init__(self):
            self.n = 0

        def receive(self, msg):
            if msg == "n":
                return self.n
            time.sleep(0.002)
            self.n += 1

    system.spawn(Slow, name="slow", capacity=2, on_full="block", block_timeout=5.0)
    ref = system.lookup("slow")  # a new ref: kind and mailbox found through the runtime
    obj = object()
    for _ in range(30):  # blocks on the full mailbox without holding the GIL
        ref.tell(obj)
    assert wait_for(lambda: ref.ask("n") == 30)
    # and a ref made from the id alone
    assert system.ref(ref.id).ask("n") == 30


def test_cells_go_at_the_final_stop_but_not_on_restart(system):
    base = system._cells()
    refs = [system.spawn(Counter) for _ in range(40)]
    for r in refs:
        r.ask(("get",))
    assert system._cells() == base + 40
    refs[0].tell(("boom",))  # fails and restarts: the cell stays
    assert wait_for(lambda: refs[0].ask(("get",)) == 0)
    assert system._cells() == base + 40
    for r in refs:
        r.stop()
    for r in refs:
        assert r.join(timeout=2.0)
    assert wait_for(lambda: system._cells() == base)


def test_cell_of_a_failed_actor_outlives_it_for_watchers(system):
    class Watcher(zactor.Actor):
        def __init__(self):
            self.down = None

        def receive(self, msg):
            if isinstance(msg, zactor.Terminated):
                self.down = msg
            elif msg == "down":
                return self.down
            else:
                self.context.watch(msg)

    class Fragile(zactor.Actor):
        def on_failure(self, exc):
            pass

        def receive(self, msg):
            raise KeyError("fragile")

    w = system.spawn(Watcher)
    f = system.spawn(Fragile, restart="temporary")
    w.ask(f)
    f.tell("x")
    down = wait_for(lambda: w.ask("down"))
    assert down.ref == f and isinstance(down.exc, KeyError)


# ------------------------------------------------------------------ await

class Echo(zactor.Actor):
    def receive(self, msg):
        if isinstance(msg, tuple) and msg[0] == "sleep":
            time.sleep(msg[1])
            return "slept"
        return msg


def test_await_fast_path_and_parked_tasks(system):
    ref = system.spawn(Echo)

    async def main():
        for i in range(200):  # answered while the await polls: no suspension
            assert await ref.ask_async(i) == i
        for _ in range(6):  # slow answers: the task parks on the loop
            assert await ref.ask_async(("sleep", 0.005)) == "slept"
        for i in range(50):  # and the poll comes back
            assert await ref.ask_async(i) == i

    asyncio.run(main())


def test_several_tasks_await_one_future(system):
    ref = system.spawn(Echo)

    async def main():
        fut = ref.ask_async(("sleep", 0.05))

        async def wait():
            return await fut

        return await asyncio.gather(wait(), wait(), wait())

    assert asyncio.run(main()) == ["slept"] * 3


def test_await_from_loops_in_several_threads(system):
    ref = system.spawn(Echo)
    out = []

    def run():
        async def main():
            return await asyncio.gather(*(ref.ask_async(("sleep", 0.001)) for _ in range(5)))

        out.append(asyncio.run(main()))

    ts = [threading.Thread(target=run) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert out == [["slept"] * 5] * 3


def test_await_in_manual_mode_runs_the_actors():
    with zactor.System(workers=0) as s:
        ref = s.spawn(Echo)

        async def main():
            return [await ref.ask_async(i) for i in range(5)]

        assert asyncio.run(main()) == list(range(5))


def test_future_await_iterator_protocol(system):
    ref = system.spawn(Echo)
    fut = ref.ask_async(("sleep", 0.2))
    it = fut.__await__()
    assert iter(it) is it
    with pytest.raises(RuntimeError):
        next(it)  # parks: needs a running event loop
    with pytest.raises(ValueError):
        it.throw(ValueError("thrown in"))
    assert fut.cancelled()
    done = ref.ask_async(5)
    assert done.result(timeout=2.0) == 5
    it = done.__await__()
    with pytest.raises(StopIteration) as e:
        next(it)
    assert e.value.value == 5
    it.close()


def test_manual_mode_ask_errors_and_timeouts():
    with zactor.System(workers=0) as s:
        ref = s.spawn(Counter)
        with pytest.raises(ValueError):
            ref.ask(("boom",))  # the actor's exception; it restarts
        assert ref.ask(("get",)) == 0
        slow = s.spawn(Counter, backoff=0.5)
        with pytest.raises(ValueError):
            slow.ask(("boom",))
        with pytest.raises(zactor.AskTimeout):  # suspended until its restart
            slow.ask(("get",), timeout=0.05)
        assert slow.ask(("get",), timeout=5.0) == 0
        ref.stop()
        assert ref.join(timeout=2.0)
        with pytest.raises(zactor.ActorDeadError):
            ref.ask(("get",))


def test_block_mailbox_full_inside_a_python_actor_fails_fast(system):
    """A Python actor cannot wait for room in another Python actor's mailbox
    (that actor cannot run while the sender's turn holds the GIL): the tell
    fails at once with MailboxFull instead of stalling for block_timeout."""
    class Sink(zactor.Actor):
        def __init__(self):
            self.n = 0

        def receive(self, msg):
            if msg == "n":
                return self.n
            self.n += 1

    class Flooder(zactor.Actor):
        def receive(self, target):
            sent, t0 = 0, time.monotonic()
            try:
                for _ in range(10):
                    target.tell("x")
                    sent += 1
            except zactor.MailboxFull as e:
                return sent, time.monotonic() - t0, str(e)
            return sent, time.monotonic() - t0, None

    sink = system.spawn(Sink, capacity=3, on_full="block", block_timeout=5.0)
    sent, took, err = system.spawn(Flooder).ask(sink, timeout=10.0)
    assert sent == 3 and err is not None and "deadlock" in err
    assert took < 1.0
    # nothing was lost: the three accepted messages are handled
    assert wait_for(lambda: sink.ask("n") == 3)
    # from outside (GIL released while waiting) blocking still works
    for _ in range(10):
        sink.tell("y")
    assert wait_for(lambda: sink.ask("n") == 13)
