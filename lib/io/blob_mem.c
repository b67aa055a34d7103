/* SPDX-License-Identifier: Apache-2.0 */
/* A blob over memory, borrowed or copied. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <soci/blob.h>

#include "util/error.h"

struct mem_blob {
    const uint8_t *data;
    size_t len;
    bool owned;
};

static int mem_size(void *ctx, uint64_t *ret)
{
    *ret = ((struct mem_blob *)ctx)->len;
    return 0;
}

static int mem_read_at(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct mem_blob *m = ctx;
    memcpy(buf, m->data + off, len); /* blob.c bounded the range */
    return 0;
}

static void mem_close(void *ctx)
{
    struct mem_blob *m = ctx;
    if (m->owned)
        free((void *)(uintptr_t)m->data);
    free(m);
}

static const struct soci_blob_methods mem_methods = {
    .version = SOCI_BLOB_METHODS_VERSION,
    .caps = SOCI_BLOB_CONCURRENT,
    .size = mem_size,
    .read_at = mem_read_at,
    .close = mem_close,
};

int soci_blob_open_mem(const void *buf, size_t len, unsigned flags, soci_blob **ret)
{
    if ((buf == NULL && len) || ret == NULL || (flags & ~SOCI_BLOB_COPY))
        return soci_fail(SOCI_EINVAL, "soci_blob_open_mem: bad arguments");
    struct mem_blob *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return soci_fail_nomem("memory blob");
    m->data = buf;
    m->len = len;
    if (flags & SOCI_BLOB_COPY) {
        uint8_t *copy = malloc(len ? len : 1);
        if (copy == NULL) {
            free(m);
            return soci_fail_nomem("memory blob copy");
        }
        if (len)
            memcpy(copy, buf, len);
        m->data = copy;
        m->owned = true;
    }
    int r = soci_blob_new(&mem_methods, m, ret);
    if (r < 0)
        mem_close(m);
    return r;
}
