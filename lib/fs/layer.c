/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading files out of one layer: map a file's byte range to the spans that hold it,
 * fetch their compressed ranges from the blob (adjacent spans merged into requests of a
 * few MiB, sent together), verify and decode each span, copy out.
 *
 * Until the span cache exists (cache.h), a layer remembers only the last span it decoded
 * in part, so that a reader walking a file in small chunks decodes each span once.
 * Spans wholly inside the caller's buffer are decoded straight into it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <soci/layer.h>

#include "format/ztoc_internal.h"
#include "io/blob_internal.h"
#include "util/error.h"

/* A read of many uncached spans is split into runs of at most this many compressed
 * bytes (always at least one span), bounding the memory one pread takes. */
#define MERGE_MAX ((uint64_t)32 << 20)

/* Within a run, adjacent spans are merged into requests of about this size, and the
 * requests go out together (a remote blob sends them in parallel). */
#define REQUEST_TARGET ((uint64_t)2 << 20)
#define MAX_REQUESTS 16

struct soci_layer {
    soci_blob *blob;
    const soci_ztoc *z;
    atomic_uint_fast64_t bytes_fetched, reads, spans_decoded;

    pthread_mutex_t last_lock;
    bool last_valid;
    uint32_t last_span;
    uint8_t *last_data; /* the whole of span last_span, decoded */
};

