"""The repaired wheel (``make wheel``: build/dist/zactor-*.whl) in a fresh
virtualenv: it installs without a compiler, runs a Python actor and a Lua
actor, and its extension loads libmsgpackc and liblua5.4 from the wheel
(zactor.libs/), not from /usr/lib. Also: the sdist holds what a build from
source needs, and every artefact carries the one version (zactor.h).

``make test-python`` builds the wheel first (``make wheel``); run alone, the
fixture calls ``make wheel`` itself (a no-op when it is up to date). A wheel
that cannot be built or installed fails these tests, never skips them.
"""
import glob
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import textwrap
import zipfile

import pytest

import zactor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIST = os.path.join(ROOT, "build", "dist")


def header_version():
    with open(os.path.join(ROOT, "csrc", "include", "zactor.h")) as f:
        parts = dict(re.findall(r"#define\s+ZA_VERSION_(MAJOR|MINOR|PATCH)\s+(\d+)", f.read()))
    return "{MAJOR}.{MINOR}.{PATCH}".format(**parts)


def _one(pattern):
    found = glob.glob(os.path.join(DIST, pattern))
    assert len(found) == 1, f"expected one {pattern} in {DIST}, found {found}"
    return found[0]


@pytest.fixture(scope="session")
def dist():
    r = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "wheel"],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        pytest.fail("make wheel failed:\n" + (r.stdout + r.stderr)[-4000:])
    return {"wheel": _one("zactor-*.whl"), "sdist": _one("zactor-*.tar.gz")}


