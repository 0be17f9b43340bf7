"""The three Python actor runtimes behind one small interface.

Each workload (savina_workloads.py) is written once as plain "behaviour"
classes. A runtime turns a behaviour class into an actor class of its own
library by mixing in a base that supplies, in that library's usual way:

    self.me                 this actor's own ref/address
    self.tell(ref, msg)     send a message (zactor: ActorRef.send, Pykka:
                            ActorRef.tell, each called unbound, so no extra
                            Python frame; Thespian: Actor.send)
    self.spawn(cls, *args)  start a child actor of behaviour cls
    self.stop()             stop this actor once the current message is done
    self.finish(value)      hand the workload's answer to the main thread

and calls the behaviour's setup(*args) once with the spawn arguments. On the
main thread a runtime offers spawn(cls, *args), teller(ref) (a callable that
sends to ref) and wait(timeout) (the answer given to finish).
"""
from __future__ import annotations

import functools
import os
import threading


class Behaviour:
    """Base of the workload classes. setup() gets spawn's arguments."""

    def setup(self):
        pass

    def receive(self, msg):
        raise NotImplementedError


def _needs_setup(cls):
    return cls.setup is not Behaviour.setup


class Answer:
    """The one answer of a run: set once by the actor that ends the workload."""

    def __init__(self):
        self.event = threading.Event()
        self.value = None
        self.unsupported = None  # why the runtime cannot go on at this size

    def set(self, value):
        self.value = value
        self.event.set()

    def fail_unsupported(self, reason):
        if self.unsupported is None:
            self.unsupported = reason
        self.event.set()


# The answer of the current run; actors of every runtime run in this process.
ANSWER = Answer()


def _finish(self, value):
    ANSWER.set(value)


class Unsupported(Exception):
    """This runtime cannot run the workload at the requested size."""


# ---------------------------------------------------------------- zactor

class ZactorRuntime:
    name = "zactor-py"

    def __init__(self):
        import zactor

        # One worker per core, as the suite asks of every runtime.
        self.system = zactor.System(workers=os.cpu_count())
        self.classes = {}

        classes = self.classes

        class Base(zactor.Actor):
            # ActorRef.send: tell() without options, the binding's fastest send
            tell = staticmethod(zactor.ActorRef.send)
            finish = _finish

            def __init__(self, *args):
                self.me = self.context.self_ref
                self.setup(*args)

            def spawn(self, cls, *args):
                return self.context.spawn(classes[cls], *args)

            def stop(self):
                self.context.stop()

        self.base = Base

    def actor_class(self, cls):
        if cls not in self.classes:
            # The behaviour first in the MRO: its receive() is the one zactor calls.
            self.classes[cls] = type(cls.__name__, (cls, self.base), {})
        return self.classes[cls]

    def spawn(self, cls, *args):
        return self.system.spawn(self.actor_class(cls), *args)

    def teller(self, ref):
        return ref.send

    def wait(self, timeout):
        return ANSWER.event.wait(timeout)

    def check(self, workload, params):
        pass

    def close(self):
        self.system.shutdown(timeout=10.0)


# ---------------------------------------------------------------- Pykka

def _thread_limit():
    """How many threads this process can reasonably hold: pid_max and
    threads-max are machine-wide, max_map_count is per process (each thread
    stack is two mappings: the stack and its guard page)."""
    limits = []
    for path, per_thread in (("/proc/sys/kernel/pid_max", 1),
                             ("/proc/sys/kernel/threads-max", 1),
                             ("/proc/sys/vm/max_map_count", 2)):
        try:
            with open(path) as f:
                limits.append(int(f.read()) // per_thread)
        except (OSError, ValueError):
            pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, ValueError, OSError):
        pass
    # Half of it: the machine's other processes need pids and threads too.
    return min(limits) // 2 if limits else 10_000


