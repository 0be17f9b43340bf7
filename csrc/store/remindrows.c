/*
 * remindrows.c - the packed form of a reminder row (provider.h), the one
 * shape in which reminders.c and the four providers hand rows to each
 * other: fixed-width numbers first, then the three NUL-terminated strings,
 * so unpacking points into the bytes instead of copying them.
 */
#include <string.h>

#include "provider.h"

size_t za__remind_pack(const za__remind *r, void *buf, size_t cap) {
    size_t tl = r->type ? strlen(r->type) : 0, kl = r->key ? strlen(r->key) : 0,
           nl = r->name ? strlen(r->name) : 0;
    size_t need = ZA__REMIND_FIXED + tl + kl + nl + 3;
    if (!buf || cap < need) return need;
    unsigned char *p = buf;
    uint64_t nums[4] = {r->period_ms, r->next_due, r->last_fired, r->fence};
    memcpy(p, nums, sizeof nums);
    memcpy(p + 32, &r->catch_up, 4);
    p += ZA__REMIND_FIXED;
    memcpy(p, tl ? r->type : "", tl + 1);
    p += tl + 1;
    memcpy(p, kl ? r->key : "", kl + 1);
    p += kl + 1;
    memcpy(p, nl ? r->name : "", nl + 1);
    return need;
}

int za__remind_unpack(const void *buf, size_t len, za__remind *out) {
    memset(out, 0, sizeof *out);
    if (!buf || len < ZA__REMIND_FIXED + 3) return ZA_EINVAL;
    const char *p = buf;
    uint64_t nums[4];
    memcpy(nums, p, sizeof nums);
    memcpy(&out->catch_up, p + 32, 4);
    out->period_ms = nums[0];
    out->next_due = nums[1];
    out->last_fired = nums[2];
    out->fence = nums[3];
    const char *s = p + ZA__REMIND_FIXED, *end = p + len;
    const char **dst[3] = {&out->type, &out->key, &out->name};
    size_t *lens[3] = {&out->type_len, &out->key_len, &out->name_len};
    for (int i = 0; i < 3; i++) {
        const char *z = memchr(s, 0, (size_t)(end - s));
        if (!z) return ZA_EINVAL;
        *dst[i] = s;
        *lens[i] = (size_t)(z - s);
        s = z + 1;
    }
    return s == end ? ZA_OK : ZA_EINVAL;
}

static int cmp_str(const char *a, size_t al, const char *b, size_t bl) {
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c) return c;
    return al < bl ? -1 : al > bl;
}

int za__remind_cmp(const za__remind *a, const za__remind *b) {
    int c = cmp_str(a->type, a->type_len, b->type, b->type_len);
    if (!c) c = cmp_str(a->key, a->key_len, b->key, b->key_len);
    if (!c) c = cmp_str(a->name, a->name_len, b->name, b->name_len);
    return c;
}
