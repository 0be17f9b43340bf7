/*
 * The HTTP endpoint on GNU libmicrohttpd (Debian libmicrohttpd-dev, loaded
 * at run time by mhd.c): a
 * maintained embeddable server that parses HTTP for us, enforces header
 * size, connection and idle limits, and runs on its own polling thread, so
 * no request is ever served by a worker. Every route only reads the
 * system (introspect.c, the metrics blocks), so a slow, malformed or
 * hostile client can cost this thread time, never a worker.
 *
 * Security: it binds to the address given; anything other than loopback
 * requires a bearer token (refused at start otherwise), and with a token
 * set every route but the two health probes answers 401 without it.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "http/http.h"
#include "http/mhd.h"
#include "system.h"

struct za_http {
    struct MHD_Daemon *d;
    char *token;
    size_t token_len;
    char url[128];
};

/* Limits that keep a misbehaving client from costing more than a little
 * memory on this thread (the workers never see it). */
#define ZA_HTTP_CONN_LIMIT 64         /* concurrent connections */
#define ZA_HTTP_PER_IP_LIMIT 32       /* ... from one address */
#define ZA_HTTP_IDLE_S 10             /* a connection idle this long is closed */
#define ZA_HTTP_MEM_LIMIT (32u << 10) /* per connection: headers beyond it get 431 */

static bool is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return true;
        if (IN6_IS_ADDR_V4MAPPED(a)) return a->s6_addr[12] == 127;
    }
    return false;
}

/* "host:port", "[v6]:port" or ":port" (loopback) into a socket address. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *sl) {
    char host[256];
    const char *port;
    if (strlen(addr) >= sizeof host) return za__fail(ZA_EINVAL, "http address too long");
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':')
            return za__fail(ZA_EINVAL, "http address '%s': expected [ipv6]:port", addr);
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = '\0';
        port = end + 2;
    } else {
        const char *colon = strrchr(addr, ':');
        if (!colon) return za__fail(ZA_EINVAL, "http address '%s': expected host:port", addr);
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
        port = colon + 1;
    }
    if (!host[0]) strcpy(host, "127.0.0.1");
    char *endp;
    unsigned long p = strtoul(port, &endp, 10);
    if (!port[0] || *endp || p > 65535)
        return za__fail(ZA_EINVAL, "http address '%s': bad port", addr);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    if (strcmp(host, "localhost") != 0) hints.ai_flags |= AI_NUMERICHOST;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g || !res)
        return za__fail(ZA_EINVAL, "http address '%s': %s (use a numeric address or localhost)",
                        addr, gai_strerror(g));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return ZA_OK;
}

/* Constant-time comparison of the presented credentials with "Bearer <token>". */
static bool authorized(struct za_http *h, struct MHD_Connection *c) {
    if (!h->token) return true;
    const char *auth = za__mhd()->lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) return false;
    auth += 7;
    size_t n = strlen(auth);
    unsigned char diff = n != h->token_len;
    for (size_t i = 0; i < h->token_len; i++)
        diff |= (unsigned char)(h->token[i] ^ (i < n ? auth[i] : 0));
    return diff == 0;
}

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned code, const char *ctype,
                                 char *body, size_t len, bool must_free) {
    if (!body) { /* out of memory building it */
        static const char oom[] = "{\"error\":\"out of memory\"}";
        body = (char *)oom;
        len = sizeof oom - 1;
        must_free = false;
        code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        ctype = "application/json";
    }
    struct MHD_Response *r = za__mhd()->create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free) free(body);
        return MHD_NO;
    }
    za__mhd()->add_response_header(r, "Content-Type", ctype);
    za__mhd()->add_response_header(r, "Cache-Control", "no-store");
    za__mhd()->add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (code == MHD_HTTP_UNAUTHORIZED)
        za__mhd()->add_response_header(r, "WWW-Authenticate", "Bearer realm=\"zactor\"");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        za__mhd()->add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result ok = za__mhd()->queue_response(c, code, r);
    za__mhd()->destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *text,
                                  const char *detail) {
    size_t len;
    char *b = za__http_error_body(text, detail, &len);
    return send_body(c, code, "application/json", b, len, true);
}

