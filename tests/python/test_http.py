"""The HTTP endpoint (System(http=...)): every route on a system running
Python, Lua and C actors, the status codes, the bearer token, bad and slow
clients, /metrics checked by prometheus_client's own parser, and the
dashboard page."""
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import zactor
from conftest import Counter, start_redis, wait_for
from test_cluster import free_port, nodes, redis_url  # noqa: F401  (fixtures: a redis-server, node processes)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INCLUDE = os.path.join(ROOT, "csrc", "include")
with open(os.path.join(ROOT, "tests", "lua", "actors", "counter.lua")) as _f:
    LUA_COUNTER = _f.read()

# A native behaviour whose name needs escaping in a Prometheus label and in JSON.
WEIRD_C = r"""
#include <zactor.h>
static int receive(za_ctx *ctx, const za_msg *m) {
    /* a two-element array fails (so the tests can make a C actor fail) */
    if (m->len && ((const unsigned char *)m->data)[0] == 0x92) return 1;
    return za_ctx_can_reply(ctx) ? za_reply(ctx, 0, "\xc0", 1) : 0; /* nil */
}
const za_behaviour weird_behaviour = {ZA_BEHAVIOUR_INIT, .name = "we\"ird\\c\nname", .receive = receive};
"""


def get(url, path, token=None, method="GET"):
    """(status, headers, body bytes) of one request; HTTP errors included."""
    req = urllib.request.Request(url + path, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def get_json(url, path, **kw):
    code, _, body = get(url, path, **kw)
    assert code == 200, (path, code, body)
    return json.loads(body)


def raw(url, data, timeout=10):
    """Send raw bytes, return what comes back before the server closes."""
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close while a huge request is still being sent
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except OSError:
            pass
    return out


def status_of(reply):
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.") else None


@pytest.fixture(scope="module")
def weird_so(tmp_path_factory):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    src = tmp_path_factory.mktemp("weird") / "weird.c"
    src.write_text(WEIRD_C)
    out = src.with_suffix(".so")
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-I", INCLUDE,
                    str(src), "-o", str(out)], check=True)
    return str(out)


class Parent(zactor.Actor):
    """Spawns a Python child on request; fails on 'boom'."""

    def receive(self, msg):
        if msg == "spawn":
            return self.context.spawn(Counter, 0, name="py-child")
        if msg == "boom":
            raise RuntimeError("boom")
        return None


@pytest.fixture
def mixed(weird_so):
    """A system with the endpoint on and actors in all three languages."""
    with zactor.System(workers=2, http="127.0.0.1:0") as s:
        refs = {
            "parent": s.spawn(Parent, name="py-parent"),
            "lua": s.spawn_lua(LUA_COUNTER, 5, name="lua-counter"),
            "c": s.spawn_native(weird_so, "weird_behaviour", name="c-weird"),
        }
        refs["child"] = refs["parent"].ask("spawn", timeout=5)
        assert refs["child"].ask(("get",), timeout=5) == 0  # started: listed from now on
        assert refs["lua"].ask(["get"], timeout=5) == 5
        assert refs["c"].ask(["x"], timeout=5) is None
        yield s, refs


def ref_text(ref):
    return repr(ref).strip("<>").split()[1]  # "<ActorRef 3.1>" -> "3.1"


def test_http_url_and_off():
    with zactor.System(workers=1) as s:
        assert s.http_url is None
    with zactor.System(workers=1, http="127.0.0.1:0") as s:
        assert s.http_url.startswith("http://127.0.0.1:")
        assert int(s.http_url.rsplit(":", 1)[1]) > 0  # port 0 became a real port
        url = s.http_url
    with pytest.raises(OSError):  # gone with the system
        urllib.request.urlopen(url + "/health/live", timeout=5)


