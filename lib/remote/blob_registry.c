/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A registry blob as a soci_blob: read_at is an HTTP range request written straight into
 * the caller's buffer. The answer must be 206 with exactly the Content-Range asked for,
 * or 200 with the whole blob: some registries and caching proxies ignore Range, and then
 * the range is cut out of the body as it streams by and the transfer dropped once it is
 * in (the host is noted, said once in the log, and read one range at a time from then
 * on). Anything else is an error, never data. Span digests are checked above this layer,
 * so bytes need no checking here.
 *
 * read_vec asks for small ranges far apart in one request (remote/byteranges.h parses the
 * answer). A host that answers such a request otherwise (a 200, one part, a body we cannot
 * place) is remembered and asked for one range per request from then on; the ranges it
 * left out are fetched again one at a time.
 *
 * Registries often answer blob requests with a redirect to storage (a signed URL on
 * another host; curl drops our Authorization header on the way). The URL a redirect led
 * to is kept and used directly for the blob's next ranges, saving the registry a round
 * trip each, until storage refuses it (an expired signature): then the registry again.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/byteranges.h"
#include "remote/registry_internal.h"
#include "util/error.h"

struct registry_blob {
    soci_registry *r;
    struct image_ref ref;
    char digest[72];
    uint64_t size;
    pthread_mutex_t lock;
    char *storage_url; /* where the registry redirected us, or NULL */
    bool warm;         /* a range came back: scheme and credentials are settled */
};

static bool range_answered(const struct http_response *resp, uint64_t off, size_t len, uint64_t size)
{
    char want[128];
    if (resp->status == 200 && resp->whole_body)
        return true; /* cut out of the whole blob */
    snprintf(want, sizeof(want), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1, size);
    return resp->status == 206 && strcmp(resp->content_range, want) == 0;
}

/* Try the remembered storage URL; false (and forget it) if it does not serve the range. */
static bool read_from_storage(struct registry_blob *b, void *buf, size_t len, uint64_t off)
{
    char url[4096];
    pthread_mutex_lock(&b->lock);
    bool have = b->storage_url != NULL;
    if (have)
        snprintf(url, sizeof(url), "%s", b->storage_url);
    pthread_mutex_unlock(&b->lock);
    if (!have)
        return false;
    struct http_response resp;
    struct http_request req = {.method = "GET", .url = url, .range = true, .range_off = off, .range_len = len,
                               .into = buf};
    int err = registry_direct(b->r, &req, &resp);
    bool ok = err == 0 && range_answered(&resp, off, len, b->size) && resp.received == len;
    if (err == 0)
        http_response_free(&resp);
    if (!ok) {
        pthread_mutex_lock(&b->lock);
        free(b->storage_url);
        b->storage_url = NULL;
        pthread_mutex_unlock(&b->lock);
        soci_clear_error();
    }
    return ok;
}

static void remember_storage(struct registry_blob *b, const char *url)
{
    char *copy = strdup(url);
    pthread_mutex_lock(&b->lock);
    free(b->storage_url);
    b->storage_url = copy;
    pthread_mutex_unlock(&b->lock);
}

static int rb_size(void *ctx, uint64_t *ret)
{
    *ret = ((struct registry_blob *)ctx)->size;
    return 0;
}

static int rb_read_at(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct registry_blob *b = ctx;
    struct http_response resp;
    char path[400], want[128];
    if (read_from_storage(b, buf, len, off))
        return 0;
    snprintf(path, sizeof(path), "blobs/%s", b->digest);
    struct http_request req = {.method = "GET", .range = true, .range_off = off, .range_len = len, .into = buf};
    int err = registry_request(b->r, &b->ref, &req, path, &resp);
    if (err < 0)
        return soci_fail_prefix(err, "blob %s [%" PRIu64 ", +%zu)", b->digest, off, len);
    long status = resp.status;
    bool whole = resp.whole_body;
    if (resp.final_url[0] && (status == 206 || whole))
        remember_storage(b, resp.final_url);
    http_response_free(&resp);
    if (status == 206 || status == 200) {
        pthread_mutex_lock(&b->lock);
        b->warm = true;
        pthread_mutex_unlock(&b->lock);
    }
    if (status == 200 && whole) {
        if (off != 0 || len != b->size)
            registry_note_rangeless(b->r, b->ref.host);
        return 0; /* registry_request saw every byte of the range arrive */
    }
    if (status != 206)
        return soci_fail(status == 404 ? SOCI_ENOTFOUND : SOCI_ENET, "%s/%s: blob %s: HTTP %ld for a range request",
                         b->ref.host, b->ref.repo, b->digest, status);
    snprintf(want, sizeof(want), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1, b->size);
    if (strcmp(resp.content_range, want) != 0)
        return soci_fail(SOCI_ENET, "%s/%s: blob %s: asked for \"%s\", got Content-Range \"%.60s\"", b->ref.host,
                         b->ref.repo, b->digest, want, resp.content_range);
    return 0;
}

