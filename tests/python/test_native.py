"""Native C behaviours spawned from Python (zactor.native, cffi), mixed
with Python actors; and the C API of libzactor.so driven through cffi."""
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

import zactor
from conftest import wait_for

cffi = pytest.importorskip("cffi")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INCLUDE = os.path.join(ROOT, "csrc", "include")


@pytest.fixture(scope="session")
def counter_so(tmp_path_factory):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("native") / "libcounter.so"
    # no -l: the za_* symbols come from the loaded zactor extension
    subprocess.run([cc, "-std=c11", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-I", INCLUDE,
                    os.path.join(ROOT, "tests", "native", "counter.c"), "-o", str(out)], check=True)
    return str(out)


def test_spawn_native(system, counter_so):
    ref = system.spawn_native(counter_so, "counter_behaviour", 10)
    ref.tell(["add", 5])
    ref.tell(("add", 7))
    assert ref.ask(["get"], timeout=2.0) == 22
    assert system.spawn_native(counter_so, "counter_behaviour").ask(["get"]) == 0


def test_native_bad_paths(system, counter_so):
    with pytest.raises(LookupError):
        system.spawn_native(counter_so, "no_such_behaviour")
    with pytest.raises(OSError):
        system.spawn_native("/nonexistent/lib.so", "counter_behaviour")
    ref = system.spawn_native(counter_so, "counter_behaviour", name="nat")
    assert system.lookup("nat") == ref
    with pytest.raises(TypeError):
        ref.tell(object())  # cannot cross into C
    with pytest.raises(zactor.ActorFailed, match="native boom"):
        ref.ask(["boom"])
    # restarted by the system: the ref still works
    assert ref.ask(["get"]) == 0
    ref.stop()
    assert ref.join(timeout=2.0)
    with pytest.raises(zactor.ActorDeadError):
        ref.tell(["add", 1])


def test_native_refuses_what_is_not_a_behaviour(system, counter_so):
    # libc's environ (8 bytes) crashed the process; printf was refused only by luck
    with pytest.raises(ValueError, match="not a za_behaviour"):
        system.spawn_native("libc.so.6", "environ")
    with pytest.raises(ValueError, match="not a data object"):
        system.spawn_native("libc.so.6", "printf")
    with pytest.raises(ValueError):
        system.spawn_native(counter_so + "\0x", "counter_behaviour")
    # the system still works
    assert system.spawn_native(counter_so, "counter_behaviour", 4).ask(["get"]) == 4


def test_python_actor_talks_to_native(system, counter_so):
    nat = system.spawn_native(counter_so, "counter_behaviour")

    class Feeder(zactor.Actor):
        def receive(self, msg):
            for i in range(msg):
                nat.tell(["add", 1])

    f = system.spawn(Feeder)
    f.tell(1000)
    assert wait_for(lambda: nat.ask(["get"]) == 1000)


def test_stress_python_and_native_actors(counter_so):
    with zactor.System(workers=2) as s:
        natives = [s.spawn_native(counter_so, "counter_behaviour") for _ in range(100)]

        class Relay(zactor.Actor):
            def __init__(self):
                self.count = 0

            def receive(self, msg):
                if msg == "count":
                    return self.count
                self.count += 1
                hops, ring = msg
                natives[hops % len(natives)].tell(["add", 1])
                if hops:
                    ring[hops % len(ring)].tell((hops - 1, ring))

        ring = [s.spawn(Relay) for _ in range(200)]
        for i in range(40):
            ring[i].tell((150, ring))
        total = 40 * 151
        assert wait_for(lambda: sum(r.ask("count") for r in ring) == total, timeout=30)
        assert wait_for(lambda: sum(n.ask(["get"]) for n in natives) == total, timeout=30)
        assert s.metrics()["dead_letters"] == 0


# ------------------------------------------------ libzactor.so through cffi

