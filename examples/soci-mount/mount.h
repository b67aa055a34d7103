/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_MOUNT_H
#define SOCI_MOUNT_H

#include "fuse_fs.h"
#include "fuse_stats.h"

struct mount_state {
    soci_fs *fs;
    struct fuse_stats stats;
};

/* The FUSE operations over mount_state.fs (fuse_ops.c). */
extern const struct fuse_lowlevel_ops mount_ops;

#endif
