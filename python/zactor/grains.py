"""Virtual actors (grains), persistent state and reminders for Python.

A grain is named by ``(type, key)`` and is never spawned: ``system.grain(
Account, "alice")`` returns its reference at once, and the first message
activates it (its state is read from the system's storage first, on a
storage thread), it is deactivated after ``idle_timeout`` seconds without a
message, and the next message activates it again from its stored state. At
most one activation of a grain exists at a time.

::

    class Account(zactor.Grain):
        grain_type = "bank.Account"          # the stable storage name
        idle_timeout = 600.0

        async def on_activate(self):
            self.state.setdefault("balance", 0)

        async def receive(self, msg):
            op, amount = msg
            if op == "deposit":
                self.state["balance"] += amount
                await self.save()            # write-if-version
            return self.state["balance"]

    with zactor.System(storage="sqlite:///bank.db") as system:
        alice = system.grain(Account, "alice")
        alice.ask(("deposit", 10))

State, events and reminders are stored in the value model (MessagePack: the
encoding of messages between languages), so a state a Python grain wrote
reads in Lua and C, and tuples come back as lists.

The C half is python/zactor/grain.c; the runtime's grain directory is
csrc/grain/.
"""
from __future__ import annotations

import datetime
import logging
import math
from typing import Any, Dict, NamedTuple, Optional, Tuple, Type, Union

from . import _async, _zactor
from ._zactor import ActorRef, StoreError

__all__ = [
    "Fenced",
    "Grain",
    "GrainInfo",
    "JournaledGrain",
    "Reminder",
]

_api = _zactor._grain_api()
_g_state = _api["_g_state"]
_g_events = _api["_g_events"]
_g_write = _api["_g_write"]
_g_clear = _api["_g_clear"]
_g_remind = _api["_g_remind"]
_g_forget = _api["_g_forget"]
_g_deactivate = _api["_g_deactivate"]
_g_self = _api["_g_self"]
_p_store = _api["_p_store"]
_g_register = _api["_g_register"]
_g_register_native = _api["_g_register_native"]
_g_register_lua = _api["_g_register_lua"]
_g_ref = _api["_g_ref"]
_g_identity = _api["_g_identity"]
_g_list = _api["_g_list"]
_g_remind_out = _api["_g_remind_out"]
_raise_store = _api["_raise_store"]
_codes = _api["_g_codes"]()
_OK = _codes["OK"]
_ENOTFOUND = _codes["ENOTFOUND"]

_log = logging.getLogger("zactor")

_MAX_SECONDS = 4294967.0  # the runtime counts ms in 32 bits
_W_SAVE, _W_PERSIST, _W_SNAPSHOT = 0, 1, 2
_EV_STORE, _EV_DEACTIVATE = 0, 1

# The storage layer's Fenced (g-store's zactor._zactor.Fenced) when the
# extension has it, else ours: a write refused because a newer activation
# holds the grain's lease.
Fenced = getattr(_zactor, "Fenced", None)
if Fenced is None:

    class Fenced(StoreError):  # type: ignore[no-redef]
        """A newer activation of the grain holds its lease (its fencing token
        is greater): nothing was written, and this activation is deactivated."""

    Fenced.__module__ = "zactor"


class Reminder(NamedTuple):
    """A reminder firing, received through ``receive`` (``await
    self.remind(name, ...)`` set it up).

    ``missed``: ticks that fell due while the process was down or the grain
    could not be reached (delivered once, as this one message; 0 normally).
    ``period``: seconds between ticks. ``due``: when this tick was due (unix
    time, seconds)."""

    name: str
    missed: int
    period: float
    due: float


class GrainInfo(NamedTuple):
    """One activation on this node (``System.grains()``)."""

    type: str
    key: str
    ref: ActorRef  # the grain reference
    activation: Optional[ActorRef]  # the actor now serving it (None while activating)
    status: str  # "activating", "active" or "deactivating"
    since: datetime.datetime  # when this activation began (UTC)
    idle: float  # seconds since its last message
    messages: int  # messages routed to this activation
    version: int  # the stored version it last read or wrote (journaled: its seq)


# --------------------------------------------------------- storage requests


