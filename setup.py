"""Build script for the zactor Python package.

The extension ``zactor._zactor`` compiles the CPython glue (python/zactor/
_zactor.c) together with every runtime source in csrc/ directly: the binding
holds no copy of runtime code. MessagePack comes from msgpack-c (libmsgpackc,
Debian package libmsgpack-dev), as for the C library.
"""
import glob
import os
import shutil
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _rel(paths):
    # setuptools wants paths relative to setup.py
    return sorted(os.path.relpath(p, HERE) for p in paths)


def _pkgconfig(flag):
    if not shutil.which("pkg-config"):
        return []
    try:
        out = subprocess.run(["pkg-config", flag, "msgpack"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return out.split()


runtime_sources = _rel(glob.glob(os.path.join(HERE, "csrc", "*.c")))
glue_sources = _rel(glob.glob(os.path.join(HERE, "python", "zactor", "*.c")))

libs = [f[2:] for f in _pkgconfig("--libs-only-l")] or ["msgpackc"]
lib_dirs = [f[2:] for f in _pkgconfig("--libs-only-L")]
inc_dirs = ["csrc/include", "csrc"] + [f[2:] for f in _pkgconfig("--cflags-only-I")]

ext = Extension(
    "zactor._zactor",
    sources=glue_sources + runtime_sources,
    include_dirs=inc_dirs,
    libraries=libs,
    library_dirs=lib_dirs,
    define_macros=[("_GNU_SOURCE", None)],
    # The runtime's own warning set (see the Makefile), warnings are errors.
    extra_compile_args=["-std=c11", "-pthread", "-Wall", "-Wextra", "-Werror", "-Wshadow",
                        "-Wno-unused-parameter", "-Wno-format-truncation",
                        "-Wno-missing-field-initializers", "-O2"],
    extra_link_args=["-pthread"],
)

setup(
    package_dir={"": "python"},
    packages=["zactor"],
    package_data={"zactor": ["py.typed", "*.pyi"]},
    exclude_package_data={"zactor": ["*.c"]},
    ext_modules=[ext],
)
