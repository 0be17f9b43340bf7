"""zactor: Python actors on the native worker threads of a C actor runtime.

::

    import zactor

    class Counter(zactor.Actor):
        def __init__(self, start=0):
            self.n = start
        def receive(self, msg):
            op, *args = msg
            if op == "add":
                self.n += args[0]
            elif op == "get":
                return self.n          # the return value answers an ask

    with zactor.System() as system:
        ref = system.spawn(Counter, 10, name="counter")
        ref.tell(("add", 5))
        assert ref.ask(("get",), timeout=1.0) == 15

Actors run on the runtime's worker threads: one worker at a time runs Python
actors (it holds the GIL for a batch of messages, a few ms at most), the others
stay free for C and Lua actors. Messages between Python actors are the objects
themselves (no copy). Blocking calls release the GIL and can be interrupted
with Ctrl-C.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from concurrent.futures import CancelledError
from typing import Any, Iterable, NamedTuple, Optional, Union

from . import _zactor
from ._zactor import (  # noqa: F401  (re-exported)
    ActorDeadError,
    ActorError,
    ActorFailed,
    ActorRef,
    AskTimeout,
    Context,
    Future,
    MailboxFull,
    Timer,
)
from .cluster import (  # noqa: F401  (re-exported: the cluster)
    Cluster,
    Expelled,
    Node,
    NodeDown,
    NodeDownError,
    NodeUp,
    SpawnError,
)
from ._zactor import (  # noqa: F401  (re-exported: the storage layer)
    Store,
    StoreAuthError,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
    VersionConflict,
    Fenced,
)

__all__ = [
    "Actor",
    "ActorDeadError",
    "ActorError",
    "ActorFailed",
    "ActorRef",
    "AskTimeout",
    "CancelledError",
    "Cluster",
    "Context",
    "DeadLetter",
    "Future",
    "MailboxFull",
    "Node",
    "NodeDown",
    "NodeDownError",
    "NodeUp",
    "Expelled",
    "Grain",
    "GrainInfo",
    "JournaledGrain",
    "Reminder",
    "SpawnError",
    "Store",
    "StoreAuthError",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
    "System",
    "Terminated",
    "Timer",
    "VersionConflict",
    "Fenced",
    "first",
    "gather",
    "live_handlers",
    "live_lua_handlers",
    "pack",
    "sleep",
    "timeout",
]

try:  # written into the build by setup.py from ZA_VERSION_* in zactor.h
    from ._version import __version__
except ImportError:  # pragma: no cover - an editable install: its metadata
    from importlib.metadata import version as _dist_version

    __version__ = _dist_version("zactor")

_log = logging.getLogger("zactor")


def pack(value: Any) -> bytes:
    """The MessagePack bytes zactor sends for ``value`` to a Lua or C actor
    (``System.unpack`` is the reverse). Raises ``TypeError`` for a value that
    cannot cross languages (only None, bool, int, float, str, bytes, list,
    tuple, dict and ActorRef can)."""
    return _zactor._pack(value)


class Actor:
    """Base class of Python actors.

    ``system.spawn(MyActor, *args)`` builds the instance on a worker thread
    (``self.context`` is already set when ``__init__`` runs), then calls
    ``on_start``. ``receive(msg)`` handles each message; its return value
    answers an ask. An exception in ``receive`` fails the actor: the asker (if
    any) gets the exception, ``on_failure(exc)`` runs, and the supervisor
    restarts the actor (``__init__`` again with the same arguments; the ref
    and the queued messages are kept) or stops it, per the spawn options.

    ``receive``, ``on_start`` and ``on_stop`` may be ``async def``: an async
    handler may ``await ref.ask_async(...)``, ``zactor.sleep(s)``,
    ``zactor.gather/first(...)``, ``async with zactor.timeout(s)`` or any
    asyncio awaitable; it suspends without holding a worker and resumes when
    what it awaits is done; its return value answers the ask. ``concurrency``
    (class attribute, or ``spawn(..., concurrency=N)``): how many handlers may
    be in progress at once (default 1: other messages wait, except those of a
    call chain already running here, so a cycle of asks (A asks B, B asks C,
    C asks A, whatever their languages) does not deadlock). Stopping or
    restarting the actor closes suspended handlers (their ``finally`` blocks
    run); messages still waiting for a free handler go to the next
    incarnation on a restart and become dead letters at the final stop. An
    ``async def on_stop`` may await (an ask, a sleep, a combinator, an
    asyncio awaitable): its worker waits for it, at most ``stop_timeout``
    seconds (class attribute, default 1.0), then it is closed (its
    ``finally`` blocks run) and a ``TimeoutError`` is reported.

    ``strategy`` (class attribute) is how this actor supervises the children
    it spawns with ``self.context.spawn``: ``"one_for_one"`` (default),
    ``"one_for_all"``, ``"rest_for_one"``, ``"stop"`` or ``"escalate"``.
    """

    strategy: str = "one_for_one"
    concurrency: int = 1
    stop_timeout: float = 1.0
    context: Context

    def on_start(self) -> None:
        """Called after ``__init__``, on the actor's worker."""

    def on_stop(self) -> None:
        """Called when the actor stops (or before a restart, unless it failed).
        May be ``async def``: bounded by ``stop_timeout`` seconds."""

    def on_failure(self, exc: BaseException) -> None:
        """Called when ``receive`` raised; instead of ``on_stop`` for this instance.

        The default logs the exception on the ``zactor`` logger.
        """
        _log.error("actor %s failed", _describe(self.context), exc_info=exc)

    def receive(self, msg: Any) -> Any:
        """Handle one message; the return value answers an ask."""
        raise NotImplementedError(f"{type(self).__name__}.receive")

    async def save(self) -> int:
        """``await self.save()``: store ``self.state`` (write-if-version) for an
        actor spawned with ``persistence_id=...`` (its state was loaded
        before ``on_start``); returns the new version. RuntimeError for an
        actor without a persistence id. See ``zactor.grains``."""
        from .grains import actor_save

        return await actor_save(self)