def test_actors_of_three_languages(mixed):
    s, refs = mixed
    url = s.http_url
    # the fixture's last messages may still sit in a mailbox for a moment
    assert wait_for(lambda: all(a["mailbox_depth"] == 0
                                for a in get_json(url, "/actors")["actors"]), timeout=5)
    doc = get_json(url, "/actors")
    by_name = {a["name"]: a for a in doc["actors"]}
    assert doc["total"] == 4 and set(by_name) == {"py-parent", "py-child", "lua-counter", "c-weird"}
    assert by_name["py-parent"]["language"] == "python"
    assert by_name["lua-counter"]["language"] == "lua"
    assert by_name["c-weird"]["language"] == "c"
    assert by_name["c-weird"]["behaviour"] == 'we"ird\\c\nname'  # escaped in JSON, intact here
    assert by_name["py-child"]["parent"] == ref_text(refs["parent"])
    assert by_name["py-parent"]["parent"] is None
    for name, key in [("py-parent", "parent"), ("lua-counter", "lua"), ("c-weird", "c")]:
        a = by_name[name]
        assert a["ref"] == ref_text(refs[key])
        assert a["state"] == "alive" and a["restarts"] == 0 and a["mailbox_depth"] == 0
        assert a["processed"] >= 1
    # filters and paging
    assert [a["name"] for a in get_json(url, "/actors?language=lua")["actors"]] == ["lua-counter"]
    assert get_json(url, "/actors?language=python")["total"] == 2
    assert [a["name"] for a in get_json(url, "/actors?behaviour=test_http.Parent")["actors"]] == \
        ["py-parent"]
    assert [a["name"] for a in get_json(url, "/actors?name=child")["actors"]] == ["py-child"]
    page = get_json(url, "/actors?offset=1&limit=2")
    assert page["total"] == 4 and len(page["actors"]) == 2 and page["offset"] == 1
    assert [a["ref"] for a in page["actors"]] == [a["ref"] for a in doc["actors"][1:3]]
    assert get_json(url, "/actors?offset=10")["actors"] == []
    # one actor, by slot.generation or by its 64-bit id
    one = get_json(url, "/actors/" + ref_text(refs["parent"]))
    assert one["name"] == "py-parent" and one["children"] == [ref_text(refs["child"])]
    assert get_json(url, "/actors/" + by_name["lua-counter"]["id"])["name"] == "lua-counter"


def echo(msg):
    return msg


def test_actors_are_named_after_their_class_or_script(mixed):
    """Python actors report module.qualname, a plain callable its own name, a
    Lua actor its file or module (source text stays "lua"), in /actors and in
    the /metrics labels."""
    s, refs = mixed
    url = s.http_url
    path = os.path.join(ROOT, "tests", "lua", "actors", "counter.lua")
    by_file = s.spawn_lua(path, 1)
    fn = s.spawn(echo)
    assert by_file.ask(["get"], timeout=5) == 1 and fn.ask(7, timeout=5) == 7
    behaviours = {a["ref"]: (a["behaviour"], a["language"]) for a in get_json(url, "/actors")["actors"]}
    assert behaviours[ref_text(refs["parent"])] == ("test_http.Parent", "python")
    assert behaviours[ref_text(refs["child"])] == ("conftest.Counter", "python")
    assert behaviours[ref_text(fn)] == ("test_http.echo", "python")
    assert behaviours[ref_text(by_file)] == (path, "lua")
    assert behaviours[ref_text(refs["lua"])] == ("lua", "lua")
    # a restart keeps the label
    refs["parent"].tell("boom")
    assert wait_for(lambda: get_json(url, "/actors/" + ref_text(refs["parent"]))["restarts"] == 1)
    assert get_json(url, "/actors/" + ref_text(refs["parent"]))["behaviour"] == "test_http.Parent"
    families = {f.name: f for f in text_string_to_metric_families(get(url, "/metrics")[2].decode())}
    handled = {x.labels["behaviour"]: x.value
               for x in families["zactor_behaviour_messages_handled"].samples}
    assert handled["test_http.echo"] >= 1 and handled[path] >= 1


def test_tree(mixed):
    s, refs = mixed
    tree = get_json(s.http_url, "/tree")
    assert tree["actors"] == 4
    roots = {r["name"]: r for r in tree["roots"]}
    assert set(roots) == {"py-parent", "lua-counter", "c-weird"}
    assert [c["name"] for c in roots["py-parent"]["children"]] == ["py-child"]
    assert roots["py-parent"]["children"][0]["children"] == []