class _Op:
    """A storage request in flight. Awaiting it suspends the handler (no
    worker is held); its completion is a message to the actor, which
    resumes the handler (_g_event)."""

    __slots__ = ("done", "status", "version", "value", "text", "st", "key", "gen", "what")

    def __init__(self, what: str):
        self.what = what
        self.done = False
        self.status = _OK
        self.version = 0
        self.value = None
        self.text = ""
        self.st = None
        self.key = self.gen = 0

    # the driver's protocol (zactor/_async.py, _suspend / _cancel_waiting)
    def _zactor_park(self, st, key, gen) -> bool:
        if self.done:
            return False
        self.st, self.key, self.gen = st, key, gen
        return True

    def _zactor_unpark(self) -> None:
        self.st = None

    def __await__(self):
        if not self.done:
            yield self
        return self

    def _complete(self, status, version, value, text) -> None:
        self.done = True
        self.status, self.version, self.value, self.text = status, version, value, text
        st, self.st = self.st, None
        if st is not None:
            _async._a_resume(st, self.key, self.gen, _async._K_ANSWER)


def _track(inst, corr: int, what: str) -> _Op:
    ops = inst.__dict__.get("_zactor_ops")
    if ops is None:
        ops = inst.__dict__["_zactor_ops"] = {}
    op = ops[corr] = _Op(what)
    return op


_ECONFLICT, _EFENCED = _codes["ECONFLICT"], _codes["EFENCED"]


def _check(inst, op: _Op, ok=(_OK,)) -> None:
    if op.status not in ok:
        if op.status in (_ECONFLICT, _EFENCED) and isinstance(inst, Grain):
            # this activation's view is stale: it is being deactivated, and
            # no later write of it may land (a save in on_deactivate would
            # otherwise overwrite the newer state)
            inst.__dict__["_zactor_stale"] = (op.status, op.text)
        _raise_store(inst.context.system, op.status, f"{op.what}: {op.text}")


def _refuse_if_stale(inst, what: str) -> None:
    stale = inst.__dict__.get("_zactor_stale")
    if stale is not None:
        _raise_store(inst.context.system, stale[0],
                     f"{what}: refused: an earlier write of this activation failed ({stale[1]}); "
                     f"the next activation reads the stored state")


def _g_event(st, inst, kind, corr, status, version, value, text):
    """host.c: a storage completion or a deactivation request (grain.c)."""
    if kind == _EV_DEACTIVATE:
        inst.__dict__["_zactor_deactivating"] = text
        _async._a_message(st, _async._Exclusive(inst._zactor_deactivate), None, 0)
        return None
    ops = inst.__dict__.get("_zactor_ops")
    op = ops.pop(corr, None) if ops else None
    if op is None:
        return None  # (a request of an earlier activation or incarnation)
    op._complete(status, version, value, text)
    if op.st is None and op.what == "snapshot" and status != _OK:
        _log.warning("grain %r: snapshot not stored: %s", getattr(inst, "key", "?"), text)
    return None


# ----------------------------------------------------------------- helpers


def _seconds(v: Any, name: str, lo: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        raise TypeError(f"{name} must be a number of seconds, not {v!r}")
    if not lo <= v <= _MAX_SECONDS:
        raise ValueError(f"{name} must be between {lo:g} and {_MAX_SECONDS:g} seconds, not {v!r}")
    return float(v)


def _key(key: Any) -> str:
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"a grain key is a str or an int, not {type(key).__name__}")
    key = str(key)
    if not key:
        raise ValueError("a grain key must not be empty")
    return key


def _type_name(cls: type, attr: str) -> str:
    # only the class's own setting: a subclass is another type
    t = cls.__dict__.get(attr)
    if t is None:
        t = f"{cls.__module__}.{cls.__qualname__}"
    if not isinstance(t, str) or not t:
        raise TypeError(f"{cls.__qualname__}.{attr} must be a non-empty str, not {t!r}")
    return t


def _reminder_args(name: Any, period: Any, due: Any) -> Tuple[str, int, int]:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a reminder name is a non-empty str, not {name!r}")
    period = _seconds(period, "period", 1.0)
    due = _seconds(due, "due", 0.0)
    return name, int(math.ceil(due * 1000)), int(math.ceil(period * 1000))


# ------------------------------------------------------------------ grains

from . import Actor  # noqa: E402  (zactor/__init__.py imports this module last)



