/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The indexer's HTTP API, served by libmicrohttpd (Debian's libmicrohttpd-dev: a small,
 * long-maintained HTTP/1.1 server library with TLS, connection limits and timeouts, which
 * a hand-written listener would have to grow):
 *   POST /events   registry notifications (notifications.c): 200 when taken, 400 for a
 *                  body that is not an envelope, 503 when the queue is full (the registry
 *                  sends it again later)
 *   POST /index    {"image": "HOST/REPO:TAG"}: 202 accepted, 200 known already, 400, 503
 *   GET /status    the queue as JSON
 *   GET /metrics   Prometheus text
 * Every request needs "Authorization: Bearer SECRET" when a secret is set (401 without,
 * compared in constant time); bodies over MAX_BODY are read and dropped (413), never held.
 * Connections are bounded in number and in idle time, so a flood cannot take the memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "indexer.h"

#define MAX_BODY ((size_t)1 << 20)
#define MAX_CONNECTIONS 128
#define IDLE_SECONDS 30
#define THREADS 4

struct api {
    struct api_config c;
    struct MHD_Daemon *d;
    char *tls_cert, *tls_key;
};

/* One request's body, gathered across the calls MHD makes as it arrives. */
struct request {
    char *body;
    size_t len;
    bool too_big;
    bool answered; /* refused on its headers: what follows is dropped */
};

static enum MHD_Result reply(struct api *a, struct MHD_Connection *conn, unsigned status, const char *type,
                             char *text, bool owned)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        strlen(text), text, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        if (owned)
            free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    queue_count(a->c.q, 1, status >= 400 && status != 503, 0, 0);
    return r;
}

/* {"key": "value"}, escaped as JSON needs. */
static enum MHD_Result reply_json(struct api *a, struct MHD_Connection *conn, unsigned status, const char *key,
                                  const char *value)
{
    json_t *o = json_pack("{s:s}", key, value);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return text ? reply(a, conn, status, "application/json", text, true) : MHD_NO;
}

static bool authorised(const struct api *a, struct MHD_Connection *conn)
{
    if (a->c.secret == NULL)
        return true;
    const char *got = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char want[600];
    snprintf(want, sizeof(want), "Bearer %s", a->c.secret);
    if (got == NULL || strlen(got) != strlen(want))
        return false;
    unsigned char diff = 0; /* the same time whatever byte differs */
    for (size_t i = 0; want[i]; i++)
        diff |= (unsigned char)(got[i] ^ want[i]);
    return diff == 0;
}

static enum MHD_Result events(struct api *a, struct MHD_Connection *conn, const struct request *req)
{
    unsigned accepted, ignored;
    int r = notifications_take(a->c.ic, a->c.q, a->c.j, req->body ? req->body : "", req->len, &accepted, &ignored);
    queue_count(a->c.q, 0, 0, accepted + ignored, ignored);
    if (r == -1)
        return reply_json(a, conn, 400, "error", "not a notification envelope ({\"events\": [...]})");
    if (r == -2)
        return reply_json(a, conn, 503, "error", "the queue is full: send it again later");
    char *text = NULL;
    if (asprintf(&text, "{\"accepted\": %u, \"ignored\": %u}", accepted, ignored) < 0)
        return MHD_NO;
    return reply(a, conn, 200, "application/json", text, true);
}

