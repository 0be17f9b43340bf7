/* behaviour.h - checking a behaviour table before the runtime uses it. */
#ifndef ZA_BEHAVIOUR_H
#define ZA_BEHAVIOUR_H
#include "zactor.h"

/* ZA_OK if beh (not NULL) starts with this header's ZA_BEHAVIOUR_ABI, else
 * ZA_EINVAL with a text that says how to fix the table. Reads only the abi
 * field: the rest of a foreign table may have another layout. */
int za__behaviour_check(const za_behaviour *beh);

#endif