static const char *arg(struct MHD_Connection *c, const char *k) {
    return za__mhd()->lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_cls) {
    za_system *s = cls;
    struct za_http *h = s->http;
    static int marker;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        /* read-only endpoint; any upload is not read (MHD closes the link) */
        if (*upload_size) *upload_size = 0;
        if (*req_cls == &marker) return MHD_YES;
        *req_cls = &marker;
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", method);
    }
    bool health = strcmp(url, "/health/live") == 0 || strcmp(url, "/health/ready") == 0;
    if (!health && !authorized(h, c))
        return send_error(c, MHD_HTTP_UNAUTHORIZED, "unauthorized",
                          "send the header Authorization: Bearer <http_token>");
    char *body = NULL;
    size_t len = 0;
    int code;
    const char *json = "application/json";
    za_http_query q = {arg(c, "offset"),   arg(c, "limit"), arg(c, "name"), arg(c, "behaviour"),
                       arg(c, "language"), arg(c, "type"),  arg(c, "key")};
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
        return send_body(c, MHD_HTTP_OK, "text/html; charset=utf-8", (char *)za__dashboard_html,
                         za__dashboard_html_len, false);
    } else if (strcmp(url, "/metrics") == 0) {
        code = za__http_metrics(s, &body, &len);
        return send_body(c, (unsigned)code, "text/plain; version=0.0.4; charset=utf-8", body, len,
                         true);
    } else if (strcmp(url, "/health/live") == 0) {
        code = za__http_health(s, false, &body, &len);
    } else if (strcmp(url, "/health/ready") == 0) {
        code = za__http_health(s, true, &body, &len);
    } else if (strcmp(url, "/status") == 0) {
        code = za__http_status(s, &body, &len);
    } else if (strcmp(url, "/actors") == 0 || strcmp(url, "/actors/") == 0) {
        code = za__http_actors(s, &q, &body, &len);
    } else if (strncmp(url, "/actors/", 8) == 0) {
        code = za__http_actor(s, url + 8, &body, &len);
    } else if (strcmp(url, "/tree") == 0) {
        code = za__http_tree(s, &body, &len);
    } else if (strcmp(url, "/deadletters") == 0) {
        code = za__http_deadletters(s, &q, &body, &len);
    } else if (strcmp(url, "/cluster") == 0) {
        code = za__http_cluster(s, &body, &len);
    } else if (strcmp(url, "/grains") == 0) {
        code = za__http_grains(s, &q, &body, &len);
    } else {
        return send_error(c, MHD_HTTP_NOT_FOUND, "not found", url);
    }
    return send_body(c, (unsigned)code, json, body, len, true);
}

/* libmicrohttpd's own diagnostics (e.g. a client that sent garbage) are
 * not errors of the program: they are dropped rather than printed. */
static void quiet_log(void *cls, const char *fmt, va_list ap) {}

int za__http_start(za_system *s, const za_config *c) {
    if (!c->http_addr) {
        if (c->http_token) return za__fail(ZA_EINVAL, "http_token is set but http_addr is not");
        return ZA_OK;
    }
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int rc = parse_addr(c->http_addr, &ss, &sl);
    if (rc) return rc;
    if (!za__mhd()) return ZA_EINVAL; /* libmicrohttpd missing: the error says so */
    if (!is_loopback((struct sockaddr *)&ss) && !(c->http_token && c->http_token[0]))
        return za__fail(ZA_EINVAL,
                        "http address '%s' is not loopback: set http_token (a bearer token "
                        "that requests must present)",
                        c->http_addr);
    if (c->http_token && !c->http_token[0]) return za__fail(ZA_EINVAL, "http_token is empty");
    struct za_http *h = calloc(1, sizeof *h);
    if (!h) return za__fail(ZA_ENOMEM, "out of memory");
    if (c->http_token) {
        h->token = strdup(c->http_token);
        if (!h->token) {
            free(h);
            return za__fail(ZA_ENOMEM, "out of memory");
        }
        h->token_len = strlen(h->token);
    }
    s->http = h; /* before the daemon starts: handlers read it */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    uint16_t port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    h->d = za__mhd()->start_daemon(
        flags, port, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)ZA_HTTP_CONN_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)ZA_HTTP_PER_IP_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)ZA_HTTP_IDLE_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)ZA_HTTP_MEM_LIMIT, MHD_OPTION_EXTERNAL_LOGGER, quiet_log, NULL, MHD_OPTION_END);
    if (!h->d) {
        s->http = NULL;
        free(h->token);
        free(h);
        return za__fail(ZA_EINVAL, "cannot serve HTTP on %s (address in use or not local?)",
                        c->http_addr);
    }
    const union MHD_DaemonInfo *pi = za__mhd()->get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = pi ? pi->port : port;
    char host[INET6_ADDRSTRLEN] = "127.0.0.1";
    if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
    else
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
    snprintf(h->url, sizeof h->url, ss.ss_family == AF_INET6 ? "http://[%s]:%u" : "http://%s:%u",
             host, bound);
    return ZA_OK;
}

void za__http_stop(za_system *s) {
    struct za_http *h = s->http;
    if (!h) return;
    if (h->d) za__mhd()->stop_daemon(h->d); /* joins its thread: no request still reads s */
    h->d = NULL;
}

/* The endpoint's memory goes with the system (za__http_stop keeps the URL
 * readable after shutdown, for messages). */
void za__http_free(za_system *s) {
    struct za_http *h = s->http;
    if (!h) return;
    za__http_stop(s);
    free(h->token);
    free(h);
    s->http = NULL;
}

const char *za_system_http_url(za_system *sys) {
    if (!sys || !sys->http) return NULL;
    return sys->http->url;
}
