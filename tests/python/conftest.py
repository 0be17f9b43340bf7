"""Shared fixtures for the zactor Python tests."""
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
