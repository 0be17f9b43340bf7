/*
 * GET /cluster: the membership view of this node (csrc/cluster).
 *
 * Outside a cluster the answer is 200 {"cluster": null} rather than a 404:
 * the route exists and its answer is "no cluster", and the dashboard and
 * scripts that poll it can test one field instead of telling a missing
 * route (an older zactor) from a single process.
 */
#include <stdlib.h>

#include "cluster/cluster.h"
#include "http/http.h"
#include "http/json.h"

static void put_node(za_jw *w, const za_node_info *n, bool self, const char *state) {
    za__jw_obj(w);
    za__jw_key(w, "id");
    za__jw_u64(w, n->id);
    za__jw_key(w, "name");
    za__jw_str(w, n->name);
    za__jw_key(w, "endpoint");
    za__jw_str(w, n->endpoint);
    za__jw_key(w, "epoch");
    za__jw_u64(w, n->epoch);
    za__jw_key(w, "state");
    za__jw_str(w, state);
    za__jw_key(w, "self");
    za__jw_bool(w, self);
    za__jw_obj_end(w);
}

bool za__http_cluster_redis_ok(za_cluster *c) {
    return !atomic_load_explicit(&c->redis_down, memory_order_relaxed);
}

bool za__http_cluster_ready(za_system *s, const char **why) {
    za_cluster *c = za_system_cluster(s);
    if (!c) return true;
    if (atomic_load_explicit(&c->expelled, memory_order_relaxed)) {
        *why = "this node was declared dead by the cluster";
        return false;
    }
    if (!za__http_cluster_redis_ok(c)) {
        *why = "Redis (cluster membership) is unreachable";
        return false;
    }
    return true;
}

#define STAT(field)                                                                                \
    do {                                                                                           \
        za__jw_key(&w, #field);                                                                    \
        za__jw_u64(&w, st.field);                                                                  \
    } while (0)

int za__http_cluster(za_system *s, char **body, size_t *len) {
    za_jw w;
    za__jw_init(&w);
    za__jw_obj(&w);
    za__jw_key(&w, "cluster");
    za_cluster *c = za_system_cluster(s);
    if (!c) {
        za__jw_null(&w);
        za__jw_obj_end(&w);
        *body = za__jw_take(&w, len);
        return *body ? 200 : 500;
    }
    za_node_info self;
    size_t n = 0, cap = 64;
    za_node_info *nodes = NULL;
    /* the view may grow between the two calls: retry with the size it said */
    for (int tries = 0; tries < 4; tries++) {
        free(nodes);
        nodes = malloc(cap * sizeof *nodes);
        if (!nodes || za_cluster_nodes(c, nodes, cap, &n) != ZA_OK) break;
        if (n <= cap) break;
        cap = n + 16;
    }
    za_cluster_stats st;
    memset(&st, 0, sizeof st);
    if (!nodes || za_cluster_self(c, &self) != ZA_OK || za_cluster_stats_read(c, &st) != ZA_OK) {
        free(nodes);
        za__jw_free(&w);
        *body = za__http_error_body("cannot read the cluster view", za_last_error(), len);
        return 500;
    }
    if (n > cap) n = cap;
    bool expelled = atomic_load_explicit(&c->expelled, memory_order_relaxed);
    za__jw_obj(&w);
    za__jw_key(&w, "name");
    za__jw_str(&w, c->name);
    za__jw_key(&w, "self");
    put_node(&w, &self, true, expelled ? "expelled" : "alive");
    za__jw_key(&w, "redis");
    za__jw_str(&w, za__http_cluster_redis_ok(c) ? "ok" : "unreachable");
    za__jw_key(&w, "members");
    za__jw_arr(&w);
    for (size_t i = 0; i < n; i++) put_node(&w, &nodes[i], nodes[i].id == self.id, "alive");
    za__jw_arr_end(&w);
    za__jw_key(&w, "count");
    za__jw_u64(&w, n);
    za__jw_key(&w, "stats");
    za__jw_obj(&w);
    STAT(sent);
    STAT(received);
    STAT(batches_out);
    STAT(malformed);
    STAT(fenced);
    STAT(dropped);
    STAT(votes);
    STAT(nodes_down);
    STAT(redis_errors);
    STAT(table_version);
    STAT(auth_failed);
    za__jw_obj_end(&w);
    za__jw_obj_end(&w);
    za__jw_obj_end(&w);
    free(nodes);
    *body = za__jw_take(&w, len);
    return *body ? 200 : 500;
}
