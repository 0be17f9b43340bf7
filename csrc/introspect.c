/*
 * Introspection: a view of a running system from any thread (the HTTP
 * endpoint's thread, a binding's main thread) that never makes a worker
 * wait.
 *
 * Actors are read straight from the slot table. Slot chunks are never freed
 * while the system exists, so every read touches valid memory; the fields
 * read are atomics written by the worker that owns the actor's turn, read
 * here relaxed: each value is one a worker wrote, but the set of values is
 * not one instant's (documented in zactor.h). The life word is read before
 * and after; if the slot changed generation or died in between, the view
 * is dropped, so a reused slot never shows the new actor's numbers under
 * the old reference.
 *
 * Dead letters go into a bounded ring of records. Producing a dead letter
 * must never block (it happens on workers), so each entry has a try-lock:
 * a writer that finds its entry busy (a reader copying it, or a writer
 * that lapped the ring) drops the record, and a reader that finds an entry
 * busy skips it. The ring is for looking at, not an audit log: the count
 * of dead letters stays exact in the metrics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "introspect.h"
#include "label.h"
#include "registry.h"
#include "system.h"

typedef struct dl_entry {
    atomic_flag busy; /* try-lock: acquire on set, release on clear */
    za_dl_record r;   /* r.seq == 0: never written */
} dl_entry;

struct za_introspect {
    _Atomic uint64_t dl_seq; /* dead letters ever offered to the ring */
    uint32_t cap;
    dl_entry *ring;
};

int za__introspect_new(za_system *s) {
    struct za_introspect *in = calloc(1, sizeof *in);
    uint32_t cap = s->cfg.dead_letter_keep ? s->cfg.dead_letter_keep : 100;
    if (cap > 65536) cap = 65536;
    if (!in || !(in->ring = calloc(cap, sizeof *in->ring))) {
        free(in);
        return ZA_ENOMEM;
    }
    in->cap = cap;
    for (uint32_t i = 0; i < cap; i++) atomic_flag_clear(&in->ring[i].busy);
    s->intro = in;
    return ZA_OK;
}

void za__introspect_free(za_system *s) {
    if (!s->intro) return;
    free(s->intro->ring);
    free(s->intro);
    s->intro = NULL;
}

const char *za_actor_state_name(int state) {
    switch (state) {
    case ZA_ACTOR_ALIVE:
        return "alive";
    case ZA_ACTOR_STOPPING:
        return "stopping";
    case ZA_ACTOR_SUSPENDED:
        return "suspended";
    default:
        return "unknown";
    }
}

const char *za_dl_reason_name(int reason) {
    switch (reason) {
    case ZA_DL_DEAD_TARGET:
        return "dead_target";
    case ZA_DL_DROPPED:
        return "dropped";
    case ZA_DL_FAILED:
        return "failed";
    case ZA_DL_LATE_REPLY:
        return "late_reply";
    case ZA_DL_SHUTDOWN:
        return "shutdown";
    default:
        return "unknown";
    }
}

/* ------------------------------------------------------------- actors */

static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Which language runs a behaviour: its host's name; the Lua host runs its
 * actors without a host table (no enter/leave needed), under the behaviour
 * name "lua"; everything else is native C. */
static const char *language_of(const za_behaviour *b) {
    if (b->host && b->host->name) return b->host->name;
    if (b->name && strcmp(b->name, "lua") == 0) return "lua";
    return "c";
}

/* Fill v from slot a if it holds a live incarnation (true). */
static bool view_slot(za_system *s, za_actor *a, uint32_t slot, za_actor_view *v) {
    /* acquire: pairs with the spawner's release of the life word, so the
     * incarnation fields it prepared are visible */
    uint32_t life = atomic_load_explicit(&a->life, memory_order_acquire);
    uint32_t st = ZA_LIFE_ST(life);
    if (st != ZA_ST_ALIVE && st != ZA_ST_STOPPING) return false;
    const za_behaviour *b = atomic_load_explicit(&a->beh, memory_order_acquire);
    if (!b) return false; /* START has not run yet */
    memset(v, 0, sizeof *v);
    v->ref = za__make_ref(s->node_id, slot, ZA_LIFE_GEN(life));
    v->parent = atomic_load_explicit(&a->parent, memory_order_relaxed);
    const char *label = za__actor_label(a);
    copy_str(v->behaviour, sizeof v->behaviour, label ? label : b->name ? b->name : "?");
    copy_str(v->language, sizeof v->language, language_of(b));
    int64_t d = atomic_load_explicit(&a->depth, memory_order_relaxed);
    v->mailbox_depth = d > 0 ? (uint64_t)d : 0;
    v->processed = atomic_load_explicit(&a->processed, memory_order_relaxed);
    v->restarts = atomic_load_explicit(&a->restarts, memory_order_relaxed);
    if (st == ZA_ST_STOPPING)
        v->state = ZA_ACTOR_STOPPING;
    else if (atomic_load_explicit(&a->sched, memory_order_relaxed) == ZA_SCHED_SUSPENDED)
        v->state = ZA_ACTOR_SUSPENDED;
    else
        v->state = ZA_ACTOR_ALIVE;
    /* the same incarnation still holds the slot: the numbers are its own
     * (acquire: orders the reads above before this one) */
    uint32_t again = atomic_load_explicit(&a->life, memory_order_acquire);
    return ZA_LIFE_GEN(again) == ZA_LIFE_GEN(life) &&
           (ZA_LIFE_ST(again) == ZA_ST_ALIVE || ZA_LIFE_ST(again) == ZA_ST_STOPPING);
}