/* Ranges gathered into one request (multipart/byteranges) while together they stay within
 * this. Most of a registry's work is per request: docker-registry 2.8 spends about 5 ms of
 * CPU on a request for one range, however small, and about 2 ms a range on a request for
 * several (measured: 50 ranges of 100 KiB, one a request 0.24-0.28 CPU-s, five a request
 * 0.08-0.09). A prefetch job (4 MiB) goes in one request; bigger ranges go alone, side by
 * side. */
#define GROUP_BYTES ((uint64_t)4 << 20)

/* Split iov into requests: runs of ranges, ascending and apart, that add up to at most
 * GROUP_BYTES (or one range each, for a host that answers one at a time). starts[k] is
 * the first range of request k; returns the number of requests. */
static size_t plan_requests(const struct soci_iov_at *iov, size_t n, bool one_range, size_t *starts)
{
    size_t groups = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        size_t first = groups ? starts[groups - 1] : 0;
        bool join = groups > 0 && !one_range && i - first < BYTERANGES_MAX_PIECES &&
                    iov[i].off > iov[i - 1].off + iov[i - 1].len && bytes + iov[i].len <= GROUP_BYTES;
        if (join) {
            bytes += iov[i].len;
        } else {
            starts[groups++] = i;
            bytes = iov[i].len;
        }
    }
    return groups;
}

/* A request for several ranges was answered: a host that refused them, or left some out,
 * is asked for one range per request from then on. */
static void judge_group(struct registry_blob *b, const struct http_response *resp, const bool *done, size_t count)
{
    if (resp->pieces_refused || (resp->status == 206 && memchr(done, false, count) != NULL))
        registry_note_one_range(b->r, b->ref.host);
}

/* One request for several ranges through the registry (credentials, retries, redirects):
 * done[i] tells which came in. What it lacks is for the caller to fetch one at a time. */
static void read_group(struct registry_blob *b, const struct soci_iov_at *iov, size_t count, bool *done)
{
    struct http_request req = {.method = "GET", .pieces = iov, .npieces = count, .pieces_done = done};
    struct http_response resp;
    char path[400];
    snprintf(path, sizeof(path), "blobs/%s", b->digest);
    if (registry_request(b->r, &b->ref, &req, path, &resp) < 0) {
        memset(done, 0, count * sizeof(*done));
        soci_clear_error(); /* told again, if it lasts, by the ranges' own requests */
        return;
    }
    if (resp.status == 206) {
        if (resp.final_url[0])
            remember_storage(b, resp.final_url);
        pthread_mutex_lock(&b->lock);
        b->warm = true;
        pthread_mutex_unlock(&b->lock);
    } else {
        memset(done, 0, count * sizeof(*done));
    }
    judge_group(b, &resp, done, count);
    http_response_free(&resp);
}

/* Several ranges at once, in parallel over curl multi, small ones gathered into requests
 * for several. Until a range of this blob has come back, the first request goes alone
 * through the registry (it settles the scheme, the credentials and any storage URL). Any
 * range that does not come back right is fetched again on its own, with retries. */
