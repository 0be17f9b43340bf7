/*
 * Actor labels: za_spawn_opts.label, interned once per distinct text.
 *
 * Why interned and immortal: introspection (the HTTP thread) reads an
 * actor's label while a worker may be ending that actor; with a string that
 * is never freed the reader needs no lock and no reference count, only an
 * atomic load of the pointer. Labels are few (one per class or script), so
 * the table is small; it is capped so a program that labels every actor
 * differently cannot grow it without bound.
 *
 * Where the pointer lives: the actor slot has no free word (three full
 * cache lines, actor.h), so each slot chunk carries an array of label cells
 * after its actors (slots.c), reached from the slot number.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "label.h"
#include "slots.h"

#define ZA_LABELS_MAX 65536u

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char **g_tab; /* open addressing, power-of-two size */
static size_t g_cap, g_n;

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static bool grow(void) {
    size_t ncap = g_cap ? g_cap * 2 : 64;
    char **nt = calloc(ncap, sizeof *nt);
    if (!nt) return false;
    for (size_t i = 0; i < g_cap; i++) {
        if (!g_tab[i]) continue;
        size_t j = hash(g_tab[i]) & (ncap - 1);
        while (nt[j]) j = (j + 1) & (ncap - 1);
        nt[j] = g_tab[i];
    }
    free(g_tab);
    g_tab = nt;
    g_cap = ncap;
    return true;
}

const char *za__label_intern(const char *label) {
    if (!label) return NULL;
    uint64_t h = hash(label);
    const char *out = NULL;
    pthread_mutex_lock(&g_mu);
    if (g_cap) {
        for (size_t j = h & (g_cap - 1); g_tab[j]; j = (j + 1) & (g_cap - 1))
            if (strcmp(g_tab[j], label) == 0) {
                out = g_tab[j];
                goto done;
            }
    }
    if (g_n >= ZA_LABELS_MAX || ((g_n + 1) * 2 > g_cap && !grow())) goto done;
    char *copy = strdup(label);
    if (!copy) goto done;
    size_t j = h & (g_cap - 1);
    while (g_tab[j]) j = (j + 1) & (g_cap - 1);
    g_tab[j] = copy;
    g_n++;
    out = copy;
done:
    pthread_mutex_unlock(&g_mu);
    return out;
}

const char *za__actor_label(za_actor *a) {
    /* acquire: pairs with za__actor_label_set's release, so the interned
     * text (written before it was published in the table) is visible */
    return atomic_load_explicit(za__slot_label_cell(a), memory_order_acquire);
}

void za__actor_label_set(za_actor *a, const char *interned) {
    atomic_store_explicit(za__slot_label_cell(a), interned, memory_order_release);
}