_async._parkable.add(_Op)

class Grain(Actor):
    """A virtual actor: named by ``(grain_type, key)``, activated by its first
    message, deactivated when idle, its ``state`` kept in the system's
    storage (``System(storage=...)``).

    Class attributes:

    - ``grain_type``: the grain's type name, also the type part of its
      storage keys. Default ``f"{module}.{qualname}"`` (e.g.
      ``"__main__.Account"`` for a class of the main script): set it to keep
      the stored state when the class moves or the program is renamed.
    - ``idle_timeout``: seconds without a message before it is deactivated
      (default 600).
    - ``concurrency``: how many handlers may interleave (default 1), as for
      actors.
    - ``capacity``: bound of the activation's mailbox (0: unbounded).

    In an activation: ``self.key`` (str), ``self.ref`` (the grain reference;
    ``self.context.self_ref`` is this activation's own actor),
    ``self.state`` (loaded before ``on_activate``: the stored value, else
    ``initial_state()``), ``self.version`` (the stored version, 0: none).
    ``receive``, ``on_activate`` and ``on_deactivate`` are ``async def``.
    A failure in ``on_activate`` or ``receive`` ends the activation (the
    asker gets the exception); the next message activates it again from the
    stored state. Do not override ``on_start``/``on_stop``: use
    ``on_activate``/``on_deactivate``.
    """

    grain_type: Optional[str] = None
    idle_timeout: float = 600.0
    capacity: int = 0
    key: str
    ref: ActorRef
    state: Any
    version: int

    _journaled = False

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        for name in ("on_start", "on_stop"):
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__qualname__}.{name}: a Grain uses on_activate/on_deactivate "
                    f"(on_start/on_stop belong to the runtime)")

    def initial_state(self) -> Any:
        """The state of a grain nothing was stored for (default ``{}``)."""
        return {}

    async def on_activate(self) -> None:
        """Runs once ``self.state`` was loaded, before the first message."""

    async def on_deactivate(self) -> None:
        """Runs when the activation ends (idle, ``deactivate()``, the ref
        stopped, system shutdown); messages wait meanwhile."""

    async def receive(self, msg: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.receive")

    # --- the runtime's hooks
    async def on_start(self) -> None:  # noqa: D401  (the activation)
        ctx = self.context
        ref = _g_self(ctx)
        ident = _g_identity(ctx.system, ref) if ref is not None else None
        self.ref = ref
        self.key = ident[1] if ident else ""
        self._zactor_load()
        await self.on_activate()

    def _zactor_load(self) -> None:
        value, version, present = _g_state(self.context)
        self.state = value if present else self.initial_state()
        self.version = version

    def on_stop(self) -> None:
        pass

    async def _zactor_deactivate(self) -> None:
        try:
            await self.on_deactivate()
        finally:
            self.context.stop()

    # --- persistence
    async def save(self) -> int:
        """Write ``self.state`` if the stored version is still the one this
        activation holds (write-if-version); returns the new version. A
        state that is not in the value model raises TypeError/ValueError
        here and nothing is written. ``VersionConflict`` (the row changed
        behind this activation's back) or ``Fenced`` (a newer activation
        holds the lease): nothing was written and the activation is
        deactivated; the next message loads the stored state."""
        if self._journaled:
            raise RuntimeError(f"{type(self).__name__} is a JournaledGrain: it stores events "
                               f"with persist(event)")
        _refuse_if_stale(self, "save()")
        op = _track(self, _g_write(self.context, _W_SAVE, self.state, 0), "save()")
        await op
        _check(self, op)
        self.version = op.version
        return op.version

    async def clear(self) -> None:
        """Delete the stored state (write-if-version, as ``save``);
        ``self.state`` becomes ``initial_state()``, ``self.version`` 0."""
        _refuse_if_stale(self, "clear()")
        op = _track(self, _g_clear(self.context), "clear()")
        await op
        _check(self, op, (_OK, _ENOTFOUND))
        self.state = self.initial_state()
        self.version = 0

    def deactivate(self) -> None:
        """Deactivate this activation once it is idle (as if its idle time ran
        out now); ``on_deactivate`` runs then."""
        _g_deactivate(self.context)

    # --- reminders
    async def remind(self, name: str, period: float = 60.0, due: float = 5.0,
                     catch_up: bool = True) -> None:
        """Set up (or replace) reminder ``name``: a ``zactor.Reminder`` arrives
        through ``receive`` ``due`` seconds from now, then every ``period``
        seconds (>= 1), activating the grain if needed. Stored: it survives
        restarts; a tick that fell due while the process was down is
        delivered once at start (``Reminder.missed`` says how many were
        missed), unless ``catch_up=False``."""
        name, due_ms, period_ms = _reminder_args(name, period, due)
        op = _track(self, _g_remind(self.context, name, due_ms, period_ms, bool(catch_up)),
                    "remind()")
        await op
        _check(self, op)

    async def forget(self, name: str) -> bool:
        """Remove reminder ``name``: True if it existed."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"a reminder name is a non-empty str, not {name!r}")
        op = _track(self, _g_forget(self.context, name), "forget()")
        await op
        _check(self, op, (_OK, _ENOTFOUND))
        return op.status == _OK


class JournaledGrain(Grain):
    """An event-sourced grain: ``await self.persist(event)`` appends the event
    to the grain's journal, then applies it (``self.state = apply(state,
    event)``). Activation replays the latest snapshot and the events after
    it through ``apply``. ``self.version`` is the sequence number of the
    last event.

    ``snapshot_every = N`` (class attribute, 0: never): every N events the
    state is stored as a snapshot, so activation replays only the tail.
    ``apply`` must be pure (it returns the new state; an exception there
    after an append leaves the event stored and is raised by persist).
    """

    snapshot_every: int = 0
    _journaled = True

    def apply(self, state: Any, event: Any) -> Any:
        """state + event -> the new state (pure)."""
        raise NotImplementedError(f"{type(self).__name__}.apply")

    def _zactor_load(self) -> None:
        value, _snap_seq, present = _g_state(self.context)
        events, seq = _g_events(self.context)
        state = value if present else self.initial_state()
        for ev in events:
            state = self.apply(state, ev)
        self.state = state
        self.version = seq

    async def persist(self, event: Any) -> Any:
        """Append ``event`` (append-if-sequence), then apply it; returns the
        new state. An event not in the value model raises TypeError/
        ValueError here (nothing appended). ``VersionConflict``/``Fenced``:
        nothing appended and the activation is deactivated."""
        _refuse_if_stale(self, "persist()")
        op = _track(self, _g_write(self.context, _W_PERSIST, event, 0), "persist()")
        await op
        _check(self, op)
        self.state = self.apply(self.state, event)
        self.version = op.version
        n = self.snapshot_every
        if n and self.version % n == 0 and "_zactor_stale" not in self.__dict__:
            # (not awaited: a failed snapshot only means a longer replay)
            _track(self, _g_write(self.context, _W_SNAPSHOT, self.state, self.version),
                   "snapshot")
        return self.state

    async def snapshot(self) -> None:
        """Store the current state as the snapshot at ``self.version`` now."""
        _refuse_if_stale(self, "snapshot()")
        op = _track(self, _g_write(self.context, _W_SNAPSHOT, self.state, self.version),
                    "snapshot()")
        await op
        _check(self, op)


def _register(system, cls: type) -> str:
    reg = system.__dict__.setdefault("_zactor_grains", {})
    t = reg.get(cls)
    if t is not None:
        return t
    t = _type_name(cls, "grain_type")
    idle = _seconds(cls.idle_timeout, "idle_timeout", 0.001)
    _async._concurrency(cls)  # (checks the class's concurrency now, not at activation)
    cap = cls.capacity
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap < 2**32:
        raise ValueError(f"capacity must be an int >= 0, not {cap!r}")
    snap = getattr(cls, "snapshot_every", 0) if cls._journaled else 0
    if isinstance(snap, bool) or not isinstance(snap, int) or not 0 <= snap < 2**32:
        raise ValueError(f"snapshot_every must be an int >= 0, not {snap!r}")
    _g_register(system, cls, t, max(1, int(idle * 1000)), cls._journaled, snap, cap)
    reg[cls] = t
    return t


# ----------------------------------------------------------------- System


def grain(system, cls: Union[Type[Grain], str], key: Union[str, int]) -> ActorRef:
    """The reference of grain ``(cls, key)``; nothing is activated until a
    message arrives. ``key``: a str, or an int (its decimal text). ``cls``: a
    ``zactor.Grain`` subclass (registered with this system on first use), or
    the type name of a grain registered otherwise (``grain_lua``,
    ``grain_native``)."""
    k = _key(key)
    if isinstance(cls, str):
        return _g_ref(system, cls, k)
    if not (isinstance(cls, type) and issubclass(cls, Grain)):
        raise TypeError(f"grain() needs a zactor.Grain subclass or a registered type name, "
                        f"not {cls!r}")
    return _g_ref(system, _register(system, cls), k)


def grains(system) -> "list[GrainInfo]":
    """The grains active on this node now (a snapshot)."""
    out = []
    for t, k, ref, act, status, since_us, idle_us, msgs, ver in _g_list(system):
        since = datetime.datetime.fromtimestamp(since_us / 1e6, tz=datetime.timezone.utc)
        out.append(GrainInfo(t, k, ref, act, status, since, idle_us / 1e6, msgs, ver))
    return out


def grain_native(system, path: str, symbol: str, key: Union[str, int], *args: Any,
                 grain_type: Optional[str] = None, idle_timeout: float = 600.0,
                 journaled: bool = False, snapshot_every: int = 0,
                 capacity: int = 0) -> ActorRef:
    """The reference of a grain whose activations run the native C behaviour
    ``symbol`` of the shared object ``path`` (``za_behaviour_load``, as
    ``spawn_native``); ``args`` go to its start (one bytes object as is,
    else a MessagePack array). ``grain_type`` defaults to ``symbol``."""
    from . import native

    k = _key(key)
    t = grain_type if grain_type is not None else symbol
    if not isinstance(t, str) or not t:
        raise TypeError(f"grain_type must be a non-empty str, not {t!r}")
    idle = _seconds(idle_timeout, "idle_timeout", 0.001)
    addr = native.behaviour_address(path, symbol)
    _g_register_native(system, t, addr, native.pack_args(args), max(1, int(idle * 1000)),
                       bool(journaled), int(snapshot_every), int(capacity))
    return _g_ref(system, t, k)


def grain_lua(system, spec: str, key: Union[str, int], *, grain_type: Optional[str] = None,
              idle_timeout: Optional[float] = None, capacity: int = 0, snapshot_every: int = 0,
              memory_limit: Optional[int] = None, budget: Optional[float] = None,
              concurrency: Optional[int] = None, path: Optional[str] = None) -> ActorRef:
    """The reference of a grain written in Lua: ``spec`` is a path to a .lua
    file, a module name or Lua source returning the behaviour table
    (``on_activate``, ``receive``, ``on_deactivate``; ``apply`` for a
    journaled one; ``idle_timeout``, ``journaled``, ``snapshot_every``
    fields), the same class Lua's ``system:grain(spec, key)`` registers.
    ``grain_type`` defaults to ``spec``. Messages to it are MessagePack."""
    k = _key(key)
    if not isinstance(spec, str) or not spec:
        raise TypeError(f"grain_lua() needs a Lua behaviour (a path, a module name or source), "
                        f"not {spec!r}")
    idle = 0 if idle_timeout is None else max(1, int(_seconds(idle_timeout, "idle_timeout",
                                                               0.001) * 1000))
    mem = 0 if memory_limit is None else int(memory_limit)
    bud = 0 if budget is None else max(1, int(_seconds(budget, "budget", 0.001) * 1000))
    conc = 0 if concurrency is None else int(concurrency)
    for name, v in (("capacity", capacity), ("snapshot_every", snapshot_every), ("memory_limit",
                    mem), ("concurrency", conc)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be an int >= 0, not {v!r}")
    t = _g_register_lua(system, spec, grain_type, idle, capacity, snapshot_every, mem, bud, conc,
                        path)
    return _g_ref(system, t, k)


def grain_identity(system, ref: ActorRef) -> Optional[Tuple[str, str]]:
    """``(type, key)`` of a grain reference, else None."""
    return _g_identity(system, ref)


def remind(system, ref: ActorRef, name: str, period: float = 60.0, due: float = 5.0,
           catch_up: bool = True, timeout: float = 5.0) -> None:
    """Set up reminder ``name`` of grain ``ref`` from outside the grain
    (blocking; see ``Grain.remind``)."""
    name, due_ms, period_ms = _reminder_args(name, period, due)
    to = _seconds(timeout, "timeout", 0.001)
    _g_remind_out(system, ref, name, due_ms, period_ms, bool(catch_up), int(to * 1000))


def forget(system, ref: ActorRef, name: str, timeout: float = 5.0) -> bool:
    """Remove reminder ``name`` of grain ``ref`` (blocking): True if it existed."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a reminder name is a non-empty str, not {name!r}")
    to = _seconds(timeout, "timeout", 0.001)
    return _g_remind_out(system, ref, name, 0, 0, False, int(to * 1000))


