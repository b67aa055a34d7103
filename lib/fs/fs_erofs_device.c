/* SPDX-License-Identifier: Apache-2.0 */
/* Reading a layer's EROFS data device: a read that spans files is one read of each, as a
 * reader of the layer's tree (so background fetching yields to it, and a learned
 * decode-ahead plan starts with it); the blocks' tails and the gaps are zeros. And which
 * of its blocks a learned prefetch brought, for a server to hand over before reads come. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <soci/erofs.h>

#include "format/erofs_device.h"
#include "fs/fs_internal.h"
#include "layer/layer_internal.h"
#include "util/error.h"

struct soci_erofs_device {
    soci_fs *fs;
    uint32_t layer;
    struct erofs_device_map map;
};

int soci_erofs_device_open(soci_fs *fs, uint32_t layer, soci_erofs_device **ret)
{
    if (fs == NULL || ret == NULL || layer >= fs->nlayers || fs->layers[layer] == NULL)
        return soci_fail(SOCI_EINVAL, "soci_erofs_device_open: bad arguments");
    struct soci_erofs_device *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return soci_fail_nomem("EROFS data device");
    int r = erofs_device_map(fs->ztocs[layer], &d->map);
    if (r < 0) {
        free(d);
        return r;
    }
    d->fs = fs;
    d->layer = layer;
    *ret = d;
    return 0;
}

uint64_t soci_erofs_device_size(const soci_erofs_device *d)
{
    return d ? d->map.size : 0;
}

static int64_t device_pread(soci_erofs_device *d, void *buf, size_t len, uint64_t off, bool ahead)
{
    if (off >= d->map.size || len == 0)
        return 0;
    uint64_t n = d->map.size - off < len ? d->map.size - off : len, end = off + n;
    const struct soci_ztoc *z = d->fs->ztocs[d->layer];
    memset(buf, 0, (size_t)n);
    uint32_t k = erofs_device_find_addr(&d->map, off);
    for (k = k == UINT32_MAX ? 0 : k; k < d->map.n && d->map.addr[k] < end; k++) {
        uint64_t start = d->map.addr[k], size = z->entries[d->map.entry[k]].pub.size;
        uint64_t a = off > start ? off : start, b = end < start + size ? end : start + size;
        if (b <= a)
            continue; /* off lies in the padding after this file */
        int64_t got = fs_layer_pread(d->fs, d->layer, d->map.entry[k], (uint8_t *)buf + (a - off), (size_t)(b - a),
                                     a - start, ahead);
        if (got < 0)
            return got;
        if ((uint64_t)got != b - a)
            return soci_fail(SOCI_EIO, "EROFS data device: a short read of entry %u", d->map.entry[k]);
    }
    return (int64_t)n;
}

int64_t soci_erofs_device_pread(soci_erofs_device *d, void *buf, size_t len, uint64_t off)
{
    if (d == NULL || (buf == NULL && len))
        return soci_fail(SOCI_EINVAL, "soci_erofs_device_pread: bad arguments");
    return device_pread(d, buf, len, off, true);
}

int64_t soci_erofs_device_pread_planned(soci_erofs_device *d, void *buf, size_t len, uint64_t off)
{
    if (d == NULL || (buf == NULL && len))
        return soci_fail(SOCI_EINVAL, "soci_erofs_device_pread_planned: bad arguments");
    return device_pread(d, buf, len, off, false);
}

int soci_erofs_device_missing(soci_erofs_device *d, uint64_t *ret)
{
    struct soci_image_layer info;
    if (d == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_erofs_device_missing: bad arguments");
    /* A layer fetched whole is in memory already: its spans are decoded from there. */
    if (d->fs->img && soci_image_layer(d->fs->img, d->fs->img_first + d->layer, &info, sizeof(info)) == 0 &&
        info.lazy_path == SOCI_LAZY_WHOLE) {
        *ret = 0;
        return 0;
    }
    *ret = layer_missing_spans(d->fs->layers[d->layer]);
    return 0;
}

/* Ranges grow as files are found in planned spans. */
struct planned_ranges {
    struct soci_erofs_range *v;
    size_t n, cap;
};

static int add_range(struct planned_ranges *p, uint64_t off, uint64_t end, uint32_t rank)
{
    if (end <= off)
        return 0;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        void *q = realloc(p->v, cap * sizeof(*p->v));
        if (q == NULL)
            return soci_fail_nomem("planned device ranges");
        p->v = q;
        p->cap = cap;
    }
    p->v[p->n++] = (struct soci_erofs_range){.off = off, .len = end - off, .rank = rank};
    return 0;
}

