"""The cluster: zactor processes that share a Redis membership table and talk
over ZeroMQ links, so actors on any member can tell, ask, watch and look up
each other. See ``Cluster``.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, List, NamedTuple, Optional, Union

from . import _zactor
from ._zactor import NodeDownError  # noqa: F401  (re-exported)

__all__ = ["Cluster", "Node", "NodeUp", "NodeDown", "Expelled", "NodeDownError"]


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

    Raises ``ConnectionError`` if Redis cannot be reached, ``ValueError`` for
    a bad setting or a taken ``node_name``.
    """

    def __init__(self, redis: str, **kwargs: Any) -> None:
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