def test_restarts_and_dead_letters(mixed):
    s, refs = mixed
    url = s.http_url
    refs["parent"].tell("boom")  # the handler took the object, then failed
    refs["lua"].tell(["boom", {"k": [1, 2.5, None, True]}])  # MessagePack: previewed as text
    refs["c"].tell(["fail", 1])
    wait_for(lambda: get_json(url, "/deadletters")["total"] >= 3, timeout=10)
    dls = get_json(url, "/deadletters")
    assert dls["kept"] == 100
    by_target = {d["target"]: d for d in dls["deadletters"]}
    py = by_target[ref_text(refs["parent"])]
    assert py["reason"] == "failed" and py["sender"] is None
    assert py["preview"] == "<taken by the receiver>"
    lua = by_target[ref_text(refs["lua"])]
    assert lua["reason"] == "failed"
    assert lua["preview"] == '["boom", {"k": [1, 2.5, null, true]}]'
    assert by_target[ref_text(refs["c"])]["preview"] == '["fail", 1]'
    assert all(d["time_ms"] > 1.6e12 for d in dls["deadletters"])
    seqs = [d["seq"] for d in dls["deadletters"]]
    assert seqs == sorted(seqs)
    assert len(get_json(url, "/deadletters?limit=1")["deadletters"]) == 1
    # the failures were restarted: the actors show it and keep their refs
    assert wait_for(lambda: get_json(url, "/actors/" + ref_text(refs["parent"]))["restarts"] == 1)
    assert wait_for(lambda: get_json(url, "/actors/" + ref_text(refs["lua"]))["restarts"] == 1)
    assert wait_for(lambda: get_json(url, "/actors/" + ref_text(refs["c"]))["restarts"] == 1)
    assert refs["lua"].ask(["get"], timeout=5) == 5


def test_dropped_python_object_is_previewed_by_type(mixed):
    s, refs = mixed
    gate = threading.Event()

    class Busy(zactor.Actor):
        def receive(self, msg):
            gate.wait(10)

    b = s.spawn(Busy, capacity=1, on_full="drop_newest")
    try:
        b.tell("hold")
        # an actor shows up once its start ran (a moment after spawn returns)
        assert wait_for(lambda: get(s.http_url, "/actors/" + ref_text(b))[0] == 200)
        for _ in range(3):
            b.tell({"a": 1})  # at least the last ones do not fit: dropped
        dls = wait_for(lambda: [d for d in get_json(s.http_url, "/deadletters")["deadletters"]
                                if d["target"] == ref_text(b)], timeout=5)
        assert dls and all(d["reason"] == "dropped" and d["preview"] == "<dict>" for d in dls)
    finally:
        gate.set()


def test_metrics_parse_with_prometheus_client(mixed):
    s, refs = mixed
    for i in range(200):
        refs["lua"].tell(["add", 1])
    assert refs["lua"].ask(["get"], timeout=5) == 205
    code, headers, body = get(s.http_url, "/metrics")
    assert code == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert families["zactor_messages_sent"].type == "counter"
    sent = families["zactor_messages_sent"].samples[0].value
    assert sent >= 200
    assert families["zactor_actors_alive"].samples[0].value == 4
    assert families["zactor_reply_slots"].type == "gauge"  # asks awaiting an answer
    assert families["zactor_reply_slots"].samples[0].value == 0  # (this GET is no ask)
    assert families["zactor_ready"].samples[0].value == 1
    for name in ("zactor_queue_latency_seconds", "zactor_processing_seconds"):
        h = families[name]
        assert h.type == "histogram"
        buckets = [x for x in h.samples if x.name == name + "_bucket"]
        les = [x.labels["le"] for x in buckets]
        assert les[-1] == "+Inf" and len(les) > 10
        counts = [x.value for x in buckets]
        assert counts == sorted(counts)  # cumulative
        total = [x.value for x in h.samples if x.name == name + "_count"][0]
        assert counts[-1] == total and total > 0
        assert [x.value for x in h.samples if x.name == name + "_sum"][0] > 0
    actors = {(x.labels["behaviour"], x.labels["language"]): x.value
              for x in families["zactor_behaviour_actors"].samples}
    assert actors == {("test_http.Parent", "python"): 1, ("conftest.Counter", "python"): 1,
                      ("lua", "lua"): 1,
                      ('we"ird\\c\nname', "c"): 1}  # the escaped label came back intact
    handled = {x.labels["behaviour"]: x.value
               for x in families["zactor_behaviour_messages_handled"].samples}
    assert handled["lua"] >= 201
    assert {x.labels["behaviour"] for x in families["zactor_behaviour_mailbox_depth"].samples} == \
        {"test_http.Parent", "conftest.Counter", "lua", 'we"ird\\c\nname'}


