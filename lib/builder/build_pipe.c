/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pipe between the two halves of a build (see build_internal.h): a bounded queue of
 * messages and two small pools of buffers, shared under one mutex. With two threads the
 * indexing half runs on a worker started here; with one, posting a message handles it
 * at once. The worker's failure is carried back to the caller's thread with its message
 * (error details are thread-local).
 *
 * Nothing can deadlock: the reader waits only for queue space or a free buffer, and the
 * worker frees both as it drains the queue; a chunk it still hashes from is freed when
 * the next chunk's message arrives, which needs no buffer the reader is waiting for.
 *
 * A build from a blob (random access, thread-safe by contract) also has the worker read
 * the input ahead, between messages, into free input buffers: the reader then only
 * inflates. A caller's read function is never called from the worker.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "builder/build_internal.h"
#include "util/error.h"
#include "util/thread.h"

#define QUEUE_LEN 64
/* Waking a sleeping thread is a system call (a costly one under some hypervisors), and
 * the worker keeps up easily: the reader wakes it only once this much is queued, or
 * half of a pool's buffers are, or before it would wait itself. */
#define WAKE_QUEUED (QUEUE_LEN / 4)
#define ERROR_MAX 1024

/* Buffers are allocated when first needed (a small layer needs one or two of each). */
struct pool {
    uint8_t *all[BUILD_POOL];
    uint8_t *free[BUILD_POOL];
    int nall, nfree;
};

/* An input chunk the worker read ahead from the blob: its bytes, or the read's failure. */
struct ahead {
    uint8_t *buf;
    size_t len;
    int err;
};

struct build_pipe {
    pthread_mutex_t lock;
    pthread_cond_t worker_wake; /* a message, or the end */
    pthread_cond_t reader_wake; /* queue space, a free buffer, or the worker's failure */
    struct build_msg queue[QUEUE_LEN];
    size_t head, count;
    struct pool pools[2];
    bool threaded, closed;
    int threads; /* as many as the build may use */
    int failed; /* the worker's error code, 0 while it is well */
    char error[ERROR_MAX];
    pthread_t worker;
    /* Reading ahead (blob builds): the next offset to read, chunks read and not taken. */
    bool reading_ahead;
    uint64_t ahead_off, blob_size;
    struct ahead ahead[BUILD_POOL];
    size_t ahead_head, ahead_count;
    char ahead_error[ERROR_MAX];
};


static const size_t pool_size[2] = {BUILD_CHUNK, BUILD_OUT_CHUNK};

/* Called with the lock held: a free buffer of the pool (allocated while the pool is not
 * full), or NULL when every buffer is out or memory is. */
static uint8_t *take_buffer(struct build_pipe *p, enum build_pool pool)
{
    struct pool *pl = &p->pools[pool];
    if (pl->nfree > 0)
        return pl->free[--pl->nfree];
    if (pl->nall < BUILD_POOL && (pl->all[pl->nall] = malloc(pool_size[pool])) != NULL)
        return pl->all[pl->nall++];
    return NULL;
}

/* Called by the worker with the lock held: is there input to read ahead, and room? */
static bool can_read_ahead(const struct build_pipe *p)
{
    const struct pool *pl = &p->pools[BUILD_POOL_INPUT];
    return p->reading_ahead && p->ahead_off < p->blob_size && p->ahead_count < BUILD_POOL &&
           (pl->nfree > 0 || pl->nall < BUILD_POOL);
}

