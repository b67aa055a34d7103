/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_MOUNT_H
#define SOCI_MOUNT_H

#include <stdbool.h>

#include "cli_common.h"
#include "fuse_fs.h"
#include "fuse_stats.h"

struct options {
    const char *image, *mountpoint, *cache_dir;
    char *record, *stats_file; /* absolute: the daemon leaves the working directory */
    char *creds; /* "user:secret", handed to the credential callback */
    const char **prefetch;
    int nprefetch;
    bool no_artifacts;
    bool kernel, kernel_loop; /* --kernel: EROFS + overlayfs (kernel_tree.c) */
    uint64_t decoded_size;    /* --kernel: bound of the decoded data devices kept (kernel_decoded.c) */
    struct cli_daemon_opts d; /* background -1: on with a disk cache */
};

/* What load() opened before serving. */
struct loaded {
    soci_registry *reg;
    soci_cache *cache;
    soci_image *img;
    soci_fs *fs;
    uint64_t image_ns, tree_ns, prefetch_ns; /* how long each step took, for --stats-file */
};

/* Serve the tree through the kernel: EROFS per layer over FUSE device files, stacked with
 * overlayfs at the mount point (kernel_tree.c). An exit status. */
int kernel_serve(const struct options *o, struct loaded *l);

/* Mounted, in the daemon: background fetching if asked for (by default with a disk cache). */
void serving_started(const struct options *o, struct loaded *l);

/* Write the learned-prefetch record and the stats file, as asked, once serving ended. */
void write_outputs(const struct options *o, struct loaded *l, struct fuse_stats *stats);

struct mount_state {
    soci_fs *fs;
    struct fuse_stats stats;
    bool no_open; /* the kernel opens files and directories without asking (op_init) */
    bool no_xattrs; /* the tree has no extended attributes: the kernel need not ask */
};

/* The FUSE operations over mount_state.fs (fuse_ops.c). */
extern const struct fuse_lowlevel_ops mount_ops;

#endif
