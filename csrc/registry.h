/*
 * registry.h - unique names to references (the table is private to
 * registry.c).
 */
#ifndef ZA_REGISTRY_H
#define ZA_REGISTRY_H

#include "common.h"

int za__registry_new(za_system *s);
void za__registry_free(za_system *s);
/* ZA_OK if name can be registered (1..ZA_NAME_MAX bytes), else ZA_EINVAL
 * with the reason: the one rule za_register and a named spawn share. */
#define ZA_NAME_MAX 255
int za__name_check(const char *name);
/* Remove name only if it still maps to ref. */
void za__registry_drop(za_system *s, const char *name, za_ref ref);
/* Call fn(name, ref) for every registered name, under the registry's lock
 * (fn must not call back into the registry). */
void za__registry_each(za_system *s, void (*fn)(const char *name, za_ref ref, void *ud), void *ud);

#endif
