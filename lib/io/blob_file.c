/* SPDX-License-Identifier: Apache-2.0 */
/* A blob over a file, read with pread(): safe for concurrent readers. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <soci/blob.h>

#include "util/error.h"

struct file_blob {
    int fd;
    uint64_t size;
    char path[];
};

static int file_size(void *ctx, uint64_t *ret)
{
    *ret = ((struct file_blob *)ctx)->size;
    return 0;
}

static int file_read_at(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct file_blob *f = ctx;
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = pread(f->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return soci_fail(SOCI_EIO, "%s: read at %llu: %s", f->path, (unsigned long long)off,
                             strerror(errno));
        if (n == 0)
            return soci_fail(SOCI_EIO, "%s: file ends at %llu, before the %llu bytes it had at open",
                             f->path, (unsigned long long)off, (unsigned long long)f->size);
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static void file_close(void *ctx)
{
    struct file_blob *f = ctx;
    close(f->fd);
    free(f);
}

static const struct soci_blob_methods file_methods = {
    .version = SOCI_BLOB_METHODS_VERSION,
    .caps = SOCI_BLOB_CONCURRENT,
    .size = file_size,
    .read_at = file_read_at,
    .close = file_close,
};

int soci_blob_open_file(const char *path, soci_blob **ret)
{
    if (path == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_blob_open_file: bad arguments");
    size_t plen = strlen(path);
    struct file_blob *f = malloc(sizeof(*f) + plen + 1);
    if (f == NULL)
        return soci_fail_nomem("file blob");
    memcpy(f->path, path, plen + 1);
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        int r = soci_fail(errno == ENOENT ? SOCI_ENOTFOUND : SOCI_EIO, "%s: %s", path, strerror(errno));
        free(f);
        return r;
    }
    struct stat st;
    if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int r = soci_fail(SOCI_EIO, "%s: %s", path, S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
        file_close(f);
        return r;
    }
    f->size = (uint64_t)st.st_size;
    int r = soci_blob_new(&file_methods, f, ret);
    if (r < 0)
        file_close(f);
    return r;
}
