"""The Savina harness: zactor against its peers, same work, same machine, same run.

    build/venv-peers/bin/python bench/savina/run_peers.py [--runs 3] [--only pingpong,big]
        [--runtimes native,pykka] [--timeout 120] [--quick] [--no-chart]
        [--set [FAMILY.]WORKLOAD.KEY=VALUE ...]

`make bench-peers` builds every program and runs this (PEERS_ARGS="..." passes
options). The programs follow the contract in bench/savina/README.md: each run
is one process that runs one workload once, times it itself and prints one JSON
line. For each workload, each of the `--runs` rounds runs every selected
runtime once (A B C A B C ...), so all runtimes see the same machine load.

A run counts only when the program says "ok": true, result == expected, the
params it ran are the params it was given, and it exited 0. Anything else is
recorded as unsupported, failed, crashed, timeout or missing (program not
built), never as a number.

Outputs: bench/results/peers.json (machine, versions, sizes, every run), the
section between `<!-- peers:begin -->` and `<!-- peers:end -->` in
bench/RESULTS.md (the rest of the file is kept), bench/results/peers.png.
With --quick (a smoke test at tiny sizes) they go to build/savina/quick/
instead, so a smoke test never overwrites real figures. Progress goes to
stderr, the tables to stdout.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
NPROC = len(os.sched_getaffinity(0))
VENV_PY = "build/venv-peers/bin/python"

MARK_BEGIN = "<!-- peers:begin -->"
MARK_END = "<!-- peers:end -->"

WORKLOADS = ["pingpong", "counting", "fjthrput", "fjcreate", "threadring", "chameneos", "big", "skynet"]

FAMILIES = {
    "native": "Native (C, C++, Erlang)",
    "python": "Python",
    "lua": "Lua",
}


class Runtime:
    """One column: how to start its program and what must exist first."""

    def __init__(self, name, family, argv, needs, env=None):
        self.name = name
        self.family = family
        self.argv = argv  # the program and its fixed options; workload and key=value follow
        self.needs = needs  # files (relative to ROOT) the run cannot do without
        self.env = env or {}

    @property
    def is_zactor(self):
        return self.name.startswith("zactor")


LUA_ENV = {"LUA_CPATH": "lua/?.so;;"}  # lua/zactor.so first, then Lua's default path

RUNTIMES = [
    Runtime("zactor-c", "native", ["build/savina/savina_zactor"], ["build/savina/savina_zactor"]),
    Runtime("caf", "native", ["build/savina/savina_caf"], ["build/savina/savina_caf"]),
    # +S: one scheduler per core; +P: room for skynet's 1.1 M processes.
    Runtime("erlang", "native",
            ["erl", "-noshell", "+S", f"{NPROC}:{NPROC}", "+P", "5000000",
             "-pa", "build/savina/erlang", "-run", "savina", "main"],
            ["build/savina/erlang/savina.beam"]),
    Runtime("zactor-py", "python", [VENV_PY, "bench/savina/python/savina.py", "--runtime", "zactor"],
            [VENV_PY, "bench/savina/python/savina.py"]),
    Runtime("pykka", "python", [VENV_PY, "bench/savina/python/savina.py", "--runtime", "pykka"],
            [VENV_PY, "bench/savina/python/savina.py"]),
    Runtime("thespian", "python", [VENV_PY, "bench/savina/python/savina.py", "--runtime", "thespian"],
            [VENV_PY, "bench/savina/python/savina.py"]),
    Runtime("zactor-lua", "lua", ["lua5.4", "bench/savina/lua/savina.lua", "--runtime", "zactor"],
            ["bench/savina/lua/savina.lua", "lua/zactor.so"], LUA_ENV),
    # Lua actors on zactor, created and driven from a Python process.
    Runtime("zactor-lua-py", "lua", [VENV_PY, "bench/savina/lua/from_python.py", "--runtime", "zactor-lua"],
            [VENV_PY, "bench/savina/lua/from_python.py"], LUA_ENV),
    Runtime("luv", "lua", ["lua5.4", "bench/savina/lua/savina.lua", "--runtime", "luv"],
            ["bench/savina/lua/savina.lua"], LUA_ENV),
    Runtime("cqueues", "lua", ["lua5.4", "bench/savina/lua/savina.lua", "--runtime", "cqueues"],
            ["bench/savina/lua/savina.lua"], LUA_ENV),
]
BY_NAME = {rt.name: rt for rt in RUNTIMES}

# Sizes per family, chosen so one run of the family's slowest runtime takes
# roughly 0.5-5 s on the 2-core reference machine. Savina defaults in the README.
SIZES = {
    "native": {
        "pingpong": {"n": 1_000_000},
        "counting": {"n": 5_000_000},
        "fjthrput": {"a": 60, "n": 40_000},
        "fjcreate": {"n": 40_000},
        "threadring": {"n": 100, "r": 2_000_000},
        "chameneos": {"c": 100, "n": 1_000_000},
        "big": {"w": 120, "n": 20_000},
        "skynet": {"leaves": 1_000_000},
    },
    "python": {
        "pingpong": {"n": 40_000},
        "counting": {"n": 100_000},  # Thespian's simple base is quadratic beyond
        "fjthrput": {"a": 60, "n": 3_000},
        "fjcreate": {"n": 5_000},
        "threadring": {"n": 100, "r": 100_000},
        "chameneos": {"c": 100, "n": 20_000},
        "big": {"w": 120, "n": 500},
        "skynet": {"leaves": 10_000},  # Pykka: one OS thread per actor
    },
    "lua": {
        "pingpong": {"n": 40_000},
        "counting": {"n": 3_000_000},
        "fjthrput": {"a": 60, "n": 50_000},
        "fjcreate": {"n": 2_500},  # luv: one thread (7 fds) per actor
        "threadring": {"n": 100, "r": 50_000},
        "chameneos": {"c": 100, "n": 100_000},
        "big": {"w": 120, "n": 2_000},
        "skynet": {"leaves": 100_000},
    },
}

# --quick: a smoke test of every program and of this harness, same tiny sizes everywhere.
QUICK_SIZES = {
    "pingpong": {"n": 1_000},
    "counting": {"n": 10_000},
    "fjthrput": {"a": 10, "n": 100},
    "fjcreate": {"n": 100},
    "threadring": {"n": 10, "r": 1_000},
    "chameneos": {"c": 10, "n": 1_000},
    "big": {"w": 10, "n": 100},
    "skynet": {"leaves": 100},
}


# ------------------------------------------------------------------ one run

def _same_value(a, b):
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _last_json_line(stdout):
    """The program's JSON object (the last line that parses as one) and the
    number of non-empty stdout lines (the contract says exactly one)."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("{"):
            try:
                obj = json.loads(ln)
            except ValueError:
                continue
            if isinstance(obj, dict):
                return obj, len(lines)
    return None, len(lines)


def _tail(text):
    """stderr in brief: its first line (Lua's error) and last two (Python's)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) > 3:
        lines = [lines[0], "…"] + lines[-2:]
    return " / ".join(ln[:200] for ln in lines)


def run_once(rt, workload, params, timeout):
    """Run one program once; a record with status ok|unsupported|failed|crashed|timeout|missing."""
    missing = [p for p in rt.needs if not os.path.exists(os.path.join(ROOT, p))]
    if missing:
        return {"status": "missing", "seconds": None, "detail": "not found: " + ", ".join(missing)}
    argv = rt.argv + [workload] + [f"{k}={v}" for k, v in params.items()]
    env = dict(os.environ, PWD=ROOT, **rt.env)  # PWD: some scripts locate themselves with it
    t0 = time.monotonic()
    try:
        # A session of its own, so a timeout can kill the program and anything it started.
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    except OSError as e:
        return {"status": "missing", "seconds": None, "detail": f"cannot start {argv[0]}: {e}"}
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a descendant left the group and holds the pipes
            proc.kill()
            err = ""
        return {"status": "timeout", "seconds": None, "wall": round(time.monotonic() - t0, 3),
                "detail": f"no answer within {timeout:g} s" + (f"; stderr: {_tail(err)}" if err.strip() else "")}
    except BaseException:  # Ctrl-C: leave nothing running behind us
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    wall = round(time.monotonic() - t0, 3)
    rc = proc.returncode
    rec = {"status": "failed", "seconds": None, "wall": wall, "exit": rc}
    obj, nlines = _last_json_line(out)
    notes = []
    if nlines > 1:
        notes.append(f"{nlines} lines on stdout (contract: one)")
    if obj is None:
        rec["status"] = "crashed" if rc != 0 else "failed"
        rec["why"] = (f"exit {rc}" if rc > 0 else f"signal {-rc}") if rc != 0 else "no JSON line"
        rec["detail"] = f"{rec['why']}, no JSON line; stderr: {_tail(err)}"
        return rec
    for key in ("runtime", "result", "expected"):
        if key in obj:
            rec[key] = obj[key]
    if obj.get("unsupported"):
        rec["status"] = "unsupported"
        rec["detail"] = str(obj["unsupported"])
        if rc != 0:
            notes.append(f"exit {rc}")
    else:
        ran = obj.get("params")
        wrong = []
        if isinstance(ran, dict):
            wrong = [f"{k}={ran.get(k)} (asked {v})" for k, v in params.items()
                     if not _same_value(ran.get(k), v)]
        else:
            notes.append("no params in the JSON line")
        secs = obj.get("seconds")
        if wrong:
            rec["why"] = "ran other sizes"
            rec["detail"] = "ran other sizes: " + ", ".join(wrong)
        elif obj.get("ok") is not True:
            rec["why"] = "wrong answer"
            rec["detail"] = f"ok={obj.get('ok')!r}, result={obj.get('result')!r}, expected={obj.get('expected')!r}"
            if obj.get("error"):
                rec["detail"] += f", error: {obj['error']}"
        elif "result" in obj and "expected" in obj and not _same_value(obj["result"], obj["expected"]):
            rec["why"] = "wrong answer"
            rec["detail"] = f"says ok but result {obj['result']!r} != expected {obj['expected']!r}"
        elif rc != 0:
            rec["status"] = "crashed"
            rec["why"] = f"exit {rc}" if rc > 0 else f"signal {-rc}"
            rec["detail"] = f"{rec['why']} after an ok answer; stderr: {_tail(err)}"
        elif not isinstance(secs, (int, float)) or isinstance(secs, bool) or secs < 0:
            rec["why"] = "bad seconds"
            rec["detail"] = f"bad seconds {secs!r}"
        else:
            rec["status"] = "ok"
            rec["seconds"] = float(secs)
        if rec["status"] != "ok" and err.strip() and "stderr" not in rec.get("detail", ""):
            rec["detail"] += f"; stderr: {_tail(err)}"
    if notes:
        rec["detail"] = "; ".join(([rec["detail"]] if rec.get("detail") else []) + notes)
    return rec


def summarize(runs):
    """Median/min/max over the ok runs, and one status for the cell."""
    secs = [r["seconds"] for r in runs if r["status"] == "ok"]
    out = {"n_ok": len(secs), "n_runs": len(runs)}
    if secs:
        out.update(median=statistics.median(secs), min=min(secs), max=max(secs))
    bad = [r for r in runs if r["status"] != "ok"]
    if not bad:
        out["status"] = "ok"
    elif secs:
        out["status"] = "partial"
    else:
        out["status"] = bad[0]["status"]
    if bad:
        out["detail"] = bad[0].get("detail", "")
        out["why"] = bad[0].get("why", "")
        out["bad_status"] = bad[0]["status"]
    return out


# ------------------------------------------------------------------ machine and versions

def _cmd(argv, timeout=30):
    try:
        p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (p.stdout or p.stderr).strip()
    return text if p.returncode == 0 and text else None


def _dpkg(pkg):
    return _cmd(["dpkg-query", "-W", "-f=${Version}", pkg])


def machine_info():
    info = {"nproc": NPROC, "cpu": None, "os": None, "kernel": platform.release(),
            "arch": platform.machine(), "mem_gib": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
            info["mem_gib"] = round(kib / 1048576, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


ERL_VERSION = (
    'R = erlang:system_info(otp_release), '
    'F = filename:join([code:root_dir(), "releases", R, "OTP_VERSION"]), '
    'V = case file:read_file(F) of {ok, B} -> string:trim(binary_to_list(B)); _ -> R end, '
    'io:format("OTP ~s (erts ~s)~n", [V, erlang:system_info(version)]), halt().'
)

PY_VERSIONS = (
    "import json, sys, importlib.metadata as m\n"
    "v = {'python': sys.version.split()[0]}\n"
    "for p in ('zactor', 'pykka', 'thespian', 'matplotlib'):\n"
    "    try: v[p] = m.version(p)\n"
    "    except m.PackageNotFoundError: v[p] = None\n"
    "print(json.dumps(v))\n"
)


def versions():
    v = {}
    head = _cmd(["git", "rev-parse", "--short", "HEAD"])
    if head:
        # GIT_OPTIONAL_LOCKS=0: status must not touch the index others use.
        env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
        try:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                   env=env, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            dirty = ""
        v["zactor_git"] = head + (" (modified)" if dirty else "")
    py = os.path.join(ROOT, VENV_PY)
    pyv = _cmd([py if os.path.exists(py) else sys.executable, "-c", PY_VERSIONS])
    try:
        v.update(json.loads(pyv) if pyv else {})
    except ValueError:
        pass
    v["caf"] = _dpkg("libcaf-dev")
    v["erlang"] = _cmd(["erl", "-noshell", "-eval", ERL_VERSION])
    v["erlang_deb"] = _dpkg("erlang-base")
    v["lua"] = _cmd(["lua5.4", "-v"])
    v["lua-luv"] = _dpkg("lua-luv")
    v["lua-cqueues"] = _dpkg("lua-cqueues")
    for cc in ("gcc", "g++"):
        out = _cmd([cc, "--version"])
        v[cc] = out.splitlines()[0] if out else None
    return v


# ------------------------------------------------------------------ tables

def fmt_s(x):
    return f"{x:.0f}" if x >= 1000 else f"{x:.3g}"


def fmt_size(params):
    return " ".join(f"{k}={v}" for k, v in params.items())


def shorten(text, width):
    """At most `width` characters, cut at a word boundary."""
    if len(text) <= width:
        return text
    return text[:width].rsplit(" ", 1)[0].rstrip(" ,;:(") + " …"


def md_escape(text):
    return text.replace("|", "\\|").replace("\n", " ")


def cell_text(s, timeout):
    """A table cell: median (min-max), or the reason there is no number."""
    st = s["status"]
    if st in ("ok", "partial"):
        txt = fmt_s(s["median"])
        if s["n_ok"] > 1:
            txt += f" ({fmt_s(s['min'])}–{fmt_s(s['max'])})"
        if st == "partial":
            txt += f"; {s['n_runs'] - s['n_ok']}/{s['n_runs']} {s['bad_status']}"
        return txt
    detail = s.get("detail", "")
    if st == "unsupported":
        return "unsupported: " + md_escape(shorten(detail, 70))
    if st == "timeout":
        return f"timeout (>{timeout:g} s)"
    if st == "missing":
        return "missing (no program)"
    why = f" ({s['why']})" if s.get("why") else ""
    return ("crashed" if st == "crashed" else "failed") + why


def ratio_text(summaries, zname, peers):
    """best peer median / zactor median (>1: zactor is faster)."""
    z = summaries.get(zname)
    if not z or "median" not in z:
        return "—"
    best = [(summaries[p]["median"], p) for p in peers if p in summaries and "median" in summaries[p]]
    if not best:
        return "— (no peer result)"
    med, who = min(best)
    return f"{med / z['median']:.2f}× ({who})"


def family_tables(results, sizes, runtimes, workloads, timeout):
    """Markdown, one table per family with any selected runtime."""
    parts = []
    for fam, title in FAMILIES.items():
        rts = [rt for rt in runtimes if rt.family == fam]
        if not rts:
            continue
        zs = [rt.name for rt in rts if rt.is_zactor]
        peers = [rt.name for rt in rts if not rt.is_zactor]
        head = ["workload", "size"] + [rt.name for rt in rts] + [f"{z} vs best peer" for z in zs]
        rows = [head, ["---"] * 2 + ["---:"] * (len(head) - 2)]
        for w in workloads:
            summ = {r["runtime"]: r["summary"] for r in results
                    if r["workload"] == w and r["family"] == fam}
            if not summ:
                continue
            row = [w, fmt_size(sizes[fam][w])]
            row += [cell_text(summ[rt.name], timeout) if rt.name in summ else "—" for rt in rts]
            row += [ratio_text(summ, z, peers) for z in zs]
            rows.append(row)
        parts.append(f"### {title}\n\n" + "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n")
    return "\n".join(parts)


def versions_line(v):
    """The versions dict as one readable line (peers.json keeps the raw strings)."""
    def last_word(text):
        return text.split()[-1] if text else None

    lua = v.get("lua")
    parts = [
        ("zactor", " ".join(x for x in (v.get("zactor_git"), f"(Python package {v['zactor']})"
                                        if v.get("zactor") else None) if x)),
        ("CAF", v.get("caf")),
        ("Erlang/", v.get("erlang")),
        ("gcc", last_word(v.get("gcc"))),
        ("g++", last_word(v.get("g++"))),
        ("Python", v.get("python")),
        ("Pykka", v.get("pykka")),
        ("Thespian", v.get("thespian")),
        ("Lua", lua.split()[1] if lua and len(lua.split()) > 1 else lua),
        ("lua-luv", v.get("lua-luv")),
        ("lua-cqueues", v.get("lua-cqueues")),
    ]
    return ", ".join(f"{k}{'' if k.endswith('/') else ' '}{val}" for k, val in parts if val)


def results_section(doc, tables, chart_rel):
    m = doc["machine"]
    ver = versions_line(doc["versions"])
    lines = [
        MARK_BEGIN,
        "## Savina suite: zactor and its peers",
        "",
        f"Generated {doc['date']} by `{doc['command']}` (bench/savina/run_peers.py; "
        "programs and contract: bench/savina/README.md).",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['mem_gib']} GiB, {m['os']}, Linux {m['kernel']}.",
        "",
        f"Versions: {ver}.",
        "",
        f"Each cell: median seconds of {doc['runs']} runs (min–max), runtimes run in alternation "
        "(A B C A B C …). Each program times only the workload (first actor creation to verified "
        "answer), not start-up. Worker threads = cores for every runtime. "
        "\"vs best peer\" = the best peer's median / zactor's median in the same family: "
        "above 1 means zactor is faster. Sizes differ between families: compare within a table, "
        "not across. A cell without a number says why (unsupported at that size, failed check, "
        "crashed, timeout).",
        "",
        tables.rstrip(),
        "",
    ]
    if chart_rel:
        lines += [f"![Savina: seconds per workload and runtime, log scale]({chart_rel})", ""]
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


def rewrite_markdown(path, section):
    """Replace only the marked section; append it (markers included) when absent."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    b, e = text.find(MARK_BEGIN), text.find(MARK_END)
    if b != -1 and e != -1 and e > b:
        text = text[:b] + section.rstrip("\n") + text[e + len(MARK_END):]
    else:
        if text and not text.endswith("\n"):
            text += "\n"
        text += ("\n" if text else "") + section
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------ chart

CMAPS = {"native": "Blues", "python": "Greens", "lua": "Oranges"}
SHORT = {"unsupported": "unsup.", "failed": "failed", "crashed": "crash", "timeout": "timeout",
         "missing": "missing"}


def draw_chart(path, results, sizes, runtimes, workloads):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fams = [f for f in FAMILIES if any(rt.family == f for rt in runtimes)]
    if not fams:
        return
    fig, axes = plt.subplots(len(fams), 1, figsize=(11, 3.3 * len(fams)), squeeze=False)
    for ax, fam in zip(axes[:, 0], fams):
        rts = [rt for rt in runtimes if rt.family == fam]
        ws = [w for w in workloads if any(r["workload"] == w and r["family"] == fam for r in results)]
        cmap = plt.get_cmap(CMAPS[fam])
        width = 0.8 / len(rts)
        handles = []
        for i, rt in enumerate(rts):
            # zactor darkest with a black edge; peers lighter shades of the family colour.
            colour = cmap(0.9 - 0.55 * i / max(1, len(rts) - 1))
            style = {"facecolor": colour, "edgecolor": "black" if rt.is_zactor else "gray",
                     "linewidth": 1.2 if rt.is_zactor else 0.5,
                     # hatched: zactor's Lua actors driven from Python, next to the all-Lua column
                     "hatch": "//" if rt.name == "zactor-lua-py" else None}
            handles.append(Patch(label=rt.name, **style))  # in the legend even without a bar
            xs, hs, lo, hi = [], [], [], []
            for j, w in enumerate(ws):
                x = j - 0.4 + width * (i + 0.5)
                s = next((r["summary"] for r in results
                          if r["workload"] == w and r["runtime"] == rt.name), None)
                if s and "median" in s:
                    xs.append(x)
                    hs.append(s["median"])
                    lo.append(s["median"] - s["min"])
                    hi.append(s["max"] - s["median"])
                elif s:
                    ax.text(x, 0.02, SHORT.get(s["status"], s["status"]), rotation=90, ha="center",
                            va="bottom", fontsize=7, color="dimgray",
                            transform=ax.get_xaxis_transform())
            if xs:
                spread = any(lo) or any(hi)  # one run: no min-max bar to draw
                ax.bar(xs, hs, width, yerr=[lo, hi] if spread else None,
                       error_kw={"elinewidth": 0.8, "capsize": 1.5}, **style)
        ax.set_yscale("log")
        # Plain numbers (0.01, 0.2, 5) at 1-2-5 steps rather than 10^x labels.
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(range(len(ws)))
        ax.set_xticklabels([f"{w}\n{fmt_size(sizes[fam][w])}" for w in ws], fontsize=8)
        ax.set_xlim(-0.5, len(ws) - 0.5)
        ax.set_ylabel("seconds (log)")
        ax.set_title(f"{FAMILIES[fam]}: median of runs, min–max bars; lower is better", fontsize=10)
        ax.grid(axis="y", which="major", alpha=0.3)
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    fig.suptitle(f"Savina workloads, {NPROC} cores (sizes differ per family)", fontsize=11)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all)")
    ap.add_argument("--runtimes", default="",
                    help="comma-separated runtime names or families (native, python, lua); default: all")
    ap.add_argument("--runs", type=int, default=3, help="runs per workload and runtime (default 3)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per run (default 120)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes, a smoke test; writes under build/savina/quick/")
    ap.add_argument("--no-chart", action="store_true", help="do not draw the PNG")
    ap.add_argument("--set", action="append", default=[], metavar="[FAMILY.]WORKLOAD.KEY=VALUE",
                    help="override one size, e.g. --set native.skynet.leaves=100000 (repeatable)")
    ap.add_argument("--out-json", help="default bench/results/peers.json")
    ap.add_argument("--out-md", help="default bench/RESULTS.md (only the peers section is rewritten)")
    ap.add_argument("--out-png", help="default bench/results/peers.png")
    args = ap.parse_args(argv)

    args.workloads = [w for w in args.only.split(",") if w] or list(WORKLOADS)
    bad = [w for w in args.workloads if w not in WORKLOADS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; known: {', '.join(WORKLOADS)}")
    args.workloads = [w for w in WORKLOADS if w in args.workloads]  # canonical order

    names = [n for n in args.runtimes.split(",") if n]
    if names:
        bad = [n for n in names if n not in BY_NAME and n not in FAMILIES]
        if bad:
            ap.error(f"unknown runtime(s) {bad}; known: {', '.join(list(FAMILIES) + list(BY_NAME))}")
        args.rts = [rt for rt in RUNTIMES if rt.name in names or rt.family in names]
    else:
        args.rts = list(RUNTIMES)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    base = {f: (QUICK_SIZES if args.quick else SIZES[f]) for f in FAMILIES}
    args.sizes = {f: {w: dict(base[f][w]) for w in WORKLOADS} for f in FAMILIES}
    for item in args.set:
        try:
            lhs, value = item.split("=", 1)
            path = lhs.split(".")
            if len(path) not in (2, 3):
                raise ValueError
            fams = [path[0]] if len(path) == 3 else list(FAMILIES)
            w, key = path[-2], path[-1]
            value = int(value)
            if w not in WORKLOADS or any(f not in FAMILIES for f in fams):
                raise ValueError
        except ValueError:
            ap.error(f"--set {item!r}: expected [FAMILY.]WORKLOAD.KEY=INTEGER")
        for f in fams:
            args.sizes[f][w][key] = value

    outdir = "build/savina/quick" if args.quick else None
    args.out_json = args.out_json or (f"{outdir}/peers.json" if outdir else "bench/results/peers.json")
    args.out_md = args.out_md or (f"{outdir}/RESULTS.md" if outdir else "bench/RESULTS.md")
    args.out_png = args.out_png or (f"{outdir}/peers.png" if outdir else "bench/results/peers.png")
    return args


def _rel_to_root(path):
    return os.path.relpath(path, ROOT) if os.path.abspath(path).startswith(ROOT + os.sep) else path


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.chdir(ROOT)
    # SIGTERM (make interrupted, a CI timeout) ends like Ctrl-C: the running program is killed too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    command = shlex.join([_rel_to_root(sys.executable), _rel_to_root(os.path.abspath(__file__))]
                         + sys.argv[1:])
    date = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    total = len(args.workloads) * args.runs * len(args.rts)
    log(f"savina: {len(args.workloads)} workload(s) x {len(args.rts)} runtime(s) x {args.runs} run(s) "
        f"= {total} runs, timeout {args.timeout:g} s each, {NPROC} cores")
    runs = {(w, rt.name): [] for w in args.workloads for rt in args.rts}
    done = 0
    t_start = time.monotonic()
    for w in args.workloads:
        for k in range(1, args.runs + 1):
            for rt in args.rts:
                done += 1
                params = args.sizes[rt.family][w]
                prev = runs[(w, rt.name)]
                # Unsupported, missing or a timeout will not change on the next round: skip it.
                if prev and prev[-1]["status"] in ("unsupported", "missing", "timeout"):
                    rec = dict(prev[-1], skipped=True)
                    rec.pop("wall", None)
                else:
                    rec = run_once(rt, w, params, args.timeout)
                rec["run"] = k
                prev.append(rec)
                shown = f"{rec['seconds']:.4f} s" if rec["status"] == "ok" else rec["status"].upper()
                if rec.get("detail") and not rec.get("skipped"):
                    shown += f" ({rec['detail'][:160]})"
                log(f"[{done}/{total}] {w} {fmt_size(params)} run {k}/{args.runs} {rt.name}: {shown}"
                    + (" [not rerun]" if rec.get("skipped") else ""))
    log(f"savina: all runs done in {time.monotonic() - t_start:.0f} s")

    results = []
    for w in args.workloads:
        for rt in args.rts:
            rs = runs[(w, rt.name)]
            results.append({"workload": w, "runtime": rt.name, "family": rt.family,
                            "params": args.sizes[rt.family][w], "runs": rs, "summary": summarize(rs)})
    used_fams = sorted({rt.family for rt in args.rts}, key=list(FAMILIES).index)
    doc = {
        "command": command,
        "date": date,
        "quick": args.quick,
        "runs": args.runs,
        "timeout_s": args.timeout,
        "machine": machine_info(),
        "versions": versions(),
        "runtimes": [{"name": rt.name, "family": rt.family, "argv": rt.argv + ["<workload>", "key=value..."],
                      "env": rt.env} for rt in args.rts],
        "sizes": {f: {w: args.sizes[f][w] for w in args.workloads} for f in used_fams},
        "results": results,
    }

    tables = family_tables(results, args.sizes, args.rts, args.workloads, args.timeout)
    print(tables)
    bad = [f"{r['workload']}/{r['runtime']}: {r['summary']['status']}" for r in results
           if r["summary"]["status"] != "ok"]
    if bad:
        log(f"savina: {len(bad)} cell(s) not fully ok: " + ", ".join(bad))

    os.makedirs(os.path.dirname(os.path.abspath(args.out_json)), exist_ok=True)
    with open(args.out_json, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    log(f"wrote {args.out_json}")
    chart_rel = None
    if not args.no_chart:
        try:
            draw_chart(args.out_png, results, args.sizes, args.rts, args.workloads)
            chart_rel = os.path.relpath(os.path.abspath(args.out_png),
                                        os.path.dirname(os.path.abspath(args.out_md)))
            log(f"wrote {args.out_png}")
        except ImportError as e:
            log(f"no chart: {e} (matplotlib is installed in build/venv-peers by make bench-peers-deps)")
    rewrite_markdown(args.out_md, results_section(doc, tables, chart_rel))
    log(f"wrote the peers section of {args.out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