class _FunctionActor(Actor):
    """Wraps a plain callable: each message is passed to it."""

    def __init__(self, fn, *args, **kwargs):
        self._fn = fn
        self._args = args
        self._kwargs = kwargs

    def receive(self, msg):
        return self._fn(msg, *self._args, **self._kwargs)


class Terminated(NamedTuple):
    """Message delivered to a watcher when a watched actor dies.

    ``exc`` is None for a normal stop, else the exception that killed it
    (the original object for Python actors, else an ``ActorFailed``).
    """

    ref: ActorRef
    exc: Optional[BaseException]


class DeadLetter(NamedTuple):
    """A message that could not be delivered (see ``System.on_dead_letter``).

    ``reason`` is one of ``"dead_target"``, ``"dropped"``, ``"failed"``,
    ``"late_reply"``, ``"shutdown"``.
    """

    target: Optional[ActorRef]
    sender: Optional[ActorRef]
    message: Any
    reason: str


def _describe(ctx) -> str:
    try:
        return f"{ctx.actor_class.__qualname__} {ctx.self_ref!r}"
    except Exception:  # pragma: no cover - best effort for a log line
        return repr(ctx)


def _report_failure(ctx, exc, where):
    _log.error("actor %s failed in %s", _describe(ctx), where, exc_info=exc)


class _LoopWaker:
    """Resolves the asyncio futures that tasks awaiting zactor Futures park
    on, in the loop's own thread: answers arrive on runtime threads, which
    add() them here; one call_soon_threadsafe covers a whole batch."""

    __slots__ = ("_loop", "_pending", "_scheduled", "__weakref__")

    def __init__(self, loop):
        self._loop = weakref.ref(loop)
        self._pending = []
        self._scheduled = False

    def add(self, waiter):
        self._pending.append(waiter)
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop()
            try:
                if loop is None:
                    raise RuntimeError("the loop is gone")
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed: nobody waits any more
                self._scheduled = False
                self._pending.clear()

    def _drain(self):
        self._scheduled = False
        pending, self._pending = self._pending, []
        for waiter in pending:
            if not waiter.done():
                waiter.set_result(None)


_wakers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWaker]" = (
    weakref.WeakKeyDictionary()
)


def _waker_for(loop):
    waker = _wakers.get(loop)
    if waker is None:
        waker = _wakers[loop] = _LoopWaker(loop)
    return waker


from . import _async  # noqa: E402  (async handlers: the driver)
from ._async import first, gather, live_handlers, sleep, timeout  # noqa: E402,F401  (re-exported)


def live_lua_handlers() -> int:
    """How many Lua handlers are suspended right now (in ``ctx:ask``,
    ``ctx:sleep``, ``ctx:ask_all``, ``ctx:first`` or a waiting ``stop``), all
    systems of the process: Lua's ``zactor.live_handlers()``. With
    :func:`live_handlers` and ``System.metrics()["reply_slots"]`` a leak
    check: 0 once nothing waits."""
    return _zactor._live_lua_handlers()

