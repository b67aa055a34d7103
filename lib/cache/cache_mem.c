/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoded spans in memory: a hash table of (layer, span) with an LRU list, bounded in
 * bytes, and single-flight loading — a span being loaded is in the table in the LOADING
 * state, so later readers wait for that load instead of starting their own.
 *
 * One mutex guards it all: every operation under it is a few pointer moves, while the
 * work it coordinates (fetching, inflating) happens outside it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_internal.h"
#include "util/error.h"

enum span_state { LOADING, READY, FAILED };

struct cache_span {
    uint64_t layer;
    uint32_t span;
    enum span_state state;
    int pins;
    uint8_t *data;
    size_t len;
    int err;             /* FAILED: the loader's code */
    char msg[256];       /* and its message */
    struct cache_span *hnext;         /* hash chain (while in the table) */
    struct cache_span *older, *newer; /* LRU list (READY spans in the table) */
};

struct cache_mem {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a load finished (filled or failed) */
    struct cache_span **buckets;
    size_t nbuckets, count;
    struct cache_span *newest, *oldest;
    uint64_t bytes, limit;
};

int cache_mem_new(uint64_t limit, struct cache_mem **ret)
{
    struct cache_mem *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->buckets = calloc(1024, sizeof(*m->buckets))) == NULL) {
        free(m);
        return soci_fail_nomem("span cache");
    }
    m->nbuckets = 1024;
    m->limit = limit;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->changed, NULL);
    *ret = m;
    return 0;
}

void cache_mem_free(struct cache_mem *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        for (struct cache_span *s = m->buckets[i], *next; s; s = next) {
            next = s->hnext;
            cache_buf_release(s->data);
            free(s);
        }
    }
    free(m->buckets);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->changed);
    free(m);
}

static size_t bucket_of(const struct cache_mem *m, uint64_t layer, uint32_t span)
{
    uint64_t h = (layer * 0x9E3779B97F4A7C15u) ^ (span * 0xC2B2AE3D27D4EB4Fu);
    return (size_t)((h ^ (h >> 29)) & (m->nbuckets - 1));
}

static struct cache_span *find(const struct cache_mem *m, uint64_t layer, uint32_t span)
{
    for (struct cache_span *s = m->buckets[bucket_of(m, layer, span)]; s; s = s->hnext)
        if (s->layer == layer && s->span == span)
            return s;
    return NULL;
}

/* Double the table when it grows past one span per bucket; on failure keep the old one. */
static void maybe_grow(struct cache_mem *m)
{
    if (m->count < m->nbuckets)
        return;
    size_t old_n = m->nbuckets;
    struct cache_span **old = m->buckets, **fresh = calloc(old_n * 2, sizeof(*fresh));
    if (fresh == NULL)
        return;
    m->buckets = fresh;
    m->nbuckets = old_n * 2;
    for (size_t i = 0; i < old_n; i++) {
        for (struct cache_span *s = old[i], *next; s; s = next) {
            next = s->hnext;
            size_t b = bucket_of(m, s->layer, s->span);
            s->hnext = fresh[b];
            fresh[b] = s;
        }
    }
    free(old);
}

static void unhash(struct cache_mem *m, struct cache_span *s)
{
    struct cache_span **p = &m->buckets[bucket_of(m, s->layer, s->span)];
    while (*p != s)
        p = &(*p)->hnext;
    *p = s->hnext;
    m->count--;
}

static void lru_unlink(struct cache_mem *m, struct cache_span *s)
{
    if (s->older)
        s->older->newer = s->newer;
    else
        m->oldest = s->newer;
    if (s->newer)
        s->newer->older = s->older;
    else
        m->newest = s->older;
    s->older = s->newer = NULL;
}

static void lru_push_newest(struct cache_mem *m, struct cache_span *s)
{
    s->older = m->newest;
    s->newer = NULL;
    if (m->newest)
        m->newest->newer = s;
    else
        m->oldest = s;
    m->newest = s;
}

