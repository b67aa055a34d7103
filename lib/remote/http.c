/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <soci/error.h>

#include "remote/byteranges.h"
#include "remote/http.h"
#include <soci/version.h>

#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

/* Requests in flight per site (scheme://host:port), over every thread using this client:
 * a registry host sees at most max_per_site of our connections at once, however many
 * readers there are. A slot is taken before a transfer starts and given back when it
 * ends; no one waits for a slot while holding one, so no one waits forever. Threads of
 * the background class (util/thread.h) get at most all but a quarter of a site's slots
 * (at least one), so a reader waiting for data always finds a connection free soon. */
#define SITES 32
#define SITE_MAX 256

struct site {
    char name[SITE_MAX];
    unsigned busy;
};

struct http {
    struct http_opts opts;
    char *ca_file;
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t slots_lock;
    pthread_cond_t slot_freed;
    struct site sites[SITES];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *userp)
{
    (void)c, (void)access;
    pthread_mutex_lock(&((struct http *)userp)->locks[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *userp)
{
    (void)c;
    pthread_mutex_unlock(&((struct http *)userp)->locks[data]);
}

int http_new(const struct http_opts *o, struct http **ret)
{
    pthread_once(&curl_once, init_curl);
    if (curl_init_result != CURLE_OK)
        return soci_fail(SOCI_ENET, "libcurl failed to initialise: %s", curl_easy_strerror(curl_init_result));
    struct http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return soci_fail_nomem("http client");
    h->opts = *o;
    if (o->ca_file && (h->ca_file = strdup(o->ca_file)) == NULL) {
        free(h);
        return soci_fail_nomem("http client");
    }
    h->opts.ca_file = h->ca_file;
    if (h->opts.max_per_site == 0)
        h->opts.max_per_site = 8;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->locks[i], NULL);
    pthread_mutex_init(&h->slots_lock, NULL);
    pthread_cond_init(&h->slot_freed, NULL);
    h->share = curl_share_init();
    if (h->share == NULL) {
        http_free(h);
        return soci_fail_nomem("curl share");
    }
    curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    *ret = h;
    return 0;
}

void http_free(struct http *h)
{
    if (h == NULL)
        return;
    if (h->share)
        curl_share_cleanup(h->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->locks[i]);
    pthread_mutex_destroy(&h->slots_lock);
    pthread_cond_destroy(&h->slot_freed);
    free(h->ca_file);
    free(h);
}

struct sink {
    const struct http_request *req;
    struct http_response *resp;
    size_t cap;
    bool overflow;
    bool range_done; /* a whole body's range is in: the transfer was dropped on purpose */
    bool pieces_begun;
    struct byteranges pieces; /* a request for pieces: its answer's parser */
};

/* A range request answered 200 with the whole resource: keep the bytes of the range as
 * they stream by, and stop the transfer (curl's write error) once they are all in. */
static size_t range_from_whole_body(struct sink *s, const char *data, size_t n)
{
    struct http_response *resp = s->resp;
    const struct http_request *req = s->req;
    uint64_t at = resp->skipped + resp->received; /* the body's offset of data[0] */
    uint64_t end = req->range_off + req->range_len;
    resp->whole_body = true;
    uint64_t from = at > req->range_off ? at : req->range_off;
    uint64_t to = at + n < end ? at + n : end;
    if (from < to) {
        memcpy((char *)req->into + (from - req->range_off), data + (from - at), (size_t)(to - from));
        resp->received += to - from;
    }
    resp->skipped += n - (from < to ? (size_t)(to - from) : 0);
    if (at + n >= end) {
        s->range_done = true;
        return 0;
    }
    return n;
}

static void url_site(const char *url, char *out, size_t n);

/* Why an answer's pieces could not be placed, for debugging (the site only: a URL may
 * carry a storage signature). */
static void log_refused(const struct sink *s)
{
    char site[512];
    url_site(s->req->url, site, sizeof(site));
    soci_log(SOCI_LOG_DEBUG, "%s: %s", site, s->pieces.error);
}

/* Stop a transfer whose body we do not want (dropped on purpose, not a failure). */
static size_t drop_body(struct sink *s)
{
    s->range_done = true;
    return 0;
}

/* An answer to a request for pieces that we cannot place: dropped, and said why. */
static size_t refuse_pieces(struct sink *s)
{
    log_refused(s);
    s->resp->pieces_refused = true;
    return drop_body(s);
}

/* The answer to a request for several ranges: a multipart/byteranges body, or a single
 * part, placed into the pieces it covers. A 200 (the whole blob) or a body we cannot
 * place is dropped at once and the server marked as one to ask a range at a time; the
 * body of an error status is dropped too, the status being all the caller acts on. */
static size_t pieces_body(struct sink *s, const char *data, size_t n)
{
    struct http_response *resp = s->resp;
    const struct http_request *req = s->req;
    if (resp->status != 206) {
        resp->pieces_refused = resp->status == 200;
        resp->whole_body = resp->status == 200;
        return drop_body(s);
    }
    if (!s->pieces_begun) {
        s->pieces_begun = true;
        bool multi = strncasecmp(resp->content_type, "multipart/", 10) == 0;
        bool ok = multi ? byteranges_begin_multipart(&s->pieces, resp->content_type, req->pieces, req->npieces,
                                                     req->pieces_done)
                        : byteranges_begin_single(&s->pieces, resp->content_range, req->pieces, req->npieces,
                                                  req->pieces_done);
        if (!ok)
            return refuse_pieces(s);
    }
    int r = byteranges_feed(&s->pieces, data, n);
    resp->received += n;
    return r < 0 ? refuse_pieces(s) : n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct sink *s = userp;
    size_t n = size * nmemb;
    struct http_response *resp = s->resp;
    if (s->req->npieces > 0)
        return pieces_body(s, data, n);
    if (s->req->into != NULL && s->req->range && resp->status == 200)
        return range_from_whole_body(s, data, n);
    if (s->req->into != NULL) {
        /* Straight into the caller's buffer, never past the range asked for. */
        if (resp->received + n > s->req->range_len) {
            s->overflow = true;
            return 0;
        }
        memcpy((char *)s->req->into + resp->received, data, n);
        resp->received += n;
        return n;
    }
    if (resp->body_len + n > s->req->max_body) {
        s->overflow = true;
        return 0;
    }
    if (resp->body_len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < resp->body_len + n + 1)
            cap *= 2;
        char *b = realloc(resp->body, cap);
        if (b == NULL) {
            s->overflow = true;
            return 0;
        }
        resp->body = b;
        s->cap = cap;
    }
    memcpy(resp->body + resp->body_len, data, n);
    resp->body_len += n;
    resp->body[resp->body_len] = '\0';
    resp->received += n;
    return n;
}

