/* SPDX-License-Identifier: Apache-2.0 */
/* Files the daemons write whole: a reader (a benchmark waiting for a stats file to appear,
 * a mount checking a kept image) sees the old file or the new one, never half of one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "fuse_fs.h"

int daemon_write_file(const char *path, const void *data, size_t len, mode_t mode, bool durable)
{
    char tmp[PATH_MAX + 32];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    bool ok = fd >= 0;
    for (size_t done = 0; ok && done < len;) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        ok = n > 0;
        done += ok ? (size_t)n : 0;
    }
    if (ok && durable && fsync(fd) != 0)
        ok = false;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}