/* Read the next chunk of the blob into a free buffer (the lock held, dropped meanwhile). */
static void read_ahead(struct build *b, struct build_pipe *p)
{
    uint8_t *buf = take_buffer(p, BUILD_POOL_INPUT);
    if (buf == NULL) { /* out of memory: the reader fails there, as it would have itself */
        snprintf(p->ahead_error, sizeof(p->ahead_error), "out of memory allocating build buffer");
        p->ahead_off = p->blob_size;
        p->ahead[(p->ahead_head + p->ahead_count++) % BUILD_POOL] = (struct ahead){NULL, 0, SOCI_ENOMEM};
        pthread_cond_signal(&p->reader_wake);
        return;
    }
    uint64_t off = p->ahead_off, left = p->blob_size - off;
    size_t len = left < BUILD_CHUNK ? (size_t)left : BUILD_CHUNK;
    p->ahead_off += len;
    pthread_mutex_unlock(&p->lock);
    int r = soci_blob_read_at(b->blob, buf, len, off);
    pthread_mutex_lock(&p->lock);
    if (r < 0) {
        snprintf(p->ahead_error, sizeof(p->ahead_error), "%s", soci_last_error());
        p->ahead_off = p->blob_size; /* nothing more after a failure */
    }
    p->ahead[(p->ahead_head + p->ahead_count++) % BUILD_POOL] = (struct ahead){buf, len, r < 0 ? r : 0};
    pthread_cond_signal(&p->reader_wake);
}

static void *worker_main(void *arg)
{
    struct build *b = arg;
    struct build_pipe *p = b->pipe;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->count == 0 && !p->closed && !can_read_ahead(p))
            pthread_cond_wait(&p->worker_wake, &p->lock);
        if (p->count == 0 && p->closed)
            break;
        if (p->count == 0) {
            read_ahead(b, p);
            continue;
        }
        struct build_msg m = p->queue[p->head];
        pthread_mutex_unlock(&p->lock);
        int r = build_sink_handle(b, &m);
        pthread_mutex_lock(&p->lock);
        p->head = (p->head + 1) % QUEUE_LEN;
        p->count--;
        if (r < 0) {
            p->failed = r;
            snprintf(p->error, sizeof(p->error), "%s", soci_last_error());
            pthread_cond_signal(&p->reader_wake);
            break;
        }
        pthread_cond_signal(&p->reader_wake);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Called by the reader with the lock held: does the worker have enough to do to be woken? */
static bool worth_waking(const struct build_pipe *p)
{
    for (int k = 0; k < 2; k++) {
        /* Buffers on their way to the worker (chunks it read ahead are not). */
        int sent = p->pools[k].nall - p->pools[k].nfree - (k == BUILD_POOL_INPUT ? (int)p->ahead_count : 0);
        if (sent >= BUILD_POOL / 2)
            return true;
    }
    return p->count >= WAKE_QUEUED;
}

/* The reader is about to wait for the worker: make sure it is awake. */
static void wait_for_worker(struct build_pipe *p)
{
    pthread_cond_signal(&p->worker_wake);
    pthread_cond_wait(&p->reader_wake, &p->lock);
}

/* The worker's failure, raised again on the reader's thread. */
static int worker_failure(struct build_pipe *p)
{
    return soci_fail(p->failed, "%s", p->error);
}

/* Two when this process may run on two CPUs (its affinity mask, which a container's
 * cpuset narrows, not the machine's count). */
static int default_threads(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        return CPU_COUNT(&set) >= 2 ? 2 : 1;
    return sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;
}

int build_pipe_start(struct build *b, int threads)
{
    struct build_pipe *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return soci_fail_nomem("build pipe");
    b->pipe = p;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->worker_wake, NULL);
    pthread_cond_init(&p->reader_wake, NULL);
    p->threads = threads == 0 ? default_threads() : threads;
    return 0;
}

void build_pipe_spawn(struct build *b)
{
    struct build_pipe *p = b->pipe;
    if (p->threads < 2 || p->threaded)
        return;
    if (b->blob != NULL) {
        p->reading_ahead = true;
        p->ahead_off = b->chunk_start;
        p->blob_size = soci_blob_size(b->blob);
    }
    /* Not another thread to be had (a limit): the build goes on with this one. */
    p->threaded = thread_start(&p->worker, worker_main, b) == 0;
    if (!p->threaded)
        p->reading_ahead = false;
}

