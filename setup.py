"""Build script for the zactor Python package.

The extension ``zactor._zactor`` compiles the CPython glue (python/zactor/
*.c, one file per concept) together with every runtime source in csrc/ directly: the binding
holds no copy of runtime code. MessagePack comes from msgpack-c (libmsgpackc,
Debian package libmsgpack-dev), as for the C library.
"""
import atexit
import glob
import os
import platform
import re
import shutil
import subprocess
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py


class build_ext_always(build_ext):
    # Recompile every source each time: setuptools compares a .c file only
    # with its own object, so a changed header (csrc/*.h, zactor.h)
    # left stale objects of the runtime in build/temp.* (a full build takes
    # a few seconds).
    def finalize_options(self):
        super().finalize_options()
        self.force = True


HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    # The one version number of zactor: ZA_VERSION_{MAJOR,MINOR,PATCH} in the
    # public header (the Makefile reads it for zactor.pc and the rockspec).
    parts = {}
    with open(os.path.join(HERE, "csrc", "include", "zactor.h")) as f:
        for line in f:
            m = re.match(r"#define\s+ZA_VERSION_(MAJOR|MINOR|PATCH)\s+(\d+)\b", line)
            if m:
                parts[m.group(1)] = m.group(2)
    return ".".join(parts[k] for k in ("MAJOR", "MINOR", "PATCH"))


VERSION = _version()


class build_py_version(build_py):
    # zactor.__version__ comes from zactor/_version.py, written into the
    # build (never into the source tree) from the header's version.
    def run(self):
        super().run()
        if not self.dry_run:
            target = os.path.join(self.build_lib, "zactor", "_version.py")
            self.mkpath(os.path.dirname(target))
            with open(target, "w") as f:
                f.write("# written by setup.py from csrc/include/zactor.h\n"
                        f"__version__ = {VERSION!r}\n")

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [
            os.path.join(self.build_lib, "zactor", "_version.py")]


def _rel(paths):
    # setuptools wants paths relative to setup.py
    return sorted(os.path.relpath(p, HERE) for p in paths)


