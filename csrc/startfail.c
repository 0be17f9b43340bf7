/* Recent start failures by ref (startfail.h says why). */
#include <stdio.h>
#include <string.h>

#include "startfail.h"
#include "system.h"

void za__startfail_init(za_startfails *t) {
    pthread_mutex_init(&t->mu, NULL);
    atomic_store_explicit(&t->n, 0, memory_order_relaxed);
    t->next = 0;
}

void za__startfail_destroy(za_startfails *t) {
    pthread_mutex_destroy(&t->mu);
}

/* under mu */
static int find(const za_startfails *t, uint32_t n, za_ref ref) {
    for (uint32_t i = 0; i < n; i++)
        if (t->e[i].ref == ref) return (int)i;
    return -1;
}

void za__startfail_note(za_system *s, za_ref ref, const char *text) {
    za_startfails *t = &s->startfails;
    pthread_mutex_lock(&t->mu);
    uint32_t n = atomic_load_explicit(&t->n, memory_order_relaxed);
    int i = find(t, n, ref);
    if (i < 0) {
        i = (int)t->next; /* a free slot, or the oldest entry once full */
        t->next = (t->next + 1) % ZA_STARTFAIL_KEEP;
        if (n < ZA_STARTFAIL_KEEP) atomic_store_explicit(&t->n, n + 1, memory_order_relaxed);
    }
    t->e[i].ref = ref;
    snprintf(t->e[i].text, sizeof t->e[i].text, "%s", text && *text ? text : "start failed");
    pthread_mutex_unlock(&t->mu);
}

void za__startfail_forget(za_system *s, za_ref ref) {
    za_startfails *t = &s->startfails;
    pthread_mutex_lock(&t->mu);
    int i = find(t, atomic_load_explicit(&t->n, memory_order_relaxed), ref);
    if (i >= 0) t->e[i].ref = ZA_REF_NONE; /* the slot is reused in turn */
    pthread_mutex_unlock(&t->mu);
}

int za__startfail_text(za_system *s, za_ref ref, char *buf, size_t n) {
    za_startfails *t = &s->startfails;
    if (ref == ZA_REF_NONE || !atomic_load_explicit(&t->n, memory_order_relaxed)) return 0;
    pthread_mutex_lock(&t->mu);
    int i = find(t, atomic_load_explicit(&t->n, memory_order_relaxed), ref);
    if (i >= 0)
        snprintf(buf, n, "actor %u.%u failed to start: %s", (unsigned)za_ref_slot(ref),
                 (unsigned)za_ref_gen(ref), t->e[i].text);
    pthread_mutex_unlock(&t->mu);
    return i >= 0;
}