# ------------------------------------------------------ persistent actors

_pclasses: Dict[type, type] = {}


async def _actor_load(self) -> None:
    t, pid = self._zactor_ptype, self._zactor_pid
    op = _track(self, _p_store(self.context, 0, t, pid, None, 0), "load")
    await op
    _check(self, op, (_OK, _ENOTFOUND))
    if op.status == _OK:
        self.state, self.version = op.value, op.version
    else:
        init = getattr(self, "initial_state", None)
        self.state, self.version = (init() if callable(init) else {}), 0


async def actor_save(self) -> int:
    """``await self.save()`` in an actor spawned with ``persistence_id``."""
    pid = getattr(self, "_zactor_pid", None)
    if pid is None:
        raise RuntimeError(
            f"{type(self).__qualname__}.save(): this actor has no persistent state: spawn it "
            f"with persistence_id=... (or make it a zactor.Grain)")
    op = _track(self, _p_store(self.context, 1, self._zactor_ptype, pid, self.state,
                               self.version), "save()")
    await op
    _check(self, op)
    self.version = op.version
    return op.version


def _persistent_class(cls: type) -> type:
    sub = _pclasses.get(cls)
    if sub is not None:
        return sub
    # Akka's rule: the persistence id alone names the state, whatever the
    # class, and Lua actors use the same type, so one id is one state in
    # every language. A class may set persistence_type to keep its own space.
    ptype = getattr(cls, "persistence_type", None) or "zactor.actor"
    if not isinstance(ptype, str):
        raise TypeError(f"{cls.__qualname__}.persistence_type must be a str, not {ptype!r}")
    user_start = cls.on_start

    def __init__(self, *args, _zactor_pid, **kwargs):
        self._zactor_pid = _zactor_pid
        self._zactor_ptype = ptype
        self.state = None
        self.version = 0
        cls.__init__(self, *args, **kwargs)

    async def on_start(self):
        await _actor_load(self)
        r = user_start(self)
        if hasattr(r, "__await__"):
            await r

    sub = type(cls.__name__, (cls,), {
        "__init__": __init__, "on_start": on_start, "__module__": cls.__module__,
        "__qualname__": cls.__qualname__, "_zactor_persistent": True})
    _pclasses[cls] = sub
    return sub


