/* echo.c - a native behaviour for the value round-trip tests: answers an
 * ask with the very bytes it was sent (no decoding), so what comes back is
 * exactly what the sender's encoder wrote. */
#include <zactor.h>

static int receive(za_ctx *ctx, const za_msg *m) {
    if (m->tag < 0) return 0;
    za_reply(ctx, m->tag, m->data, m->len);
    return 0;
}

const za_behaviour echo_behaviour = {ZA_BEHAVIOUR_INIT, .name = "native-echo", .receive = receive};