static int rb_read_vec(void *ctx, const struct soci_iov_at *iov, size_t n)
{
    struct registry_blob *b = ctx;
    pthread_mutex_lock(&b->lock);
    bool warm = b->warm;
    pthread_mutex_unlock(&b->lock);
    int err = 0;
    if (n == 0)
        return 0;
    /* A host that ignores Range streams each request from the blob's start: in parallel,
     * every one of them would; one at a time, in order, each stops at its range's end. */
    if (registry_is_rangeless(b->r, b->ref.host)) {
        for (size_t i = 0; i < n && err == 0; i++)
            err = rb_read_at(b, iov[i].buf, iov[i].len, iov[i].off);
        return err;
    }
    size_t *starts = calloc(n + 1, sizeof(*starts));
    bool *done = calloc(n, sizeof(*done));
    struct http_request *reqs = calloc(n, sizeof(*reqs));
    struct http_response *resps = calloc(n, sizeof(*resps));
    int *errs = calloc(n, sizeof(*errs));
    char (*urls)[4096] = calloc(n, sizeof(*urls)), auth[8200], path[400];
    if (starts == NULL || done == NULL || reqs == NULL || resps == NULL || errs == NULL || urls == NULL) {
        err = soci_fail_nomem("parallel ranges");
        goto out;
    }
    size_t m = plan_requests(iov, n, registry_is_one_range(b->r, b->ref.host), starts);
    starts[m] = n;
    size_t first = 0; /* the first request to send in parallel */
    if (!warm) {
        if (starts[1] > 1) {
            read_group(b, iov, starts[1], done);
        } else {
            if ((err = rb_read_at(b, iov[0].buf, iov[0].len, iov[0].off)) < 0)
                goto out;
            done[0] = true;
        }
        first = 1;
    }
    snprintf(path, sizeof(path), "blobs/%s", b->digest);
    pthread_mutex_lock(&b->lock);
    const char *storage = b->storage_url;
    for (size_t k = first; k < m; k++) {
        size_t i = starts[k], count = starts[k + 1] - i;
        reqs[k] = (struct http_request){.method = "GET"};
        if (count == 1) {
            reqs[k].range = true;
            reqs[k].range_off = iov[i].off;
            reqs[k].range_len = iov[i].len;
            reqs[k].into = iov[i].buf;
        } else {
            reqs[k].pieces = &iov[i];
            reqs[k].npieces = count;
            reqs[k].pieces_done = &done[i];
        }
        if (storage != NULL) {
            snprintf(urls[k], sizeof(urls[k]), "%s", storage);
            reqs[k].url = urls[k];
        } else {
            registry_prepare(b->r, &b->ref, path, &reqs[k], urls[k], sizeof(urls[k]), auth, sizeof(auth));
        }
    }
    pthread_mutex_unlock(&b->lock);
    http_do_many(registry_http(b->r), reqs + first, resps + first, errs + first, m - first);
    uint64_t bytes = 0;
    for (size_t k = first; k < m; k++) {
        size_t i = starts[k], count = starts[k + 1] - i;
        if (errs[k] == 0) {
            bytes += resps[k].received + resps[k].skipped;
            if (count == 1)
                done[i] = resps[k].received == iov[i].len && range_answered(&resps[k], iov[i].off, iov[i].len, b->size);
            else
                judge_group(b, &resps[k], &done[i], count);
            http_response_free(&resps[k]);
        } else {
            memset(&done[i], 0, count * sizeof(*done)); /* a transfer that failed half way */
        }
    }
    registry_count(b->r, m - first, bytes);
    for (size_t i = 0; i < n && err == 0; i++)
        if (!done[i])
            err = rb_read_at(b, iov[i].buf, iov[i].len, iov[i].off);
    if (err == 0)
        soci_clear_error(); /* failures above were retried and recovered */
out:
    free(starts);
    free(done);
    free(reqs);
    free(resps);
    free(errs);
    free(urls);
    return err;
}

static void rb_close(void *ctx)
{
    struct registry_blob *b = ctx;
    soci_registry_unref(b->r);
    pthread_mutex_destroy(&b->lock);
    free(b->storage_url);
    free(b);
}

static const struct soci_blob_methods registry_blob_methods = {
    .version = SOCI_BLOB_METHODS_VERSION,
    .caps = SOCI_BLOB_CONCURRENT,
    .size = rb_size,
    .read_at = rb_read_at,
    .read_vec = rb_read_vec,
    .close = rb_close,
};

int soci_registry_open_blob(soci_registry *r, const char *ref, const char *digest, uint64_t size, soci_blob **ret)
{
    if (r == NULL || digest == NULL || strlen(digest) >= 72 || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_registry_open_blob: bad arguments");
    struct registry_blob *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return soci_fail_nomem("registry blob");
    int err = ref_parse(ref, &b->ref);
    if (err < 0) {
        free(b);
        return err;
    }
    snprintf(b->digest, sizeof(b->digest), "%s", digest);
    b->size = size;
    pthread_mutex_init(&b->lock, NULL);
    b->r = soci_registry_ref(r);
    if ((err = soci_blob_new(&registry_blob_methods, b, ret)) < 0)
        rb_close(b);
    return err;
}