static int by_rank_then_off(const void *a, const void *b)
{
    const struct soci_erofs_range *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

static uint64_t round_up_block(uint64_t off)
{
    return (off + SOCI_EROFS_BLOCK_SIZE - 1) / SOCI_EROFS_BLOCK_SIZE * SOCI_EROFS_BLOCK_SIZE;
}

/* rank[s]: span s's place in the tree's plan, or UINT32_MAX; how many are planned. */
static size_t plan_ranks(soci_fs *fs, uint32_t layer, uint32_t *rank, uint32_t spans)
{
    size_t found = 0;
    for (uint32_t s = 0; s < spans; s++)
        rank[s] = UINT32_MAX;
    pthread_mutex_lock(&fs->bg_control);
    for (size_t k = 0; k < fs->nplanned && k < UINT32_MAX; k++) {
        const struct fs_span *p = &fs->planned[k];
        if (p->layer == layer && p->span < spans && rank[p->span] == UINT32_MAX) {
            rank[p->span] = (uint32_t)k;
            found++;
        }
    }
    pthread_mutex_unlock(&fs->bg_control);
    return found;
}

/* The blocks of file k (of the map) whose data lies in planned spans. A block partly
 * outside them would fetch, so a clipped end rounds inwards; it rounds outwards at the
 * file's own end (the block's tail is zeros) and where the next span is planned too (the
 * block straddling the two goes with the first). */
static int add_file(const soci_erofs_device *d, const struct soci_ztoc *z, uint32_t k, const uint32_t *rank,
                    struct planned_ranges *out)
{
    const struct soci_entry *e = &z->entries[d->map.entry[k]].pub;
    uint64_t start = e->offset, end = e->offset + e->size, addr = d->map.addr[k];
    uint32_t first, last;
    if (end < start || end > z->uncompressed_size || soci_ztoc_span_at(z, start, &first) < 0 ||
        soci_ztoc_span_at(z, end - 1, &last) < 0) {
        soci_clear_error();
        return 0; /* not data of the archive: nothing to hand out */
    }
    for (uint32_t s = first; s <= last; s++) {
        if (rank[s] == UINT32_MAX)
            continue;
        uint64_t co, ce, oo, oe;
        ztoc_span_ranges(z, s, &co, &ce, &oo, &oe);
        uint64_t a = start > oo ? start : oo, b = end < oe ? end : oe;
        if (b <= a)
            continue;
        bool outwards = b == end || (s < last && rank[s + 1] != UINT32_MAX);
        uint64_t from = round_up_block(addr + (a - start)), to = addr + (b - start);
        to = outwards ? round_up_block(to) : to / SOCI_EROFS_BLOCK_SIZE * SOCI_EROFS_BLOCK_SIZE;
        int r = add_range(out, from, to, rank[s]);
        if (r < 0)
            return r;
    }
    return 0;
}

int soci_erofs_device_planned(soci_erofs_device *d, struct soci_erofs_range **ret, size_t *ret_n)
{
    if (d == NULL || ret == NULL || ret_n == NULL)
        return soci_fail(SOCI_EINVAL, "soci_erofs_device_planned: bad arguments");
    *ret = NULL;
    *ret_n = 0;
    const struct soci_ztoc *z = d->fs->ztocs[d->layer];
    uint32_t spans = soci_ztoc_span_count(z);
    uint32_t *rank = malloc((spans ? spans : 1) * sizeof(*rank));
    if (rank == NULL)
        return soci_fail_nomem("planned device ranges");
    struct planned_ranges out = {0};
    int r = 0;
    if (plan_ranks(d->fs, d->layer, rank, spans) > 0)
        for (uint32_t k = 0; k < d->map.n && r == 0; k++)
            r = add_file(d, z, k, rank, &out);
    free(rank);
    if (r < 0) {
        free(out.v);
        return r;
    }
    if (out.n > 1)
        qsort(out.v, out.n, sizeof(*out.v), by_rank_then_off);
    size_t n = 0; /* blocks of one span that touch are one range */
    for (size_t k = 0; k < out.n; k++) {
        struct soci_erofs_range *prev = n ? &out.v[n - 1] : NULL;
        if (prev && prev->rank == out.v[k].rank && prev->off + prev->len == out.v[k].off)
            prev->len += out.v[k].len;
        else
            out.v[n++] = out.v[k];
    }
    if (n == 0) {
        free(out.v);
        out.v = NULL;
    }
    *ret = out.v;
    *ret_n = n;
    soci_clear_error();
    return 0;
}

void soci_erofs_device_free(soci_erofs_device *d)
{
    if (d == NULL)
        return;
    erofs_device_map_free(&d->map);
    free(d);
}