int build_pipe_buffer(struct build *b, enum build_pool pool, uint8_t **ret)
{
    struct build_pipe *p = b->pipe;
    struct pool *pl = &p->pools[pool];
    int r = 0;
    pthread_mutex_lock(&p->lock);
    while (pl->nfree == 0 && pl->nall == BUILD_POOL && !p->failed && p->threaded)
        wait_for_worker(p);
    if (p->failed)
        r = worker_failure(p);
    else if ((*ret = take_buffer(p, pool)) == NULL) /* with one thread only a bug holds them all */
        r = pl->nall == BUILD_POOL ? soci_fail(SOCI_EINVAL, "build: no free buffer") : soci_fail_nomem("build buffer");
    pthread_mutex_unlock(&p->lock);
    return r;
}

/* Set before the worker starts and never changed while it runs: no lock needed. */
bool build_pipe_reads_ahead(const struct build *b)
{
    return b->pipe->reading_ahead;
}

int build_pipe_next_input(struct build *b, uint8_t **buf, size_t *len)
{
    struct build_pipe *p = b->pipe;
    int r = 0;
    pthread_mutex_lock(&p->lock);
    while (p->ahead_count == 0 && !p->failed)
        wait_for_worker(p);
    if (p->ahead_count > 0) { /* what was read comes first, even after a failure behind it */
        struct ahead a = p->ahead[p->ahead_head];
        p->ahead_head = (p->ahead_head + 1) % BUILD_POOL;
        p->ahead_count--;
        *buf = a.buf;
        *len = a.len;
        if (a.err < 0) {
            r = soci_fail(a.err, "%s", p->ahead_error);
            if (a.buf != NULL)
                p->pools[BUILD_POOL_INPUT].free[p->pools[BUILD_POOL_INPUT].nfree++] = a.buf;
        }
        /* Wake the worker to read more only once it has run low: one wake-up per batch. */
        if (p->ahead_count <= BUILD_POOL / 4)
            pthread_cond_signal(&p->worker_wake);
    } else {
        r = worker_failure(p);
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

void build_pipe_release(struct build *b, uint8_t *buf)
{
    struct build_pipe *p = b->pipe;
    pthread_mutex_lock(&p->lock);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < p->pools[k].nall; i++)
            if (p->pools[k].all[i] == buf)
                p->pools[k].free[p->pools[k].nfree++] = buf;
    pthread_cond_signal(&p->reader_wake);
    pthread_mutex_unlock(&p->lock);
}

int build_pipe_post(struct build *b, const struct build_msg *m)
{
    struct build_pipe *p = b->pipe;
    if (!p->threaded)
        return build_sink_handle(b, m);
    int r = 0;
    pthread_mutex_lock(&p->lock);
    while (p->count == QUEUE_LEN && !p->failed)
        wait_for_worker(p);
    if (p->failed) {
        r = worker_failure(p);
    } else {
        p->queue[(p->head + p->count) % QUEUE_LEN] = *m;
        p->count++;
        if (worth_waking(p))
            pthread_cond_signal(&p->worker_wake);
    }
    pthread_mutex_unlock(&p->lock);
    return r;
}

int build_pipe_finish(struct build *b, int r)
{
    struct build_pipe *p = b->pipe;
    if (p == NULL || !p->threaded)
        return r;
    /* Let the worker drain what is queued even after the reader failed: a failure it
     * meets there lies earlier in the stream, and is the one a single thread reports. */
    pthread_mutex_lock(&p->lock);
    p->closed = true;
    pthread_cond_signal(&p->worker_wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->worker, NULL);
    p->threaded = p->reading_ahead = false;
    p->threads = 1;
    return p->failed ? worker_failure(p) : r;
}

void build_pipe_free(struct build *b)
{
    struct build_pipe *p = b->pipe;
    if (p == NULL)
        return;
    build_pipe_finish(b, 0);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < p->pools[k].nall; i++)
            free(p->pools[k].all[i]);
    pthread_cond_destroy(&p->worker_wake);
    pthread_cond_destroy(&p->reader_wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
    b->pipe = NULL;
}
