"""Async handlers: the driver of ``async def receive`` (and async on_start).

A handler's coroutine is stepped on the worker that runs the actor. When it
awaits an ask (``await ref.ask_async(...)``) the step yields the Future: the
answer sends the actor a resume message (python/zactor/async.c), and the
next worker to run the actor steps the coroutine on. ``zactor.sleep`` and the
deadlines of ``zactor.timeout`` are runtime timers sending the same message.
No worker is held and no event loop sits between two actors.

Per actor (one _State per incarnation): at most ``concurrency`` handlers
run at once (default 1); other messages wait in a FIFO stash, except
messages of a call chain that is running here (an ask made by a handler
carries its chain in its reply slot, csrc/chain.c, whatever the language of
the actors on the way: A asks B, B asks C, C asks A re-enters A instead of
deadlocking).
Stopping or restarting the actor closes its suspended handlers (their
``finally`` blocks run) and tells their askers.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import threading
import time
import types
import weakref
from collections import deque
from typing import Any, Awaitable

from . import _zactor

_api = _zactor._async_api()
_step = _api["_step"]
_resume_on = _api["_resume_on"]
_ZFuture = _zactor.Future
# Awaitables that a message to the awaiting actor completes (their type has
# _zactor_park; zactor/grains.py registers its storage operations here).
_parkable: "set[type]" = set()
_after = _api["_after"]
_cancel_timer = _api["_cancel_timer"]
_resume_now = _api["_resume_now"]
_asks_sender = _api["_asks_sender"]
_set_running_loop = asyncio.events._set_running_loop
_get_running_loop = asyncio.events._get_running_loop

_log = logging.getLogger("zactor")
_keys = itertools.count(1)
_dead_letter = _api["_dead_letter"]
_wait_future = _api["_wait_future"]
_chain_new = _api["_chain_new"]  # call-chain ids: the core's, shared with Lua handlers
_tl = threading.local()
_live = 0  # handler coroutines alive (started, not finished nor closed)

_K_ANSWER, _K_SLEEP, _K_DEADLINE = 0, 1, 2
_SUSPENDED = object()
_AGAIN = object()
_CORO = types.CoroutineType


# ------------------------------------------------------ the asyncio loop
#
# Anything a handler awaits that is not a zactor awaitable (asyncio.sleep, an
# asyncio.Queue, a library built on asyncio) runs on one asyncio event loop in
# a daemon thread of its own, started on first use. A handler steps with that
# loop set as the running loop, so asyncio code finds it; the futures it
# yields resume the handler through a done callback (on the loop thread) that
# sends the actor the resume message. Calls a step made on the loop from the
# worker (call_soon, call_later) are picked up by waking the loop afterwards.

_loop = None
_loop_lock = threading.Lock()


class _Loop(asyncio.SelectorEventLoop):
    """The handlers' loop: work scheduled on it from a worker (a handler's
    step) wakes it, so asyncio code in handlers needs no *_threadsafe."""

    _tid = None

    def call_soon(self, callback, *args, context=None):
        h = super().call_soon(callback, *args, context=context)
        if threading.get_ident() != self._tid:
            self._write_to_self()
        return h

    def call_at(self, when, callback, *args, context=None):
        h = super().call_at(when, callback, *args, context=context)
        if threading.get_ident() != self._tid:
            self._write_to_self()
        return h

    def _check_thread(self):
        # (asyncio's debug mode refuses calls from other threads; handlers
        # call from workers on purpose, under the GIL, and the calls above
        # wake the loop)
        pass


def _the_loop():
    global _loop
    if _loop is None:
        with _loop_lock:
            if _loop is None:
                loop = _Loop()
                ready = threading.Event()

                def run():
                    loop._tid = threading.get_ident()
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="zactor-asyncio", daemon=True).start()
                ready.wait()
                _loop = loop
    return _loop


def _aio_done(cell, key, gen, _fut):
    _resume_now(cell, key, gen, _K_ANSWER)


def _cancel_waiting(t):
    """Cancel what t awaits (asks: a late reply becomes a dead letter)."""
    for f in t.waiting:
        if isinstance(f, _zactor.Future):
            f.cancel()
        elif hasattr(f, "_zactor_park"):
            f._zactor_unpark()
        elif _loop is not None:
            _loop.call_soon_threadsafe(f.cancel)
    t.waiting = ()


def _current():
    return getattr(_tl, "task", None)


def live_handlers() -> int:
    """How many async handlers are alive (running or suspended), all systems."""
    return _live


class _Deadline(BaseException):
    """Thrown into a handler when a ``zactor.timeout`` runs out."""

    def __init__(self, token):
        super().__init__("zactor.timeout ran out")
        self.token = token


class _Sleep:
    __slots__ = ("sec",)

    def __init__(self, sec):
        self.sec = sec

    def __await__(self):
        yield self


class _WaitAny:
    __slots__ = ("futs",)

    def __init__(self, futs):
        self.futs = futs

    def __await__(self):
        yield self


class _Task:
    __slots__ = ("st", "coro", "reply", "chain", "key", "gen", "deadlines", "timer", "dtimer",
                 "waiting")

    def __init__(self, st, coro, reply, chain):
        global _live
        self.st = st
        self.coro = coro
        self.reply = reply
        self.chain = chain
        self.key = next(_keys)
        self.gen = 0
        self.deadlines = None  # [(monotonic deadline, token)] of the open zactor.timeout blocks
        self.timer = None
        self.dtimer = None
        self.waiting = ()
        _live += 1


class _VClock:
    """The virtual clock of a System(workers=0): zactor.sleep and
    zactor.timeout count on it, and System.run() (or a wait for an answer)
    moves it to the next timer once nothing else can run."""

    __slots__ = ("now", "heap", "seq", "__weakref__")

    def __init__(self):
        self.now = 0.0
        self.heap = []  # [when, seq, cell, key, gen, kind, alive]
        self.seq = itertools.count()


_vclocks: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # System -> _VClock


def virtual_time(system) -> float:
    """Seconds on the virtual clock of a System(workers=0) (0.0 at start)."""
    vc = _vclocks.get(system)
    return vc.now if vc is not None else 0.0


def _a_idle(system) -> bool:
    """Nothing can run: jump the virtual clock to the next timer and fire it."""
    vc = _vclocks.get(system)
    if vc is None:
        return False
    heap = vc.heap
    while heap:
        e = heapq.heappop(heap)
        if e[6]:
            if e[0] > vc.now:
                vc.now = e[0]
            _resume_now(e[2], e[3], e[4], e[5])
            return True
    return False


def _timer(st, sec, key, gen, kind):
    vc = st.vc
    if vc is None:
        return _after(st.cell, sec, key, gen, kind)
    e = [vc.now + max(0.0, sec), next(vc.seq), st.cell, key, gen, kind, True]
    heapq.heappush(vc.heap, e)
    return e


def _untimer(st, tid):
    if type(tid) is list:
        tid[6] = False
    else:
        _cancel_timer(st.cell, tid)


def _now(st):
    return st.vc.now if st.vc is not None else time.monotonic()


class _State:
    __slots__ = ("cell", "inst", "conc", "tasks", "stash", "chains", "closed", "vc")

    def __init__(self, cell, inst, conc):
        self.vc = None
        system = cell.system
        if system.workers == 0:
            self.vc = _vclocks.get(system)
            if self.vc is None:
                self.vc = _vclocks[system] = _VClock()
        self.cell = cell
        self.inst = inst
        self.conc = conc
        self.tasks = {}  # key -> _Task
        self.stash = deque()  # (msg, reply, chain) waiting for a free handler
        self.chains = {}  # chain -> handlers of it running here
        self.closed = False


_async_classes: "dict[type, bool]" = {}


def _is_async(cls) -> bool:
    r = _async_classes.get(cls)
    if r is None:
        r = any(
            isinstance(getattr(cls, n, None), types.FunctionType)
            and getattr(cls, n).__code__.co_flags & 0x80  # CO_COROUTINE
            for n in ("receive", "on_start", "on_stop")
        )
        _async_classes[cls] = r
    return r


def _concurrency(inst) -> int:
    c = getattr(inst, "concurrency", 1)
    if isinstance(c, bool) or not isinstance(c, int) or c < 1:
        raise ValueError(f"concurrency must be an int >= 1, not {c!r}")
    return c


# ----------------------------------------------------------- hooks (host.c)


# Messages stashed when the actor restarted: the new incarnation handles them
# first (a restart keeps the queued messages). Keyed by the cell (one per actor).
_carried: "dict" = {}


def _a_new(cell, inst, force):
    carried = _carried.pop(cell, None)
    if not force and not carried and not _is_async(type(inst)):
        return None
    st = _State(cell, inst, _concurrency(inst))
    if carried:
        st.stash = carried
        _resume_now(cell, 0, 0, _K_ANSWER)  # key 0: "drain the stash" (see _a_resume)
    return st


def _begin(st, coro, reply, chain):
    t = _Task(st, coro, reply, chain or _chain_new())
    st.tasks[t.key] = t
    st.chains[t.chain] = st.chains.get(t.chain, 0) + 1
    _run(t, None)


def _a_start(st, coro):
    _begin(st, coro, None, 0)
    _drain(st)


def _reentrant(st, chain):
    """A message of a call chain running here, or from an actor that a
    suspended handler is asking (a C actor's ask carries no chain)."""
    if chain and chain in st.chains:
        return True
    cell = st.cell
    for t in st.tasks.values():
        for f in t.waiting:
            if _asks_sender(cell, f):
                return True
    return False


class _Exclusive:
    """A message whose handler is ``fn()`` (a coroutine) and runs alone: once
    every handler in progress ended and before any message after it (a
    grain's deactivation, zactor/grains.py)."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn


def _a_message(st, msg, reply, chain):
    if type(msg) is _Exclusive:
        if st.stash or st.tasks:
            st.stash.append((msg, reply, chain))
        else:
            _handle(st, msg, reply, chain)
        return
    if (st.stash or len(st.tasks) >= st.conc) and not _reentrant(st, chain):
        st.stash.append((msg, reply, chain))
        return
    _handle(st, msg, reply, chain)
    _drain(st)


def _a_adopt(st, coro, reply, chain):
    _begin(st, coro, reply, chain)
    _drain(st)


def _a_resume(st, key, gen, kind):
    if key == 0:
        _drain(st)
        return
    t = st.tasks.get(key)
    if t is None or t.gen != gen:
        return  # stale: answered meanwhile, or closed
    if kind == _K_DEADLINE:
        t.dtimer = None
        if t.waiting and not isinstance(t.waiting[0], _zactor.Future):
            _cancel_waiting(t)  # (asks are cancelled where they are awaited)
        exc = _Deadline(min(t.deadlines, key=lambda d: d[0])[1]) if t.deadlines else None
    else:
        if kind == _K_SLEEP:
            t.timer = None
        exc = None
    _run(t, exc)
    _drain(st)


def _a_stop(st, final=True):
    """Close every suspended handler (finally blocks run) and tell askers.
    Stashed messages go to the next incarnation (a restart), or their askers
    learn that the actor stopped (final)."""
    st.closed = True
    stash, st.stash = st.stash, deque()
    if stash and not final:
        _carried[st.cell] = stash
    else:
        for msg, reply, _chain in stash:
            _dead_letter(st.cell, msg)  # counted, like a message left in its mailbox
            if reply is not None:
                reply.fail(_zactor.ActorDeadError("the actor stopped before handling this message"))
    tasks = list(st.tasks.values())
    st.tasks.clear()
    st.chains.clear()
    for t in tasks:
        _cancel_waiting(t)
        _unwait(t)
        prev = _current()
        _tl.task = t
        try:
            t.coro.close()
        except BaseException as e:  # noqa: BLE001 (reported, never lost)
            _report(st, e)
        finally:
            _tl.task = prev
        _gone(t)
        if t.reply is not None:
            reply, t.reply = t.reply, None
            reply.fail(_zactor.ActorDeadError(
                "the actor stopped or restarted while this ask's handler was suspended"))


class _NoClock:
    vc = None  # (an async on_stop counts real time, see _a_finish)


class _StopTask:
    """What zactor.sleep/timeout/gather/first see inside an async on_stop:
    a handler, so they take their zactor path."""

    __slots__ = ("st", "deadlines")

    def __init__(self):
        self.st = _NoClock
        self.deadlines = None


_OUT = object()  # _stop_wait: the stop_timeout ran out


def _stop_timeout(inst) -> float:
    b = getattr(inst, "stop_timeout", 1.0)
    if isinstance(b, bool) or not isinstance(b, (int, float)) or not b >= 0:
        raise ValueError(f"stop_timeout must be a number of seconds >= 0, not {b!r}")
    return float(b)


def _stop_wait(t, y, deadline, manual):
    """Wait, on the stopping worker, for what an async on_stop awaits (y).
    None: go on; an exception: throw it in; _OUT: the bound ran out."""
    if y is None:
        return None  # a bare yield (asyncio.sleep(0))
    end, dl = deadline, None
    if t.deadlines:  # an open zactor.timeout block ends first?
        d = min(t.deadlines, key=lambda d: d[0])
        if d[0] < end:
            end, dl = d[0], d
    futs = ()
    if type(y) is _Sleep:
        if manual:
            return None  # System(workers=0): no real time passes
        left = end - time.monotonic()
        if y.sec <= left:
            time.sleep(y.sec)  # (releases the GIL)
            return None
        time.sleep(max(0.0, left))
    elif isinstance(y, _zactor.Future) or type(y) is _WaitAny:
        futs = y.futs if type(y) is _WaitAny else (y,)
        while not any(f.done() for f in futs):
            left = end - time.monotonic()
            if left <= 0 or manual:
                break
            pending = [f for f in futs if not f.done()]
            # one ask: wait for it; several: short slices over the first
            _wait_future(pending[0], left if len(futs) == 1 else min(left, 0.002))
        else:
            return None
    elif getattr(y, "_asyncio_future_blocking", None) is not None:
        y._asyncio_future_blocking = False
        ev = threading.Event()
        y.add_done_callback(lambda _f: ev.set())
        if not manual and ev.wait(max(0.0, end - time.monotonic())):
            return None
        futs = (y,)
    else:
        return TypeError(f"an async on_stop cannot await {type(y).__name__!r}")
    for f in futs:  # abandoned (an ask's late reply becomes a dead letter)
        if isinstance(f, _zactor.Future):
            f.cancel()
        elif _loop is not None:
            _loop.call_soon_threadsafe(f.cancel)
    if dl is not None:
        return _Deadline(dl[1])
    if manual:
        return RuntimeError("in System(workers=0) an async on_stop cannot wait for other "
                            "actors: their turns run on this thread")
    return _OUT


def _a_finish(coro, inst, cell):
    """Run an async on_stop to its end now (the actor is stopping or
    restarting: no later message can resume it). What it awaits (an ask,
    zactor.sleep/gather/first/timeout, an asyncio awaitable) is waited for
    on the stopping worker, GIL released, for at most the class's
    ``stop_timeout`` seconds (default 1.0); then the coroutine is closed
    (its ``finally`` blocks run) and TimeoutError goes to the report."""
    try:
        bound = _stop_timeout(inst)
    except BaseException:
        coro.close()
        raise
    manual = cell.system.workers == 0
    deadline = time.monotonic() + bound
    t = _StopTask()
    prev = _current()
    _tl.task = t
    prev_loop = _get_running_loop()
    _set_running_loop(_loop if _loop is not None else _the_loop())
    try:
        exc = None
        while True:
            done, v = _step(coro, 0, exc)
            if done:
                return v
            exc = _stop_wait(t, v, deadline, manual)
            if exc is _OUT:
                coro.close()
                raise TimeoutError(f"async on_stop did not finish within stop_timeout={bound:g} s "
                                   f"(it was closed: its finally blocks ran)")
    finally:
        _tl.task = prev
        _set_running_loop(prev_loop)


_report_hook = None


def _report(st, exc):
    if _report_hook is not None:
        try:
            _report_hook(st.cell, exc, "a suspended handler closed at stop")
            return
        except Exception:  # noqa: BLE001
            pass
    _log.error("async handler failed while closing", exc_info=exc)


# --------------------------------------------------------------- the driver


def _handle(st, msg, reply, chain):
    try:
        r = msg.fn() if type(msg) is _Exclusive else st.inst.receive(msg)
    except BaseException as e:
        if reply is not None:
            reply.fail(e)
        raise
    if type(r) is _CORO:
        _begin(st, r, reply, chain)
    elif reply is not None:
        reply.send(r)


def _drain(st):
    """Handle stashed messages while there is room (FIFO)."""
    stash = st.stash
    while stash and len(st.tasks) < st.conc and not st.closed:
        if st.tasks and type(stash[0][0]) is _Exclusive:
            break  # (it waits for the handlers in progress)
        msg, reply, chain = stash.popleft()
        _handle(st, msg, reply, chain)


def _gone(t):
    global _live
    if t.coro is not None:
        t.coro = None
        _live -= 1


def _end(t):
    st = t.st
    if st.tasks.pop(t.key, None) is not None:
        n = st.chains.get(t.chain, 0) - 1
        if n > 0:
            st.chains[t.chain] = n
        else:
            st.chains.pop(t.chain, None)
    _unwait(t)
    _gone(t)


def _unwait(t):
    if t.timer is not None:
        _untimer(t.st, t.timer)
        t.timer = None
    if t.dtimer is not None:
        _untimer(t.st, t.dtimer)
        t.dtimer = None
    t.waiting = ()


def _run(t, exc):
    """Step t until it suspends or ends; exc is thrown in first (or None)."""
    while True:
        t.gen += 1
        if t.timer is not None or t.dtimer is not None:
            _unwait(t)
        prev = getattr(_tl, "task", None)
        _tl.task = t
        prev_loop = _get_running_loop()
        _set_running_loop(_loop if _loop is not None else _the_loop())
        try:
            done, v = _step(t.coro, t.chain, exc)
        except BaseException as e:
            _end(t)
            if t.reply is not None:
                reply, t.reply = t.reply, None
                reply.fail(e)
            raise
        finally:
            _tl.task = prev
            _set_running_loop(prev_loop)
        if done:
            _end(t)
            if t.reply is not None:
                reply, t.reply = t.reply, None
                reply.send(v)
            return
        exc = _suspend(t, v)
        if exc is _SUSPENDED:
            return
        if exc is _AGAIN:
            exc = None


def _suspend(t, y):
    st = t.st
    cell = st.cell
    key, gen = t.key, t.gen
    try:
        ty = type(y)
        if ty is _ZFuture:
            # the common case first (an ask's future): every failed attribute
            # lookup below costs ~0.1 us on each await
            if not _resume_on(y, cell, key, gen):
                return _AGAIN
            t.waiting = (y,)
        elif ty is _Sleep:
            t.timer = _timer(st, y.sec, key, gen, _K_SLEEP)
        elif y is None:
            # a bare yield (asyncio.sleep(0)): let other messages in first
            _resume_now(cell, key, gen, _K_ANSWER)
        elif ty in _parkable:
            # an awaitable that a message to this actor completes (a storage
            # request, zactor/grains.py): it calls _a_resume(st, key, gen, 0)
            if not y._zactor_park(st, key, gen):
                return _AGAIN
            t.waiting = (y,)
        elif getattr(y, "_asyncio_future_blocking", None) is not None:
            # an asyncio future: its loop's thread resumes us
            y._asyncio_future_blocking = False
            y.add_done_callback(functools.partial(_aio_done, cell, key, gen))
            t.waiting = (y,)
        elif type(y) is _WaitAny:
            for f in y.futs:
                if not _resume_on(f, cell, key, gen):
                    return _AGAIN
            t.waiting = y.futs
        elif not _resume_on(y, cell, key, gen):
            return _AGAIN
        else:
            t.waiting = (y,)
        if t.deadlines:
            when = min(d[0] for d in t.deadlines)
            t.dtimer = _timer(st, when - _now(st), key, gen, _K_DEADLINE)
    except Exception as e:  # noqa: BLE001 (goes into the handler, where it awaited)
        return e
    return _SUSPENDED


# ------------------------------------------------------------- public API


def sleep(seconds: float) -> "Awaitable[None]":
    """``await zactor.sleep(s)``: inside an async handler, a runtime timer
    resumes it (no worker is blocked); elsewhere ``asyncio.sleep``."""
    if _current() is None:
        return asyncio.sleep(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
        raise ValueError(f"sleep: seconds must be a number >= 0, not {seconds!r}")
    return _Sleep(float(seconds))


def _futures(name, aws):
    futs = []
    for a in aws:
        if isinstance(a, _zactor.Future):
            futs.append(a)
        else:
            if type(a) is _CORO:
                a.close()
            raise TypeError(f"zactor.{name}() inside an async handler takes the Futures of "
                            f"ref.ask_async(...), not {type(a).__name__}")
    return futs


async def _gather(futs):
    try:
        while True:
            pending = []
            for f in futs:
                if f.done():
                    f.result()  # raises the first failure seen
                else:
                    pending.append(f)
            if not pending:
                return [f.result() for f in futs]
            await _WaitAny(pending)
    except BaseException:
        for f in futs:
            f.cancel()  # (a late reply becomes a dead letter)
        raise


def gather(*aws: "Awaitable[Any]") -> "Awaitable[list]":
    """``await zactor.gather(a, b, ...)``: all answers, in order, as a list.
    The first failure is raised and cancels the asks still pending. Outside
    an actor it is ``asyncio.gather``."""
    if _current() is None:
        return asyncio.gather(*aws)
    return _gather(_futures("gather", aws))


async def _first(futs):
    try:
        while True:
            for f in futs:
                if f.done():
                    return f.result()
            await _WaitAny(futs)
    finally:
        for f in futs:
            f.cancel()


async def _first_asyncio(aws):
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(iter(done)).result()
    finally:
        for t in tasks:
            t.cancel()


def first(*aws: "Awaitable[Any]") -> "Awaitable[Any]":
    """``await zactor.first(a, b, ...)``: the outcome of the first to finish
    (its answer, or its exception); the others are cancelled (an abandoned
    ask's late reply becomes a dead letter)."""
    if not aws:
        raise ValueError("first() needs at least one awaitable")
    if _current() is None:
        return _first_asyncio(aws)
    return _first(_futures("first", aws))


class timeout:
    """``async with zactor.timeout(s):`` cancels what is awaited inside once
    ``s`` seconds have passed, then raises ``TimeoutError``. Outside an actor
    it is ``asyncio.timeout`` (Python 3.11+)."""

    __slots__ = ("sec", "entry", "task", "inner")

    def __init__(self, seconds: float):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds >= 0:
            raise ValueError(f"timeout: seconds must be a number >= 0, not {seconds!r}")
        self.sec = float(seconds)
        self.entry = self.task = self.inner = None

    async def __aenter__(self):
        t = _current()
        if t is None:
            self.inner = asyncio.timeout(self.sec)
            return await self.inner.__aenter__()
        self.task = t
        self.entry = (_now(t.st) + self.sec, object())
        if t.deadlines is None:
            t.deadlines = []
        t.deadlines.append(self.entry)
        return self

    async def __aexit__(self, et, e, tb):
        if self.inner is not None:
            return await self.inner.__aexit__(et, e, tb)
        try:
            self.task.deadlines.remove(self.entry)
        except ValueError:
            pass
        if isinstance(e, _Deadline) and e.token is self.entry[1]:
            raise TimeoutError(f"zactor.timeout({self.sec:g}) ran out") from None
        return False


_api["_set_async_hooks"](_a_new, _a_start, _a_message, _a_adopt, _a_resume, _a_stop, _a_finish,
                        _a_idle)