def test_health_and_readiness_during_shutdown():
    gate = threading.Event()

    class Slow(zactor.Actor):
        def receive(self, msg):
            gate.wait(10)

    s = zactor.System(workers=2, http="127.0.0.1:0")
    try:
        url = s.http_url
        assert get(url, "/health/live")[0] == 200
        code, _, body = get(url, "/health/ready")
        assert code == 200 and json.loads(body) == {"status": "ready"}
        ref = s.spawn(Slow)
        ref.tell("hold")
        t = threading.Thread(target=s.shutdown, args=(10.0,))
        t.start()
        # draining: not ready (Kubernetes stops sending traffic), still live
        assert wait_for(lambda: get(url, "/health/ready")[0] == 503, timeout=5)
        assert get(url, "/health/live")[0] == 200
        assert json.loads(get(url, "/status")[2])["ready"] is False
        gate.set()
        t.join(15)
        assert not t.is_alive()
    finally:
        gate.set()
        s.shutdown()


def test_bearer_token():
    with zactor.System(workers=1, http="127.0.0.1:0", http_token="s3cret") as s:
        url = s.http_url
        for path in ("/actors", "/metrics", "/tree", "/deadletters", "/", "/status"):
            code, headers, _ = get(url, path)
            assert code == 401, path
            assert headers["WWW-Authenticate"].startswith("Bearer")
            assert get(url, path, token="wrong")[0] == 401
            assert get(url, path, token="s3cret")[0] == 200
        assert get(url, "/health/live")[0] == 200  # probes need no token
        assert get(url, "/health/ready")[0] == 200


def test_non_loopback_needs_a_token():
    with pytest.raises(ValueError, match="not loopback: set http_token"):
        zactor.System(workers=1, http="0.0.0.0:0")
    with zactor.System(workers=1, http="0.0.0.0:0", http_token="t") as s:
        port = s.http_url.rsplit(":", 1)[1]
        assert get("http://127.0.0.1:" + port, "/actors")[0] == 401
        assert get("http://127.0.0.1:" + port, "/actors", token="t")[0] == 200
    for bad, why in [("127.0.0.1", "expected host:port"), ("127.0.0.1:70000", "bad port"),
                     ("example.invalid:80", "numeric address")]:
        with pytest.raises(ValueError, match=why):
            zactor.System(workers=1, http=bad)
    with pytest.raises(ValueError, match="http_token is set but http_addr is not"):
        zactor.System(workers=1, http_token="t")
    with zactor.System(workers=1, http="127.0.0.1:0") as s:  # the port is taken
        with pytest.raises(ValueError, match="cannot serve HTTP"):
            zactor.System(workers=1, http=s.http_url[len("http://"):])