_async._report_hook = _report_failure

def _with_concurrency(cls, n):
    # spawn(cls, concurrency=N): a subclass with that class attribute (cached)
    _async._concurrency(type("_", (), {"concurrency": n})())  # checks n
    if not isinstance(cls, type) or not issubclass(cls, Actor):
        raise TypeError("concurrency= needs an Actor subclass")
    key = (cls, n)
    sub = _conc_classes.get(key)
    if sub is None:
        sub = _conc_classes[key] = type(cls.__name__, (cls,), {
            "concurrency": n, "__module__": cls.__module__, "__qualname__": cls.__qualname__})
    return sub


_conc_classes: "dict[tuple[type, int], type]" = {}


_zactor._set_hooks(
    terminated=Terminated,
    dead_letter=DeadLetter,
    report_failure=_report_failure,
    get_running_loop=asyncio.get_running_loop,
    waker_for=_waker_for,
    function_actor=_FunctionActor,
)

# ------------------------------------------------------------ process hooks

_live: "weakref.WeakSet[System]" = weakref.WeakSet()
_dispatcher: Optional[threading.Thread] = None
_dispatcher_lock = threading.Lock()


def _ensure_dispatcher() -> None:
    # One daemon thread runs work that runtime threads without the GIL hand
    # over: future callbacks, dead-letter callbacks, deferred decrefs.
    global _dispatcher
    with _dispatcher_lock:
        if _dispatcher is None or not _dispatcher.is_alive():
            _dispatcher = threading.Thread(
                target=_zactor._dispatch_loop, name="zactor-dispatch", daemon=True
            )
            _dispatcher.start()


def _at_exit() -> None:
    # Runs before the interpreter starts finalizing: stop and join every
    # live system, so no worker touches Python afterwards.
    for system in list(_live):
        try:
            system.shutdown(timeout=2.0)
        except Exception:  # pragma: no cover
            _log.exception("zactor: shutdown at exit failed")
    # systems a shutdown abandoned (a handler that would not return): their
    # threads must not touch Python once finalization begins
    _zactor._exiting()
    from .cluster import _close_all

    _close_all()  # clusters no system uses: their threads stop before finalization
    _zactor._dispatch_stop()
    d = _dispatcher
    if d is not None and d.is_alive():
        d.join(timeout=1.0)


def _after_fork_child() -> None:
    global _dispatcher
    _zactor._after_fork_child()
    _dispatcher = None


try:
    threading._register_atexit(_at_exit)  # type: ignore[attr-defined]
except (AttributeError, RuntimeError):  # pragma: no cover - older/odd runtimes
    import atexit

    atexit.register(_at_exit)

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_child)


