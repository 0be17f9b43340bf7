/*
 * merge_counts.c - the native C actor of the word-count demo
 * (python/examples/wordcount_demo.py): merges the per-chunk word counts the
 * Lua workers send it. Built as a shared object and spawned from Python
 * with System.spawn_native(path, "merge_counts_behaviour"); the za_*
 * symbols resolve to the runtime inside the loaded zactor extension.
 *
 * Messages (MessagePack):
 *   ["counts", chunk_id, {word: n, ...}]  merge (a chunk already merged is
 *                                         counted as a duplicate, not twice)
 *   ["top", k]    -> [[word, n], ...] the k most frequent, ties by word
 *   ["stats"]     -> {"chunks":, "words":, "distinct":, "duplicates":}
 */
#include <stdlib.h>
#include <string.h>
#include <zactor.h>

typedef struct entry {
    char *word; /* NULL: empty slot */
    uint32_t len;
    uint64_t hash;
    int64_t count;
} entry;

typedef struct merger {
    entry *tab; /* open addressing, linear probing, power-of-two size */
    size_t cap, used;
    uint8_t *seen; /* one byte per chunk id */
    size_t seen_cap;
    int64_t chunks, words, duplicates;
} merger;

static uint64_t hash_bytes(const char *p, uint32_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a: words are short */
    for (uint32_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static int grow(merger *m) {
    size_t ncap = m->cap ? m->cap * 2 : 4096;
    entry *nt = calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    for (size_t i = 0; i < m->cap; i++) {
        entry *e = &m->tab[i];
        if (!e->word) continue;
        size_t j = e->hash & (ncap - 1);
        while (nt[j].word) j = (j + 1) & (ncap - 1);
        nt[j] = *e;
    }
    free(m->tab);
    m->tab = nt;
    m->cap = ncap;
    return 0;
}

static int add_word(merger *m, const char *w, uint32_t n, int64_t count) {
    /* keep the load under 1/2 so probes stay short */
    if ((m->used + 1) * 2 > m->cap && grow(m) < 0) return -1;
    uint64_t h = hash_bytes(w, n);
    size_t j = h & (m->cap - 1);
    for (;;) {
        entry *e = &m->tab[j];
        if (!e->word) {
            if (!(e->word = malloc(n + 1))) return -1;
            memcpy(e->word, w, n);
            e->word[n] = 0;
            e->len = n;
            e->hash = h;
            e->count = count;
            m->used++;
            return 0;
        }
        if (e->hash == h && e->len == n && !memcmp(e->word, w, n)) {
            e->count += count;
            return 0;
        }
        j = (j + 1) & (m->cap - 1);
    }
}

/* Has this chunk been merged already? Marks it when not. */
static int already_seen(merger *m, uint64_t id) {
    if (id >= m->seen_cap) {
        size_t ncap = m->seen_cap ? m->seen_cap : 1024;
        while (ncap <= id) ncap *= 2;
        uint8_t *ns = realloc(m->seen, ncap);
        if (!ns) return -1;
        memset(ns + m->seen_cap, 0, ncap - m->seen_cap);
        m->seen = ns;
        m->seen_cap = ncap;
    }
    if (m->seen[id]) return 1;
    m->seen[id] = 1;
    return 0;
}

static int is_op(const za_value *v, const char *op) {
    if (v->type != ZA_V_ARRAY || v->v.array.n < 1) return 0;
    const za_value *s = &v->v.array.items[0];
    return s->type == ZA_V_STR && s->v.str.len == strlen(op) &&
           !memcmp(s->v.str.ptr, op, s->v.str.len);
}

static int merge(za_ctx *ctx, merger *m, const za_value *v) {
    if (v->v.array.n != 3 || v->v.array.items[1].type != ZA_V_INT || v->v.array.items[1].v.i < 0) {
        za_ctx_fail(ctx, ZA_EVALUE, "merge_counts: expected [\"counts\", chunk_id, {word: n}]");
        return -1;
    }
    const za_value *counts = &v->v.array.items[2];
    int seen = already_seen(m, (uint64_t)v->v.array.items[1].v.i);
    if (seen < 0) goto nomem;
    if (seen) {
        m->duplicates++;
        return 0;
    }
    /* a chunk without words arrives as an empty table: an empty array */
    if (counts->type == ZA_V_ARRAY && counts->v.array.n == 0) {
        m->chunks++;
        return 0;
    }
    if (counts->type != ZA_V_MAP) {
        za_ctx_fail(ctx, ZA_EVALUE, "merge_counts: the counts must be a map word -> n");
        return -1;
    }
    for (uint32_t i = 0; i < counts->v.map.n; i++) {
        const za_value *k = &counts->v.map.keys[i], *n = &counts->v.map.vals[i];
        if (k->type != ZA_V_STR || n->type != ZA_V_INT) {
            za_ctx_fail(ctx, ZA_EVALUE, "merge_counts: counts must map str -> int");
            return -1;
        }
        if (add_word(m, k->v.str.ptr, k->v.str.len, n->v.i) < 0) goto nomem;
        m->words += n->v.i;
    }
    m->chunks++;
    return 0;
nomem:
    za_ctx_fail(ctx, ZA_ENOMEM, "merge_counts: out of memory");
    return -1;
}

static int by_count_then_word(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->word, y->word);
}

static int reply_top(za_ctx *ctx, merger *m, int64_t k) {
    if (k < 0) k = 0;
    if ((size_t)k > m->used) k = (int64_t)m->used;
    entry **all = malloc((m->used ? m->used : 1) * sizeof *all);
    za_pack *p = za_pack_new();
    if (!all || !p) {
        free(all);
        za_pack_free(p);
        za_ctx_fail(ctx, ZA_ENOMEM, "merge_counts: out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->tab[i].word) all[n++] = &m->tab[i];
    qsort(all, n, sizeof *all, by_count_then_word);
    za_pack_array(p, (uint32_t)k);
    for (int64_t i = 0; i < k; i++) {
        za_pack_array(p, 2);
        za_pack_str(p, all[i]->word, all[i]->len);
        za_pack_int(p, all[i]->count);
    }
    int rc = za_reply(ctx, 0, za_pack_data(p), za_pack_size(p));
    za_pack_free(p);
    free(all);
    return rc == ZA_OK ? 0 : -1;
}

static int reply_stats(za_ctx *ctx, merger *m) {
    za_pack *p = za_pack_new();
    if (!p) return -1;
    za_pack_map(p, 4);
    za_pack_str(p, "chunks", 6);
    za_pack_int(p, m->chunks);
    za_pack_str(p, "words", 5);
    za_pack_int(p, m->words);
    za_pack_str(p, "distinct", 8);
    za_pack_int(p, (int64_t)m->used);
    za_pack_str(p, "duplicates", 10);
    za_pack_int(p, m->duplicates);
    int rc = za_reply(ctx, 0, za_pack_data(p), za_pack_size(p));
    za_pack_free(p);
    return rc == ZA_OK ? 0 : -1;
}

static int receive(za_ctx *ctx, const za_msg *msg) {
    merger *m = za_ctx_state(ctx);
    if (msg->tag < 0) return 0; /* system notices (child failed, down) */
    za_doc *d;
    if (za_doc_decode(msg->data, msg->len, &d) != ZA_OK) {
        za_ctx_fail(ctx, ZA_EVALUE, "merge_counts: not a MessagePack message");
        return -1;
    }
    const za_value *v = za_doc_root(d);
    int rc = 0;
    if (is_op(v, "counts"))
        rc = merge(ctx, m, v);
    else if (is_op(v, "top"))
        rc = reply_top(ctx, m,
                       v->v.array.n > 1 && v->v.array.items[1].type == ZA_V_INT
                           ? v->v.array.items[1].v.i
                           : 10);
    else if (is_op(v, "stats"))
        rc = reply_stats(ctx, m);
    else {
        za_ctx_fail(ctx, ZA_EVALUE, "merge_counts: unknown message");
        rc = -1;
    }
    za_doc_free(d);
    return rc;
}

static void stop(za_ctx *ctx) {
    merger *m = za_ctx_state(ctx);
    for (size_t i = 0; i < m->cap; i++) free(m->tab[i].word);
    free(m->tab);
    free(m->seen);
    memset(m, 0, sizeof *m);
}

const za_behaviour merge_counts_behaviour = {
    ZA_BEHAVIOUR_INIT,  .name = "merge-counts", .state_size = sizeof(merger),
    .receive = receive, .stop = stop,
};
