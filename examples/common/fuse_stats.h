/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A daemon's profile: how many FUSE requests of each kind it served and the time spent
 * serving them (the kernel's own round trip is not seen here), and the library's
 * counters of the tree, written as one JSON object (--stats-file).
 */
#ifndef SOCI_FUSE_STATS_H
#define SOCI_FUSE_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include <soci/soci.h>

enum fuse_op_kind { FOP_LOOKUP, FOP_GETATTR, FOP_OPEN, FOP_READ, FOP_READDIR, FOP_READLINK, FOP_XATTR, FOP_OTHER, FOP_KINDS };

struct fuse_stats {
    atomic_uint_fast64_t calls[FOP_KINDS], ns[FOP_KINDS];
    /* Before serving: opening the image (manifests, index, config), its tree (zTOCs,
     * merged tree), and fetching its prefetch artifacts. */
    uint64_t image_ns, tree_ns, prefetch_ns;
    /* Planned data handed to the kernel before it asked (--kernel, device_push.c). */
    atomic_uint_fast64_t pushed_bytes, push_ns;
};

/* The library's counters, by the names the stats file gives them (times end in _ns), and
 * what each counts, for metrics' help texts. */
struct fuse_stats_counter {
    const char *name;
    int which;
    const char *help;
};
extern const struct fuse_stats_counter fuse_stats_counters[];
extern const size_t fuse_stats_ncounters;

uint64_t fuse_stats_now(void);

/* One request of kind k, begun at `since` (fuse_stats_now()), has been answered. */
void fuse_stats_add(struct fuse_stats *st, enum fuse_op_kind k, uint64_t since);

/* Where the "library" figures come from: counter `which` (SOCI_COUNTER_*) into *ret, 0, or
 * negative for one the source does not have (left out of the file). */
typedef int (*fuse_stats_counter_fn)(void *source, int which, uint64_t *ret);

/* Call in the parent just before forking into the background: what the process used so
 * far (CPU time, page faults) is then counted with the child's, which starts from zero. */
void fuse_stats_before_fork(void);

/* Write {"startup": {...}, "fuse": {...}, "library": {...}, "process": {...}} to path,
 * whole: st's figures (NULL: no "startup" or "fuse"), the counters of `source` read by
 * `counter`, and the CPU time (user and system) and minor page faults of this process,
 * the part before a fork into the background included. 0, or -1 with errno. */
int fuse_stats_write_from(const char *path, const struct fuse_stats *st, fuse_stats_counter_fn counter,
                          void *source);

/* The same with one tree's counters (soci_fs_counter). */
int fuse_stats_write(const char *path, const struct fuse_stats *st, soci_fs *fs);

#endif
