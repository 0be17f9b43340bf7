/*
 * Rendezvous hashing (highest random weight, Thaler & Ravishankar 1996):
 * every node scores every grain and the highest score is the grain's home.
 * Nodes that see the same members agree without talking; when a member
 * joins, only the grains it now wins move (about 1/N of them), and when one
 * leaves only its own grains move, each to its runner-up.
 *
 * The hash must be the same on every node, platform and run (no seed, no
 * pointer, no host byte order): FNV-1a over the identity's bytes, then
 * splitmix64's finaliser, a bijection with full avalanche, so the weak low
 * bits of FNV and the small, sequential node ids still give independent
 * looking scores.
 *
 * A member is an incarnation (id, epoch): a node that restarts gets a new
 * epoch (its start time) and so a fresh share of the grains, exactly like a
 * node that never existed. Node ids are recycled round-robin by the join
 * script, so hashing the id alone would hand a stranger the share of an
 * earlier node with its id; with the epoch, nothing about placement depends
 * on the id being recycled or not.
 */
#include "gplace.h"

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t za__hrw_grain_hash(const char *type, size_t tlen, const char *key, size_t klen) {
    static const unsigned char nul = 0; /* type "ab" key "c" differs from "a" / "bc" */
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv1a(h, (const unsigned char *)type, tlen);
    h = fnv1a(h, &nul, 1);
    h = fnv1a(h, (const unsigned char *)key, klen);
    return mix64(h);
}

uint64_t za__hrw_score(uint64_t grain_hash, za_hrw_node n) {
    uint64_t node_key = mix64(mix64(n.epoch) + n.id);
    return mix64(grain_hash ^ node_key);
}

int za__hrw_pick(uint64_t grain_hash, const za_hrw_node *nodes, size_t n) {
    int best = -1;
    uint64_t best_score = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = za__hrw_score(grain_hash, nodes[i]);
        if (best < 0 || s > best_score || (s == best_score && nodes[i].id < nodes[best].id)) {
            best = (int)i;
            best_score = s;
        }
    }
    return best;
}