/* Drop the least recently used unpinned spans until the cache fits its bound. */
static void evict(soci_cache *c, struct cache_mem *m)
{
    struct cache_span *s = m->oldest;
    while (m->bytes > m->limit && s) {
        struct cache_span *next = s->newer;
        if (s->pins == 0) {
            lru_unlink(m, s);
            unhash(m, s);
            m->bytes -= s->len;
            cache_buf_put(c, s->data);
            free(s);
            atomic_fetch_add(&c->evictions, 1);
        }
        s = next;
    }
}

int cache_acquire(soci_cache *c, uint64_t layer, uint32_t span, struct cache_span **ret)
{
    struct cache_mem *m = c->mem;
    int state;
    pthread_mutex_lock(&m->lock);
    struct cache_span *s = find(m, layer, span);
    if (s) {
        s->pins++;
        if (s->state == READY) {
            lru_unlink(m, s);
            lru_push_newest(m, s);
            state = CACHE_HIT;
        } else {
            state = CACHE_BUSY;
        }
    } else if ((s = calloc(1, sizeof(*s))) != NULL) {
        s->layer = layer;
        s->span = span;
        s->state = LOADING;
        s->pins = 1;
        maybe_grow(m);
        size_t b = bucket_of(m, layer, span);
        s->hnext = m->buckets[b];
        m->buckets[b] = s;
        m->count++;
        state = CACHE_LOAD;
    } else {
        state = soci_fail_nomem("cached span");
    }
    pthread_mutex_unlock(&m->lock);
    if (state >= 0)
        *ret = s;
    return state;
}

int cache_wait(soci_cache *c, struct cache_span *s)
{
    struct cache_mem *m = c->mem;
    int r = 0;
    pthread_mutex_lock(&m->lock);
    while (s->state == LOADING)
        pthread_cond_wait(&m->changed, &m->lock);
    if (s->state == FAILED)
        r = soci_fail(s->err, "%s", s->msg);
    pthread_mutex_unlock(&m->lock);
    return r;
}

void cache_fill(soci_cache *c, struct cache_span *s, uint8_t *data, size_t len)
{
    struct cache_mem *m = c->mem;
    pthread_mutex_lock(&m->lock);
    s->data = data;
    s->len = len;
    s->state = READY;
    m->bytes += len;
    lru_push_newest(m, s);
    evict(c, m);
    pthread_cond_broadcast(&m->changed);
    pthread_mutex_unlock(&m->lock);
}

void cache_fail(soci_cache *c, struct cache_span *s, int code)
{
    struct cache_mem *m = c->mem;
    const char *msg = soci_last_error();
    pthread_mutex_lock(&m->lock);
    s->state = FAILED;
    s->err = code < 0 ? code : SOCI_EIO;
    snprintf(s->msg, sizeof(s->msg), "%s", msg ? msg : soci_strerror(s->err));
    unhash(m, s);
    pthread_cond_broadcast(&m->changed);
    pthread_mutex_unlock(&m->lock);
}

void cache_release(soci_cache *c, struct cache_span *s)
{
    struct cache_mem *m = c->mem;
    bool free_it;
    pthread_mutex_lock(&m->lock);
    s->pins--;
    /* A failed span left the table: the last waiter to let go frees it. A ready one
     * stays for later readers, unless the cache was over its bound only because of pins. */
    free_it = s->state == FAILED && s->pins == 0;
    if (s->state == READY && s->pins == 0 && m->bytes > m->limit)
        evict(c, m);
    pthread_mutex_unlock(&m->lock);
    if (free_it) {
        cache_buf_put(c, s->data);
        free(s);
    }
}

const uint8_t *cache_span_data(const struct cache_span *s)
{
    return s->data;
}

size_t cache_span_len(const struct cache_span *s)
{
    return s->len;
}

bool cache_mem_has(soci_cache *c, uint64_t layer, uint32_t span)
{
    struct cache_mem *m = c->mem;
    pthread_mutex_lock(&m->lock);
    const struct cache_span *s = find(m, layer, span);
    bool ready = s && s->state == READY;
    pthread_mutex_unlock(&m->lock);
    return ready;
}

uint64_t cache_mem_limit(const soci_cache *c)
{
    return c->mem->limit; /* set once, at creation */
}
