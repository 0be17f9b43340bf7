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


def TestOneInput(data: bytes) -> None:
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
