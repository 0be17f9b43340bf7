// savina_caf.cpp - the eight Savina workloads of bench/savina/README.md on
// CAF 0.17 (Debian's libcaf-dev), with event-based, dynamically typed actors.
//
//   savina_caf [--runtime caf] <workload> key=value ...
//
// Runs the workload once and prints one JSON line on stdout (the contract of
// bench/savina/README.md). The actor system is configured before the clock
// starts: work-stealing scheduler (CAF's default policy) with
// scheduler.max-threads = online cores; scheduler.max-throughput is left at
// its documented default (unlimited: an actor drains its mailbox in one run,
// which favours batch throughput). The clock runs from the first spawn to the
// verified answer.
//
// Shape shared by all workloads: main spawns one "driver" actor and sends it
// a request (go) from a scoped_actor, the only blocking actor. The driver
// keeps a response promise, runs the workload with actors it spawns, and
// delivers the result. After the clock stops main sends the driver "stop";
// the driver ends the actors that are still alive and quits, so that the
// actor_system destructor (which waits for every actor) returns promptly.
//
// Messages are an atom naming the kind plus built-in value types. Long loops
// (counting's increments, fjthrput's sends, fjcreate's spawns) run in one
// handler as in Savina. (The zactor program runs them in chunks; the same
// chunking measured no gain for CAF in counting and fjthrput and a loss in
// fjcreate, so CAF keeps Savina's shape.)
//
// SAVINA_CAF_INI=<file> adds CAF settings from an INI file, e.g.
// "[scheduler] policy='sharing'", for experiments; the suite does not set it.

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include "caf/all.hpp"

using namespace caf;

namespace {

constexpr const char *runtime_name = "caf";

// Message kinds.
using go_atom = atom_constant<atom("go")>;
using stop_atom = atom_constant<atom("stop")>;
using ping_atom = atom_constant<atom("ping")>;
using pong_atom = atom_constant<atom("pong")>;
using inc_atom = atom_constant<atom("inc")>;
using get_atom_t = atom_constant<atom("get")>;
using total_atom = atom_constant<atom("total")>;
using work_atom = atom_constant<atom("work")>;
using done_atom = atom_constant<atom("done")>;
using next_atom = atom_constant<atom("next")>;
using token_atom = atom_constant<atom("token")>;
using meet_atom = atom_constant<atom("meet")>;
using change_atom = atom_constant<atom("change")>;
using fade_atom = atom_constant<atom("fade")>;
using count_atom = atom_constant<atom("count")>;
using nbrs_atom = atom_constant<atom("neighbors")>;
using start_atom = atom_constant<atom("start")>;
using sum_atom = atom_constant<atom("sum")>;

// Workload parameters (copied into the actors that need them).
struct params {
    uint64_t n = 0, a = 0, r = 0, c = 0, w = 0, leaves = 0;
};

// Savina's performComputation: s = sin(theta), r = s * s. theta arrives in
// the message, so the compiler cannot fold it; a non-positive r counts as an
// error, which keeps the result live (Savina throws there).
bool perform_computation(double theta) {
    double s = std::sin(theta);
    double r = s * s;
    return r <= 0.0;
}

// Stop actors that would otherwise live on (the system waits for them). Each
// actor also drops the handles it holds in on_exit: actors that refer to each
// other would otherwise keep each other's memory alive after they quit.
void end_all(event_based_actor *self, const std::vector<actor> &xs) {
    for (auto &x : xs) self->send_exit(x, exit_reason::user_shutdown);
}

// ------------------------------------------------------------- pingpong

class pong_actor : public event_based_actor {
  public:
    pong_actor(actor_config &cfg, actor ping) : event_based_actor(cfg), ping_(std::move(ping)) {}

