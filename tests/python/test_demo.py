"""The showcase (`make demo`) on a small corpus: Python, Lua and C actors,
an injected Lua failure, the result checked against pure Python."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "python", "examples", "wordcount_demo.py")


@pytest.mark.parametrize("fail_at", [3, 0])
def test_wordcount_demo_is_exact_and_loses_no_chunk(fail_at):
    out = subprocess.run([sys.executable, DEMO, "--mb", "0.5", "--chunk-kb", "16",
                          "--fail-at", str(fail_at)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verified: identical to the pure-Python count, no chunk lost" in out.stdout
    assert ("injected failure" in out.stdout) == (fail_at > 0)
    assert "duplicates" in out.stdout and ", 0 duplicates" in out.stdout
