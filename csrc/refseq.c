/*
 * Reference lists: za_refseq, the ordered list with an index behind an
 * actor's children and the system's top-level actors, and the plain array
 * behind watcher lists. Single-threaded: the owner (the actor's turn, or
 * root_mu) serialises every call.
 */
#include <stdlib.h>

#include "refseq.h"

int za__ref_list_add(za_ref **arr, uint32_t *n, uint32_t *cap, za_ref r) {
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 4;
        za_ref *na = realloc(*arr, nc * sizeof *na);
        if (!na) return ZA_ENOMEM;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = r;
    return ZA_OK;
}

/* The index of a long refseq: linear probing keyed by the ref itself. */
static uint32_t pos_home(const za_refseq *q, za_ref r) {
    uint64_t h = r * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) & (q->poscap - 1);
}

static void pos_put(za_refseq *q, uint32_t i) {
    uint32_t j = pos_home(q, q->v[i]);
    while (q->pos[j]) j = (j + 1) & (q->poscap - 1);
    q->pos[j] = i + 1;
}

/* (Re)build the index for the live entries; without memory the refseq
 * simply searches, as short ones do. */
static void pos_rebuild(za_refseq *q) {
    uint32_t want = 128;
    while (want < 2 * q->n + 2) want *= 2;
    if (want != q->poscap) {
        uint32_t *np = calloc(want, sizeof *np);
        if (!np) {
            free(q->pos);
            q->pos = NULL;
            q->poscap = 0;
            return;
        }
        free(q->pos);
        q->pos = np;
        q->poscap = want;
    } else {
        memset(q->pos, 0, q->poscap * sizeof *q->pos);
    }
    for (uint32_t i = 0; i < q->n; i++)
        if (q->v[i] != ZA_REF_NONE) pos_put(q, i);
}

/* Position of r via the index, and take it out of the index (backward-shift
 * deletion keeps every other entry reachable from its home). */
static bool pos_take(za_refseq *q, za_ref r, uint32_t *out) {
    uint32_t mask = q->poscap - 1, j = pos_home(q, r);
    while (q->pos[j] && q->v[q->pos[j] - 1] != r) j = (j + 1) & mask;
    if (!q->pos[j]) return false;
    *out = q->pos[j] - 1;
    q->pos[j] = 0;
    for (uint32_t k = (j + 1) & mask; q->pos[k]; k = (k + 1) & mask) {
        uint32_t h = pos_home(q, q->v[q->pos[k] - 1]);
        if (((j - h) & mask) < ((k - h) & mask)) {
            q->pos[j] = q->pos[k];
            q->pos[k] = 0;
            j = k;
        }
    }
    return true;
}

int za__refseq_add(za_refseq *q, za_ref r) {
    int rc = za__ref_list_add(&q->v, &q->n, &q->cap, r);
    if (rc != ZA_OK) return rc;
    if (q->pos && 2 * q->n + 2 <= q->poscap)
        pos_put(q, q->n - 1);
    else if (q->n > ZA_REFSEQ_INDEX_AT)
        pos_rebuild(q);
    return ZA_OK;
}

static void refseq_compact(za_refseq *q) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < q->n; i++)
        if (q->v[i] != ZA_REF_NONE) q->v[k++] = q->v[i];
    q->n = k;
    q->holes = 0;
    q->hint = 0;
    if (q->pos) pos_rebuild(q); /* positions moved */
}

/* Removal leaves a hole (spawn order is kept for rest-for-one). A long list
 * finds the entry through its index; a short one looks at the newest end,
 * then outwards from just after the previous removal. Holes are squeezed out
 * once they outnumber the live entries. (A search plus memmove per removal
 * made a parent of 400k children, or 400k top-level actors, quadratic:
 * found by bench/savina.) */
bool za__refseq_remove(za_refseq *q, za_ref r) {
    uint32_t n = q->n, i = 0;
    if (r == ZA_REF_NONE || n == 0) return false;
    bool found;
    if (q->pos) {
        found = pos_take(q, r, &i);
    } else {
        found = q->v[n - 1] == r;
        if (found) i = n - 1;
        uint32_t h = q->hint < n ? q->hint : 0;
        for (uint32_t d = 0; !found && (d < n - h || d < h); d++) {
            if (d < n - h && q->v[h + d] == r) {
                i = h + d;
                found = true;
            } else if (d < h && q->v[h - 1 - d] == r) {
                i = h - 1 - d;
                found = true;
            }
        }
    }
    if (!found) return false;
    q->v[i] = ZA_REF_NONE;
    q->holes++;
    q->hint = i + 1;
    while (q->n && q->v[q->n - 1] == ZA_REF_NONE) {
        q->n--;
        q->holes--;
    }
    if (q->hint >= q->n) q->hint = 0;
    if (q->holes > 32 && q->holes * 2 > q->n) refseq_compact(q);
    return true;
}

void za__refseq_clear(za_refseq *q) {
    q->n = q->holes = q->hint = 0;
    if (q->pos) memset(q->pos, 0, q->poscap * sizeof *q->pos);
}

void za__refseq_free(za_refseq *q) {
    free(q->v);
    free(q->pos);
    memset(q, 0, sizeof *q);
}

bool za__ref_list_remove(za_ref *arr, uint32_t *n, za_ref r) {
    for (uint32_t i = 0; i < *n; i++) {
        if (arr[i] == r) {
            memmove(arr + i, arr + i + 1, (*n - i - 1) * sizeof *arr);
            (*n)--;
            return true;
        }
    }
    return false;
}