/* Registered names, sorted by reference, for the walk's lookups. */
typedef struct name_ent {
    za_ref ref;
    char name[64];
} name_ent;

typedef struct names {
    name_ent *v;
    size_t n, cap;
    bool oom;
} names;

static void add_name(const char *name, za_ref ref, void *ud) {
    names *ns = ud;
    if (ns->n == ns->cap) {
        size_t nc = ns->cap ? ns->cap * 2 : 16;
        name_ent *nv = realloc(ns->v, nc * sizeof *nv);
        if (!nv) {
            ns->oom = true;
            return;
        }
        ns->v = nv;
        ns->cap = nc;
    }
    ns->v[ns->n].ref = ref;
    copy_str(ns->v[ns->n].name, sizeof ns->v[ns->n].name, name);
    ns->n++;
}

static int cmp_name(const void *a, const void *b) {
    za_ref x = ((const name_ent *)a)->ref, y = ((const name_ent *)b)->ref;
    if (x != y) return x < y ? -1 : 1;
    return strcmp(((const name_ent *)a)->name, ((const name_ent *)b)->name);
}

static void set_name(const names *ns, za_actor_view *v) {
    size_t lo = 0, hi = ns->n;
    while (lo < hi) { /* first entry with ref >= v->ref */
        size_t mid = (lo + hi) / 2;
        if (ns->v[mid].ref < v->ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ns->n && ns->v[lo].ref == v->ref) copy_str(v->name, sizeof v->name, ns->v[lo].name);
}

int za_actor_view_get(za_system *sys, za_ref ref, za_actor_view *out) {
    if (!sys || !out) return za__fail(ZA_EINVAL, "system or out is NULL");
    za_actor *a = ref && za_ref_node(ref) == sys->node_id ? za__slot(sys, za_ref_slot(ref)) : NULL;
    if (!a || !view_slot(sys, a, za_ref_slot(ref), out) || out->ref != ref)
        return za__fail(ZA_EDEAD, "actor is dead");
    names ns = {0};
    za__registry_each(sys, add_name, &ns);
    for (size_t i = 0; i < ns.n; i++)
        if (ns.v[i].ref == ref) {
            copy_str(out->name, sizeof out->name, ns.v[i].name);
            break;
        }
    free(ns.v);
    return ZA_OK;
}

int za_actors_visit(za_system *sys, za_actor_visit_fn fn, void *ud) {
    if (!sys || !fn) return za__fail(ZA_EINVAL, "system or fn is NULL");
    names ns = {0};
    za__registry_each(sys, add_name, &ns);
    if (ns.oom) {
        free(ns.v);
        return za__fail(ZA_ENOMEM, "out of memory");
    }
    if (ns.n > 1) qsort(ns.v, ns.n, sizeof *ns.v, cmp_name);
    uint32_t used = za__slots_used(sys);
    int visited = 0;
    za_actor_view v;
    for (uint32_t i = 1; i < used; i++) {
        za_actor *a = za__slot(sys, i);
        if (!a || !view_slot(sys, a, i, &v)) continue;
        set_name(&ns, &v);
        if (visited < 0x7fffffff) visited++;
        if (fn(&v, ud)) break;
    }
    free(ns.v);
    return visited;
}

/* -------------------------------------------------------- dead letters */

typedef struct describer {
    _Atomic(za_ptr_dtor) dtor;
    _Atomic(za_ptr_describe_fn) fn;
} describer;
static describer describers[8];
static _Atomic int ndescribers;

int za_ptr_describer_add(za_ptr_dtor dtor, za_ptr_describe_fn fn) {
    if (!dtor || !fn) return za__fail(ZA_EINVAL, "dtor or fn is NULL");
    int n = atomic_load_explicit(&ndescribers, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (atomic_load_explicit(&describers[i].dtor, memory_order_relaxed) == dtor) {
            atomic_store_explicit(&describers[i].fn, fn, memory_order_release);
            return ZA_OK;
        }
    /* claim an index; the entry is published by fn (release) last */
    int i = atomic_fetch_add_explicit(&ndescribers, 1, memory_order_acq_rel);
    if (i >= 8) {
        atomic_fetch_sub_explicit(&ndescribers, 1, memory_order_relaxed);
        return za__fail(ZA_EFULL, "at most 8 pointer describers");
    }
    atomic_store_explicit(&describers[i].dtor, dtor, memory_order_relaxed);
    atomic_store_explicit(&describers[i].fn, fn, memory_order_release);
    return ZA_OK;
}

static za_ptr_describe_fn describer_of(za_ptr_dtor dtor) {
    int n = atomic_load_explicit(&ndescribers, memory_order_acquire);
    if (n > 8) n = 8;
    for (int i = 0; i < n; i++) {
        /* acquire: pairs with za_ptr_describer_add's release of fn, after
         * which dtor is set */
        za_ptr_describe_fn fn = atomic_load_explicit(&describers[i].fn, memory_order_acquire);
        if (fn && atomic_load_explicit(&describers[i].dtor, memory_order_relaxed) == dtor)
            return fn;
    }
    return NULL;
}

/* A bounded text appender: writes what fits, remembers it was cut. */
typedef struct pv {
    char *buf;
    size_t cap, len;
    bool cut;
} pv;

static void pv_put(pv *p, const char *s, size_t n) {
    if (p->cut) return;
    size_t room = p->cap - 1 - p->len; /* keep the NUL */
    if (n > room) {
        n = room;
        p->cut = true;
    }
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static void pv_str(pv *p, const char *s) {
    pv_put(p, s, strlen(s));
}

static void pv_fmt(pv *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pv_fmt(pv *p, const char *fmt, ...) {
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) pv_put(p, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A string as a JSON-style quoted literal: quotes, backslashes and control
 * bytes escaped; other bytes as they are (UTF-8 passes through). */
static void pv_quoted(pv *p, const char *s, size_t n) {
    pv_put(p, "\"", 1);
    for (size_t i = 0; i < n && !p->cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            pv_put(p, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            pv_fmt(p, "\\u%04x", c);
        } else {
            pv_put(p, (const char *)&s[i], 1);
        }
    }
    pv_put(p, "\"", 1);
}

static void pv_hex(pv *p, const uint8_t *b, size_t n) {
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n && !p->cut; i++) {
        char e[2] = {hx[b[i] >> 4], hx[b[i] & 15]};
        pv_put(p, e, 2);
    }
}

static void pv_value(pv *p, const za_value *v) {
    if (p->cut) return;
    switch (v->type) {
    case ZA_V_NIL:
        pv_str(p, "null");
        break;
    case ZA_V_BOOL:
        pv_str(p, v->v.b ? "true" : "false");
        break;
    case ZA_V_INT:
        pv_fmt(p, "%lld", (long long)v->v.i);
        break;
    case ZA_V_UINT:
        pv_fmt(p, "%llu", (unsigned long long)v->v.u);
        break;
    case ZA_V_DOUBLE:
        pv_fmt(p, "%.17g", v->v.d);
        break;
    case ZA_V_STR:
        pv_quoted(p, v->v.str.ptr, v->v.str.len);
        break;
    case ZA_V_BIN:
        pv_str(p, "b'");
        pv_hex(p, (const uint8_t *)v->v.str.ptr, v->v.str.len);
        pv_str(p, "'");
        break;
    case ZA_V_REF:
        pv_fmt(p, "<ref %u.%u>", za_ref_slot(v->v.ref), za_ref_gen(v->v.ref));
        break;
    case ZA_V_ARRAY:
        pv_str(p, "[");
        for (uint32_t i = 0; i < v->v.array.n && !p->cut; i++) {
            if (i) pv_str(p, ", ");
            pv_value(p, &v->v.array.items[i]);
        }
        pv_str(p, "]");
        break;
    case ZA_V_MAP:
        pv_str(p, "{");
        for (uint32_t i = 0; i < v->v.map.n && !p->cut; i++) {
            if (i) pv_str(p, ", ");
            pv_value(p, &v->v.map.keys[i]);
            pv_str(p, ": ");
            pv_value(p, &v->v.map.vals[i]);
        }
        pv_str(p, "}");
        break;
    }
}

/* Ends a cut preview with "..." so a reader knows there is more. */
static size_t pv_finish(pv *p) {
    if (p->cut && p->cap >= 4) {
        size_t at = p->len > p->cap - 4 ? p->cap - 4 : p->len;
        /* do not end inside a UTF-8 sequence */
        while (at > 0 && ((unsigned char)p->buf[at] & 0xc0) == 0x80) at--;
        memcpy(p->buf + at, "...", 4);
        p->len = at + 3;
    }
    return p->len;
}

/* Decoding copies the payload; beyond this size a preview only says how
 * big it was, so a flood of huge dead letters stays cheap. */
#define ZA_PREVIEW_DECODE_MAX (64u << 10)

size_t za_preview_msgpack(const void *data, size_t len, char *buf, size_t cap) {
    if (!buf || !cap) return 0;
    buf[0] = '\0';
    pv p = {buf, cap, 0, false};
    if (!data || !len) {
        pv_str(&p, "<empty>");
        return pv_finish(&p);
    }
    za_doc *d = NULL;
    if (len <= ZA_PREVIEW_DECODE_MAX && za_doc_decode(data, len, &d) == ZA_OK) {
        pv_value(&p, za_doc_root(d));
        za_doc_free(d);
    } else {
        pv_fmt(&p, "<%zu bytes: ", len);
        pv_hex(&p, data, len < 48 ? len : 48);
        pv_str(&p, len > 48 ? "...>" : ">");
    }
    return pv_finish(&p);
}

static uint64_t unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

void za__introspect_dead_letter(za_system *s, const za_msgnode *m, za_dl_reason why) {
    struct za_introspect *in = s->intro;
    if (!in) return;
    uint64_t seq = atomic_fetch_add_explicit(&in->dl_seq, 1, memory_order_relaxed) + 1;
    dl_entry *e = &in->ring[seq % in->cap];
    /* acquire: pairs with the release clear of the previous writer/reader */
    if (atomic_flag_test_and_set_explicit(&e->busy, memory_order_acquire)) return;
    if (e->r.seq > seq) { /* a later dead letter lapped us to this entry */
        atomic_flag_clear_explicit(&e->busy, memory_order_release);
        return;
    }
    za_dl_record *r = &e->r;
    r->seq = seq;
    r->unix_ms = unix_ms();
    r->target = m->target;
    r->sender = m->sender;
    r->tag = m->tag;
    r->reason = why;
    if (m->kind == ZA_PAYLOAD_PTR) {
        za_ptr_describe_fn fn = describer_of(m->u.p.dtor);
        char name[96] = "";
        if (fn && m->u.p.ptr) fn(m->u.p.ptr, name, sizeof name);
        name[sizeof name - 1] = '\0';
        /* a NULL ptr was taken by the receiver (za_msg_take_ptr) before it failed */
        snprintf(r->preview, sizeof r->preview, "<%s>",
                 name[0]      ? name
                 : m->u.p.ptr ? "pointer"
                              : "taken by the receiver");
    } else {
        za_preview_msgpack(za__msg_data(m), m->len, r->preview, sizeof r->preview);
    }
    /* release: pairs with a reader's acquire test-and-set */
    atomic_flag_clear_explicit(&e->busy, memory_order_release);
}

static int cmp_seq(const void *a, const void *b) {
    uint64_t x = ((const za_dl_record *)a)->seq, y = ((const za_dl_record *)b)->seq;
    return x < y ? -1 : x > y;
}

int za_dead_letters_recent(za_system *sys, za_dl_record *out, size_t cap, uint64_t *total) {
    if (!sys || (!out && cap)) return za__fail(ZA_EINVAL, "system or out is NULL");
    struct za_introspect *in = sys->intro;
    uint64_t last = atomic_load_explicit(&in->dl_seq, memory_order_relaxed);
    if (total) *total = last;
    size_t n = 0;
    uint64_t first = last > in->cap ? last - in->cap + 1 : 1;
    for (uint32_t i = 0; i < in->cap; i++) {
        dl_entry *e = &in->ring[i];
        /* acquire: pairs with the writer's release clear */
        if (atomic_flag_test_and_set_explicit(&e->busy, memory_order_acquire)) continue;
        za_dl_record r = e->r;
        atomic_flag_clear_explicit(&e->busy, memory_order_release);
        if (!r.seq || r.seq < first || r.seq > last) continue;
        if (n < cap) {
            out[n++] = r;
        } else { /* keep the newest: replace the oldest held */
            size_t o = 0;
            for (size_t k = 1; k < n; k++)
                if (out[k].seq < out[o].seq) o = k;
            if (out[o].seq < r.seq) out[o] = r;
        }
    }
    qsort(out, n, sizeof *out, cmp_seq);
    return (int)n;
}
