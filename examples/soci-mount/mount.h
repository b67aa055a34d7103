/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SOCI_MOUNT_H
#define SOCI_MOUNT_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <soci/soci.h>

struct mount_state {
    soci_fs *fs;
};

/* The FUSE operations over mount_state.fs (fuse_ops.c). */
extern const struct fuse_lowlevel_ops mount_ops;

/* Keep only CAP_SYS_ADMIN (to unmount), set no_new_privs; call before starting threads.
 * 0, or -1 after logging why. */
int mount_drop_privileges(void);

/* Log a line: to stderr in the foreground, to syslog once daemonized. */
void mount_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
