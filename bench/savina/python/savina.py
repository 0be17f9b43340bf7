#!/usr/bin/env python3
"""Savina workloads on Python actor runtimes: zactor, Pykka, Thespian.

    build/venv-peers/bin/python bench/savina/python/savina.py \\
        --runtime zactor|pykka|thespian <workload> key=value ...

Runs the workload once and prints one JSON line on stdout, as the contract in
bench/savina/README.md says; diagnostics go to stderr. The workloads are in
savina_workloads.py (written once), the three runtimes in savina_runtimes.py.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from savina_runtimes import RUNTIMES, Unsupported, make_runtime  # noqa: E402
from savina_workloads import BEHAVIOURS, WORKLOADS  # noqa: E402

USAGE = ("usage: savina.py --runtime zactor|pykka|thespian <workload> key=value ...\n"
         "workloads: " + ", ".join(
             f"{w} ({' '.join(f'{k}={v}' for k, v in d.items())})"
             for w, (_, d) in WORKLOADS.items()))

RUNTIME_NAMES = {"zactor": "zactor-py", "pykka": "pykka", "thespian": "thespian"}


def usage_error(msg):
    print(f"savina.py: {msg}\n{USAGE}", file=sys.stderr)
    sys.exit(2)


def parse_args(argv):
    runtime = "zactor"
    rest = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--runtime":
            if i + 1 >= len(argv):
                usage_error("--runtime needs a value")
            runtime = argv[i + 1]
            i += 2
            continue
        if a.startswith("--runtime="):
            runtime = a.split("=", 1)[1]
        elif a in ("-h", "--help"):
            print(USAGE)
            sys.exit(0)
        else:
            rest.append(a)
        i += 1
    if runtime not in RUNTIMES:
        usage_error(f"unknown runtime {runtime!r}")
    if not rest or rest[0] not in WORKLOADS:
        usage_error("missing or unknown workload")
    workload = rest[0]
    params = dict(WORKLOADS[workload][1])
    for kv in rest[1:]:
        key, sep, value = kv.partition("=")
        if not sep or key not in params:
            usage_error(f"bad parameter {kv!r} for {workload}")
        try:
            params[key] = int(value)
        except ValueError:
            usage_error(f"{key} must be an integer, not {value!r}")
        if params[key] < 1:
            usage_error(f"{key} must be at least 1")
    if workload == "skynet":
        leaves = params["leaves"]
        while leaves % 10 == 0:
            leaves //= 10
        if leaves != 1:
            usage_error("skynet: leaves must be a power of 10")
    if workload == "chameneos" and params["c"] < 2:
        usage_error("chameneos: c must be at least 2 (creatures meet in pairs)")
    if workload == "big" and params["w"] < 2:
        usage_error("big: w must be at least 2 (actors ping other actors)")
    return runtime, workload, params


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv):
    runtime, workload, params = parse_args(argv)
    name = RUNTIME_NAMES[runtime]
    head = {"workload": workload, "runtime": name, "params": params}
    run, _ = WORKLOADS[workload]

    rt = make_runtime(runtime, BEHAVIOURS)
    try:
        rt.check(workload, params)
    except Unsupported as e:
        rt.close()
        emit(dict(head, ok=False, unsupported=str(e)))
        return 0

    # The clock covers the workload only: from the first actor creation to
    # the answer; starting and shutting down the runtime are outside it.
    t0 = time.perf_counter()
    try:
        result, expected = run(rt, **params)
    except Unsupported as e:
        # e.g. Pykka out of threads: this size is beyond the runtime here.
        emit(dict(head, ok=False, unsupported=str(e)))
        os._exit(0)  # thousands of threads may be left stuck: do not join them
    except Exception as e:  # a run that could not finish: say why on stderr
        traceback.print_exc()
        emit(dict(head, seconds=round(time.perf_counter() - t0, 6), ok=False, result=None,
                  error=str(e)))
        os._exit(1)
    seconds = time.perf_counter() - t0

    rt.close()
    ok = result == expected
    emit(dict(head, seconds=round(seconds, 6), ok=ok, result=result, expected=expected))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
