"""Python -> Python across two cluster nodes on loopback (make bench-cluster).

Starts its own redis-server (free port, temporary directory) and a second
Python node (subprocess) serving an echo actor and a counter; this process
asks the echo actor ROUND_TRIPS times (sequential) and tells the counter
ONE_WAY messages, then asks it until all arrived. Prints the figures and
writes bench/results/cluster_python.json.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import zactor

ROUND_TRIPS = 5000
ONE_WAY = 100000
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Echo(zactor.Actor):
    def __init__(self):
        self.n = 0

    def receive(self, msg):
        if msg == "count":
            return self.n
        if isinstance(msg, list) and msg and msg[0] == "add":
            self.n += 1
            return None
        return msg


def serve(url):
    with zactor.Cluster(url, name="pybench", node_name="b") as c, \
            zactor.System(workers=2, cluster=c) as s:
        s.spawn(Echo, name="echo@b")
        print("READY", flush=True)
        sys.stdin.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "serve":
        return serve(sys.argv[2])
    tmp = tempfile.mkdtemp(prefix="za-pybench-")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    node = None
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        node = subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", url],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert node.stdout.readline().startswith("READY")
        with zactor.Cluster(url, name="pybench", node_name="a") as c, \
                zactor.System(workers=2, cluster=c) as s:
            echo = None
            for _ in range(500):
                echo = s.lookup("echo@b")
                if echo is not None:
                    break
                time.sleep(0.01)
            payload = "x" * 64
            for _ in range(500):
                echo.ask(payload, timeout=5.0)
            t0 = time.perf_counter()
            for _ in range(ROUND_TRIPS):
                echo.ask(payload, timeout=5.0)
            rtt_us = (time.perf_counter() - t0) / ROUND_TRIPS * 1e6
            t0 = time.perf_counter()
            for _ in range(ONE_WAY):
                echo.tell(["add", payload])
            deadline = time.monotonic() + 60
            while echo.ask("count", timeout=10.0) < ONE_WAY and time.monotonic() < deadline:
                time.sleep(0.001)
            rate = ONE_WAY / (time.perf_counter() - t0)
        print(f"zactor remote ask Python->Python (64 B): {rtt_us:.1f} us ({1e6 / rtt_us:.0f} asks/s)")
        print(f"zactor remote one-way Python->Python (64 B): {rate / 1e6:.3f} M msg/s")
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "cluster_python.json"), "w") as f:
            json.dump({"benchmark": "cluster_python", "remote_ask_us": rtt_us,
                       "asks_per_s": 1e6 / rtt_us, "one_way_msg_per_s": rate}, f, indent=2)
    finally:
        if node is not None:
            node.kill()
            node.wait()
        redis.kill()
        redis.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
