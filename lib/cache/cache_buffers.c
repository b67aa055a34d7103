/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Span-sized buffers, kept for reuse. Every span a start-up decodes goes into a new
 * buffer of about 4 MiB, and every fetch into one of up to a few MiB, while the memory
 * cache evicts a span of the same size for each one it takes in. Taken from malloc, each
 * such buffer is a fresh mapping whose every page faults on first touch: profiled on a
 * 400 MB image's learned start, 133,000 page faults, three quarters of them the decoder
 * writing into new buffers, at about 2.4 us each in this VM (2.2-3.0 ms a 4 MiB buffer,
 * against 0.06 ms to write one already mapped). So large buffers are mapped here, their
 * pages populated in one go (MAP_POPULATE, about half the cost of faulting them one by
 * one), and a buffer given back goes to a small pool the next taker of about its size
 * reuses instead (the oldest giving way when the pool is full).
 *
 * The pool is the cache's: at most BUF_POOL_SLOTS buffers and an eighth of the memory
 * cache's bound (at most BUF_POOL_MAX_BYTES), on top of that bound. Small buffers (chunks
 * of eStargz and zstd:chunked layers) come from malloc, which serves those well. Pages are
 * populated only up to BUF_POPULATE_MAX: a hostile zTOC may claim spans of up to 1 GiB
 * (ZTOC_SPAN_MAX), whose data never comes; memory for those is taken as it is written,
 * as malloc's would be.
 *
 * Every buffer starts with a header saying how it was made, so one call gives any back.
 * Under AddressSanitizer the header, the unused tail and pooled buffers are poisoned, so
 * overruns and uses after giving a buffer back are caught as with malloc's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cache/cache_internal.h"
#include "util/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define BUF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUF_ASAN 1
#endif
#endif
#ifdef BUF_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define BUF_MAP_MIN ((size_t)256 << 10)       /* smaller ones come from malloc */
#define BUF_MAP_ROUND ((size_t)64 << 10)      /* mapped sizes are multiples of this */
#define BUF_POPULATE_MAX ((size_t)16 << 20)
#define BUF_POOL_SLOTS 16
#define BUF_POOL_MAX_BYTES ((uint64_t)64 << 20)
#define BUF_HEADER 64 /* keeps the data 64-byte aligned */

struct buf_header {
    size_t cap;  /* bytes mapped or allocated, header included */
    bool mapped; /* mmap'd (else malloc'd) */
};

struct cache_buffers {
    pthread_mutex_t lock;
    uint64_t limit, bytes; /* the pool's bound and what it holds */
    size_t count;
    struct buf_header *slots[BUF_POOL_SLOTS]; /* oldest first */
};

_Static_assert(sizeof(struct buf_header) <= BUF_HEADER, "buffer header too large");

int cache_buffers_new(uint64_t memory_limit, struct cache_buffers **ret)
{
    struct cache_buffers *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return soci_fail_nomem("cache buffers");
    uint64_t limit = memory_limit / 8;
    b->limit = limit < BUF_POOL_MAX_BYTES ? limit : BUF_POOL_MAX_BYTES;
    pthread_mutex_init(&b->lock, NULL);
    *ret = b;
    return 0;
}

static void release(struct buf_header *h)
{
    UNPOISON(h, h->mapped ? h->cap : BUF_HEADER);
    if (h->mapped)
        munmap(h, h->cap);
    else
        free(h);
}

void cache_buffers_free(struct cache_buffers *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->count; i++) {
        UNPOISON(b->slots[i], BUF_HEADER);
        release(b->slots[i]);
    }
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* The data of a buffer whose header is h, n bytes of it in use. */
static uint8_t *hand_out(struct buf_header *h, size_t n)
{
    uint8_t *data = (uint8_t *)h + BUF_HEADER;
    UNPOISON(data, n);
    POISON(h, BUF_HEADER);
    return data;
}

/* A pooled buffer for n bytes: the smallest that holds them without wasting more than a
 * quarter of itself. */
static struct buf_header *from_pool(struct cache_buffers *b, size_t need)
{
    struct buf_header *h = NULL;
    pthread_mutex_lock(&b->lock);
    size_t best = b->count;
    for (size_t i = 0; i < b->count; i++) {
        size_t cap = b->slots[i]->cap; /* the header of a pooled buffer is readable (put) */
        if (cap >= need && cap - need <= cap / 4 && (best == b->count || cap < b->slots[best]->cap))
            best = i;
    }
    if (best < b->count) {
        h = b->slots[best];
        b->bytes -= h->cap;
        b->count--;
        memmove(&b->slots[best], &b->slots[best + 1], (b->count - best) * sizeof(*b->slots));
    }
    pthread_mutex_unlock(&b->lock);
    return h;
}

uint8_t *cache_buf_get(soci_cache *c, size_t n)
{
    if (n > SIZE_MAX - BUF_HEADER - BUF_MAP_ROUND)
        return NULL;
    size_t need = n + BUF_HEADER;
    struct buf_header *h;
    if (need < BUF_MAP_MIN) {
        if ((h = malloc(need)) == NULL)
            return NULL;
        *h = (struct buf_header){.cap = need, .mapped = false};
        return hand_out(h, n);
    }
    if ((h = from_pool(c->buffers, need)) != NULL) {
        UNPOISON(h, BUF_HEADER);
        return hand_out(h, n);
    }
    size_t cap = (need + BUF_MAP_ROUND - 1) / BUF_MAP_ROUND * BUF_MAP_ROUND;
    int populate = cap <= BUF_POPULATE_MAX ? MAP_POPULATE : 0;
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    h = p;
    *h = (struct buf_header){.cap = cap, .mapped = true};
    POISON((uint8_t *)p + need, cap - need);
    return hand_out(h, n);
}

void cache_buf_put(soci_cache *c, uint8_t *data)
{
    if (data == NULL)
        return;
    struct buf_header *h = (struct buf_header *)(data - BUF_HEADER);
    UNPOISON(h, BUF_HEADER);
    struct cache_buffers *b = c->buffers;
    if (!h->mapped || h->cap > b->limit) {
        release(h);
        return;
    }
    struct buf_header *old[BUF_POOL_SLOTS];
    size_t nold = 0;
    POISON(data, h->cap - BUF_HEADER); /* before another thread may take it; the header stays readable */
    pthread_mutex_lock(&b->lock);
    /* The oldest make room: the sizes given back last are the ones asked for next (the
     * prefetch's fetch buffers, say, give way to the decoder's once it runs). */
    while (b->count > 0 && (b->count == BUF_POOL_SLOTS || b->bytes + h->cap > b->limit)) {
        old[nold++] = b->slots[0];
        b->bytes -= b->slots[0]->cap;
        b->count--;
        memmove(&b->slots[0], &b->slots[1], b->count * sizeof(*b->slots));
    }
    b->slots[b->count++] = h;
    b->bytes += h->cap;
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; i < nold; i++)
        release(old[i]);
}

void cache_buf_release(uint8_t *data)
{
    if (data != NULL) {
        struct buf_header *h = (struct buf_header *)(data - BUF_HEADER);
        UNPOISON(h, BUF_HEADER);
        release(h);
    }
}