class System(_zactor.System):
    """An actor system: worker threads, mailboxes, supervision, timers.

    ``System(workers=None)``: one worker per core; ``workers=N``: N workers;
    ``workers=0``: deterministic manual mode, every actor runs in the calling
    thread (during ``ask``, ``join``, ``run``), for users' unit tests.

    ``storage``: where grains and persistent actors keep their state, a URL:
    ``"sqlite:///path.db"`` (embedded, one file), ``"redis://host:port/db"``,
    ``"postgresql://..."`` or ``"memory://"`` (the default: state lives as
    long as the system). A bad URL raises ValueError, an unreachable server
    ``zactor.StoreUnavailable``.

    ``grains``: ``zactor.Grain`` classes to register at start (also
    ``register_grain``). A class is registered anyway on its first
    ``system.grain(cls, key)``, but a node must know a class before messages
    or reminders for it arrive from elsewhere: in a cluster, or after a
    restart with stored reminders, list the classes here.

    Use it as a context manager (``with zactor.System() as s:``); leaving the
    block shuts it down (drains mailboxes, stops actors children-first, joins
    the workers). Systems still running at interpreter exit are shut down
    before finalization.
    """

    def __init__(self, workers: Optional[int] = None, *,
                 grains: "Iterable[type]" = (), **kwargs: Any) -> None:
        classes = list(grains)
        for cls in classes:  # before the system starts: a bad class starts nothing
            if not (isinstance(cls, type) and issubclass(cls, Grain)):
                raise TypeError(f"System(grains=...) takes zactor.Grain subclasses, not {cls!r}")
        _ensure_dispatcher()
        super().__init__(workers, **kwargs)
        self._cluster: Optional[Cluster] = kwargs.get("cluster")
        if self._cluster is not None:
            from .cluster import _serve

            _serve(self, self._cluster)  # what other nodes may spawn here
        _live.add(self)
        try:
            for cls in classes:
                self.register_grain(cls)
        except BaseException:
            self.shutdown()
            raise

    def register_grain(self, cls: type) -> str:
        """Register a ``zactor.Grain`` subclass with this system (idempotent);
        returns its grain type. Messages and reminders for that type can then
        activate it here even if this program never called ``grain(cls, ...)``."""
        if not (isinstance(cls, type) and issubclass(cls, Grain)):
            raise TypeError(f"register_grain() takes a zactor.Grain subclass, not {cls!r}")
        return grains._register(self, cls)

    @property
    def node(self) -> Optional[Node]:
        """This node (``System(cluster=...)``), or None outside a cluster."""
        return self._cluster.node if self._cluster is not None else None

    def nodes(self) -> "list[Node]":
        """The live members of the cluster, this one included ([] outside one)."""
        return self._cluster.nodes() if self._cluster is not None else []

    def on_node_event(self, callback) -> None:
        """``callback(event)`` for each ``NodeUp``, ``NodeDown`` or ``Expelled``
        of this system's cluster (see ``Cluster.on_node_event``)."""
        if self._cluster is None:
            raise RuntimeError("on_node_event needs System(cluster=...)")
        self._cluster.on_node_event(callback)

    def spawn(self, actor, *args, **kwargs) -> ActorRef:
        """spawn(cls, *args, name=None, restart="permanent", max_restarts=None,
        within=None, backoff=None, capacity=0, on_full="fail", block_timeout=1.0,
        kwargs=None) -> ActorRef

        ``cls`` is an ``Actor`` subclass (or a plain callable, called with each
        message). ``restart``: ``"permanent"`` | ``"transient"`` |
        ``"temporary"``; at most ``max_restarts`` restarts ``within`` seconds
        (then the actor stops); ``backoff``: first restart delay in seconds or
        ``(min, max)``. ``capacity`` bounds the mailbox; ``on_full``:
        ``"fail"`` (``MailboxFull``), ``"drop_newest"``, ``"drop_oldest"``,
        ``"block"`` (waits up to ``block_timeout`` s). ``concurrency``: how
        many async handlers of the actor may run interleaved (default: the
        class's ``concurrency``, 1). ``persistence_id``: a persistent actor:
        ``self.state`` is loaded from the system's storage (key
        ``(persistence_type, persistence_id)``, ``persistence_type`` a class
        attribute defaulting to ``"zactor.actor"``, as for Lua actors) before
        ``on_start`` (on every start and restart; ``initial_state()`` or
        ``{}`` when nothing is stored), and ``await self.save()`` writes it
        (write-if-version).

        ``node`` (a node name or id, ``System(cluster=...)``): spawn on that
        node instead; ``cls`` is then ``"package.module:Class"`` (or a class,
        named by its import path), imported there, and the node must allow it
        (``Cluster(spawnable=...)``); only ``name`` applies there. Waits up to
        ``timeout`` seconds (default 10) for the reference. Raises
        ``PermissionError`` (not allowed there), ``SpawnError`` (the import
        failed there), ``ValueError`` (no such live node, name taken),
        ``TimeoutError``.
        """
        node = kwargs.pop("node", None)
        timeout = kwargs.pop("timeout", 10.0)
        if node is not None:
            # on another node: by import path (a class is named by its own)
            if kwargs.keys() - {"name"}:
                raise TypeError("spawn(node=...) takes only name= and timeout= besides the "
                                "arguments (the other node uses its defaults)")
            if not isinstance(actor, str):
                mod, qual = getattr(actor, "__module__", None), getattr(actor, "__qualname__", "")
                if not mod or mod == "__main__" or "<" in qual:
                    raise TypeError("spawn(node=...) needs a class importable on the other node: "
                                    "'package.module:Class' or a class defined in a module")
                actor = f"{mod}:{qual}"
            from .cluster import _spawn_on

            return _spawn_on(self, node, "python", actor,
                             _zactor._pack(list(args)) if args else None,
                             kwargs.get("name"), timeout)
        return super().spawn(actor, *args, **kwargs)

    def spawn_lua(self, spec: str, *args: Any, **kwargs: Any) -> ActorRef:
        """spawn_lua(spec, *args, name=None, memory_limit=None, budget=None,
        open_io_os=False, concurrency=None, strategy=None, restart=..., node=None,
        timeout=10.0) -> ActorRef

        A Lua actor (its own ``lua_State``) on the same workers. With ``node``
        (a node name or id), on that node of the cluster, which must allow
        ``spec`` (``Cluster(spawnable=...)``); only ``name`` applies there.
        """
        node = kwargs.pop("node", None)
        timeout = kwargs.pop("timeout", 10.0)
        if node is None:
            return super().spawn_lua(spec, *args, **kwargs)
        if kwargs.keys() - {"name"}:
            raise TypeError("spawn_lua(node=...) takes only name= and timeout= besides the "
                            "arguments (the other node uses its defaults)")
        if not isinstance(spec, str):
            raise TypeError("spawn_lua() needs a Lua behaviour: a path to a .lua file, a module "
                            "name or Lua source text")
        from .cluster import _spawn_on

        return _spawn_on(self, node, "lua", spec, _zactor._pack(list(args)) if args else None,
                         kwargs.get("name"), timeout)

    def run(self, max_turns: int = 0) -> int:
        """run(max_turns=0) -> int: System(workers=0) only: run actor turns on
        this thread (0: until idle). When nothing can run but async handlers
        wait in ``zactor.sleep`` or a ``zactor.timeout``, the system's virtual
        clock jumps to the next of those timers (no real time passes)."""
        n = super().run(max_turns)
        while (max_turns <= 0 or n < max_turns) and _async._a_idle(self):
            n += super().run(max_turns - n if max_turns > 0 else 0)
        return n

    def grain(self, cls: Any, key: "str | int") -> ActorRef:
        """grain(cls, key) -> ActorRef: the reference of grain ``(cls, key)``
        (a ``zactor.Grain`` subclass, registered on first use, or a type name
        registered by ``grain_lua``/``grain_native``). Nothing activates until
        a message arrives. See ``zactor.grains``."""
        return grains.grain(self, cls, key)

    def grains(self) -> "list[GrainInfo]":
        """The grains active on this node: ``zactor.GrainInfo(type, key, ref,
        activation, status, since, idle, messages, version)``."""
        return grains.grains(self)

    def grain_native(self, path: str, symbol: str, key: "str | int", *args: Any,
                     **kwargs: Any) -> ActorRef:
        """The reference of a grain run by a native C behaviour (see
        ``zactor.grains.grain_native``)."""
        return grains.grain_native(self, path, symbol, key, *args, **kwargs)

    def grain_lua(self, spec: str, key: "str | int", **kwargs: Any) -> ActorRef:
        """The reference of a grain written in Lua (see ``zactor.grains.grain_lua``)."""
        return grains.grain_lua(self, spec, key, **kwargs)

    def grain_identity(self, ref: ActorRef) -> "Optional[tuple[str, str]]":
        """``(type, key)`` of a grain reference, else None."""
        return grains.grain_identity(self, ref)

    def remind(self, ref: ActorRef, name: str, period: float = 60.0, due: float = 5.0,
               catch_up: bool = True, timeout: float = 5.0) -> None:
        """Set up reminder ``name`` of grain ``ref`` from outside it (blocking)."""
        grains.remind(self, ref, name, period, due, catch_up, timeout)

    def forget(self, ref: ActorRef, name: str, timeout: float = 5.0) -> bool:
        """Remove reminder ``name`` of grain ``ref`` (blocking): True if it existed."""
        return grains.forget(self, ref, name, timeout)

    def spawn_native(self, path: str, symbol: str, *args: Any, name: Optional[str] = None,
                     node: Optional[Union[str, int]] = None, timeout: float = 10.0) -> ActorRef:
        """Spawn a native C behaviour ``symbol`` (a ``za_behaviour``) from the
        shared object at ``path`` (loaded with cffi, see ``zactor.native``).
        With ``node``, on that node of the cluster (``path`` is a path there;
        the node must allow ``"path:symbol"``)."""
        from . import native

        if node is not None:
            from .cluster import _spawn_on

            return _spawn_on(self, node, "c", f"{path}:{symbol}",
                             native.pack_args(args) or None, name, timeout)

        return native.spawn(self, path, symbol, *args, name=name)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"workers={self.workers}"
        return f"<zactor.System {state}>"

from . import tracing  # noqa: E402,F401  (zactor.tracing: trace context, OpenTelemetry)
from . import grains  # noqa: E402  (virtual actors, persistence, reminders)
from .grains import Fenced, Grain, GrainInfo, JournaledGrain, Reminder  # noqa: E402,F401
