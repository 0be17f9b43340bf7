"""py_unpack - atheris target for zactor.System.unpack (bytes -> value).

Every input must either decode to a value or raise ValueError / TypeError;
any other exception is a finding, and so is a crash of the process (the
decoder is C). A value that decodes must also survive zactor.pack (the
value model is closed: what unpack returns, pack accepts), except a
decoded actor reference's system being elsewhere is not an issue here.

Run: build/venv-fuzz/bin/python tests/fuzz/py_unpack.py [libFuzzer flags] CORPUS...
"""
import sys

import atheris

with atheris.instrument_imports():
    import zactor

SYSTEM = zactor.System(workers=0)


def TestOneInput(data: bytes) -> None:
    try:
        value = SYSTEM.unpack(data)
    except (ValueError, TypeError):
        return
    # What unpack gives back must pack again (the model is closed). Lua-only
    # cases are not involved here: unpack builds plain Python values.
    try:
        zactor.pack(value)
    except (ValueError, TypeError) as e:
        raise AssertionError(f"unpack({data!r}) = {value!r} does not pack again: {e}") from e


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
