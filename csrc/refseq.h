/*
 * refseq.h - lists of references: the ordered one behind an actor's
 * children and the system's top-level actors (za_refseq), and the plain
 * growable array behind watcher lists.
 */
#ifndef ZA_REFSEQ_H
#define ZA_REFSEQ_H

#include "common.h"

/* References in insertion order (rest-for-one needs spawn order) whose
 * removal is O(1) for the usual orders; see za__refseq_remove. */
typedef struct za_refseq {
    za_ref *v;       /* ZA_REF_NONE marks a removed entry (a hole) */
    uint32_t n, cap; /* n counts holes too */
    uint32_t holes, hint;
    uint32_t *pos;   /* past ZA_REFSEQ_INDEX_AT entries: open-addressing index */
    uint32_t poscap; /*   ref -> position + 1 (0: empty), power of two */
} za_refseq;
#define ZA_REFSEQ_INDEX_AT 64u

int za__refseq_add(za_refseq *q, za_ref r); /* ZA_OK or ZA_ENOMEM */
bool za__refseq_remove(za_refseq *q, za_ref r);
void za__refseq_clear(za_refseq *q);
void za__refseq_free(za_refseq *q);

/* An unordered array of refs (*n used of *cap). */
int za__ref_list_add(za_ref **arr, uint32_t *n, uint32_t *cap, za_ref r);
bool za__ref_list_remove(za_ref *arr, uint32_t *n, za_ref r);

#endif