/* Retry-After in seconds (the delta form; an HTTP date counts as unknown, -1). The
 * line is not NUL-terminated: parse only its len bytes. */
static long retry_after_seconds(const char *v, size_t len)
{
    long secs = 0;
    size_t i = 0;
    while (i < len && (v[i] == ' ' || v[i] == '\t'))
        i++;
    if (i == len || v[i] < '0' || v[i] > '9')
        return -1;
    for (; i < len && v[i] >= '0' && v[i] <= '9'; i++)
        secs = secs < 100000000 ? secs * 10 + (v[i] - '0') : secs;
    return secs;
}

/* Keep the headers we act on; a redirect's headers are replaced by the final ones. */
void http_parse_header_line(struct http_response *resp, const char *line, size_t n)
{
    size_t len = n;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* The status is known before the body comes (curl's own is read at the end): the
         * three digits after the first space, within the line. */
        const char *sp = memchr(line, ' ', len);
        resp->status = 0;
        for (size_t i = sp ? (size_t)(sp - line) + 1 : len, k = 0; i < len && k < 3; i++, k++)
            resp->status = line[i] >= '0' && line[i] <= '9' ? resp->status * 10 + (line[i] - '0') : 0;
        resp->www_authenticate[0] = resp->content_range[0] = resp->content_type[0] = '\0';
        resp->docker_digest[0] = '\0';
        resp->retry_after = -1;
        return;
    }
    static const struct {
        const char *name;
        size_t off, cap;
    } keep[] = {
        {"www-authenticate:", offsetof(struct http_response, www_authenticate), sizeof(((struct http_response *)0)->www_authenticate)},
        {"content-range:", offsetof(struct http_response, content_range), sizeof(((struct http_response *)0)->content_range)},
        {"content-type:", offsetof(struct http_response, content_type), sizeof(((struct http_response *)0)->content_type)},
        {"docker-content-digest:", offsetof(struct http_response, docker_digest), sizeof(((struct http_response *)0)->docker_digest)},
        {"location:", offsetof(struct http_response, location), sizeof(((struct http_response *)0)->location)},
    };
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        size_t kn = strlen(keep[i].name);
        if (len > kn && strncasecmp(line, keep[i].name, kn) == 0) {
            const char *v = line + kn;
            size_t vn = len - kn;
            while (vn > 0 && (*v == ' ' || *v == '\t'))
                v++, vn--;
            snprintf((char *)resp + keep[i].off, keep[i].cap, "%.*s", (int)vn, v);
            return;
        }
    }
    if (len > 12 && strncasecmp(line, "retry-after:", 12) == 0)
        resp->retry_after = retry_after_seconds(line + 12, len - 12);
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    http_parse_header_line(userp, line, size * nmemb);
    return size * nmemb;
}