    behavior make_behavior() override {
        return {
            [=](ping_atom) { send(ping_, pong_atom::value); },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { ping_ = nullptr; }

  private:
    actor ping_;
};

class ping_actor : public event_based_actor {
  public:
    ping_actor(actor_config &cfg, params p) : event_based_actor(cfg), p_(p) {}

    behavior make_behavior() override {
        return {
            [=](go_atom) {
                rp_ = make_response_promise();
                pong_ = spawn<pong_actor>(actor_cast<actor>(this));
                if (p_.n == 0)
                    rp_.deliver(uint64_t{0});
                else
                    send(pong_, ping_atom::value);
            },
            [=](pong_atom) {
                if (++pongs_ == p_.n)
                    rp_.deliver(pongs_);
                else
                    send(pong_, ping_atom::value);
            },
            [=](stop_atom) {
                end_all(this, {pong_});
                quit();
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { pong_ = nullptr; }

  private:
    params p_;
    uint64_t pongs_ = 0;
    actor pong_;
    response_promise rp_;
};

// ------------------------------------------------------------- counting

class counter_actor : public event_based_actor {
  public:
    using event_based_actor::event_based_actor;

    behavior make_behavior() override {
        return {
            [=](inc_atom) { ++count_; },
            [=](get_atom_t) {
                send(actor_cast<actor>(current_sender()), total_atom::value, count_);
            },
        };
    }

  private:
    uint64_t count_ = 0;
};

class producer_actor : public event_based_actor {
  public:
    producer_actor(actor_config &cfg, params p) : event_based_actor(cfg), p_(p) {}

    behavior make_behavior() override {
        return {
            [=](go_atom) {
                rp_ = make_response_promise();
                counter_ = spawn<counter_actor>();
                // Savina: all increments from one handler, then the request
                for (uint64_t i = 0; i < p_.n; ++i) send(counter_, inc_atom::value);
                send(counter_, get_atom_t::value);
            },
            [=](total_atom, uint64_t total) { rp_.deliver(total); },
            [=](stop_atom) {
                end_all(this, {counter_});
                quit();
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { counter_ = nullptr; }

  private:
    params p_;
    actor counter_;
    response_promise rp_;
};

// ------------------------------------------------------------- fjthrput

class tp_worker : public event_based_actor {
  public:
    tp_worker(actor_config &cfg, uint64_t n, actor driver)
        : event_based_actor(cfg), n_(n), driver_(std::move(driver)) {}

    behavior make_behavior() override {
        return {
            [=](work_atom, double theta) {
                errors_ += perform_computation(theta) ? 1 : 0;
                if (++handled_ == n_) // a failed computation spoils the count
                    send(driver_, done_atom::value, errors_ ? uint64_t{0} : handled_);
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { driver_ = nullptr; }

  private:
    uint64_t n_, handled_ = 0, errors_ = 0;
    actor driver_;
};

class tp_driver : public event_based_actor {
  public:
    tp_driver(actor_config &cfg, params p) : event_based_actor(cfg), p_(p) {}

    behavior make_behavior() override {
        return {
            [=](go_atom) {
                rp_ = make_response_promise();
                if (p_.a == 0 || p_.n == 0) {
                    rp_.deliver(uint64_t{0});
                    return;
                }
                for (uint64_t i = 0; i < p_.a; ++i)
                    workers_.push_back(spawn<tp_worker>(p_.n, actor_cast<actor>(this)));
                // Savina: all messages from one handler; message i goes to
                // worker i mod a
                double theta = 37.2;
                for (uint64_t i = 0; i < p_.n; ++i)
                    for (auto &w : workers_) send(w, work_atom::value, theta);
            },
            [=](done_atom, uint64_t handled) {
                sum_ += handled;
                if (++reports_ == p_.a) rp_.deliver(sum_);
            },
            [=](stop_atom) {
                end_all(this, workers_);
                quit();
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { workers_.clear(); }

  private:
    params p_;
    std::vector<actor> workers_;
    uint64_t sum_ = 0, reports_ = 0;
    response_promise rp_;
};

// ------------------------------------------------------------- fjcreate

class fc_worker : public event_based_actor {
  public:
    fc_worker(actor_config &cfg, actor driver)
        : event_based_actor(cfg), driver_(std::move(driver)) {}

    behavior make_behavior() override {
        return {
            [=](work_atom, double theta) {
                uint64_t ok = perform_computation(theta) ? 0 : 1;
                send(driver_, done_atom::value, ok);
                quit();
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { driver_ = nullptr; }

  private:
    actor driver_;
};

class fc_driver : public event_based_actor {
  public:
    fc_driver(actor_config &cfg, params p) : event_based_actor(cfg), p_(p) {}

    behavior make_behavior() override {
        return {
            [=](go_atom) {
                rp_ = make_response_promise();
                if (p_.n == 0) {
                    rp_.deliver(uint64_t{0});
                    return;
                }
                // Savina: all spawns from one handler
                double theta = 37.2;
                auto me = actor_cast<actor>(this);
                for (uint64_t i = 0; i < p_.n; ++i)
                    send(spawn<fc_worker>(me), work_atom::value, theta);
            },
            [=](done_atom, uint64_t ok) {
                ok_ += ok;
                if (++reports_ == p_.n) rp_.deliver(ok_);
            },
            [=](stop_atom) { quit(); },
        };
    }

  private:
    params p_;
    uint64_t reports_ = 0, ok_ = 0;
    response_promise rp_;
};

// ----------------------------------------------------------- threadring

class ring_actor : public event_based_actor {
  public:
    ring_actor(actor_config &cfg, actor driver)
        : event_based_actor(cfg), driver_(std::move(driver)) {}

    behavior make_behavior() override {
        return {
            [=](next_atom, actor next) { next_ = std::move(next); },
            [=](token_atom, uint64_t left, uint64_t hops) {
                if (left == 0)
                    send(driver_, done_atom::value, hops);
                else
                    send(next_, token_atom::value, left - 1, hops + 1);
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override {
        driver_ = nullptr;
        next_ = nullptr;
    }

  private:
    actor driver_, next_;
};

class ring_driver : public event_based_actor {
  public:
    ring_driver(actor_config &cfg, params p) : event_based_actor(cfg), p_(p) {}

    behavior make_behavior() override {
        return {
            [=](go_atom) {
                rp_ = make_response_promise();
                auto me = actor_cast<actor>(this);
                for (uint64_t i = 0; i < p_.n; ++i) ring_.push_back(spawn<ring_actor>(me));
                // each next is queued before the token can reach that actor
                for (uint64_t i = 0; i < p_.n; ++i)
                    send(ring_[i], next_atom::value, ring_[(i + 1) % p_.n]);
                send(ring_[0], token_atom::value, p_.r, uint64_t{0});
            },
            [=](done_atom, uint64_t hops) { rp_.deliver(hops); },
            [=](stop_atom) {
                end_all(this, ring_);
                quit();
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { ring_.clear(); }

  private:
    params p_;
    std::vector<actor> ring_;
    response_promise rp_;
};

// ------------------------------------------------------------ chameneos

// Two different colours give the third; equal colours stay.
uint32_t complement(uint32_t a, uint32_t b) {
    return a == b ? a : 3u - a - b;
}

class creature_actor : public event_based_actor {
  public:
    creature_actor(actor_config &cfg, actor mall, uint32_t color)
        : event_based_actor(cfg), mall_(std::move(mall)), color_(color) {}

    behavior make_behavior() override {
        meet();
        return {
            // the mall paired us with `other`
            [=](meet_atom, uint32_t other_color, const actor &other) {
                color_ = complement(color_, other_color);
                ++meetings_;
                send(other, change_atom::value, color_);
                meet();
            },
            [=](change_atom, uint32_t color) {
                color_ = color;
                ++meetings_;
                meet();
            },
            [=](fade_atom) {
                send(mall_, count_atom::value, meetings_);
                quit();
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { mall_ = nullptr; }

  private:
    void meet() { send(mall_, meet_atom::value, color_, actor_cast<actor>(this)); }

    actor mall_;
    uint32_t color_;
    uint64_t meetings_ = 0;
};

class mall_actor : public event_based_actor {
  public:
    mall_actor(actor_config &cfg, params p) : event_based_actor(cfg), p_(p), left_(p.n) {}

    behavior make_behavior() override {
        return {
            [=](go_atom) {
                rp_ = make_response_promise();
                if (p_.c == 0) {
                    rp_.deliver(uint64_t{0});
                    return;
                }
                auto me = actor_cast<actor>(this);
                for (uint64_t i = 0; i < p_.c; ++i)
                    spawn<creature_actor>(me, static_cast<uint32_t>(i % 3));
            },
            [=](meet_atom, uint32_t color, actor &creature) {
                if (left_ == 0) {
                    send(creature, fade_atom::value);
                } else if (!waiting_) {
                    waiting_ = std::move(creature);
                } else {
                    --left_;
                    // the waiting creature learns who it meets and that one's colour
                    send(waiting_, meet_atom::value, color, std::move(creature));
                    waiting_ = actor{};
                }
            },
            [=](count_atom, uint64_t meetings) {
                sum_ += meetings;
                if (++faded_ == p_.c) rp_.deliver(sum_);
            },
            [=](stop_atom) { quit(); },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { waiting_ = nullptr; }

  private:
    params p_;
    uint64_t left_;
    actor waiting_; // the creature waiting for a partner, if any
    uint64_t faded_ = 0, sum_ = 0;
    response_promise rp_;
};

// ------------------------------------------------------------------ big

uint64_t xorshift64(uint64_t &s) {
    uint64_t x = s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return s = x;
}

class big_actor : public event_based_actor {
  public:
    big_actor(actor_config &cfg, uint32_t id, params p, actor sink)
        : event_based_actor(cfg), id_(id), p_(p), sink_(std::move(sink)),
          rng_(0x9E3779B97F4A7C15ull * (id + 1u)) { // seeded per actor, never 0
    }

    behavior make_behavior() override {
        return {
            [=](nbrs_atom, const std::vector<actor> &all) { all_ = all; },
            [=](start_atom) { send_ping(); },
            [=](ping_atom, uint32_t from) { send(all_[from], pong_atom::value, id_); },
            [=](pong_atom, uint32_t from) {
                if (from != expected_) ++bad_;
                if (++pongs_ == p_.n)
                    send(sink_, done_atom::value, bad_ ? uint64_t{0} : pongs_);
                else
                    send_ping();
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override {
        sink_ = nullptr;
        all_.clear();
    }

  private:
    void send_ping() {
        // a pseudo-random other actor
        auto target = static_cast<uint32_t>(xorshift64(rng_) % (p_.w - 1));
        if (target >= id_) ++target;
        expected_ = target;
        send(all_[target], ping_atom::value, id_);
    }

    uint32_t id_;
    params p_;
    actor sink_;
    uint64_t rng_;
    std::vector<actor> all_;
    uint32_t expected_ = 0;
    uint64_t pongs_ = 0, bad_ = 0;
};

class sink_actor : public event_based_actor {
  public:
    sink_actor(actor_config &cfg, params p) : event_based_actor(cfg), p_(p) {}

    behavior make_behavior() override {
        return {
            [=](go_atom) {
                rp_ = make_response_promise();
                if (p_.n == 0) {
                    rp_.deliver(uint64_t{0});
                    return;
                }
                auto me = actor_cast<actor>(this);
                for (uint64_t i = 0; i < p_.w; ++i)
                    all_.push_back(spawn<big_actor>(static_cast<uint32_t>(i), p_, me));
                // one message, shared (copy-on-write) by all receivers
                auto nbrs = make_message(nbrs_atom::value, all_);
                for (auto &x : all_) send(x, nbrs);
                for (auto &x : all_) send(x, start_atom::value);
            },
            [=](done_atom, uint64_t pongs) {
                sum_ += pongs;
                if (++done_ == p_.w) rp_.deliver(sum_);
            },
            [=](stop_atom) {
                end_all(this, all_);
                quit();
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { all_.clear(); }

  private:
    params p_;
    std::vector<actor> all_;
    uint64_t sum_ = 0, done_ = 0;
    response_promise rp_;
};

// --------------------------------------------------------------- skynet

class sky_actor : public event_based_actor {
  public:
    // num: the first leaf number below this actor; size: leaves below it
    sky_actor(actor_config &cfg, uint64_t num, uint64_t size, actor parent)
        : event_based_actor(cfg), num_(num), size_(size), parent_(std::move(parent)) {}

    behavior make_behavior() override {
        if (size_ == 1) { // a leaf: answer and stop
            send(parent_, sum_atom::value, num_);
            quit();
            return {};
        }
        spawn_children();
        return {
            [=](sum_atom, uint64_t v) {
                sum_ += v;
                if (--pending_ == 0) {
                    send(parent_, sum_atom::value, sum_);
                    quit();
                }
            },
        };
    }

    // drop our handles (see end_all)
    void on_exit() override { parent_ = nullptr; }

  private:
    void spawn_children() {
        uint64_t sub = size_ / 10;
        auto me = actor_cast<actor>(this);
        for (uint64_t i = 0; i < 10; ++i) spawn<sky_actor>(num_ + i * sub, sub, me);
        pending_ = 10;
    }

    uint64_t num_, size_;
    actor parent_;
    uint64_t sum_ = 0;
    uint32_t pending_ = 0;
};

class sky_root : public event_based_actor {
  public:
    sky_root(actor_config &cfg, params p) : event_based_actor(cfg), p_(p) {}

    behavior make_behavior() override {
        return {
            [=](go_atom) {
                rp_ = make_response_promise();
                if (p_.leaves == 1) {
                    rp_.deliver(uint64_t{0});
                    return;
                }
                uint64_t sub = p_.leaves / 10;
                auto me = actor_cast<actor>(this);
                for (uint64_t i = 0; i < 10; ++i) spawn<sky_actor>(i * sub, sub, me);
                pending_ = 10;
            },
            [=](sum_atom, uint64_t v) {
                sum_ += v;
                if (--pending_ == 0) rp_.deliver(sum_);
            },
            [=](stop_atom) { quit(); },
        };
    }

  private:
    params p_;
    uint64_t sum_ = 0;
    uint32_t pending_ = 0;
    response_promise rp_;
};

// ----------------------------------------------------------------- main

struct workload {
    const char *name;
    std::vector<const char *> keys; // in README order
};

const std::vector<workload> workloads = {
    {"pingpong", {"n"}}, {"counting", {"n"}},        {"fjthrput", {"a", "n"}},
    {"fjcreate", {"n"}}, {"threadring", {"n", "r"}}, {"chameneos", {"c", "n"}},
    {"big", {"w", "n"}}, {"skynet", {"leaves"}},
};

uint64_t *param_slot(params &p, const std::string &key) {
    if (key == "n") return &p.n;
    if (key == "a") return &p.a;
    if (key == "r") return &p.r;
    if (key == "c") return &p.c;
    if (key == "w") return &p.w;
    if (key == "leaves") return &p.leaves;
    return nullptr;
}

// Savina defaults (README table).
params savina_defaults(const std::string &wl) {
    params p;
    if (wl == "pingpong")
        p.n = 40000;
    else if (wl == "counting")
        p.n = 1000000;
    else if (wl == "fjthrput")
        p.a = 60, p.n = 10000;
    else if (wl == "fjcreate")
        p.n = 40000;
    else if (wl == "threadring")
        p.n = 100, p.r = 100000;
    else if (wl == "chameneos")
        p.c = 100, p.n = 200000;
    else if (wl == "big")
        p.w = 120, p.n = 20000;
    else if (wl == "skynet")
        p.leaves = 1000000;
    return p;
}

// The expected answer; false for parameters the workload cannot take.
bool expected_result(const std::string &wl, const params &p, uint64_t &out) {
    if (wl == "pingpong" || wl == "counting" || wl == "fjcreate")
        out = p.n;
    else if (wl == "fjthrput")
        out = p.a * p.n;
    else if (wl == "threadring") {
        if (p.n == 0) return false;
        out = p.r;
    } else if (wl == "chameneos")
        out = 2 * p.n;
    else if (wl == "big") {
        if (p.w < 2 || p.w > UINT32_MAX) return false;
        out = p.w * p.n;
    } else if (wl == "skynet") {
        uint64_t l = p.leaves;
        if (l == 0) return false;
        while (l % 10 == 0) l /= 10;
        if (l != 1) return false; // not a power of 10
        out = p.leaves * (p.leaves - 1) / 2;
    } else
        return false;
    return true;
}

actor spawn_driver(actor_system &sys, const std::string &wl, const params &p) {
    if (wl == "pingpong") return sys.spawn<ping_actor>(p);
    if (wl == "counting") return sys.spawn<producer_actor>(p);
    if (wl == "fjthrput") return sys.spawn<tp_driver>(p);
    if (wl == "fjcreate") return sys.spawn<fc_driver>(p);
    if (wl == "threadring") return sys.spawn<ring_driver>(p);
    if (wl == "chameneos") return sys.spawn<mall_actor>(p);
    if (wl == "big") return sys.spawn<sink_actor>(p);
    return sys.spawn<sky_root>(p);
}

int usage(const char *msg) {
    std::fprintf(stderr,
                 "savina_caf: %s\nusage: savina_caf [--runtime %s] <workload> "
                 "key=value ...\n",
                 msg, runtime_name);
    return 2;
}

} // namespace

int main(int argc, char **argv) {
    int ai = 1;
    if (ai < argc && std::strcmp(argv[ai], "--runtime") == 0) {
        if (ai + 1 >= argc) return usage("--runtime needs a value");
        if (std::strcmp(argv[ai + 1], runtime_name) != 0)
            return usage("this program runs only the caf runtime");
        ai += 2;
    }
    if (ai >= argc) return usage("no workload");
    const workload *wl = nullptr;
    for (auto &x : workloads)
        if (x.name == std::string(argv[ai])) wl = &x;
    if (!wl) return usage("unknown workload");
    params p = savina_defaults(wl->name);
    for (++ai; ai < argc; ++ai) {
        std::string arg = argv[ai];
        auto eq = arg.find('=');
        if (eq == std::string::npos) return usage("arguments are key=value");
        std::string key = arg.substr(0, eq);
        bool known = false;
        for (auto k : wl->keys) known |= key == k;
        if (!known) return usage("unknown key for this workload");
        const char *val = argv[ai] + eq + 1;
        char *end = nullptr;
        errno = 0;
        unsigned long long v = std::strtoull(val, &end, 10);
        if (errno || end == val || *end || *val == '-') return usage("values are integers >= 0");
        *param_slot(p, key) = v;
    }
    uint64_t expected = 0;
    if (!expected_result(wl->name, p, expected))
        return usage("parameters out of range (skynet: leaves a power of 10; "
                     "big: w >= 2; threadring: n >= 1)");

    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    actor_system_config cfg;
    cfg.set("scheduler.policy", atom("stealing"));
    cfg.set("scheduler.max-threads", static_cast<size_t>(ncpu > 0 ? ncpu : 1));
    if (const char *ini = getenv("SAVINA_CAF_INI")) { // experiments only
        char prog[] = "savina_caf";
        char *args[] = {prog, nullptr};
        if (auto err = cfg.parse(1, args, ini)) {
            std::fprintf(stderr, "bad %s\n", ini);
            return 2;
        }
    }
    actor_system sys{cfg};
    uint64_t result = 0;
    bool got = false;
    double secs = 0;
    actor driver;
    {
        scoped_actor self{sys};
        auto t0 = std::chrono::steady_clock::now();
        driver = spawn_driver(sys, wl->name, p);
        self->request(driver, std::chrono::minutes(10), go_atom::value)
            .receive(
                [&](uint64_t r) {
                    result = r;
                    got = true;
                },
                [&](error &err) {
                    std::fprintf(stderr, "savina_caf %s: no answer: %s\n", wl->name,
                                 sys.render(err).c_str());
                });
        secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    bool ok = got && result == expected;
    std::printf("{\"workload\": \"%s\", \"runtime\": \"%s\", \"params\": {", wl->name,
                runtime_name);
    for (size_t i = 0; i < wl->keys.size(); ++i)
        std::printf("%s\"%s\": %" PRIu64, i ? ", " : "", wl->keys[i], *param_slot(p, wl->keys[i]));
    std::printf("}, \"seconds\": %.6f, \"ok\": %s, \"result\": %" PRIu64 ", \"expected\": %" PRIu64
                "}\n",
                secs, ok ? "true" : "false", result, expected);
    std::fflush(stdout);
    // End the actors still alive: ~actor_system waits for every actor.
    anon_send(driver, stop_atom::value);
    driver = nullptr;
    return ok ? 0 : 1;
}
