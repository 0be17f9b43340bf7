"""Shared fixtures for the zactor Python tests."""
import socket
import subprocess
import time

import pytest

import zactor


@pytest.fixture
def system():
    with zactor.System(workers=2) as s:
        yield s


def wait_for(pred, timeout=3.0, interval=0.005):
    """Poll pred() until true or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_answers(port):
    """True when a redis-server on 127.0.0.1:port answers PING."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
            c.sendall(b"PING\r\n")
            return c.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(directory, port, durable=False, log=subprocess.DEVNULL):
    """Start a redis-server on 127.0.0.1:port with its files in directory and
    wait (15 s at most) until it answers; the caller stops it (kill + wait),
    also when this raises. durable: appendfsync always, so a write it
    acknowledged survives a crash."""
    persist = ["--appendonly", "yes", "--appendfsync", "always"] if durable else \
        ["--appendonly", "no"]
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", str(directory), "--save", ""] + persist,
                            stdout=log, stderr=subprocess.STDOUT if log is not subprocess.DEVNULL
                            else subprocess.DEVNULL)
    if not wait_for(lambda: redis_answers(port) or proc.poll() is not None, 15) \
            or proc.poll() is not None:
        proc.kill()
        proc.wait(timeout=10)
        raise RuntimeError(f"redis-server on port {port} did not come up (rc={proc.poll()})")
    return proc


class Counter(zactor.Actor):
    """The issue's example actor."""

    def __init__(self, start=0):
        self.n = start

    def receive(self, msg):
        op, *args = msg
        if op == "add":
            self.n += args[0]
        elif op == "get":
            return self.n
        elif op == "boom":
            raise ValueError("boom")
        elif op == "sleep":
            time.sleep(args[0])
            return "slept"
        elif op == "echo":
            return args[0]
