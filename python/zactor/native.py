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
_libs: Dict[str, Any] = {}  # loaded objects stay loaded: actors may still run their code
_ffi = None

_CDEF = """
typedef struct za_behaviour_abi {
    const char *name;
    size_t state_size;
    void *start;
    void *receive;
    void *stop;
    const void *host;
} za_behaviour_abi;
"""


def _get_ffi():
    global _ffi
    if _ffi is None:
        try:
            import cffi
        except ImportError as e:  # pragma: no cover
            raise ImportError("zactor.native needs cffi: pip install 'zactor[native]'") from e
        ffi = cffi.FFI()
        ffi.cdef(_CDEF)
        # Make the runtime's symbols (za_*) visible to objects loaded later.
        ffi.dlopen(_zactor.__file__, ffi.RTLD_NOW | ffi.RTLD_GLOBAL | ffi.RTLD_NOLOAD)
        _ffi = ffi
    return _ffi


def behaviour_address(path: str, symbol: str) -> int:
    """Load ``path`` (once) and return the address of its ``za_behaviour symbol``."""
    ffi = _get_ffi()
    path = os.path.abspath(path)
    with _lock:
        entry = _libs.get(path)
        if entry is None:
            import cffi

            own = cffi.FFI()
            own.include(ffi)
            lib = own.dlopen(path, own.RTLD_NOW | own.RTLD_LOCAL)
            entry = _libs[path] = {"ffi": own, "lib": lib, "symbols": {}}
        syms = entry["symbols"]
        if symbol not in syms:
            own = entry["ffi"]
            if not symbol.isidentifier():
                raise ValueError(f"not a C identifier: {symbol!r}")
            try:
                own.cdef(f"extern za_behaviour_abi {symbol};")  # not const: cffi treats const as a constant
            except Exception as e:  # cdef of this symbol already attempted
                raise LookupError(f"cannot declare {symbol}: {e}") from e
            try:
                ptr = own.addressof(entry["lib"], symbol)
            except (AttributeError, KeyError, OSError) as e:
                raise LookupError(f"{path} has no symbol {symbol!r}") from e
            syms[symbol] = int(own.cast("uintptr_t", ptr))
        return syms[symbol]


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
