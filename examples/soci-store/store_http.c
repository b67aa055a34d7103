/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-store --listen: its figures over HTTP for operators and Prometheus, served by
 * libmicrohttpd (as soci-indexer's API is):
 *   GET /metrics   Prometheus text (store_stats.c)
 *   GET /status    the references asked about, the layers served, and the figures, JSON
 * Read-only and unauthenticated, so meant for a loopback address or a network only
 * operators reach. Request bodies are not read; connections are bounded in number and in
 * idle time, so a flood of scrapes cannot take the memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "cli_common.h"
#include "store.h"

#define MAX_CONNECTIONS 32
#define IDLE_SECONDS 10

int store_http_listen(const char *address)
{
#ifndef SOCI_STORE_HTTP
    fprintf(stderr, "soci-store: --listen %s: built without libmicrohttpd (libmicrohttpd-dev)\n", address);
    return -1;
#endif
    struct sockaddr_in addr;
    const char *wrong = cli_parse_listen(address, &addr);
    if (wrong != NULL) {
        fprintf(stderr, "soci-store: --listen %s: %s, e.g. 127.0.0.1:9470\n", address, wrong);
        return -1;
    }
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 64) != 0) {
        fprintf(stderr, "soci-store: --listen %s: %s\n", address, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

#ifdef SOCI_STORE_HTTP
#include <microhttpd.h>

struct store_http {
    struct store *s;
    struct MHD_Daemon *d;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, char *text)
{
    if (text == NULL) /* out of memory: MHD answers 500 */
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **state)
{
    struct store_http *h = cls;
    (void)version, (void)upload;
    if (*state == NULL) { /* the headers are in; answer once the request is whole */
        *state = h;
        return MHD_YES;
    }
    if (*upload_size > 0) { /* a body is not asked for: dropped as it comes */
        *upload_size = 0;
        return MHD_YES;
    }
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool metrics = strcmp(url, "/metrics") == 0, status = strcmp(url, "/status") == 0;
    if (get && metrics)
        return reply(conn, 200, "text/plain; version=0.0.4", store_metrics_text(h->s));
    if (get && status)
        return reply(conn, 200, "application/json", store_status_json(h->s));
    if (metrics || status)
        return reply(conn, 405, "application/json", strdup("{\"error\":\"only GET\"}"));
    return reply(conn, 404, "application/json", strdup("{\"error\":\"not found: GET /metrics or /status\"}"));
}

struct store_http *store_http_start(struct store *s, int fd)
{
    struct store_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->s = s;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, h,
                            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_SECONDS, MHD_OPTION_END);
    if (h->d == NULL) {
        daemon_log(SOCI_LOG_ERROR, "--listen: the HTTP server did not start; serving without it");
        close(fd);
        free(h);
        return NULL;
    }
    daemon_log(SOCI_LOG_INFO, "figures served over HTTP: GET /metrics, GET /status");
    return h;
}

void store_http_stop(struct store_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d); /* closes the listening socket too */
    free(h);
}
#else
struct store_http *store_http_start(struct store *s, int fd)
{
    (void)s;
    close(fd);
    return NULL;
}

void store_http_stop(struct store_http *h)
{
    (void)h;
}
#endif
