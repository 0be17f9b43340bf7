/*
 * deadletter.h - messages that cannot be delivered: counted, their asker
 * answered, shown to the dead-letter hook, then freed.
 */
#ifndef ZA_DEADLETTER_H
#define ZA_DEADLETTER_H

#include "msgnode.h"

/* Takes m (frees it). */
void za__dead_letter(za_system *s, za_msgnode *m, za_dl_reason why);

#endif
