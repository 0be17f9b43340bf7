/*
 * relocate.h - the directory's cluster moves (relocate.c): where a grain
 * with no activation here must go, forwarding what an entry held, and
 * deactivating the activations whose home moved. Outside a cluster none of
 * this runs (za__grain_moved is false).
 */
#ifndef ZA_GRAIN_RELOCATE_H
#define ZA_GRAIN_RELOCATE_H

#include "grain/directory.h"

/* In a cluster, when e's home is another node: true with *home set. */
bool za__grain_moved(za_system *s, za_gentry *e, uint32_t *home);
/* Forward a chain of held messages (in order) to node; those that cannot
 * go are failed like held messages of a failed activation. No lock held. */
void za__grain_forward_chain(za_system *s, za_gentry *e, uint32_t node, za_msgnode *chain);
/* The lease of ad's grain is held by live node `holder`: the held messages
 * go there instead (activation.c's lease callback; no lock held). */
void za__gact_lease_held(za_gact *ad, uint32_t holder);
/* Deactivate (reason as ZA_TAG_DEACTIVATE's payload) every activation here
 * whose home is now another node, or every one (all). Membership thread. */
void za__grains_relocate(za_system *s, bool all, const char *reason);

#endif