class PykkaRuntime:
    name = "pykka"

    def __init__(self):
        import pykka

        self.pykka = pykka
        self.classes = {}
        classes = self.classes

        def start(cls, args):
            try:
                return classes[cls].start(*args)
            except RuntimeError as e:  # "can't start new thread"
                ANSWER.fail_unsupported(f"one OS thread per actor: {e} "
                                        f"({threading.active_count()} threads alive)")
                raise Unsupported(ANSWER.unsupported) from e

        self.start = start

        class Base(pykka.ThreadingActor):
            # Daemon threads: a failed run must not keep the process alive.
            use_daemon_thread = True
            tell = staticmethod(pykka.ActorRef.tell)
            finish = _finish

            def __init__(self, *args):
                pykka.ThreadingActor.__init__(self)
                self.me = self.actor_ref
                self.setup(*args)

            def spawn(self, cls, *args):
                return start(cls, args)

            # stop() is Pykka's own Actor.stop(): it queues a stop message.

        self.base = Base

    def actor_class(self, cls):
        if cls not in self.classes:
            self.classes[cls] = type(cls.__name__, (cls, self.base), {"on_receive": cls.receive})
        return self.classes[cls]

    def spawn(self, cls, *args):
        self.actor_class(cls)
        return self.start(cls, args)

    def teller(self, ref):
        return ref.tell

    def wait(self, timeout):
        return ANSWER.event.wait(timeout)

    def check(self, workload, params):
        # skynet keeps every parent alive until its children answered: in the
        # worst case the whole tree is alive at once, one thread per actor.
        if workload == "skynet":
            actors = params["leaves"] * 10 // 9
            limit = _thread_limit()
            if actors > limit:
                raise Unsupported(
                    f"one OS thread per actor: skynet needs up to {actors} threads alive, "
                    f"more than this machine allows ({limit}: half of min(pid_max, "
                    f"threads-max, max_map_count/2, RLIMIT_NPROC))")

    def close(self):
        self.pykka.ActorRegistry.stop_all(block=True, timeout=10.0)


# ---------------------------------------------------------------- Thespian

class ThespianRuntime:
    """Thespian on simpleSystemBase: every actor runs in the main thread,
    one message at a time, whenever the main thread calls tell(). It is the
    fastest of Thespian's bases for this kind of work by far: the multiproc
    bases run one OS process per actor and carry every message through a
    queue or socket (~1.4 k ping-pong round trips/s here against ~80 k/s),
    and they cannot hold skynet's thousands of actors. Thespian has no
    threaded base."""

    name = "thespian"

    def __init__(self):
        from thespian import actors as th

        self.th = th
        # logDefs=False: leave Python's logging alone (no stderr handlers).
        self.system = th.ActorSystem("simpleSystemBase", logDefs=False)
        self.classes = {}
        classes = self.classes
        system_message = th.ActorSystemMessage
        exit_request = th.ActorExitRequest

        class Init:
            """Thespian creates actors without arguments; setup's arguments
            come in the first message, sent right after createActor."""

            __slots__ = ("args",)

            def __init__(self, args):
                self.args = args

        self.Init = Init

        class Base(th.Actor):
            tell = th.Actor.send
            finish = _finish

            @property
            def me(self):
                return self.myAddress

            def receiveMessage(self, msg, sender):
                if isinstance(msg, system_message):
                    return  # ChildActorExited, ActorExitRequest: not the workload's
                if type(msg) is Init:
                    self.setup(*msg.args)
                    return
                self.receive(msg)

            def spawn(self, cls, *args):
                addr = self.createActor(classes[cls])
                if cls.needs_setup:
                    self.send(addr, Init(args))
                return addr

            def stop(self):
                self.send(self.myAddress, exit_request())

        self.base = Base

    def actor_class(self, cls):
        if cls not in self.classes:
            cls.needs_setup = _needs_setup(cls)
            self.classes[cls] = type(cls.__name__, (cls, self.base), {})
        return self.classes[cls]

    def spawn(self, cls, *args):
        addr = self.system.createActor(self.actor_class(cls))
        if cls.needs_setup:
            self.system.tell(addr, self.Init(args))
        return addr

    def teller(self, ref):
        return functools.partial(self.system.tell, ref)

    def wait(self, timeout):
        # simpleSystemBase delivers every message before tell() returns:
        # by now the answer is there or it never will be.
        return ANSWER.event.is_set()

    def check(self, workload, params):
        pass

    def close(self):
        self.system.shutdown()


RUNTIMES = {"zactor": ZactorRuntime, "pykka": PykkaRuntime, "thespian": ThespianRuntime}


def make_runtime(name, behaviours):
    """Start runtime `name` and build its actor classes for `behaviours`
    (before the clock starts, and before actors spawn each other)."""
    rt = RUNTIMES[name]()
    for cls in behaviours:
        rt.actor_class(cls)
    return rt
