/*
 * utf8.h - the one UTF-8 validator of the runtime: MessagePack str must be
 * UTF-8 (the spec says so, and every binding maps str to text), so the core
 * decoder (value.c), the Lua host's direct decoder and its encoder (str when
 * valid, else bin) all ask this function, and agree byte for byte.
 *
 * Header-only (static inline) so the Lua host and the core share it without
 * a new exported symbol. Well-formed per Unicode Table 3-7: no overlong
 * forms, no surrogates (U+D800..DFFF), nothing above U+10FFFF.
 *
 * Cost: text is mostly ASCII, so a run of ASCII is tested 16 bytes at a
 * time (two 64-bit loads, one mask); a multi-byte sequence is checked by
 * the range of its second byte (no code point is assembled). za_doc_decode
 * of a 64 KiB str, best of 15x2000 on this 2-core VM (/tmp bench, gcc -O2):
 * ASCII 1450 -> 3000 ns; 2/3-byte text ("é€x" repeated) 1500 -> 41700 ns
 * (0.64 ns a byte, the scalar loop; a SIMD validator would be the next step
 * if non-ASCII text ever dominates).
 */
#ifndef ZA_UTF8_H
#define ZA_UTF8_H

#include <stdint.h>
#include <string.h>

static inline int za__utf8_valid(const void *data, size_t n) {
    if (!n) return 1; /* msgpack-c gives an empty str a NULL pointer: NULL + 0 is UB */
    const unsigned char *s = data, *end = s + n;
    while (s < end) {
        unsigned c = *s;
        if (c < 0x80) { /* a run of ASCII: 16 bytes per test, then the tail */
            while ((size_t)(end - s) >= 16) {
                uint64_t a, b;
                memcpy(&a, s, 8);
                memcpy(&b, s + 8, 8);
                if ((a | b) & 0x8080808080808080ull) break;
                s += 16;
            }
            while (s < end && *s < 0x80) s++;
            continue;
        }
        size_t left = (size_t)(end - s);
        unsigned lo = 0x80, hi = 0xbf; /* the allowed range of the second byte */
        size_t k;                      /* continuation bytes */
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return 0; /* a continuation byte, c0/c1 (overlong), f5..ff */
        }
        if (left <= k) return 0; /* truncated sequence */
        if (s[1] < lo || s[1] > hi) return 0;
        for (size_t j = 2; j <= k; j++)
            if ((s[j] & 0xc0) != 0x80) return 0;
        s += k + 1;
    }
    return 1;
}

#endif
