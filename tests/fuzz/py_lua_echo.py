"""py_lua_echo - atheris target: Python values through a Lua echo actor.

atheris's FuzzedDataProvider builds a Python value of the value model (None,
bool, int, float, str, bytes, list, dict, nested) and sends it with
ref.ask(v) to a Lua actor that returns what it received. Checked for now:
nothing crashes, and every failure is a clean exception (TypeError,
ValueError, OverflowError for values that cannot cross, or
zactor.ActorError). Value equality is NOT asserted yet (the mapping is
being fixed elsewhere); instead the target counts the round trips that came
back changed and prints a summary (every FUZZ_ECHO_REPORT inputs and at the
end), e.g. "py_lua_echo: 1234 round trips, 56 changed the value, 7 clean
errors".

Run: build/venv-fuzz/bin/python tests/fuzz/py_lua_echo.py [libFuzzer flags] CORPUS...
"""
import atexit
import collections
import ctypes
import math
import os
import sys

import atheris

with atheris.instrument_imports():
    import zactor

print(f"{os.path.basename(__file__)}: zactor from {os.path.dirname(zactor.__file__)}",
      file=sys.stderr, flush=True)

ECHO = "return { receive = function(ctx, msg) return msg end }\n"
MAX_DEPTH = 6
MAX_ITEMS = 8

SYSTEM = zactor.System(workers=1)
REF = SYSTEM.spawn_lua(ECHO)

STATS = collections.Counter()
EXAMPLES = {}
REPORT_EVERY = int(os.environ.get("FUZZ_ECHO_REPORT", "5000"))


def make_value(fdp: atheris.FuzzedDataProvider, depth: int = 0):
    kinds = 8 if depth < MAX_DEPTH else 6
    k = fdp.ConsumeIntInRange(0, kinds - 1)
    if k == 0:
        return None
    if k == 1:
        return fdp.ConsumeBool()
    if k == 2:
        width = fdp.ConsumeIntInRange(1, 9)
        return fdp.ConsumeInt(width)  # up to 72 bits: past int64/uint64 too
    if k == 3:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if k == 4:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 24))
    if k == 5:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24))
    n = fdp.ConsumeIntInRange(0, MAX_ITEMS)
    if k == 6:
        return [make_value(fdp, depth + 1) for _ in range(n)]
    d = {}
    for _ in range(n):
        key = make_value(fdp, MAX_DEPTH)  # scalar keys
        try:
            d[key] = make_value(fdp, depth + 1)
        except TypeError:  # unhashable: cannot happen with scalar keys
            pass
    return d


def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b or not same(v, b[k]):
                return False
        return True
    return a == b


def kind(v) -> str:
    return type(v).__name__


def report() -> None:
    sent = STATS["round trips"] + STATS["clean errors"]
    print(f"py_lua_echo: {sent} values sent, {STATS['round trips']} round trips, "
          f"{STATS['changed']} changed the value, {STATS['clean errors']} clean errors",
          file=sys.stderr, flush=True)
    errs = ", ".join(f"{k[6:]} {v}" for k, v in sorted(STATS.items()) if k.startswith("error "))
    if errs:
        print(f"  clean errors by type: {errs}", file=sys.stderr, flush=True)
    for what, (n, example) in sorted(EXAMPLES.items(), key=lambda kv: -kv[1][0])[:8]:
        print(f"  changed {what}: {n}x, e.g. {example}", file=sys.stderr, flush=True)


atexit.register(report)
# libFuzzer ends the process with exit() from C, which skips Python's atexit:
# register the summary with the C library's atexit too (a ctypes callback
# takes the GIL itself). Printed once either way.
_REPORTED = []


def _report_once(_arg=None) -> None:
    if not _REPORTED:
        _REPORTED.append(1)
        report()


_C_REPORT = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_report_once)
ctypes.CDLL(None).__cxa_atexit(_C_REPORT, None, None)  # atexit() itself is not exported
atexit.unregister(report)
atexit.register(_report_once)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    value = make_value(fdp)
    try:
        got = REF.ask(value, timeout=5.0)
    except (TypeError, ValueError, OverflowError) as e:
        STATS["clean errors"] += 1
        STATS[f"error {type(e).__name__}"] += 1
        return
    except zactor.AskTimeout:
        raise  # an echo that does not answer in 5 s is a finding
    except zactor.ActorError:
        STATS["clean errors"] += 1
        if not REF.is_alive():
            raise AssertionError("the echo actor died on a value")
        return
    STATS["round trips"] += 1
    if not same(value, got):
        STATS["changed"] += 1
        what = f"{kind(value)} -> {kind(got)}"
        n, ex = EXAMPLES.get(what, (0, None))
        if ex is None:
            ex = f"{value!r:.80} -> {got!r:.80}"
        EXAMPLES[what] = (n + 1, ex)
    if REPORT_EVERY and (STATS["round trips"] % REPORT_EVERY) == 0:
        report()


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
