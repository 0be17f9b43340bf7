/*
 * http.h - the system's HTTP endpoint (csrc/http): metrics, health,
 * actors, the supervision tree, dead letters and the dashboard, served on
 * a thread of its own, read-only.
 */
#ifndef ZA_HTTP_H
#define ZA_HTTP_H

#include "common.h"

/* Start the endpoint if c->http_addr is set (ZA_OK when it is not). */
int za__http_start(za_system *s, const za_config *c);
/* Stop it (idempotent); waits for requests in progress. */
void za__http_stop(za_system *s);
void za__http_free(za_system *s); /* stop and free (the system is being freed) */

/* Response bodies (routes.c, prom.c): malloc'd text, NULL on OOM. */
typedef struct za_http_query {
    const char *offset, *limit, *name, *behaviour, *language; /* NULL: absent */
    const char *type, *key;                                   /* /grains filters */
} za_http_query;

/* HTTP status, and *body (malloc'd) set. */
int za__http_actors(za_system *s, const za_http_query *q, char **body, size_t *len);
int za__http_actor(za_system *s, const char *ref_text, char **body, size_t *len);
int za__http_tree(za_system *s, char **body, size_t *len);
int za__http_deadletters(za_system *s, const za_http_query *q, char **body, size_t *len);
int za__http_status(za_system *s, char **body, size_t *len);
int za__http_health(za_system *s, bool ready, char **body, size_t *len);
int za__http_metrics(za_system *s, char **body, size_t *len);
int za__http_cluster(za_system *s, char **body, size_t *len); /* route_cluster.c */
/* In a cluster: this node is not expelled and its last Redis round trip
 * worked (*why says what is wrong). Outside one: true. (route_cluster.c) */
bool za__http_cluster_ready(za_system *s, const char **why);
bool za__http_cluster_redis_ok(za_cluster *c);
/* What /health/ready, /status and zactor_ready say (routes.c). */
bool za__http_ready(za_system *s, const char **why);
int za__http_grains(za_system *s, const za_http_query *q, char **body,
                    size_t *len); /* route_grains.c */
/* A JSON error body {"error": text}. */
char *za__http_error_body(const char *text, const char *detail, size_t *len);

extern const char za__dashboard_html[];
extern const size_t za__dashboard_html_len;

#endif