/* The scheme and host of a URL, for messages: never the path's tokens or credentials. */
static void url_site(const char *url, char *out, size_t n)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t len = strcspn(p, "/?#");
    const char *at = memchr(p, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    snprintf(out, n, "%.*s%.*s", p == url ? 0 : (int)(strstr(url, "://") - url + 3), url, (int)len, p);
}

/* The slot entry of name (found, or a free one claimed), or NULL when every entry is busy
 * with another site. Called with slots_lock held. */
static struct site *site_entry(struct http *h, const char *name)
{
    struct site *idle = NULL;
    for (int i = 0; i < SITES; i++) {
        if (h->sites[i].busy > 0 && strcmp(h->sites[i].name, name) == 0)
            return &h->sites[i];
        if (h->sites[i].busy == 0 && idle == NULL)
            idle = &h->sites[i];
    }
    if (idle != NULL)
        snprintf(idle->name, sizeof(idle->name), "%s", name);
    return idle;
}

/* Take a slot for url's site; wait for one only if `wait`. False when none was free. */
static bool take_slot(struct http *h, const char *url, bool wait)
{
    char name[SITE_MAX];
    url_site(url, name, sizeof(name));
    pthread_mutex_lock(&h->slots_lock);
    unsigned limit = h->opts.max_per_site;
    if (thread_is_background() && limit > 1)
        limit -= (limit + 3) / 4;
    struct site *s;
    while (((s = site_entry(h, name)) == NULL || s->busy >= limit) && wait)
        pthread_cond_wait(&h->slot_freed, &h->slots_lock);
    bool got = s != NULL && s->busy < limit;
    if (got)
        s->busy++;
    pthread_mutex_unlock(&h->slots_lock);
    return got;
}

static void give_slot(struct http *h, const char *url)
{
    char name[SITE_MAX];
    url_site(url, name, sizeof(name));
    pthread_mutex_lock(&h->slots_lock);
    for (int i = 0; i < SITES; i++) {
        if (h->sites[i].busy > 0 && strcmp(h->sites[i].name, name) == 0) {
            h->sites[i].busy--;
            break;
        }
    }
    pthread_cond_broadcast(&h->slot_freed);
    pthread_mutex_unlock(&h->slots_lock);
}

/* One transfer being set up, run and finished. */
struct transfer {
    CURL *c;
    struct curl_slist *hdrs;
    struct sink sink;
    char range[BYTERANGES_MAX_PIECES * 42 + 1]; /* "first-last," each, 20 digits a number */
};

/* The Range value of a request: one range, or the pieces', comma-separated. */
static int format_ranges(const struct http_request *req, char *out, size_t size)
{
    if (req->npieces == 0) {
        snprintf(out, size, "%llu-%llu", (unsigned long long)req->range_off,
                 (unsigned long long)(req->range_off + req->range_len - 1));
        return 0;
    }
    if (req->npieces > BYTERANGES_MAX_PIECES)
        return soci_fail(SOCI_EINVAL, "%zu ranges in one request (at most %d)", req->npieces, BYTERANGES_MAX_PIECES);
    size_t at = 0;
    for (size_t i = 0; i < req->npieces; i++) {
        const struct soci_iov_at *v = &req->pieces[i];
        if (v->len == 0)
            return soci_fail(SOCI_EINVAL, "an empty range in a request for several");
        at += (size_t)snprintf(out + at, size - at, "%s%llu-%llu", i ? "," : "", (unsigned long long)v->off,
                               (unsigned long long)(v->off + v->len - 1));
    }
    return 0;
}