int soci_layer_open(soci_blob *blob, const soci_ztoc *z, soci_layer **ret)
{
    if (blob == NULL || z == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layer_open: bad arguments");
    if (soci_blob_size(blob) != z->compressed_size)
        return soci_fail(SOCI_EFORMAT, "layer blob is %llu bytes, its zTOC says %llu",
                         (unsigned long long)soci_blob_size(blob),
                         (unsigned long long)z->compressed_size);
    struct soci_layer *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return soci_fail_nomem("layer");
    l->blob = soci_blob_ref(blob);
    l->z = z;
    pthread_mutex_init(&l->last_lock, NULL);
    *ret = l;
    return 0;
}

void soci_layer_free(soci_layer *l)
{
    if (l == NULL)
        return;
    soci_blob_unref(l->blob);
    pthread_mutex_destroy(&l->last_lock);
    free(l->last_data);
    free(l);
}

int soci_layer_counter(const soci_layer *l, int which, uint64_t *ret)
{
    if (l == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_layer_counter: bad arguments");
    switch (which) {
    case SOCI_COUNTER_BYTES_FETCHED:
        *ret = atomic_load(&l->bytes_fetched);
        return 0;
    case SOCI_COUNTER_READS:
        *ret = atomic_load(&l->reads);
        return 0;
    case SOCI_COUNTER_SPANS_DECODED:
        *ret = atomic_load(&l->spans_decoded);
        return 0;
    default:
        return soci_fail(SOCI_EINVAL, "soci_layer_counter: unknown counter %d", which);
    }
}

/* The part of [start, end) that span s covers, as offsets into the caller's buffer and
 * into the span. */
struct piece {
    uint64_t buf_off, span_off, len;
};

static struct piece overlap(const struct soci_ztoc *z, uint32_t s, uint64_t start, uint64_t end)
{
    uint64_t co, ce, oo, oe;
    ztoc_span_ranges(z, s, &co, &ce, &oo, &oe);
    uint64_t a = start > oo ? start : oo, b = end < oe ? end : oe;
    return (struct piece){.buf_off = a - start, .span_off = a - oo, .len = b > a ? b - a : 0};
}

static bool copy_from_last(struct soci_layer *l, uint32_t s, uint8_t *buf, struct piece p)
{
    bool hit;
    pthread_mutex_lock(&l->last_lock);
    hit = l->last_valid && l->last_span == s;
    if (hit)
        memcpy(buf + p.buf_off, l->last_data + p.span_off, p.len);
    pthread_mutex_unlock(&l->last_lock);
    return hit;
}

static void remember(struct soci_layer *l, uint32_t s, uint8_t *data)
{
    pthread_mutex_lock(&l->last_lock);
    free(l->last_data);
    l->last_data = data;
    l->last_span = s;
    l->last_valid = true;
    pthread_mutex_unlock(&l->last_lock);
}

/* Fetch spans [first, last] in one blob read, decode each and copy its piece out. */
static int fetch_and_decode(struct soci_layer *l, uint32_t first, uint32_t last, uint8_t *buf,
                            uint64_t start, uint64_t end)
{
    const struct soci_ztoc *z = l->z;
    uint64_t base, ignore, run_end;
    ztoc_span_ranges(z, first, &base, &ignore, &ignore, &ignore);
    ztoc_span_ranges(z, last, &ignore, &run_end, &ignore, &ignore);

    size_t comp_len = (size_t)(run_end - base);
    uint8_t *comp = malloc(comp_len ? comp_len : 1);
    if (comp == NULL)
        return soci_fail_nomem("compressed spans");
    /* Cut the run at span starts into requests of about REQUEST_TARGET bytes. */
    struct soci_iov_at iov[MAX_REQUESTS];
    size_t nreq = 0;
    uint64_t req_start = base;
    for (uint32_t s = first; s <= last; s++) {
        uint64_t co, ce, oo, oe;
        ztoc_span_ranges(z, s, &co, &ce, &oo, &oe);
        bool cut = s > first && co > req_start && co - req_start >= REQUEST_TARGET && nreq + 1 < MAX_REQUESTS;
        if (cut) {
            iov[nreq++] = (struct soci_iov_at){comp + (req_start - base), (size_t)(co - req_start), req_start};
            req_start = co;
        }
    }
    iov[nreq++] = (struct soci_iov_at){comp + (req_start - base), (size_t)(run_end - req_start), req_start};
    atomic_fetch_add(&l->reads, nreq);
    atomic_fetch_add(&l->bytes_fetched, comp_len);
    int r = blob_read_vec(l->blob, iov, nreq);
    if (r < 0) {
        soci_fail_prefix(r, "spans %u-%u", first, last);
        goto out;
    }

    for (uint32_t s = first; s <= last && r >= 0; s++) {
        uint64_t co, ce, oo, oe;
        ztoc_span_ranges(z, s, &co, &ce, &oo, &oe);
        struct piece p = overlap(z, s, start, end);
        size_t span_len = (size_t)(oe - oo);
        bool whole = p.len == span_len;
        uint8_t *out = whole ? buf + p.buf_off : malloc(span_len ? span_len : 1);
        if (out == NULL) {
            r = soci_fail_nomem("span");
            break;
        }
        int64_t n = soci_ztoc_decode_span(z, s, comp + (co - base), (size_t)(ce - co), out, span_len);
        if (n < 0) {
            r = (int)n;
            if (!whole)
                free(out);
            break;
        }
        atomic_fetch_add(&l->spans_decoded, 1);
        if (!whole) {
            memcpy(buf + p.buf_off, out + p.span_off, p.len);
            remember(l, s, out);
        }
    }
out:
    free(comp);
    return r;
}

int64_t soci_layer_pread(soci_layer *l, uint32_t entry, void *buf, size_t len, uint64_t off)
{
    uint32_t target, first, last;
    int r;

    if (l == NULL || (buf == NULL && len))
        return soci_fail(SOCI_EINVAL, "soci_layer_pread: bad arguments");
    const struct soci_ztoc *z = l->z;
    if ((r = soci_ztoc_resolve(z, entry, &target)) < 0)
        return r;
    const struct soci_entry *e = &z->entries[target].pub;
    if (e->type == SOCI_TYPE_DIR)
        return soci_fail(SOCI_EISDIR, "\"%s\" is a directory", e->name);
    if (e->type != SOCI_TYPE_REG)
        return soci_fail(SOCI_EINVAL, "\"%s\" is not a regular file", e->name);
    if (off >= e->size || len == 0)
        return 0;
    uint64_t n = e->size - off < len ? e->size - off : len;
    uint64_t start = e->offset + off, end = start + n;

    if ((r = soci_ztoc_span_at(z, start, &first)) < 0 || (r = soci_ztoc_span_at(z, end - 1, &last)) < 0)
        return r;

    for (uint32_t s = first; s <= last;) {
        struct piece p = overlap(z, s, start, end);
        if (p.len == 0 || copy_from_last(l, s, buf, p)) {
            s++;
            continue;
        }
        /* Extend the run over following spans that also need fetching. */
        uint32_t run_last = s;
        uint64_t base, ignore, ce;
        ztoc_span_ranges(z, s, &base, &ignore, &ignore, &ignore);
        while (run_last < last) {
            ztoc_span_ranges(z, run_last + 1, &ignore, &ce, &ignore, &ignore);
            if (ce - base > MERGE_MAX)
                break;
            run_last++;
        }
        if ((r = fetch_and_decode(l, s, run_last, buf, start, end)) < 0)
            return soci_fail_prefix(r, "\"%s\"", e->name);
        s = run_last + 1;
    }
    return (int64_t)n;
}