def test_bad_requests_do_not_disturb_the_workers(mixed):
    s, refs = mixed
    url = s.http_url
    # a client that starts a request and stalls: closed by the idle timeout (10 s)
    slow = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30)
    slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    assert get(url, "/no/such/path")[0] == 404
    assert json.loads(get(url, "/nope")[2])["error"] == "not found"
    code, headers, _ = get(url, "/actors", method="POST")
    assert code == 405 and headers["Allow"] == "GET, HEAD"
    assert get(url, "/metrics", method="DELETE")[0] == 405
    assert get(url, "/actors?limit=abc")[0] == 400
    assert get(url, "/actors?offset=-1")[0] == 400
    assert get(url, "/actors/1.2.3")[0] == 400
    assert get(url, "/actors/999999.1")[0] == 404
    huge = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    assert status_of(raw(url, huge)) == 431
    # garbage: answered 400 or left to the idle timeout (10 s); not waited for here
    assert status_of(raw(url, b"\x00\x01garbage\r\n\r\n", timeout=1)) in (400, None)
    assert get(url, "/health/live")[0] == 200
    # slow clients: idle connections up to the per-address limit hold no
    # worker; one more is refused; the system answers asks all along
    idle = [socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10)
            for _ in range(32)]
    try:
        for c in idle[:8]:
            c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        assert refs["lua"].ask(["get"], timeout=5) == 5
        assert refs["parent"].ask("x", timeout=5) is None
        assert raw(url, b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5) == b""
    finally:
        for c in idle:
            c.close()

    def live():
        try:  # the server may still count the closed links for a moment
            return get(url, "/health/live")[0] == 200
        except OSError:
            return False

    assert wait_for(live, timeout=5)
    assert refs["lua"].ask(["get"], timeout=5) == 5
    try:  # the stalled request got nothing and its connection was closed
        assert slow.recv(1024) == b""
    except ConnectionResetError:
        pass
    finally:
        slow.close()


def test_dashboard_is_served_and_embedded(mixed):
    s, _ = mixed
    code, headers, body = get(s.http_url, "/")
    assert code == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    with open(os.path.join(ROOT, "csrc", "http", "dashboard.html"), "rb") as f:
        assert body == f.read()  # the C string is the .html, byte for byte
    assert b"<script" in body and b"http://" not in body.replace(b"http://www.w3.org", b"")


def _chromium(args, tmp_path, timeout=90):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is not installed (make deps installs Debian's chromium)"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
           *args]
    return subprocess.run(cmd, capture_output=True, timeout=timeout)


