/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "fuse_fs.h"
#include "fuse_stats.h"

static const char *const kind_names[FOP_KINDS] = {"lookup", "getattr", "open",    "read",
                                                  "readdir", "readlink", "xattr", "other"};

const struct fuse_stats_counter fuse_stats_counters[] = {
    {"bytes_fetched", SOCI_COUNTER_BYTES_FETCHED, "Bytes received from registries."},
    {"requests", SOCI_COUNTER_REQUESTS, "HTTP requests made to registries."},
    {"spans_demanded", SOCI_COUNTER_SPANS_DEMANDED, "Distinct spans reads needed."},
    {"spans_decoded", SOCI_COUNTER_SPANS_DECODED, "Spans decoded (digest checked)."},
    {"spans_redecoded", SOCI_COUNTER_SPANS_REDECODED, "Decodes of spans decoded before, evicted and needed again."},
    {"cache_hits", SOCI_COUNTER_CACHE_HITS, "Spans served from the memory cache."},
    {"disk_hits", SOCI_COUNTER_CACHE_DISK_HITS, "Spans loaded from the disk cache (verified)."},
    {"cache_misses", SOCI_COUNTER_CACHE_MISSES, "Spans fetched from their registry for a read."},
    {"evictions", SOCI_COUNTER_EVICTIONS, "Spans dropped from memory to stay in its bound."},
    {"disk_evictions", SOCI_COUNTER_DISK_EVICTIONS, "Disk cache entries evicted to stay in its bound."},
    {"disk_corrupt", SOCI_COUNTER_DISK_CORRUPT, "Disk cache entries failing verification (dropped, fetched again)."},
    {"bytes_served", SOCI_COUNTER_BYTES_SERVED, "Uncompressed bytes copied out to readers."},
    {"background_spans", SOCI_COUNTER_BACKGROUND_SPANS, "Spans background fetching stored."},
    {"fetch_ns", SOCI_COUNTER_FETCH_NS, "Time waiting for span bytes from registries, summed over threads."},
    {"decode_ns", SOCI_COUNTER_DECODE_NS, "Time verifying and decoding spans, summed over threads."},
    {"read_wait_ns", SOCI_COUNTER_READ_WAIT_NS, "Time reads waited for their spans, summed over threads."},
};
const size_t fuse_stats_ncounters = sizeof(fuse_stats_counters) / sizeof(fuse_stats_counters[0]);

uint64_t fuse_stats_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void fuse_stats_add(struct fuse_stats *st, enum fuse_op_kind k, uint64_t since)
{
    atomic_fetch_add(&st->calls[k], 1);
    atomic_fetch_add(&st->ns[k], fuse_stats_now() - since);
}

static struct rusage before_fork; /* the parent's, copied into the child by fork */

void fuse_stats_before_fork(void)
{
    getrusage(RUSAGE_SELF, &before_fork);
}

static uint64_t tv_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

/* "process": CPU time and minor page faults, before the fork and since. */
static void write_process(FILE *f)
{
    struct rusage now;
    if (getrusage(RUSAGE_SELF, &now) != 0)
        return;
    uint64_t cpu = tv_ns(now.ru_utime) + tv_ns(now.ru_stime) + tv_ns(before_fork.ru_utime) +
                   tv_ns(before_fork.ru_stime);
    fprintf(f, ",\"process\":{\"cpu_ns\":%llu,\"minor_faults\":%llu}", (unsigned long long)cpu,
            (unsigned long long)(now.ru_minflt + before_fork.ru_minflt));
}

int fuse_stats_write_from(const char *path, const struct fuse_stats *st, fuse_stats_counter_fn counter,
                          void *source)
{
    /* Made in memory, then written whole: whoever waits for the file to appear (as the
     * benchmarks do, once the daemon stops) never reads half of it. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return -1;
    fputc('{', f);
    if (st) {
        fprintf(f, "\"startup\":{\"image_ns\":%llu,\"tree_ns\":%llu,\"prefetch_ns\":%llu},\"fuse\":{",
                (unsigned long long)st->image_ns, (unsigned long long)st->tree_ns,
                (unsigned long long)st->prefetch_ns);
        for (int k = 0; k < FOP_KINDS; k++)
            fprintf(f, "%s\"%s\":{\"calls\":%llu,\"ns\":%llu}", k ? "," : "", kind_names[k],
                    (unsigned long long)atomic_load(&st->calls[k]), (unsigned long long)atomic_load(&st->ns[k]));
        fprintf(f, "},\"pushed\":{\"bytes\":%llu,\"ns\":%llu},", (unsigned long long)atomic_load(&st->pushed_bytes),
                (unsigned long long)atomic_load(&st->push_ns));
    }
    fputs("\"library\":{", f);
    int listed = 0;
    for (size_t i = 0; source && i < fuse_stats_ncounters; i++) {
        uint64_t v;
        if (counter(source, fuse_stats_counters[i].which, &v) == 0)
            fprintf(f, "%s\"%s\":%llu", listed++ ? "," : "", fuse_stats_counters[i].name, (unsigned long long)v);
    }
    fputc('}', f);
    write_process(f);
    fputs("}\n", f);
    int r = fclose(f) == 0 ? daemon_write_file(path, text, len, 0666, false) : -1;
    free(text);
    return r;
}

static int fs_counter(void *fs, int which, uint64_t *ret)
{
    return soci_fs_counter(fs, which, ret);
}

int fuse_stats_write(const char *path, const struct fuse_stats *st, soci_fs *fs)
{
    return fuse_stats_write_from(path, st, fs_counter, fs);
}
