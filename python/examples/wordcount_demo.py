"""zactor's showcase (`make demo`): one word count, three languages.

A Python program fans a text corpus out to Lua actors (lua/examples/
wordcount.lua, one lua_State each) that tokenize and count words in parallel
on every core; they send their counts to a native C actor (csrc/examples/
merge_counts.c) that merges them, and report progress to a Python actor. One
Lua worker fails on purpose: its supervisor restarts it (same ref, its queued
chunks kept), the chunk it was counting comes back to the coordinator as a
failed ask and is sent again, so no chunk is lost. The result is checked
against a single-threaded pure-Python count of the same text.

    python python/examples/wordcount_demo.py [--mb 8] [--workers N]
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import re
import subprocess
import sys
import sysconfig
import time

import zactor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build", "demo")
WORKER_LUA = os.path.join(ROOT, "lua", "examples", "wordcount.lua")
MERGE_C = os.path.join(ROOT, "csrc", "examples", "merge_counts.c")
LICENSES = "/usr/share/common-licenses"

# Used when the machine has no license texts to learn English from.
FALLBACK = """Actors are the universal primitives of concurrent computation. In response
to a message it receives, an actor can make local decisions, create more actors, send more
messages, and determine how to respond to the next message received. Actors may modify their
own private state, but can only affect each other indirectly through messaging."""


# ------------------------------------------------------------------ corpus


def make_corpus(path: str, megabytes: float, seed: int = 42) -> str:
    """A few MB of English-like text: a word-bigram chain learnt from the
    license texts every Debian machine ships, sampled with a fixed seed (the
    same corpus on every run). Cached at path."""
    want = int(megabytes * 1024 * 1024)
    if os.path.exists(path) and os.path.getsize(path) == want:
        with open(path, encoding="ascii") as f:
            return f.read()
    seen, texts = set(), []
    if os.path.isdir(LICENSES):
        for name in sorted(os.listdir(LICENSES)):
            real = os.path.realpath(os.path.join(LICENSES, name))
            if real not in seen and os.path.isfile(real):
                seen.add(real)
                with open(real, encoding="utf-8", errors="ignore") as f:
                    texts.append(f.read())
    source = " ".join(texts) or FALLBACK
    words = source.encode("ascii", "ignore").decode().split()
    follow = collections.defaultdict(list)
    for a, b in zip(words, words[1:]):
        follow[a].append(b)
    rng = random.Random(seed)
    out, size, w, line = [], 0, rng.choice(words), 0
    while size < want:
        out.append(w)
        size += len(w) + 1
        line += 1
        out.append("\n" if line % 12 == 0 else " ")
        nxt = follow.get(w)
        w = rng.choice(nxt) if nxt and rng.random() > 0.01 else rng.choice(words)
    text = "".join(out)[:want]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
    return text


def split_chunks(text: str, size: int) -> list[str]:
    """Chunks of about size characters, cut at whitespace so no word is split."""
    chunks, start = [], 0
    while start < len(text):
        end = min(start + size, len(text))
        while end < len(text) and not text[end].isspace():
            end += 1
        chunks.append(text[start:end])
        start = end
    return chunks


def python_count(text: str) -> collections.Counter:
    """The single-threaded baseline: idiomatic, and as fast as plain Python gets
    (the regex engine and Counter both run in C)."""
    return collections.Counter(re.findall(r"[a-z]+", text.lower()))


# ------------------------------------------------------------------ the C actor


def build_merger() -> str:
    """Compile the native merge actor into a shared object (once)."""
    so = os.path.join(BUILD, "libmerge_counts.so")
    if os.path.exists(so) and os.path.getmtime(so) >= os.path.getmtime(MERGE_C):
        return so
    os.makedirs(BUILD, exist_ok=True)
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC").split()[0] or "cc"
    # no -l: the za_* symbols come from the loaded zactor extension
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    "-I", os.path.join(ROOT, "csrc", "include"), MERGE_C, "-o", so], check=True)
    return so


# ------------------------------------------------------------------ the Python actor


class Progress(zactor.Actor):
    """Hears from every Lua worker after each chunk: words and chunks per worker."""

    def __init__(self):
        self.words = 0
        self.chunks = collections.Counter()

    def receive(self, msg):
        if msg[0] == "done":
            self.words += msg[2]
            self.chunks[self.context.sender] += 1
        elif msg[0] == "report":
            return self.words, dict(self.chunks)


# ------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0, help="corpus size in MB (default 8)")
    ap.add_argument("--chunk-kb", type=int, default=64, help="chunk size in KiB (default 64)")
    ap.add_argument("--workers", type=int, default=None, help="worker threads (default: cores)")
    ap.add_argument("--fail-at", type=int, default=3,
                    help="Lua worker 1 fails on its n-th chunk (0: no failure)")
    args = ap.parse_args(argv)

    corpus_path = os.path.join(BUILD, f"corpus-{args.mb:g}MB.txt")
    text = make_corpus(corpus_path, args.mb)
    chunks = split_chunks(text, args.chunk_kb * 1024)
    so = build_merger()

    print("zactor word-count demo: Python coordinates, Lua actors count, a C actor merges")
    print(f"corpus: {os.path.relpath(corpus_path, ROOT)}, {len(text) / 1e6:.1f} MB, "
          f"{len(chunks)} chunks of ~{args.chunk_kb} KiB")

    t0 = time.perf_counter()
    expected = python_count(text)
    t_python = time.perf_counter() - t0

    with zactor.System(workers=args.workers) as system:
        n_lua = 2 * system.workers  # two per core: a restarting worker never idles a core
        merger = system.spawn_native(so, "merge_counts_behaviour", name="merger")
        progress = system.spawn(Progress, name="progress")
        workers = [
            system.spawn_lua(WORKER_LUA, merger, progress,
                             args.fail_at if (i == 1 and args.fail_at > 0) else None,
                             name=f"lua-counter-{i}", max_restarts=3, within=10.0)
            for i in range(n_lua)
        ]
        print(f"actors: {n_lua} Lua workers (a lua_State each), 1 native C merger, "
              f"1 Python progress actor, on {system.workers} worker threads")

        t0 = time.perf_counter()
        # every chunk is an ask: a failed one comes back as an exception and
        # is sent again (to the same worker: restarted, same ref)
        pending = {cid: workers[cid % n_lua].ask_async(("chunk", cid, c), timeout=60.0)
                   for cid, c in enumerate(chunks)}
        failures = []
        while pending:
            cid, fut = next(iter(pending.items()))
            try:
                fut.result(timeout=60.0)
                del pending[cid]
            except zactor.ActorFailed as e:
                worker = workers[cid % n_lua]
                failures.append((cid, f"lua-counter-{cid % n_lua}", str(e).splitlines()[0]))
                pending[cid] = worker.ask_async(("chunk", cid, chunks[cid]), timeout=60.0)
        stats = merger.ask(("stats",), timeout=10.0)
        top = merger.ask(("top", 12), timeout=10.0)
        t_actors = time.perf_counter() - t0

        words, per_worker = progress.ask(("report",), timeout=10.0)
        metrics = system.metrics()

    # ---- report
    for cid, worker, err in failures:
        print(f"injected failure: {worker} failed on chunk {cid}\n  ({err.strip()})\n  "
              f"its supervisor restarted it, the chunk was sent again")
    print(f"merged: {stats['chunks']}/{len(chunks)} chunks, {stats['words']:,} words, "
          f"{stats['distinct']:,} distinct, {stats['duplicates']} duplicates")
    busiest = sorted(per_worker.values())
    print(f"chunks per Lua worker: min {busiest[0]}, max {busiest[-1]}")
    print("top words:")
    for word, n in top:
        print(f"  {word:<14} {n:>10,}")
    print(f"wall time: zactor {t_actors:.3f} s on {system.workers} worker threads  |  "
          f"pure Python, 1 thread: {t_python:.3f} s  ->  {t_python / t_actors:.2f}x")
    print(f"metrics: sent {metrics['sent']:,}, delivered {metrics['delivered']:,}, "
          f"spawned {metrics['spawned']}, failures {metrics['failures']}, "
          f"restarts {metrics['restarts']}, dead letters {metrics['dead_letters']} "
          f"(a message whose handler failed is a dead letter: here the chunk sent again)")

    # ---- verify: the demo checks itself
    want_top = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[:len(top)]
    ok = (stats["chunks"] == len(chunks) and stats["duplicates"] == 0
          and stats["words"] == sum(expected.values()) == words
          and stats["distinct"] == len(expected)
          and [tuple(x) for x in top] == want_top
          and (args.fail_at == 0 or (len(failures) == 1 and metrics["restarts"] >= 1)))
    print("verified: identical to the pure-Python count, no chunk lost" if ok
          else "MISMATCH against the pure-Python count")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
