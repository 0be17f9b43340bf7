"""The eight Savina workloads, written once against savina_runtimes.

Each run_<workload>(rt, **params) creates the actors, starts the work and
returns (answer, expected); the answer is what the actor that ends the run
handed to finish(). Messages are tuples, ints, refs and the sentinel strings
below; every runtime passes them by reference inside the process, so the
sentinels are compared with `is`.
"""
from __future__ import annotations

from math import sin

from savina_runtimes import ANSWER, Behaviour, Unsupported

START = "start"
PONG = "pong"
STOP = "stop"
EXIT = "exit"
WORK = "work"
NEXT = "next"

TIMEOUT = 600.0  # seconds the main thread waits for the answer


def wait_answer(rt):
    if not rt.wait(TIMEOUT):
        raise RuntimeError(f"no answer within {TIMEOUT:g} s")
    if ANSWER.unsupported is not None:
        raise Unsupported(ANSWER.unsupported)
    return ANSWER.value


def perform_computation(theta):
    """Savina's performComputation: s = sin(theta), r = s * s. As in Savina,
    a non-positive r is an error, which keeps the result used."""
    s = sin(theta)
    r = s * s
    if r <= 0.0:
        raise ArithmeticError(f"unrealistic performComputation result {r}")
    return r


THETA = 37.2


class Collector(Behaviour):
    """Sums `reports` numbers, then hands the sum to the main thread."""

    def setup(self, reports):
        self.left = reports
        self.total = 0

    def receive(self, msg):
        self.total += msg
        self.left -= 1
        if not self.left:
            self.finish(self.total)
            self.stop()


# ---------------------------------------------------------------- pingpong

class Ping(Behaviour):
    def setup(self, n, pong):
        self.left = n
        self.pong = pong
        self.pongs = 0

    def receive(self, msg):
        if msg is PONG:
            self.pongs += 1
            if self.left:
                self.left -= 1
                self.tell(self.pong, self.me)  # a ping is the sender's ref
            else:
                self.tell(self.pong, STOP)
                self.finish(self.pongs)
                self.stop()
        elif msg is START:
            self.left -= 1
            self.tell(self.pong, self.me)


class Pong(Behaviour):
    def receive(self, msg):
        if msg is STOP:
            self.stop()
        else:
            self.tell(msg, PONG)  # answer the ping's sender


def run_pingpong(rt, n):
    pong = rt.spawn(Pong)
    ping = rt.spawn(Ping, n, pong)
    rt.teller(ping)(START)
    return wait_answer(rt), n


# ---------------------------------------------------------------- counting

class Counter(Behaviour):
    def setup(self):
        self.count = 0

    def receive(self, msg):
        if msg is WORK:
            self.count += 1
        else:  # "get": the asker's ref
            self.tell(msg, self.count)
            self.stop()


class Producer(Behaviour):
    def setup(self, n, counter):
        self.n = n
        self.counter = counter

    def receive(self, msg):
        if msg is START:
            tell, counter = self.tell, self.counter
            for _ in range(self.n):
                tell(counter, WORK)
            tell(counter, self.me)
        else:  # the counter's total
            self.finish(msg)
            self.stop()


def run_counting(rt, n):
    counter = rt.spawn(Counter)
    producer = rt.spawn(Producer, n, counter)
    rt.teller(producer)(START)
    return wait_answer(rt), n


# ---------------------------------------------------------------- fjthrput

class ThroughputWorker(Behaviour):
    def setup(self, n, collector):
        self.n = n
        self.handled = 0
        self.collector = collector
        self.acc = 0.0  # keeps every computation's result

    def receive(self, msg):
        self.acc += perform_computation(THETA)
        self.handled += 1
        if self.handled == self.n:
            self.tell(self.collector, self.handled)
            self.stop()


def run_fjthrput(rt, a, n):
    collector = rt.spawn(Collector, a)
    workers = [rt.spawn(ThroughputWorker, n, collector) for _ in range(a)]
    tells = [rt.teller(w) for w in workers]
    # Savina's sender is the main thread: message i goes to worker i mod a.
    for _ in range(n):
        for tell in tells:
            tell(WORK)
    return wait_answer(rt), a * n


# ---------------------------------------------------------------- fjcreate

class ForkJoinWorker(Behaviour):
    def receive(self, collector):
        perform_computation(THETA)
        self.tell(collector, 1)
        self.stop()


def run_fjcreate(rt, n):
    collector = rt.spawn(Collector, n)
    spawn = rt.spawn
    teller = rt.teller
    for _ in range(n):
        teller(spawn(ForkJoinWorker))(collector)
    return wait_answer(rt), n


# ---------------------------------------------------------------- threadring

class RingNode(Behaviour):
    def receive(self, msg):
        if type(msg) is int:  # the token: hops still to go
            if msg:
                self.forwarded += 1
                self.tell(self.next, msg - 1)
            else:
                # Savina: the exit goes once round the ring; here it also
                # adds up how many hops each node made.
                self.tell(self.next, (EXIT, self.size, 0))
        elif msg[0] is EXIT:
            left, hops = msg[1], msg[2] + self.forwarded
            if left > 1:
                self.tell(self.next, (EXIT, left - 1, hops))
            else:
                self.finish(hops)
            self.stop()
        else:  # (NEXT, next node, ring size), from the main thread
            _, self.next, self.size = msg
            self.forwarded = 0


def run_threadring(rt, n, r):
    nodes = [rt.spawn(RingNode) for _ in range(n)]
    for i, node in enumerate(nodes):
        rt.teller(node)((NEXT, nodes[(i + 1) % n], n))
    rt.teller(nodes[0])(r)
    return wait_answer(rt), r


