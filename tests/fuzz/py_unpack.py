"""py_unpack - atheris target for zactor.System.unpack (bytes -> value).

Every input must either decode to a value or raise ValueError / TypeError;
any other exception is a finding, and so is a crash of the process (the
decoder is C). Also counted, not asserted (value mapping is being fixed
elsewhere): decoded values that zactor.pack refuses to send again (the value
model should be closed); the summary line at the end gives the count and an
example. FUZZ_STRICT_PACK=1 turns that into a failure.

Run: build/venv-fuzz/bin/python tests/fuzz/py_unpack.py [libFuzzer flags] CORPUS...
"""
import atexit
import collections
import ctypes
import os
import sys

import atheris

with atheris.instrument_imports():
    import zactor

print(f"{os.path.basename(__file__)}: zactor from {os.path.dirname(zactor.__file__)}",
      file=sys.stderr, flush=True)

SYSTEM = zactor.System(workers=0)
STRICT_PACK = os.environ.get("FUZZ_STRICT_PACK", "0") not in ("", "0")
STATS = collections.Counter()
EXAMPLE = []


def report() -> None:
    print(f"py_unpack: {STATS['inputs']} inputs, {STATS['values']} decoded, "
          f"{STATS['rejected']} rejected cleanly, {STATS['no_repack']} decoded values "
          f"that zactor.pack refuses", file=sys.stderr, flush=True)
    if EXAMPLE:
        print(f"  no repack: e.g. {EXAMPLE[0]}", file=sys.stderr, flush=True)


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


SKIP_KNOWN = os.environ.get("FUZZ_SKIP_KNOWN", "0") not in ("", "0")


def oversized_count(data: bytes) -> bool:
    """Known finding value-oversized-count (tests/fuzz/crashes/README.md): an
    array/map header declaring more elements than bytes remain. Same lenient
    walk as fuzz_known_oversized_count in fuzz_util.h."""
    fixed = {0xca: 4, 0xcb: 8, 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8, 0xd0: 1, 0xd1: 2,
             0xd2: 4, 0xd3: 8, 0xd4: 2, 0xd5: 3, 0xd6: 5, 0xd7: 9, 0xd8: 17}
    lenw = {0xc4: (1, 0), 0xc5: (2, 0), 0xc6: (4, 0), 0xd9: (1, 0), 0xda: (2, 0),
            0xdb: (4, 0), 0xc7: (1, 1), 0xc8: (2, 1), 0xc9: (4, 1)}
    contw = {0xdc: (2, 1), 0xdd: (4, 1), 0xde: (2, 2), 0xdf: (4, 2)}
    todo, p, n = 1, 0, len(data)
    while todo and p < n:
        todo -= 1
        c = data[p]
        p += 1
        if c <= 0x7f or c >= 0xe0 or c in (0xc0, 0xc2, 0xc3):
            continue
        if 0xa0 <= c <= 0xbf:
            p += c & 0x1f
            continue
        if 0x80 <= c <= 0x9f:
            items = (c & 0x0f) * (2 if c < 0x90 else 1)
        elif c in fixed:
            p += fixed[c]
            continue
        elif c in lenw:
            w, extra = lenw[c]
            p += w + int.from_bytes(data[p:p + w], "big") + extra
            continue
        elif c in contw:
            w, mul = contw[c]
            if p + w > n:
                return False
            items = int.from_bytes(data[p:p + w], "big") * mul
            p += w
        else:
            return False
        if items > n - p:
            return True
        todo += items
    return False


def TestOneInput(data: bytes) -> None:
    if SKIP_KNOWN and oversized_count(data):
        return
    STATS["inputs"] += 1
    try:
        value = SYSTEM.unpack(data)
    except (ValueError, TypeError):
        STATS["rejected"] += 1
        return
    STATS["values"] += 1
    try:
        zactor.pack(value)
    except (ValueError, TypeError) as e:
        STATS["no_repack"] += 1
        if not EXAMPLE:
            EXAMPLE.append(f"unpack({data[:40]!r}) = {value!r:.60} -> {type(e).__name__}: {e}")
        if STRICT_PACK:
            raise AssertionError(f"unpack({data!r}) = {value!r} does not pack again: {e}") from e


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
