/*
 * fuzz_util.h - shared by the libFuzzer targets in tests/fuzz/.
 *
 * FUZZ_CHECK is the targets' oracle: a failed check prints what was expected
 * and aborts, which libFuzzer reports as a crash (and saves the input).
 */
#ifndef ZA_FUZZ_UTIL_H
#define ZA_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                            \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "FUZZ CHECK FAILED %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            abort();                                                                     \
        }                                                                                \
    } while (0)

/*
 * Known open findings (tests/fuzz/crashes/README.md). With FUZZ_SKIP_KNOWN=1
 * in the environment the targets skip inputs that would only re-find them,
 * so a run can look for new problems while a fix is pending. Off by default:
 * a smoke run is meant to fail until the finding is fixed.
 */
#include <stdint.h>
#include <string.h>

static inline int fuzz_skip_known(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("FUZZ_SKIP_KNOWN");
        v = e && *e && strcmp(e, "0") != 0;
    }
    return v;
}

/* value-oversized-count: an array/map header declaring more elements than
 * there are bytes left (each element takes at least one byte) makes msgpack-c
 * (inside za_doc_decode) allocate count * sizeof(msgpack_object) up front,
 * e.g. 8 GiB for the 6 bytes dd 10 00 00 00 c0. Returns 1 if data holds such
 * a header anywhere a MessagePack walk reaches (a cheap, lenient walk).
 * fuzz_mp_walk: 1 found, 0 value skipped, -1 stop (malformed or truncated). */
static inline int fuzz_mp_walk(const uint8_t **pp, const uint8_t *end, int depth) {
    const uint8_t *p = *pp;
    if (p >= end || depth > 64) return -1;
    unsigned c = *p++;
    uint64_t n = 0, skip = 0;
    int container = 0, is_map = 0, w;
#define NEED(k) do { if ((size_t)(end - p) < (size_t)(k)) return -1; } while (0)
#define BE(k) do { NEED(k); n = 0; for (int i_ = 0; i_ < (k); i_++) n = (n << 8) | p[i_]; p += (k); } while (0)
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) skip = 0;
    else if (c >= 0xa0 && c <= 0xbf) skip = c & 0x1f;
    else if (c >= 0x90 && c <= 0x9f) container = 1, n = c & 0x0f;
    else if (c >= 0x80 && c <= 0x8f) container = 1, is_map = 1, n = c & 0x0f;
    else switch (c) {
        case 0xc4: case 0xd9: BE(1); skip = n; break;
        case 0xc5: case 0xda: BE(2); skip = n; break;
        case 0xc6: case 0xdb: BE(4); skip = n; break;
        case 0xc7: BE(1); skip = n + 1; break;
        case 0xc8: BE(2); skip = n + 1; break;
        case 0xc9: BE(4); skip = n + 1; break;
        case 0xca: skip = 4; break;
        case 0xcb: skip = 8; break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xce: case 0xd2: skip = 4; break;
        case 0xcf: case 0xd3: skip = 8; break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: skip = 1 + (1u << (c - 0xd4)); break;
        case 0xdc: w = 2; BE(w); container = 1; break;
        case 0xdd: w = 4; BE(w); container = 1; break;
        case 0xde: w = 2; BE(w); container = 1, is_map = 1; break;
        case 0xdf: w = 4; BE(w); container = 1, is_map = 1; break;
        default: return -1;
    }
#undef BE
    if (!container) {
        NEED(skip);
        *pp = p + skip;
        return 0;
    }
#undef NEED
    uint64_t items = n * (is_map ? 2u : 1u);
    if (items > (uint64_t)(end - p)) return 1;
    for (uint64_t i = 0; i < items; i++) {
        int r = fuzz_mp_walk(&p, end, depth + 1);
        if (r != 0) return r;
    }
    *pp = p;
    return 0;
}

static inline int fuzz_known_oversized_count(const uint8_t *data, size_t size) {
    const uint8_t *p = data;
    return fuzz_mp_walk(&p, data + size, 0) == 1;
}

#endif
