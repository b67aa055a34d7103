/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file.h"

int read_file_capped(const char *path, uint64_t max, void **ret, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return soci_fail(errno == ENOENT ? SOCI_ENOTFOUND : SOCI_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    uint8_t *buf = NULL;
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = soci_fail(SOCI_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = soci_fail(SOCI_EINVAL, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        r = soci_fail(SOCI_ETOOBIG, "%s: %lld bytes, more than the %llu allowed", path, (long long)st.st_size,
                      (unsigned long long)max);
        goto out;
    }
    size_t size = (size_t)st.st_size, got = 0;
    if ((buf = malloc(size + 1)) == NULL) {
        r = soci_fail_nomem("file");
        goto out;
    }
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = soci_fail(SOCI_EIO, "%s: %s", path, n < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        got += (size_t)n;
    }
    buf[size] = 0;
    *ret = buf;
    *ret_len = size;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return r;
}

int write_file_atomic(char *tmp_template, const char *path, const void *data, size_t len, unsigned mode,
                      bool durable)
{
    int fd = mkstemp(tmp_template);
    if (fd < 0)
        return soci_fail(SOCI_EIO, "%s: %s", tmp_template, strerror(errno));
    const uint8_t *p = data;
    size_t left = len;
    int err = 0;
    while (left > 0 && !err) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (!err && (fchmod(fd, (mode_t)mode) < 0 || (durable && fsync(fd) < 0)))
        err = errno;
    if (close(fd) < 0 && !err)
        err = errno;
    if (!err && rename(tmp_template, path) < 0)
        err = errno;
    if (err) {
        unlink(tmp_template);
        return soci_fail(SOCI_EIO, "%s: %s", path, strerror(err));
    }
    return 0;
}
