"""Native C behaviours from Python, through cffi.

A native behaviour is a ``za_behaviour`` (see ``zactor.h``) exported by a
shared object. ``spawn(system, path, symbol, *args)`` (also
``System.spawn_native``) loads the object with cffi, takes the address of the
behaviour and spawns it on the system's workers, where it runs at full native
speed next to the Python actors.

The shared object is linked against nothing: its ``za_*`` calls resolve to the
runtime inside the ``zactor._zactor`` extension, whose symbols are made global
before the first native object is loaded. Arguments: one ``bytes`` object is
passed as is; otherwise the arguments go as one MessagePack array (none: no
bytes). Messages from Python to a native actor are MessagePack (``tag`` 0
unless ``tell(msg, tag=...)``); its MessagePack replies come back as Python
values.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Dict, Optional

from . import _zactor

_lock = threading.Lock()
_addrs: Dict[tuple, int] = {}  # (path, symbol) -> address; loaded objects stay loaded
_ffi = None
_rt = None  # the runtime inside the zactor._zactor extension, through cffi

_CDEF = """
typedef struct za_behaviour za_behaviour;
int za_behaviour_load(const char *path, const char *symbol, const za_behaviour **out);
const char *za_last_error(void);
"""

ZA_EINVAL = -1
ZA_ENOTFOUND = -9


def _get_ffi():
    global _ffi, _rt
    if _ffi is None:
        try:
            import cffi
        except ImportError as e:  # pragma: no cover
            raise ImportError("zactor.native needs cffi: pip install 'zactor[native]'") from e
        ffi = cffi.FFI()
        ffi.cdef(_CDEF)
        # Make the runtime's symbols (za_*) visible to objects loaded later,
        # and reach its za_behaviour_load.
        _rt = ffi.dlopen(_zactor.__file__, ffi.RTLD_NOW | ffi.RTLD_GLOBAL | ffi.RTLD_NOLOAD)
        _ffi = ffi
    return _ffi


def behaviour_address(path: str, symbol: str) -> int:
    """Load ``path`` (once) and return the address of its ``za_behaviour symbol``.

    The runtime checks the symbol before anything reads it as a behaviour
    (``za_behaviour_load``): a function, a smaller variable or a table built
    against another ``zactor.h`` raises ValueError; a missing symbol
    LookupError; an object that cannot be loaded OSError.
    """
    ffi = _get_ffi()
    # a bare name ("libfoo.so.1") is looked up like dlopen does, unless a
    # file of that name is in the current directory (as before)
    if os.sep in path or os.path.exists(path):
        path = os.path.abspath(path)
    if "\0" in path or "\0" in symbol:
        raise ValueError("path and symbol must not contain NUL characters")
    if not symbol.isidentifier():
        raise ValueError(f"not a C identifier: {symbol!r}")
    key = (path, symbol)
    with _lock:
        addr = _addrs.get(key)
        if addr is None:
            out = ffi.new("const za_behaviour **")
            rc = _rt.za_behaviour_load(os.fsencode(path), symbol.encode(), out)
            if rc != 0:
                why = ffi.string(_rt.za_last_error()).decode("utf-8", "replace")
                if rc == ZA_ENOTFOUND and why.startswith("cannot load"):
                    raise OSError(why)
                if rc == ZA_ENOTFOUND:
                    raise LookupError(why)
                raise ValueError(why)
            addr = _addrs[key] = int(ffi.cast("uintptr_t", out[0]))
        return addr


def pack_args(args: tuple) -> bytes:
    """The bytes a native start() receives for spawn arguments."""
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    if not args:
        return b""
    return _zactor._pack(list(args))


def spawn(system, path: str, symbol: str, *args: Any, name: Optional[str] = None):
    """Spawn the native behaviour ``symbol`` of the shared object ``path``."""
    addr = behaviour_address(path, symbol)
    return system._spawn_behaviour(addr, pack_args(args), name)