LIB_CDEF = """
typedef uint64_t za_ref;
typedef struct za_system za_system;
typedef struct za_ctx za_ctx;
typedef struct za_msg {
    int32_t tag; uint8_t prio; uint8_t kind; int16_t status; uint32_t len;
    const void *data; void *ptr; za_ref sender; uint64_t corr;
} za_msg;
typedef struct za_behaviour {
    uint32_t abi; const char *name; size_t state_size;
    int (*start)(za_ctx *ctx, const void *args, size_t args_len);
    int (*receive)(za_ctx *ctx, const za_msg *msg);
    void (*stop)(za_ctx *ctx);
    const void *host;
} za_behaviour;
typedef struct za_config {
    int workers; uint32_t batch; uint32_t spin_us; uint32_t max_payload; uint32_t latency_sample;
    uint32_t root_max_restarts; uint32_t root_within_ms; int manual;
    const char *http_addr; const char *http_token; uint32_t dead_letter_keep;
    void *cluster;
} za_config;
typedef struct za_answer {
    int status; int32_t tag; uint8_t kind; void *data; size_t len; void *ptr; void *dtor; char *error;
} za_answer;
void za_config_init(za_config *cfg);
int za_system_create(const za_config *cfg, za_system **out);
int za_system_shutdown(za_system *sys, uint32_t timeout_ms);
void za_system_destroy(za_system *sys);
int za_spawn(za_system *sys, const za_behaviour *beh, const void *args, size_t args_len,
             const void *opts, za_ref *out);
int za_tell(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len);
int za_ask(za_system *sys, za_ref to, int32_t tag, const void *data, size_t len,
           uint32_t timeout_ms, za_answer *out);
void za_answer_free(za_answer *a);
int za_reply(za_ctx *ctx, int32_t tag, const void *data, size_t len);
void *za_ctx_state(za_ctx *ctx);
int za_stop(za_system *sys, za_ref ref);
int za_join(za_system *sys, za_ref ref, uint32_t timeout_ms);
const char *za_strerror(int code);
"""


def _header_define(name):
    with open(os.path.join(INCLUDE, "zactor.h")) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "#define" and parts[1] == name:
                return int(parts[2].rstrip("uU"), 0)
    raise LookupError(name)


ZA_BEHAVIOUR_ABI = _header_define("ZA_BEHAVIOUR_ABI")


@pytest.fixture(scope="session")
def libzactor():
    # Always through make: a libzactor.so left from older sources would be
    # driven with this checkout's header layout.
    so = os.path.join(ROOT, "build", "release", "libzactor.so")
    r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "lib"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and os.path.exists(so), "cannot build libzactor.so: " + r.stderr[-500:]
    ffi = cffi.FFI()
    ffi.cdef(LIB_CDEF)
    return ffi, ffi.dlopen(so)


def test_c_api_through_cffi(libzactor):
    ffi, lib = libzactor
    cfg = ffi.new("za_config *")
    lib.za_config_init(cfg)
    cfg.workers = 2
    sysp = ffi.new("za_system **")
    assert lib.za_system_create(cfg, sysp) == 0
    sys_ = sysp[0]

    @ffi.callback("int(za_ctx *, const za_msg *)")
    def receive(ctx, msg):
        st = ffi.cast("int64_t *", lib.za_ctx_state(ctx))
        if msg.tag == 1:
            st[0] += ffi.cast("int32_t *", msg.data)[0]
        elif msg.tag == 2:
            out = ffi.new("int64_t *", st[0])
            lib.za_reply(ctx, 2, out, 8)
        elif msg.tag == 3:
            return 1  # failure: supervised, restarted
        return 0

    name = ffi.new("char[]", b"cffi-counter")
    beh = ffi.new("za_behaviour *", {"abi": ZA_BEHAVIOUR_ABI, "name": name, "state_size": 8,
                                     "receive": receive})
    ref = ffi.new("za_ref *")
    assert lib.za_spawn(sys_, beh, ffi.NULL, 0, ffi.NULL, ref) == 0
    for i in range(1, 101):
        v = ffi.new("int32_t *", i)
        assert lib.za_tell(sys_, ref[0], 1, v, 4) == 0
    ans = ffi.new("za_answer *")
    assert lib.za_ask(sys_, ref[0], 2, ffi.NULL, 0, 2000, ans) == 0
    assert ffi.cast("int64_t *", ans.data)[0] == 5050
    lib.za_answer_free(ans)
    # a failing receive during an ask: ZA_EFAILED (-11), then restart with fresh state
    assert lib.za_ask(sys_, ref[0], 3, ffi.NULL, 0, 2000, ans) == -11
    lib.za_answer_free(ans)
    assert lib.za_ask(sys_, ref[0], 2, ffi.NULL, 0, 2000, ans) == 0
    assert ffi.cast("int64_t *", ans.data)[0] == 0
    lib.za_answer_free(ans)
    assert lib.za_stop(sys_, ref[0]) == 0
    assert lib.za_join(sys_, ref[0], 2000) == 0
    v = ffi.new("int32_t *", 1)
    assert lib.za_tell(sys_, ref[0], 1, v, 4) == -3  # ZA_EDEAD
    assert ffi.string(lib.za_strerror(-3))
    assert lib.za_system_shutdown(sys_, 2000) == 0
    lib.za_system_destroy(sys_)
