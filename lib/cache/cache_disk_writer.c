/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Spans go to the disk store behind the reader: cache_disk_put_span queues a copy and a
 * thread of the store's writes it, so a reader that fetched a span does not also wait
 * for a file to be made (profiled: a start-up from an eStargz image stored 2,400 chunks
 * on its readers' path, about 5 s of file creation on this machine's disk). While queued,
 * a span is found by cache_disk_has_span and cache_disk_get_span as if written. Fetchers
 * no reader waits on (prefetch, background fetching: layer_store_spans) write in their own
 * thread instead (cache_disk_store_span): a queued copy of every span they fetch cost a
 * learned 400 MB start-up a fifth of its mount time on a 2-core machine. The queue
 * holds at most PENDING_MAX bytes; past that a put writes in the caller, which slows a
 * producer down to the disk's pace rather than dropping what it fetched. Closing the store
 * writes what is queued first.
 *
 * Forks: a daemon fills the cache before it forks (soci-mount fetches prefetch artifacts
 * first), and only the forking thread lives on in the child, with every lock as it was.
 * pthread_atfork handlers hold each store's write lock (so no write, and none of the
 * store's own locks it takes, is under way) and queue lock across fork(), and in the
 * child mark the writer gone and remake its condition variable: the next put starts one,
 * which writes what the parent had queued (written by both, the same bytes are renamed
 * into place twice: harmless).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache_disk_internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"

#define PENDING_MAX ((uint64_t)64 << 20)

struct pending {
    struct pending *next;
    char layer_hex[65], span_hex[97];
    size_t len;
    uint8_t data[];
};

/* Every open store's writer, for the fork handlers. */
static pthread_mutex_t writers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct disk_writer *writers;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
    pthread_mutex_lock(&writers_lock);
    for (struct disk_writer *w = writers; w; w = w->next_writer) {
        pthread_mutex_lock(&w->writing);
        pthread_mutex_lock(&w->lock);
    }
}

static void after_fork_parent(void)
{
    for (struct disk_writer *w = writers; w; w = w->next_writer) {
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->writing);
    }
    pthread_mutex_unlock(&writers_lock);
}

static void after_fork_child(void)
{
    for (struct disk_writer *w = writers; w; w = w->next_writer) {
        w->running = false; /* its thread stayed in the parent */
        /* The condition variable still counts that thread as waiting on it (glibc's would
         * then block the next signal for good): made anew, as nothing waits here. */
        pthread_cond_init(&w->wake, NULL);
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->writing);
    }
    pthread_mutex_unlock(&writers_lock);
}

static void register_atfork(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

void disk_writer_init(struct disk_writer *w, soci_cache *c)
{
    memset(w, 0, sizeof(*w));
    w->cache = c;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->writing, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&writers_lock);
    w->next_writer = writers;
    writers = w;
    pthread_mutex_unlock(&writers_lock);
}

static void *writer_main(void *arg)
{
    struct disk_writer *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->head == NULL && !w->stop)
            pthread_cond_wait(&w->wake, &w->lock);
        struct pending *p = w->head;
        if (p == NULL)
            break; /* stopping, and nothing left */
        pthread_mutex_unlock(&w->lock);
        /* Written while still queued, so lookups find it in one place or the other; never
         * holding both locks (the fork handler takes writing, then lock). */
        pthread_mutex_lock(&w->writing);
        cache_disk_write_span(w->cache, p->layer_hex, p->span_hex, p->data, p->len);
        pthread_mutex_unlock(&w->writing);
        pthread_mutex_lock(&w->lock);
        w->head = p->next;
        if (w->head == NULL)
            w->tail = NULL;
        w->bytes -= p->len;
        free(p);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

void disk_writer_put(struct disk_writer *w, const char *layer_hex, const char *span_hex, const void *data,
                     size_t len)
{
    struct pending *p = malloc(sizeof(*p) + len);
    pthread_mutex_lock(&w->lock);
    bool queue = p != NULL && w->bytes + len <= PENDING_MAX && !w->stop;
    if (queue && !w->running) {
        w->running = thread_start(&w->thread, writer_main, w) == 0;
        queue = w->running;
    }
    if (queue) {
        snprintf(p->layer_hex, sizeof(p->layer_hex), "%s", layer_hex);
        snprintf(p->span_hex, sizeof(p->span_hex), "%s", span_hex);
        p->len = len;
        memcpy(p->data, data, len);
        p->next = NULL;
        if (w->tail)
            w->tail->next = p;
        else
            w->head = p;
        w->tail = p;
        w->bytes += len;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    if (!queue) {
        free(p);
        disk_writer_write_now(w, layer_hex, span_hex, data, len);
    }
}

void disk_writer_write_now(struct disk_writer *w, const char *layer_hex, const char *span_hex, const void *data,
                           size_t len)
{
    pthread_mutex_lock(&w->writing);
    cache_disk_write_span(w->cache, layer_hex, span_hex, data, len);
    pthread_mutex_unlock(&w->writing);
}

/* The queued entry of a span, with w->lock held; NULL if none. */
static const struct pending *find(const struct disk_writer *w, const char *layer_hex, const char *span_hex)
{
    for (const struct pending *p = w->head; p; p = p->next)
        if (strcmp(p->span_hex, span_hex) == 0 && strcmp(p->layer_hex, layer_hex) == 0)
            return p;
    return NULL;
}

int disk_writer_get(struct disk_writer *w, const char *layer_hex, const char *span_hex, uint64_t max, uint8_t **ret,
                    size_t *len)
{
    int found = 0;
    pthread_mutex_lock(&w->lock);
    const struct pending *p = find(w, layer_hex, span_hex);
    if (p != NULL && p->len <= max && (*ret = cache_buf_get(w->cache, p->len)) != NULL) {
        memcpy(*ret, p->data, p->len);
        *len = p->len;
        found = 1;
    }
    pthread_mutex_unlock(&w->lock);
    return found;
}

bool disk_writer_has(struct disk_writer *w, const char *layer_hex, const char *span_hex)
{
    pthread_mutex_lock(&w->lock);
    bool found = find(w, layer_hex, span_hex) != NULL;
    pthread_mutex_unlock(&w->lock);
    return found;
}

void disk_writer_close(struct disk_writer *w)
{
    pthread_mutex_lock(&writers_lock);
    for (struct disk_writer **pp = &writers; *pp; pp = &(*pp)->next_writer) {
        if (*pp == w) {
            *pp = w->next_writer;
            break;
        }
    }
    pthread_mutex_unlock(&writers_lock);
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    bool running = w->running;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (running)
        pthread_join(w->thread, NULL);
    /* A writer that never ran (or a child's inherited queue, when none was started). */
    for (struct pending *p = w->head, *next; p; p = next) {
        next = p->next;
        cache_disk_write_span(w->cache, p->layer_hex, p->span_hex, p->data, p->len);
        free(p);
    }
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->writing);
}
