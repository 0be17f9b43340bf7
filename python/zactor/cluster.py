"""The cluster: zactor processes that share a Redis membership table and talk
over ZeroMQ links, so actors on any member can tell, ask, watch and look up
each other. See ``Cluster``.
"""

from __future__ import annotations

import importlib
import threading
import weakref
from typing import Any, Callable, Iterable, List, NamedTuple, Optional, Tuple, Union

from . import _zactor
from ._zactor import NodeDownError  # noqa: F401  (re-exported)

__all__ = ["Cluster", "Node", "NodeUp", "NodeDown", "Expelled", "NodeDownError", "SpawnError"]


class SpawnError(RuntimeError):
    """A spawn on another node failed there: the module, class, behaviour or
    Lua chunk could not be found or loaded, or its start raised. The message
    is the other node's."""


class Node(NamedTuple):
    """A cluster member: its id (in every reference to its actors), its
    unique name, the endpoint other nodes dial, and its incarnation
    (start time in microseconds: a restarted process is a new incarnation)."""

    id: int
    name: str
    endpoint: str
    epoch: int


class NodeUp(NamedTuple):
    """A member joined (or was first seen)."""

    node: Node


class NodeDown(NamedTuple):
    """A member was declared dead by the others, or left."""

    node: Node


class Expelled(NamedTuple):
    """This node was declared dead by the cluster (after a long pause or a
    partition). It stays out: its references are dead everywhere; create a
    new ``Cluster`` and ``System`` to rejoin as a new incarnation."""

    node: Node


NodeEvent = Union[NodeUp, NodeDown, Expelled]
_KINDS = {1: NodeUp, 2: NodeDown, 3: Expelled}
_open: "weakref.WeakSet[Cluster]" = weakref.WeakSet()


class Cluster(_zactor.Cluster):
    """Cluster(redis, *, name, listen="tcp://127.0.0.1:0", node_name=None,
    secret=None, insecure=False, advertise=None, heartbeat=0.3, suspect=3.0,
    votes=2, vote_window=10.0, poll=0.5)

    Join the cluster ``name`` whose membership table lives in Redis at
    ``redis`` (``redis://[:password@]host:port/db``), listening for other
    nodes on ``listen`` (port 0: any free port). ``node_name`` must be unique
    among live members (default ``node-<id>``). Pass the cluster to
    ``System(cluster=...)``; use it as a context manager or call ``close()``.

    Failure detection: a member silent for ``suspect`` seconds gets this
    node's suspicion vote; ``votes`` votes (or all other members, if fewer)
    declare it dead. With the defaults a ``kill -9`` is seen everywhere in
    about 3.5 s and a pause under 2.7 s is never a verdict.

    ``secret``: a key from ``Cluster.new_secret()``, the same on every node:
    links are then authenticated and encrypted (ZeroMQ CURVE), and a process
    without the key can neither join the links nor deliver a message. Without
    a secret, listening on a non-loopback address needs ``insecure=True``.

    ``spawnable``: what other nodes may spawn here (``System.spawn(...,
    node=...)``): a list of exact names (``"myapp.actors:Counter"``,
    ``"worker.lua"``, ``"/opt/lib/libx.so:counter"``) or prefixes ending in
    ``*`` (``"myapp.actors:*"``); ``["*"]`` (anything) only with a secret.
    Default: nothing. A remote spawn runs code on this node (an import, a
    dlopen), so the node that runs it decides what may run.

    ``pickle=True`` (needs a secret): messages and answers that MessagePack
    cannot carry go to Python actors of other nodes pickled, and pickles
    from other members are loaded here. Loading a pickle runs code: only
    members holding the secret can send one.

    Raises ``ConnectionError`` if Redis cannot be reached, ``ValueError`` for
    a bad setting or a taken ``node_name``.
    """

    def __init__(self, redis: str, *, spawnable: Iterable[str] = (), pickle: bool = False,
                 **kwargs: Any) -> None:
        if not isinstance(pickle, bool):
            raise TypeError(f"pickle must be a bool, not {type(pickle).__name__}")
        if pickle and not kwargs.get("secret"):
            raise ValueError("pickle=True needs secret=...: loading a pickle runs code, so only "
                             "members holding the cluster key may send one")
        if isinstance(spawnable, str):
            raise TypeError("spawnable is a list of patterns, e.g. ['myapp.actors:*']")
        self._spawnable: List[str] = list(spawnable)
        for p in self._spawnable:
            if not isinstance(p, str):
                raise TypeError(f"spawnable patterns are str, not {type(p).__name__}")
            if p == "*" and not kwargs.get("secret"):
                raise ValueError("spawnable=['*'] (anything) needs secret=...: without one any "
                                 "process that reaches the port could run code here")
        self._pickle = pickle
        super().__init__(redis, **kwargs)
        self._handlers: List[Callable[[NodeEvent], Any]] = []
        self._lock = threading.Lock()
        self._set_callback(self._on_event)
        _open.add(self)

    @property
    def node(self) -> Node:
        """This node."""
        return Node(*self._self())

    def nodes(self) -> List[Node]:
        """The live members, this one included, by id."""
        return sorted((Node(*t) for t in self._nodes()), key=lambda n: n.id)

    def on_node_event(self, callback: Optional[Callable[[NodeEvent], Any]]) -> None:
        """Call ``callback(event)`` for each ``NodeUp``, ``NodeDown`` or
        ``Expelled`` (on the cluster's membership thread: keep it short).
        ``None`` removes every callback."""
        with self._lock:
            if callback is None:
                self._handlers = []
            else:
                self._handlers = self._handlers + [callback]

    def _on_event(self, kind: int, id: int, name: str, endpoint: str, epoch: int) -> None:
        event = _KINDS[kind](Node(id, name, endpoint, epoch))
        for h in self._handlers:
            h(event)

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<zactor.Cluster closed>"
        n = self.node
        return f"<zactor.Cluster node={n.name!r} id={n.id} endpoint={n.endpoint!r}>"