@pytest.fixture(scope="session")
def venv(dist, tmp_path_factory):
    """A fresh virtualenv with only the wheel installed (no index, no build)."""
    d = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", str(d / "venv")], check=True, timeout=300)
    py = str(d / "venv" / "bin" / "python")
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        "--only-binary", ":all:", dist["wheel"]],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "pip install of the wheel failed:\n" + r.stdout + r.stderr
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['platlib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    return {"python": py, "site": os.path.realpath(site), "cwd": str(d)}


def _clean_env():
    # nothing may lead the interpreter or the loader to the checkout or to
    # build/venv: the wheel's own files only
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "LD_LIBRARY_PATH", "LD_PRELOAD",
                        "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def test_wheel_is_repaired_and_tagged(dist):
    name = os.path.basename(dist["wheel"])
    m = re.fullmatch(r"zactor-([^-]+)-(cp\d+)-(cp\d+)-(.+)\.whl", name)
    assert m, name
    assert m.group(1) == header_version()
    # auditwheel's tag: a manylinux (glibc) or musllinux policy for this machine,
    # never the unrepaired linux_<arch>
    assert re.fullmatch(r"(manylinux|musllinux)_\d+_\d+_" + platform.machine(), m.group(4)), name
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = z.namelist()
    libs = [n for n in names if n.startswith("zactor.libs/")]
    assert any(re.match(r"zactor\.libs/libmsgpackc-[0-9a-f]+\.so", n) for n in libs), libs
    assert any(re.match(r"zactor\.libs/liblua5-[0-9a-f]+\.4\.so|zactor\.libs/liblua5\.4-[0-9a-f]+", n)
               for n in libs), libs
    assert any(re.match(r"zactor/_zactor\..*\.so$", n) for n in names), names
    assert not [n for n in names if n.endswith((".c", ".h"))], "sources in the wheel"


ACTORS = textwrap.dedent("""
    import json, sys, zactor

    class Counter(zactor.Actor):
        def __init__(self, start=0):
            self.n = start
        def receive(self, msg):
            op, *args = msg
            if op == "add":
                self.n += args[0]
            elif op == "get":
                return self.n

    LUA = '''
    local n = 0
    return {
      init = function(ctx, start) n = start or 0 end,
      receive = function(ctx, msg)
        if msg[1] == "add" then n = n + msg[2] elseif msg[1] == "get" then return n end
      end,
    }
    '''

    with zactor.System(workers=2) as system:
        py = system.spawn(Counter, 10)
        py.tell(("add", 5))
        py_result = py.ask(("get",), timeout=5.0)
        lua = system.spawn_lua(LUA, 10, name="lua-counter")
        lua.tell(["add", 5])
        lua_result = lua.ask(["get"], timeout=5.0)
        teller = system.spawn(lambda i: lua.tell(["add", i]))  # Python tells Lua
        for i in range(10):
            teller.ask(i, timeout=5.0)
        lua_after = lua.ask(["get"], timeout=5.0)

    with open("/proc/self/maps") as f:
        mapped = sorted({line.split()[-1] for line in f if ".so" in line})
    print(json.dumps({"file": zactor.__file__, "ext": zactor._zactor.__file__,
                      "version": zactor.__version__, "py": py_result, "lua": lua_result,
                      "lua_after": lua_after, "mapped": mapped}))
""")


@pytest.fixture(scope="session")
def run_from_wheel(venv):
    r = subprocess.run([venv["python"], "-c", ACTORS], capture_output=True, text=True,
                       cwd=venv["cwd"], env=_clean_env(), timeout=120)
    assert r.returncode == 0, "actors from the wheel failed:\n" + r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _inside(path, directory):
    return os.path.commonpath([os.path.realpath(path), directory]) == directory


def test_wheel_runs_python_and_lua_actors(venv, run_from_wheel):
    out = run_from_wheel
    assert _inside(out["file"], venv["site"]), out["file"]
    assert _inside(out["ext"], venv["site"]), out["ext"]
    assert out["py"] == 15
    assert out["lua"] == 15
    assert out["lua_after"] == 60
    assert out["version"] == header_version()


def test_wheel_process_maps_bundled_libs(venv, run_from_wheel):
    # what the loader really mapped into the process that ran the actors
    libdir = os.path.join(venv["site"], "zactor.libs")
    mapped = run_from_wheel["mapped"]
    for lib in ("libmsgpackc", "liblua5"):
        paths = [p for p in mapped if os.path.basename(p).startswith(lib)]
        assert paths, f"{lib} not mapped: {mapped}"
        for p in paths:
            assert _inside(p, libdir), f"{lib} mapped from {p}, not from {libdir}"


def test_ldd_resolves_libs_inside_the_wheel(venv, run_from_wheel):
    ext = run_from_wheel["ext"]
    r = subprocess.run(["ldd", ext], capture_output=True, text=True, env=_clean_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "not found" not in r.stdout, r.stdout
    resolved = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
        if m:
            resolved[m.group(1)] = m.group(2)
    libdir = os.path.join(venv["site"], "zactor.libs")
    for lib in ("libmsgpackc", "liblua5"):
        hits = {k: v for k, v in resolved.items() if k.startswith(lib)}
        assert hits, f"{lib} is not a dependency of {ext}:\n{r.stdout}"
        for needed, path in hits.items():
            assert _inside(path, libdir), f"{needed} => {path}, not inside {libdir}\n{r.stdout}"


def test_sdist_has_the_sources(dist):
    # the wheel above was built from this sdist (python -m build: sdist first,
    # then the wheel from the unpacked sdist), so a missing file fails it too
    with tarfile.open(dist["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    wanted = {"README.md", "setup.py", "pyproject.toml", "csrc/include/zactor.h",
              "csrc/zactor.pc.in"}
    for pattern in ("csrc/**/*.c", "csrc/**/*.h", "python/zactor/*.c", "python/zactor/*.h",
                    "python/zactor/*.py", "python/zactor/*.pyi"):
        wanted |= {os.path.relpath(p, ROOT)
                   for p in glob.glob(os.path.join(ROOT, pattern), recursive=True)}
    missing = sorted(wanted - names)
    assert not missing, f"missing from {os.path.basename(dist['sdist'])}: {missing}"
    assert os.path.basename(dist["sdist"]) == f"zactor-{header_version()}.tar.gz"


def test_one_version_everywhere(dist):
    v = header_version()
    assert zactor.__version__ == v  # the package under test (build/venv)
    make_v = subprocess.run(["make", "--no-print-directory", "-s", "-C", ROOT, "version"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert make_v == v  # what zactor.pc and the release rockspec get
    pc = os.path.join(ROOT, "build", "release", "zactor.pc")
    if os.path.exists(pc):  # tests/install/test_install.sh checks the installed one
        with open(pc) as f:
            assert f"Version: {v}\n" in f.read()
