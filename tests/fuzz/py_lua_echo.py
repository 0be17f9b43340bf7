"""py_lua_echo - atheris target: Python values through a Lua echo actor.

atheris's FuzzedDataProvider builds a Python value of the value model (None,
bool, int, float, str, bytes, list, dict, nested) and sends it with
ref.ask(v) to a Lua actor that returns what it received. Checked:
 - nothing crashes; the echo stays alive and answers within 5 s;
 - every value comes back EQUAL to what was sent (types included, floats
   bit for bit, NaN == NaN), with the value model's documented exceptions:
   tuples come back as lists, bytearray as bytes (neither is generated
   here), and a float map key that is integral (and fits an int64) comes
   back as an int key (Lua turns such keys into integers);
 - a send is refused (TypeError/ValueError/OverflowError) only for a value
   the model cannot carry: an int outside [-2**63, 2**64), a NaN map key
   (lone surrogates are refused too, but never generated: the provider's
   ConsumeUnicodeNoSurrogates).
A mismatch raises AssertionError with both values (a libFuzzer crash, input
in build/fuzz/artifacts/py_lua_echo/). A summary is printed every
FUZZ_ECHO_REPORT inputs and at the end.

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


INT_MIN, UINT_MAX = -(2**63), 2**64 - 1


def expected(v):
    """What the echo must return: v, but integral float map keys as ints."""
    if isinstance(v, list):
        return [expected(x) for x in v]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if isinstance(k, float) and k.is_integer() and -(2**63) <= k < 2**63:
                k = int(k)
            out[k] = expected(x)
        return out
    return v


def why_refused(v):
    """The reason the model cannot carry v, or None."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return None if INT_MIN <= v <= UINT_MAX else "int out of range"
    if isinstance(v, list):
        for x in v:
            r = why_refused(x)
            if r:
                return r
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(k, float) and math.isnan(k):
                return "NaN map key"
            r = why_refused(k) or why_refused(x)
            if r:
                return r
    return None


def same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for k, v in a.items():
            # keys by type too (1 and True are one dict key in Python)
            match = [k2 for k2 in b if same(k, k2)]
            if len(match) != 1 or not same(v, b[match[0]]):
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
    refusal = why_refused(value)
    try:
        got = REF.ask(value, timeout=5.0)
    except (TypeError, ValueError, OverflowError) as e:
        STATS["clean errors"] += 1
        STATS[f"error {type(e).__name__}"] += 1
        if refusal is None:
            raise AssertionError(f"a value of the model was refused: {value!r:.300}: {e}")
        return
    except zactor.AskTimeout:
        raise  # an echo that does not answer in 5 s is a finding
    except zactor.ActorError as e:
        if not REF.is_alive():
            raise AssertionError("the echo actor died on a value")
        raise AssertionError(f"the echo failed on {value!r:.300}: {e}")
    STATS["round trips"] += 1
    if refusal is not None:
        raise AssertionError(f"sent although it cannot cross ({refusal}): {value!r:.300}")
    want = expected(value)
    if not same(want, got):
        STATS["changed"] += 1
        raise AssertionError(f"the echo changed the value ({kind(value)} -> {kind(got)}):\n"
                             f"  sent {value!r:.400}\n  got  {got!r:.400}")
    if REPORT_EVERY and (STATS["round trips"] % REPORT_EVERY) == 0:
        report()


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
