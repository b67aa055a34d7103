/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Handing a learned start's data to the kernel before it asks. A learned prefetch has the
 * spans a start-up reads local before the mount serves, yet the kernel still asked for
 * every block of them through the layer's FUSE data device, a round trip each (about
 * 1,900 for the benchmark's scientific-Python start). Profiled there, a start whose device
 * pages were already cached ran in 0.8-0.9 s against 1.4-1.6 s for one whose blocks came
 * through FUSE from memory: on two shared vCPUs each round trip costs two cross-CPU
 * wake-ups.
 *
 * So once the EROFS mounts hold the device files open, a thread writes the planned blocks
 * (soci_erofs_device_planned) into those files' page cache with FUSE's store notification,
 * in the plan's order: what the start needs first goes first, and the kernel then reads
 * them without asking. A block read before the thread gets to it is read as before, and
 * storing it later changes nothing (the same bytes). The data are read through libsoci, so
 * every span is verified before it is handed over, as for a read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_common.h"

#define PUSH_STEP ((size_t)1 << 20) /* bytes a store notification carries at most */
/* A plan can name far more than a start reads (an artifact written by hand, listing whole
 * directories): pages handed over beyond a quarter of the memory available would push
 * out what the start already read, and each other. What is past that is left for reads. */
#define PUSH_SHARE_OF_AVAILABLE 4
#define PUSH_BUDGET_UNKNOWN ((uint64_t)1 << 30)

struct push_range {
    uint32_t layer;
    struct soci_erofs_range r;
};

struct device_push {
    struct device_files *df;
    struct push_range *ranges;
    size_t n;
    pthread_t thread;
    atomic_bool stop;
};

static int by_rank(const void *a, const void *b)
{
    const struct push_range *x = a, *y = b;
    if (x->r.rank != y->r.rank)
        return x->r.rank < y->r.rank ? -1 : 1;
    return x->r.off < y->r.off ? -1 : x->r.off > y->r.off;
}

/* The planned ranges of layers [first, end) in one order. 0, or -1 (out of memory, logged). */
static int gather(struct device_push *p, uint32_t first, uint32_t end)
{
    uint32_t count = atomic_load(&p->df->count);
    for (uint32_t i = first; i < end && i < count; i++) {
        struct soci_erofs_range *v;
        size_t n;
        if (p->df->devices[i] == NULL || soci_erofs_device_planned(p->df->devices[i], &v, &n) < 0 || n == 0)
            continue;
        void *q = realloc(p->ranges, (p->n + n) * sizeof(*p->ranges));
        if (q == NULL) {
            soci_free(v);
            daemon_log(SOCI_LOG_WARNING, "planned data: out of memory");
            return -1;
        }
        p->ranges = q;
        for (size_t k = 0; k < n; k++)
            p->ranges[p->n++] = (struct push_range){i, v[k]};
        soci_free(v);
    }
    if (p->n > 1)
        qsort(p->ranges, p->n, sizeof(*p->ranges), by_rank);
    return 0;
}

/* Store len bytes at off of layer i's file. 0, or the negative errno FUSE answered. */
static int store(struct device_files *df, uint32_t i, uint64_t off, void *buf, size_t len)
{
    struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
    bv.buf[0].mem = buf;
    return fuse_lowlevel_notify_store(df->se, device_files_inode(i), (off_t)off, &bv, 0);
}

/* MemAvailable / PUSH_SHARE_OF_AVAILABLE, or PUSH_BUDGET_UNKNOWN without /proc/meminfo. */
static uint64_t push_budget(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    unsigned long long kb = 0;
    char line[128];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb ? (uint64_t)kb * 1024 / PUSH_SHARE_OF_AVAILABLE : PUSH_BUDGET_UNKNOWN;
}

static void *push_main(void *arg)
{
    struct device_push *p = arg;
    struct device_files *df = p->df;
    uint32_t count = atomic_load(&df->count);
    /* Per layer: 0 not tried, 1 the kernel holds its file, -1 it does not (a layer
     * mounted over its decoded copy never opened it): the kernel takes pages only for a
     * file it knows, and a zero-byte store asks whether it does. */
    signed char *known = calloc(count ? count : 1, 1);
    void *buf = malloc(PUSH_STEP);
    uint64_t bytes = 0, t = fuse_stats_now(), budget = push_budget();
    for (size_t k = 0; known && buf && k < p->n && !atomic_load(&p->stop); k++) {
        if (bytes >= budget) {
            daemon_log(SOCI_LOG_INFO, "planned data: the rest (past %llu MB, a quarter of the memory available) "
                       "is left for reads", (unsigned long long)(budget >> 20));
            break;
        }
        const struct push_range *pr = &p->ranges[k];
        if (known[pr->layer] == 0)
            known[pr->layer] = store(df, pr->layer, 0, buf, 0) == 0 ? 1 : -1;
        if (known[pr->layer] < 0)
            continue;
        for (uint64_t off = pr->r.off, end = pr->r.off + pr->r.len; off < end && !atomic_load(&p->stop);) {
            size_t want = end - off < PUSH_STEP ? (size_t)(end - off) : PUSH_STEP;
            int64_t got = soci_erofs_device_pread_planned(df->devices[pr->layer], buf, want, off);
            if (got <= 0) { /* the read that needs these blocks will say what is wrong */
                daemon_log(SOCI_LOG_DEBUG, "planned data of layer %u at %llu: %s", pr->layer,
                           (unsigned long long)off, got < 0 ? soci_last_error() : "past the end");
                break;
            }
            int r = store(df, pr->layer, off, buf, (size_t)got);
            if (r < 0) {
                daemon_log(SOCI_LOG_DEBUG, "planned data of layer %u: the kernel took none: %s", pr->layer,
                           strerror(-r));
                known[pr->layer] = -1;
                break;
            }
            bytes += (uint64_t)got;
            off += (uint64_t)got;
        }
    }
    atomic_fetch_add(&df->stats.pushed_bytes, bytes); /* summed over the store's layers */
    atomic_fetch_add(&df->stats.push_ns, fuse_stats_now() - t);
    if (bytes)
        daemon_log(SOCI_LOG_INFO, "planned data: %.1f MB handed to the kernel in %.2f s", (double)bytes / 1e6,
                   (double)(fuse_stats_now() - t) / 1e9);
    free(buf);
    free(known);
    return NULL;
}

int device_push_start(struct device_files *df, uint32_t first, uint32_t count, struct device_push **ret)
{
    *ret = NULL;
    struct device_push *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    p->df = df;
    int r = gather(p, first, count > UINT32_MAX - first ? UINT32_MAX : first + count);
    if (r == 0 && p->n > 0 && pthread_create(&p->thread, NULL, push_main, p) != 0) {
        daemon_log(SOCI_LOG_WARNING, "planned data: cannot start a thread");
        r = -1;
    }
    if (r != 0 || p->n == 0) { /* nothing planned: nothing to do */
        free(p->ranges);
        free(p);
        return r;
    }
    *ret = p;
    return 0;
}

void device_push_stop(struct device_push *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    free(p->ranges);
    free(p);
}