static int transfer_setup(struct http *h, const struct http_request *req, struct http_response *resp,
                          struct transfer *t)
{
    char line[4200];
    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
    memset(t, 0, sizeof(*t));
    t->sink = (struct sink){.req = req, .resp = resp};
    int r = req->range || req->npieces > 0 ? format_ranges(req, t->range, sizeof(t->range)) : 0;
    if (r < 0)
        return r;
    if ((t->c = curl_easy_init()) == NULL)
        return soci_fail_nomem("curl handle");
    CURL *c = t->c;
    if (req->authorization) {
        snprintf(line, sizeof(line), "Authorization: %s", req->authorization);
        t->hdrs = curl_slist_append(t->hdrs, line);
    }
    if (req->accept) {
        snprintf(line, sizeof(line), "Accept: %s", req->accept);
        t->hdrs = curl_slist_append(t->hdrs, line);
    }
    if (req->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        t->hdrs = curl_slist_append(t->hdrs, line);
    }
    if (t->range[0])
        curl_easy_setopt(c, CURLOPT_RANGE, t->range);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_SHARE, h->share);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->hdrs);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, h->opts.timeout_s ? h->opts.timeout_s : 120L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t->sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "libsoci/" SOCI_VERSION_STRING);
    if (req->ca_file && req->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, req->ca_file);
    else if (h->opts.ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->opts.ca_file);
    if (h->opts.insecure || req->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    return 0;
}

/* Collect the outcome of a finished transfer and release it. */
static int transfer_finish(struct transfer *t, CURLcode cr, const struct http_request *req,
                           struct http_response *resp)
{
    char site[512];
    long redirects = 0;
    char *effective = NULL;
    int r = 0;
    resp->curl_code = (int)cr;
    curl_easy_getinfo(t->c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_getinfo(t->c, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_easy_getinfo(t->c, CURLINFO_EFFECTIVE_URL, &effective);
    if (redirects > 0 && effective != NULL)
        snprintf(resp->final_url, sizeof(resp->final_url), "%s", effective);
    url_site(req->url, site, sizeof(site));
    if (t->sink.range_done && cr == CURLE_WRITE_ERROR)
        cr = CURLE_OK; /* dropped on purpose once the range was in */
    if (t->sink.overflow)
        r = soci_fail(SOCI_ENET, "%s: response body larger than expected (%zu bytes allowed)", site,
                      req->into ? (size_t)req->range_len : req->max_body);
    else if (cr != CURLE_OK)
        r = soci_fail(SOCI_ENET, "%s: %s", site, curl_easy_strerror(cr));
    curl_slist_free_all(t->hdrs);
    curl_easy_cleanup(t->c);
    if (r < 0)
        http_response_free(resp);
    return r;
}

int http_do(struct http *h, const struct http_request *req, struct http_response *resp)
{
    struct transfer t;
    int r = transfer_setup(h, req, resp, &t);
    if (r < 0)
        return r;
    take_slot(h, req->url, true);
    CURLcode cr = curl_easy_perform(t.c);
    give_slot(h, req->url);
    return transfer_finish(&t, cr, req, resp);
}

void http_do_many(struct http *h, const struct http_request *reqs, struct http_response *resps, int *errs, size_t n)
{
    struct transfer *t = calloc(n ? n : 1, sizeof(*t));
    CURLM *m = curl_multi_init();
    if (t == NULL || m == NULL) {
        for (size_t i = 0; i < n; i++)
            errs[i] = soci_fail_nomem("transfers");
        free(t);
        if (m)
            curl_multi_cleanup(m);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        errs[i] = transfer_setup(h, &reqs[i], &resps[i], &t[i]);
        if (errs[i] == 0)
            curl_easy_setopt(t[i].c, CURLOPT_PRIVATE, (char *)&t[i]);
    }
    /* Transfers start in order as their site has a free slot; with none in flight, wait
     * for one (holding none, nobody can be waiting on us). */
    size_t next = 0, in_flight = 0;
    for (;;) {
        while (next < n && (errs[next] != 0 || take_slot(h, reqs[next].url, in_flight == 0))) {
            if (errs[next] == 0) {
                curl_multi_add_handle(m, t[next].c);
                in_flight++;
            }
            next++;
        }
        if (in_flight == 0)
            break;
        int running;
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        struct CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            size_t i = (size_t)((struct transfer *)(void *)priv - t);
            curl_multi_remove_handle(m, msg->easy_handle);
            give_slot(h, reqs[i].url);
            in_flight--;
            errs[i] = transfer_finish(&t[i], msg->data.result, &reqs[i], &resps[i]);
            t[i].c = NULL;
        }
        if (running > 0)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        if (t[i].c != NULL && errs[i] == 0) { /* never completed (curl multi failed) */
            if (i < next) {
                curl_multi_remove_handle(m, t[i].c);
                give_slot(h, reqs[i].url);
            }
            errs[i] = transfer_finish(&t[i], CURLE_OPERATION_TIMEDOUT, &reqs[i], &resps[i]);
        }
    }
    curl_multi_cleanup(m);
    free(t);
}

bool http_failed_tls_handshake(const struct http_response *resp)
{
    return resp->curl_code == CURLE_SSL_CONNECT_ERROR;
}

void http_response_free(struct http_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}