def _pkgconfig(flag, pkg="msgpack"):
    if not shutil.which("pkg-config"):
        return None
    try:
        out = subprocess.run(["pkg-config", flag, pkg], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.split()


runtime_sources = _rel(glob.glob(os.path.join(HERE, "csrc", "*.c")))

# Subsystems in their own folders and the libraries each is built on
# (pkg-config name, fallback -l name); the Makefile holds the same table.
SUBSYSTEMS = {
    "cluster": [("libzmq", "zmq"), ("hiredis", "hiredis")],
    # libpq: headers only (None), loaded at run time by csrc/store/postgres.c
    "store": [("sqlite3", "sqlite3"), ("hiredis", "hiredis"), ("libpq", None)],
    # libmicrohttpd: headers only, loaded at run time by csrc/http/mhd.c
    "http": [("libmicrohttpd", None)],
    # grains (virtual actors): core, on top of the store; no library of its own
    "grain": [],
}
sub_pkgs = []
for _sub, _pkgs in SUBSYSTEMS.items():
    _srcs = glob.glob(os.path.join(HERE, "csrc", _sub, "*.c"))
    if _srcs:
        runtime_sources += _rel(_srcs)
        sub_pkgs += [p for p in _pkgs if p not in sub_pkgs]
glue_sources = _rel(glob.glob(os.path.join(HERE, "python", "zactor", "*.c")))

libs = [f[2:] for f in _pkgconfig("--libs-only-l") or []] or ["msgpackc"]
lib_dirs = [f[2:] for f in _pkgconfig("--libs-only-L") or []]
inc_dirs = ["csrc/include", "csrc"] + [f[2:] for f in _pkgconfig("--cflags-only-I") or []]
macros = [("_GNU_SOURCE", None)]
for _pkg, _lib in sub_pkgs:
    _i = _pkgconfig("--cflags-only-I", _pkg)
    _l = _pkgconfig("--libs-only-l", _pkg)
    _L = _pkgconfig("--libs-only-L", _pkg)
    inc_dirs += [f[2:] for f in _i or []]
    if _pkg == "libpq" and not _i and os.path.isdir("/usr/include/postgresql"):
        inc_dirs.append("/usr/include/postgresql")
    if _lib is None:  # headers only
        continue
    libs += [f[2:] for f in _l or ["-l" + _lib] if f[2:] not in libs]
    lib_dirs += [f[2:] for f in _L or []]

# Lua actors (System.spawn_lua): the Lua host (csrc/hosts/lua/*.c, the same
# files the Lua module compiles) and liblua5.4, when the Lua 5.4 headers are
# installed (Debian: liblua5.4-dev, installed by `make deps`). Without them the
# package still builds and spawn_lua raises a clear error. Unlike the Lua
# module, the extension links liblua: a Python process has no Lua core of its
# own, and every Lua actor's state comes from this one copy.
lua_cflags = _pkgconfig("--cflags-only-I", "lua5.4")
lua_libs = _pkgconfig("--libs-only-l", "lua5.4")
if lua_cflags is None and os.path.exists("/usr/include/lua5.4/lua.h"):
    lua_cflags, lua_libs = ["-I/usr/include/lua5.4"], ["-llua5.4"]
if lua_cflags is not None and os.environ.get("ZACTOR_NO_LUA") != "1":
    runtime_sources += _rel(glob.glob(os.path.join(HERE, "csrc", "hosts", "*.c"))
                            + glob.glob(os.path.join(HERE, "csrc", "hosts", "lua", "*.c")))
    inc_dirs += [f[2:] for f in lua_cflags]
    libs += [f[2:] for f in lua_libs or ["-llua5.4"]]
    macros.append(("ZA_WITH_LUA", "1"))

# Speed (measured with bench/python/bench_python.py):
#  - the runtime's internal symbols (za__*) are local (a version script) and
#    -Bsymbolic-functions binds the calls to the public za_* functions inside
#    the module: direct calls instead of PLT calls. The public za_* API stays
#    exported: native behaviours loaded by zactor.native resolve to it.
#  - TLS descriptors make thread-locals cheap in a shared object (the default
#    model called __tls_get_addr on every access: ~6% of a tell).
speed_flags = []
if platform.machine() in ("x86_64", "AMD64"):
    speed_flags.append("-mtls-dialect=gnu2")
_tmp = tempfile.mkdtemp(prefix="zactor-build-")
atexit.register(shutil.rmtree, _tmp, True)
_map = os.path.join(_tmp, "exports.map")
with open(_map, "w") as f:
    f.write("{ global: PyInit__zactor; za_[a-z]*; local: *; };\n")
link_flags = ["-pthread", "-Wl,--version-script=" + _map, "-Wl,-Bsymbolic-functions"]

ext = Extension(
    "zactor._zactor",
    sources=glue_sources + runtime_sources,
    include_dirs=inc_dirs,
    libraries=libs,
    library_dirs=lib_dirs,
    define_macros=macros,
    # The runtime's own warning set (see the Makefile), warnings are errors.
    extra_compile_args=["-std=c11", "-pthread", "-Wall", "-Wextra", "-Werror", "-Wshadow",
                        "-Wno-unused-parameter", "-Wno-format-truncation",
                        "-Wno-missing-field-initializers", "-O2"] + speed_flags,
    extra_link_args=link_flags,
)

setup(
    version=VERSION,
    package_dir={"": "python"},
    packages=["zactor"],
    package_data={"zactor": ["py.typed", "*.pyi"]},
    exclude_package_data={"zactor": ["*.c", "*.h"]},
    ext_modules=[ext],
    cmdclass={"build_ext": build_ext_always, "build_py": build_py_version},
)
