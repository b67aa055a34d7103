/* SPDX-License-Identifier: Apache-2.0 */
/* The disk store's parts: the files (cache_disk.c) and the writer behind readers
 * (cache_disk_writer.c). */
#ifndef SOCI_CACHE_DISK_INTERNAL_H
#define SOCI_CACHE_DISK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "cache/cache_internal.h"

struct pending;

struct disk_writer {
    soci_cache *cache;
    pthread_mutex_t lock;    /* the queue */
    pthread_mutex_t writing; /* held by the thread while it writes an entry */
    pthread_cond_t wake;
    struct pending *head, *tail; /* spans to write, oldest first */
    uint64_t bytes;              /* their bytes */
    bool running, stop;
    pthread_t thread;
    struct disk_writer *next_writer; /* the list the fork handlers walk */
};

void disk_writer_init(struct disk_writer *w, soci_cache *c);
/* Queue a span for writing (a copy), or write it now when the queue is full. */
void disk_writer_put(struct disk_writer *w, const char *layer_hex, const char *span_hex, const void *data,
                     size_t len);
/* Write a span in the caller, as the writer's thread would (under its lock, for fork). */
void disk_writer_write_now(struct disk_writer *w, const char *layer_hex, const char *span_hex, const void *data,
                           size_t len);
/* A queued span: as cache_disk_get_span, and cache_disk_has_span. */
int disk_writer_get(struct disk_writer *w, const char *layer_hex, const char *span_hex, uint64_t max, uint8_t **ret,
                    size_t *len);
bool disk_writer_has(struct disk_writer *w, const char *layer_hex, const char *span_hex);
/* Write what is queued, stop the thread. */
void disk_writer_close(struct disk_writer *w);

/* Write a span's file now (cache_disk.c). */
void cache_disk_write_span(soci_cache *c, const char *layer_hex, const char *span_hex, const void *data, size_t len);

#endif