def _persistent_spawn(args: tuple, kw: dict) -> Tuple[tuple, dict]:
    """context.c: spawn(cls, ..., persistence_id=pid) -> the spawn of a
    subclass that loads ``self.state`` from the system's storage (key
    ``(persistence_type, pid)``) before ``on_start``."""
    kw = dict(kw)
    pid = kw.pop("persistence_id")
    if isinstance(pid, bool) or not isinstance(pid, (str, int)):
        raise TypeError(f"persistence_id must be a str or an int, not {type(pid).__name__}")
    pid = str(pid)
    if not pid or "\0" in pid:
        raise ValueError("persistence_id must be a non-empty str without NUL")
    cls = args[0] if args else None
    if not (isinstance(cls, type) and issubclass(cls, Actor)):
        raise TypeError("persistence_id= needs an Actor subclass")
    if issubclass(cls, Grain):
        raise TypeError(f"{cls.__qualname__} is a Grain: get its reference with "
                        f"system.grain(cls, key) instead of spawning it")
    akw = dict(kw.pop("kwargs", None) or {})
    akw["_zactor_pid"] = pid
    kw["kwargs"] = akw
    return (_persistent_class(cls),) + tuple(args[1:]), kw


_api["_set_grain_hooks"](_g_event, Reminder, Fenced, _persistent_spawn)
