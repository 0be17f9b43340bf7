/*
 * label.h - actor labels (label.c): the name an actor reports as its
 * behaviour in introspection, /actors, /metrics and spans when the
 * behaviour table's own name says too little (every Python actor runs the
 * one "zactor.python" table; a label names its class).
 */
#ifndef ZA_LABEL_H
#define ZA_LABEL_H

#include "actor.h"

#define ZA_LABEL_MAX 255

/* The process-wide copy of label (equal labels share one copy, which lives
 * until the process ends, so any thread may read it at any time). NULL if
 * out of memory or if ZA_LABELS_MAX distinct labels exist already (the
 * actor then reports its behaviour's name). */
const char *za__label_intern(const char *label);

/* The label of the incarnation in slot a (NULL: none). Readable from any
 * thread: the cell is atomic and the string immortal. */
const char *za__actor_label(za_actor *a);
void za__actor_label_set(za_actor *a, const char *interned);

#endif
