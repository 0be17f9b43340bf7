/*
 * registry.h - unique names to references (the table is private to
 * registry.c).
 */
#ifndef ZA_REGISTRY_H
#define ZA_REGISTRY_H

#include "common.h"

int za__registry_new(za_system *s);
void za__registry_free(za_system *s);
/* Remove name only if it still maps to ref. */
void za__registry_drop(za_system *s, const char *name, za_ref ref);
/* Call fn(name, ref) for every registered name, under the registry's lock
 * (fn must not call back into the registry). */
void za__registry_each(za_system *s, void (*fn)(const char *name, za_ref ref, void *ud), void *ud);

#endif