# ---------------------------------------------------------------- chameneos

FADED = 3


def complement(a, b):
    # colours 0, 1, 2: the same colour stays, two different give the third
    return a if a == b else 3 - a - b


class Mall(Behaviour):
    def setup(self, meetings, creatures):
        self.left = meetings
        self.creatures = creatures
        self.waiting = None
        self.faded = 0
        self.total = 0

    def receive(self, msg):
        if type(msg) is tuple:  # (colour, creature): it wants to meet
            if self.left:
                if self.waiting is None:
                    self.waiting = msg
                else:
                    self.left -= 1
                    # the waiting creature learns who it meets
                    self.tell(self.waiting[1], msg)
                    self.waiting = None
            else:
                self.tell(msg[1], EXIT)
        elif msg is START:
            me = self.me
            for i in range(self.creatures):
                creature = self.spawn(Creature, me, i % 3)
                self.tell(creature, START)
        else:  # a faded creature's meeting count
            self.total += msg
            self.faded += 1
            if self.faded == self.creatures:
                self.finish(self.total)
                self.stop()


class Creature(Behaviour):
    def setup(self, mall, colour):
        self.mall = mall
        self.colour = colour
        self.meetings = 0

    def receive(self, msg):
        t = type(msg)
        if t is tuple:  # the mall paired us: (other's colour, other)
            self.colour = complement(self.colour, msg[0])
            self.meetings += 1
            self.tell(msg[1], self.colour)  # the other learns our colour
            self.tell(self.mall, (self.colour, self.me))
        elif t is int:  # the creature we met: its new colour
            self.colour = msg
            self.meetings += 1
            self.tell(self.mall, (self.colour, self.me))
        elif msg is START:
            self.tell(self.mall, (self.colour, self.me))
        else:  # EXIT
            self.colour = FADED
            self.tell(self.mall, self.meetings)
            self.stop()


def run_chameneos(rt, c, n):
    mall = rt.spawn(Mall, n, c)
    rt.teller(mall)(START)
    return wait_answer(rt), 2 * n


# ---------------------------------------------------------------- big

MASK32 = 0xFFFFFFFF


class BigWorker(Behaviour):
    def setup(self, index, n, sink):
        self.index = index
        self.n = n
        self.sink = sink
        self.pongs = 0
        self.peers = None
        self.rng = ((index + 1) * 0x9E3779B1) & MASK32  # xorshift32 seed, never 0

    def send_ping(self):
        x = self.rng
        x ^= (x << 13) & MASK32
        x ^= x >> 17
        x ^= (x << 5) & MASK32
        self.rng = x
        # a pseudo-random other actor
        j = x % (len(self.peers) - 1)
        if j >= self.index:
            j += 1
        self.tell(self.peers[j], self.me)  # a ping is the sender's ref

    def receive(self, msg):
        if msg is PONG:
            self.pongs += 1
            if self.pongs == self.n:
                self.tell(self.sink, self.pongs)
            else:
                self.send_ping()
        elif msg is START:
            self.send_ping()
        elif msg is EXIT:
            self.stop()
        elif type(msg) is list:  # every worker, from the main thread
            self.peers = msg
        else:  # a ping: answer its sender
            self.tell(msg, PONG)


class BigSink(Behaviour):
    def setup(self, workers):
        self.left = workers
        self.total = 0
        self.workers = None

    def receive(self, msg):
        if type(msg) is list:
            self.workers = msg
            return
        self.total += msg  # a worker's pongs: it is done
        self.left -= 1
        if not self.left:
            for w in self.workers:
                self.tell(w, EXIT)
            self.finish(self.total)
            self.stop()


def run_big(rt, w, n):
    sink = rt.spawn(BigSink, w)
    workers = [rt.spawn(BigWorker, i, n, sink) for i in range(w)]
    rt.teller(sink)(workers)
    tells = [rt.teller(x) for x in workers]
    for tell in tells:
        tell(workers)
    for tell in tells:
        tell(START)
    return wait_answer(rt), w * n


# ---------------------------------------------------------------- skynet

class SkynetNode(Behaviour):
    def receive(self, msg):
        if type(msg) is int:  # a child's sum
            self.sum += msg
            self.pending -= 1
            if not self.pending:
                self.report(self.sum)
        else:  # (parent or None, first number, leaves below)
            self.parent, num, size = msg
            if size == 1:
                self.report(num)
                return
            size //= 10
            me = self.me
            for i in range(10):
                self.tell(self.spawn(SkynetNode), (me, num + i * size, size))
            self.sum = 0
            self.pending = 10

    def report(self, value):
        if self.parent is None:
            self.finish(value)
        else:
            self.tell(self.parent, value)
        self.stop()


def run_skynet(rt, leaves):
    root = rt.spawn(SkynetNode)
    rt.teller(root)((None, 0, leaves))
    return wait_answer(rt), leaves * (leaves - 1) // 2


BEHAVIOURS = [Collector, Ping, Pong, Counter, Producer, ThroughputWorker, ForkJoinWorker,
              RingNode, Mall, Creature, BigWorker, BigSink, SkynetNode]

# workload -> (runner, Savina default parameters)
WORKLOADS = {
    "pingpong": (run_pingpong, {"n": 40000}),
    "counting": (run_counting, {"n": 1000000}),
    "fjthrput": (run_fjthrput, {"a": 60, "n": 10000}),
    "fjcreate": (run_fjcreate, {"n": 40000}),
    "threadring": (run_threadring, {"n": 100, "r": 100000}),
    "chameneos": (run_chameneos, {"c": 100, "n": 200000}),
    "big": (run_big, {"w": 120, "n": 20000}),
    "skynet": (run_skynet, {"leaves": 1000000}),
}