def _close_all() -> None:
    for c in list(_open):
        c.close()


# ------------------------------------------------------------- remote spawn

_systems: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()


def _serve(system: Any, cluster: Cluster) -> None:
    """Let other nodes spawn here what ``cluster`` allows (System init)."""
    sid = _zactor._cluster_serve_spawns(system, cluster._spawnable, cluster._pickle)
    _systems[sid] = system


def _remote_spawn(sysid: int, what: str, args: bytes, name: Optional[str]) -> Tuple[str, Any]:
    """Another node asked for ``what`` ("package.module:Class"): runs on the
    cluster's spawn thread with the GIL. ("ok", ref id) or (kind, text)."""
    system = _systems.get(sysid)
    if system is None or system.closed:
        return ("closed", "the node's System is closed")
    modname, sep, attr = what.partition(":")
    if not sep or not modname or not attr:
        return ("notfound", f"'{what}' is not 'package.module:Class'")
    try:
        obj: Any = importlib.import_module(modname)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as e:  # ImportError, AttributeError, or the module's own error
        return ("notfound", f"cannot import {what}: {type(e).__name__}: {e}")
    try:
        argv = system.unpack(args) if args else []
        if not isinstance(argv, list):
            return ("failed", "spawn arguments must be a list")
        ref = system.spawn(obj, *argv, name=name)
    except ValueError as e:
        if "already registered" in str(e):
            return ("exists", str(e))
        return ("failed", f"{type(e).__name__}: {e}")
    except Exception as e:
        return ("failed", f"spawning {what} raised {type(e).__name__}: {e}")
    return ("ok", int(ref.id))


def _spawn_on(system: Any, node: Union[str, int], kind: str, what: str, args: Optional[bytes],
              name: Optional[str], timeout: float) -> Any:
    """Ask ``node`` to spawn; the reference or the matching exception."""
    if isinstance(node, bool) or not isinstance(node, (str, int)):
        raise TypeError(f"node must be a node name or id, not {type(node).__name__}")
    if timeout is None or timeout <= 0:
        raise ValueError("timeout must be > 0 seconds")
    status, value = _zactor._cluster_spawn(system, str(node), kind, what, args, name,
                                           float(timeout))
    if status == "ok":
        return value
    if status in ("node", "invalid", "exists"):
        raise ValueError(value)
    if status == "refused":
        raise PermissionError(value)
    if status == "timeout":
        raise TimeoutError(value)
    raise SpawnError(value)