static enum MHD_Result index_request(struct api *a, struct MHD_Connection *conn, const struct request *req)
{
    enum offer offer;
    const char *why;
    if (index_request_take(a->c.ic, a->c.q, a->c.j, req->body ? req->body : "", req->len, &offer, &why) < 0)
        return reply_json(a, conn, 400, "error", why);
    switch (offer) {
    case OFFER_ACCEPTED: return reply_json(a, conn, 202, "state", "accepted");
    case OFFER_DUPLICATE: return reply_json(a, conn, 200, "state", "known already (waiting, running or done)");
    case OFFER_FULL: return reply_json(a, conn, 503, "error", "the queue is full");
    default: return reply_json(a, conn, 500, "error", "the journal cannot be written");
    }
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    struct api *a = cls;
    struct request *req = *state;
    (void)version;
    if (req == NULL) { /* the headers are in: check them before any body is read */
        if ((req = calloc(1, sizeof(*req))) == NULL)
            return MHD_NO;
        *state = req;
        /* Refused now, the body unread (the connection is closed after the answer). */
        if (!authorised(a, conn)) {
            req->answered = true;
            return reply_json(a, conn, 401, "error", "missing or wrong Authorization");
        }
        return MHD_YES;
    }
    if (req->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!req->too_big && req->len + *upload_size <= MAX_BODY) {
            char *more = realloc(req->body, req->len + *upload_size + 1);
            if (more == NULL)
                return MHD_NO;
            req->body = more;
            memcpy(req->body + req->len, upload, *upload_size);
            req->len += *upload_size;
            req->body[req->len] = '\0';
        } else {
            req->too_big = true;
            free(req->body);
            req->body = NULL;
            req->len = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    if (req->too_big)
        return reply_json(a, conn, 413, "error", "the body is over 1 MiB");
    if (strcmp(url, "/events") == 0 && post)
        return events(a, conn, req);
    if (strcmp(url, "/index") == 0 && post)
        return index_request(a, conn, req);
    if (strcmp(url, "/status") == 0 && get) {
        char *text = queue_status_json(a->c.q);
        return text ? reply(a, conn, 200, "application/json", text, true) : MHD_NO;
    }
    if (strcmp(url, "/metrics") == 0 && get) {
        uint64_t bytes = 0;
        soci_registry_counter(a->c.reg, SOCI_COUNTER_BYTES_FETCHED, &bytes);
        char *text = queue_metrics_text(a->c.q, bytes);
        return text ? reply(a, conn, 200, "text/plain; version=0.0.4", text, true) : MHD_NO;
    }
    bool known = strcmp(url, "/events") == 0 || strcmp(url, "/index") == 0 || strcmp(url, "/status") == 0 ||
                 strcmp(url, "/metrics") == 0;
    return reply_json(a, conn, known ? 405 : 404, "error", known ? "method not allowed" : "not found");
}

static void completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode why)
{
    struct request *req = *state;
    (void)cls, (void)conn, (void)why;
    if (req != NULL) {
        free(req->body);
        free(req);
        *state = NULL;
    }
}

static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "re");
    char *text = NULL;
    size_t len = 0;
    if (f == NULL)
        return NULL;
    text = malloc(1 << 20);
    if (text != NULL) {
        len = fread(text, 1, (1 << 20) - 1, f);
        text[len] = '\0';
    }
    fclose(f);
    return text;
}

int api_start(const struct api_config *c, struct api **ret)
{
    struct api *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -1;
    a->c = *c;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_EPOLL;
    if (c->tls_cert != NULL) {
        if ((a->tls_cert = read_pem(c->tls_cert)) == NULL || (a->tls_key = read_pem(c->tls_key)) == NULL) {
            ix_log("error", "msg=\"cannot read the TLS certificate or key\" cert=%s key=%s", c->tls_cert, c->tls_key);
            api_stop(a);
            return -1;
        }
        flags |= MHD_USE_TLS;
    }
    a->d = MHD_start_daemon(flags, ntohs(c->addr.sin_port), NULL, NULL, handle, a, MHD_OPTION_SOCK_ADDR, &a->c.addr,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_SECONDS,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, a,
                            c->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, a->tls_cert,
                            MHD_OPTION_HTTPS_MEM_KEY, a->tls_key, MHD_OPTION_END);
    if (a->d == NULL) {
        ix_log("error", "msg=\"cannot listen\" address=%s", c->listen);
        api_stop(a);
        return -1;
    }
    *ret = a;
    return 0;
}

void api_stop(struct api *a)
{
    if (a == NULL)
        return;
    if (a->d != NULL)
        MHD_stop_daemon(a->d);
    free(a->tls_cert);
    free(a->tls_key);
    free(a);
}