def test_dashboard_in_headless_chromium(mixed, tmp_path):
    """The page, opened in a real browser, shows the running system's actors
    (all three languages), live numbers and its dead letters; the screenshot
    goes to build/dashboard.png (the README's copy, bench/results/dashboard.png,
    is refreshed with ZACTOR_DASHBOARD_SHOT=bench/results/dashboard.png)."""
    s, refs = mixed
    refs["c"].tell(["fail", 1])  # a dead letter (and a restart) before the page opens
    assert wait_for(lambda: get_json(s.http_url, "/deadletters")["total"] >= 1, timeout=5)
    stop = threading.Event()

    def load():  # live traffic while the browser polls; bounded in count and time
        deadline = time.monotonic() + 60
        for i in range(200_000):
            if stop.is_set() or time.monotonic() > deadline:
                return
            refs["lua"].tell(["add", 1])
            refs["child"].tell(("add", 1))
            if i % 4 == 0:
                refs["parent"].tell("noop")
            if i == 3000:
                refs["lua"].tell(["boom"])  # a restart while the page watches
            time.sleep(0.0002)

    t = threading.Thread(target=load)
    t.start()
    try:
        page = s.http_url + "/?interval=200"
        out = _chromium(["--virtual-time-budget=5000", "--dump-dom", page], tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        dom = out.stdout.decode()
        for name in ("py-parent", "py-child", "lua-counter", "c-weird"):
            assert name in dom, name
        for lang in ("python", "lua", "c"):
            assert f'<span class="lang {lang}">{lang}</span>' in dom
        assert '<span id="ready" class="pill ok">ready</span>' in dom
        assert "dead letter (failed) to " + ref_text(refs["c"]) in dom
        assert '<span id="tree-count" class="ref">(4)</span>' in dom
        assert '<b id="s-grains">0</b>' in dom  # no grain classes: none active
        assert '<section id="cluster" class="wide" hidden="">' in dom  # not in a cluster
        shot = os.path.join(ROOT, os.environ.get("ZACTOR_DASHBOARD_SHOT",
                                                 os.path.join("build", "dashboard.png")))
        os.makedirs(os.path.dirname(shot), exist_ok=True)
        out = _chromium(["--virtual-time-budget=8000", "--window-size=1280,900",
                         f"--screenshot={shot}", page], tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        with open(shot, "rb") as f:
            png = f.read()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    finally:
        stop.set()
        t.join(70)


def test_cluster_view(redis_url, nodes, tmp_path):  # noqa: F811
    """GET /cluster: this node and the members as the membership table has
    them, with the cluster's counters; {"cluster": null} without a cluster."""
    with zactor.System(workers=1, http="127.0.0.1:0") as s:
        assert get_json(s.http_url, "/cluster") == {"cluster": None}
    with zactor.Cluster(redis_url, name="ops", node_name="web-1") as cluster, \
            zactor.System(workers=2, cluster=cluster, http="127.0.0.1:0") as system:
        url = system.http_url
        doc = get_json(url, "/cluster")["cluster"]
        assert doc["name"] == "ops"
        me = doc["self"]
        assert me["name"] == "web-1" and me["id"] == system.node.id and me["self"] is True
        assert me["state"] == "alive" and me["endpoint"] == system.node.endpoint
        assert me["epoch"] > 0
        assert doc["count"] == 1 and [m["name"] for m in doc["members"]] == ["web-1"]
        proc, other_id = nodes(redis_url, "ops", "web-2")
        doc = wait_for(lambda: (d := get_json(url, "/cluster")["cluster"])["count"] == 2 and d,
                       timeout=15)
        assert doc, "the second node never showed up in /cluster"
        members = {m["name"]: m for m in doc["members"]}
        assert set(members) == {"web-1", "web-2"}
        assert members["web-2"]["id"] == other_id and members["web-2"]["self"] is False
        assert members["web-2"]["endpoint"].startswith("tcp://127.0.0.1:")
        assert members["web-2"]["state"] == "alive"
        # traffic shows in the counters
        inv = wait_for(lambda: system.lookup("inventory@web-2"), 10)
        assert inv.ask(("get", 1), timeout=5) == {"item": 1, "count": 7}
        stats = get_json(url, "/cluster")["cluster"]["stats"]
        assert stats["sent"] >= 1 and stats["malformed"] == 0 and stats["table_version"] >= 2
        assert set(stats) >= {"fenced", "dropped", "votes", "nodes_down", "redis_errors",
                              "table_version", "auth_failed", "batches_out"}
        # the dashboard shows the cluster's nodes (a section only a cluster has)
        out = _chromium(["--virtual-time-budget=3000", "--dump-dom", url + "/?interval=200"], tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        dom = out.stdout.decode()
        assert '<section id="cluster" class="wide">' in dom
        assert "<td>web-2</td>" in dom and '<td>web-1 <span class="pill ok">this node</span></td>' in dom
        assert '<b id="s-node">web-1</b>' in dom


def test_readiness_follows_redis_in_a_cluster(tmp_path):
    """In a cluster, /health/ready is 503 while Redis cannot be reached (the
    node cannot see joins and deaths), and ready again once it can."""
    port = free_port()
    redis = start_redis(tmp_path, port)
    try:
        with zactor.Cluster(f"redis://127.0.0.1:{port}/0", name="rd", node_name="n1",
                            poll=0.1) as cluster, \
                zactor.System(workers=1, cluster=cluster, http="127.0.0.1:0") as system:
            url = system.http_url
            assert get(url, "/health/ready")[0] == 200
            assert get_json(url, "/cluster")["cluster"]["redis"] == "ok"
            redis.kill()
            redis.wait(timeout=10)
            assert wait_for(lambda: get(url, "/health/ready")[0] == 503, timeout=10)
            code, _, body = get(url, "/health/ready")
            assert json.loads(body) == {"status": "not ready",
                                        "reason": "Redis (cluster membership) is unreachable"}
            assert get(url, "/health/live")[0] == 200  # alive all the same
            assert get_json(url, "/cluster")["cluster"]["redis"] == "unreachable"
            assert get_json(url, "/status")["ready"] is False
            redis = start_redis(tmp_path, port)  # the same port: the node reconnects
            assert wait_for(lambda: get(url, "/health/ready")[0] == 200, timeout=15)
    finally:
        redis.kill()
        redis.wait(timeout=10)
