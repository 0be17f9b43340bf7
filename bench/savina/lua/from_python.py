#!/usr/bin/env python3
"""The Savina workloads as zactor Lua actors, spawned and driven from Python.

    python from_python.py --runtime zactor-lua <workload> key=value ...

The actors are the same behaviour modules as ``savina.lua --runtime zactor``
(``actors/*.lua``, one lua_State each, on the runtime's worker threads; they
never take the GIL). Python spawns the first actor with
``System.spawn_lua(path, *args)`` and receives the answer in a Python actor
(a plain callable) that sets a threading.Event the main thread waits on.
Prints one JSON line (see ../README.md). Needs the zactor package built with
Lua support (``pip install /work/main`` with liblua5.4-dev present).
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ACTORS = os.path.join(HERE, "actors")
TIMEOUT = float(os.environ.get("SAVINA_TIMEOUT", "600"))
RUNTIME_NAME = "zactor-lua-from-python"

# Savina defaults; driver = first actor; args after (report, dir); expected answer.
WORKLOADS = {
    "pingpong": dict(keys=[("n", 40000)], driver="pingpong_ping.lua",
                     args=lambda p: [p["n"]], expected=lambda p: p["n"]),
    "counting": dict(keys=[("n", 1000000)], driver="counting_producer.lua",
                     args=lambda p: [p["n"]], expected=lambda p: p["n"]),
    "fjthrput": dict(keys=[("a", 60), ("n", 10000)], driver="fjthrput_driver.lua",
                     args=lambda p: [p["a"], p["n"]], expected=lambda p: p["a"] * p["n"]),
    "fjcreate": dict(keys=[("n", 40000)], driver="fjcreate_driver.lua",
                     args=lambda p: [p["n"]], expected=lambda p: p["n"]),
    "threadring": dict(keys=[("n", 100), ("r", 100000)], driver="threadring_driver.lua",
                       args=lambda p: [p["n"], p["r"]], expected=lambda p: p["r"]),
    "chameneos": dict(keys=[("c", 100), ("n", 200000)], driver="chameneos_mall.lua",
                      args=lambda p: [p["c"], p["n"]], expected=lambda p: 2 * p["n"]),
    "big": dict(keys=[("w", 120), ("n", 20000)], driver="big_driver.lua",
                args=lambda p: [p["w"], p["n"]], expected=lambda p: p["w"] * p["n"]),
    "skynet": dict(keys=[("leaves", 1000000)], driver="skynet_node.lua", args=None,
                   expected=lambda p: p["leaves"] * (p["leaves"] - 1) // 2),
}


def usage(msg: str) -> None:
    sys.stderr.write(msg + "\nusage: from_python.py --runtime zactor-lua <workload> key=value ...\n")
    sys.exit(2)


def parse(argv: list[str]) -> tuple[str, dict]:
    runtime, wname, given = None, None, {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--runtime":
            if i + 1 >= len(argv):
                usage("--runtime needs a value")
            runtime = argv[i + 1]
            i += 1
        elif a.startswith("--runtime="):
            runtime = a.split("=", 1)[1]
        elif "=" in a:
            k, v = a.split("=", 1)
            try:
                given[k] = int(v)
            except ValueError:
                usage("bad argument: " + a)
        elif wname is None:
            wname = a
        else:
            usage("unexpected argument: " + a)
        i += 1
    if runtime != "zactor-lua":
        usage("unknown or missing --runtime (only zactor-lua)")
    if wname not in WORKLOADS:
        usage("unknown or missing workload")
    params = {}
    for k, default in WORKLOADS[wname]["keys"]:
        params[k] = given.pop(k, default)
    if given:
        usage(f"unknown key for {wname}: {next(iter(given))}")
    if any(v < 1 for v in params.values()):
        usage("every size must be >= 1")
    if wname == "skynet":
        lv = params["leaves"]
        if lv > 10**7 or 10 ** (len(str(lv)) - 1) != lv:
            usage("leaves must be a power of 10 (at most 10^7)")
    if wname == "big" and params["w"] < 2:
        usage("w must be >= 2")
    if wname == "chameneos" and params["c"] < 2:
        usage("c must be >= 2")
    return wname, params


def emit(wname: str, params: dict, fields: dict, code: int) -> None:
    out = {"workload": wname, "runtime": RUNTIME_NAME, "params": params}
    out.update(fields)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    # no shutdown: stopping what is still running (a big tree of actors, or a
    # run that timed out) is not part of the measurement
    os._exit(code)


def main() -> None:
    wname, params = parse(sys.argv[1:])
    w = WORKLOADS[wname]
    expected = w["expected"](params)
    import zactor

    if w["args"] is None:  # skynet: the root node (parent, its own path, start)
        node = os.path.join(ACTORS, "skynet_node.lua")
        driver_args = [node, len(str(params["leaves"])) - 1]
    else:
        driver_args = [ACTORS] + w["args"](params)

    done = threading.Event()
    box: list = []

    def on_result(msg):  # a Python actor: the run's answer arrives here
        box.append(msg)
        done.set()

    with zactor.System() as system:  # one worker per core
        t0 = time.perf_counter()
        report = system.spawn(on_result)
        # a handler that runs long (the producer's n sends) must not trip
        # the per-handler watchdog (5 s by default)
        system.spawn_lua(os.path.join(ACTORS, w["driver"]), report, *driver_args, budget=3600.0)
        finished = done.wait(TIMEOUT)
        secs = time.perf_counter() - t0
        if not finished:
            emit(wname, params, {"ok": False, "error": f"timed out after {TIMEOUT:g} s",
                                 "expected": expected}, 1)
        result = box[0]
        ok = result == expected
        emit(wname, params, {"seconds": round(secs, 6), "ok": ok, "result": result,
                             "expected": expected}, 0 if ok else 1)


if __name__ == "__main__":
    main()
