/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one place that calls a blob's methods. Everything the backends are promised in
 * blob.h is enforced here: ranges are checked against the size before a backend sees
 * them, zero-length reads never reach it, backends without SOCI_BLOB_CONCURRENT are
 * called one at a time, and a failure always leaves a detail message.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/blob_internal.h"
#include "util/bytes.h"
#include "util/error.h"

struct soci_blob {
    struct soci_blob_methods m;
    void *ctx;
    uint64_t size;
    atomic_uint refs;
    pthread_mutex_t serial; /* held around calls when the backend is not concurrent */
};

int soci_blob_new(const struct soci_blob_methods *methods, void *ctx, soci_blob **ret)
{
    if (methods == NULL || ret == NULL || methods->version < 1 || methods->size == NULL ||
        methods->read_at == NULL)
        return soci_fail(SOCI_EINVAL, "soci_blob_new: method table needs version >= 1, size and read_at");
    struct soci_blob *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return soci_fail_nomem("blob");
    /* Copy only the fields of the version the caller declared; the rest stay NULL. */
    b->m = *methods;
    b->m.version = SOCI_BLOB_METHODS_VERSION;
    b->ctx = ctx;
    atomic_init(&b->refs, 1);
    pthread_mutex_init(&b->serial, NULL);

    soci_clear_error();
    int r = methods->size(ctx, &b->size);
    if (r >= 0 && b->size > INT64_MAX)
        r = soci_fail(SOCI_ERANGE, "blob size %llu too large", (unsigned long long)b->size);
    if (r < 0) {
        if (soci_last_error()[0] == '\0')
            soci_fail(r, "blob size: %s", soci_strerror(r));
        pthread_mutex_destroy(&b->serial);
        free(b);
        return r;
    }
    *ret = b;
    return 0;
}

soci_blob *soci_blob_ref(soci_blob *b)
{
    if (b != NULL)
        atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

soci_blob *soci_blob_unref(soci_blob *b)
{
    if (b == NULL || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return NULL;
    if (b->m.close != NULL)
        b->m.close(b->ctx);
    pthread_mutex_destroy(&b->serial);
    free(b);
    return NULL;
}

uint64_t soci_blob_size(const soci_blob *b)
{
    return b == NULL ? 0 : b->size;
}

int soci_blob_set_error(int err, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return soci_fail(err, "%s", msg);
}

static int call_backend(soci_blob *b, const struct soci_iov_at *iov, size_t count)
{
    bool serial = !(b->m.caps & SOCI_BLOB_CONCURRENT);
    int r = 0;

    soci_clear_error();
    if (serial)
        pthread_mutex_lock(&b->serial);
    if (b->m.read_vec != NULL && count > 1) {
        r = b->m.read_vec(b->ctx, iov, count);
    } else {
        for (size_t i = 0; i < count && r >= 0; i++)
            if (iov[i].len > 0)
                r = b->m.read_at(b->ctx, iov[i].buf, iov[i].len, iov[i].off);
    }
    if (serial)
        pthread_mutex_unlock(&b->serial);
    if (r > 0)
        r = soci_fail(SOCI_EIO, "blob backend returned %d, not 0 or an error", r);
    if (r < 0 && soci_last_error()[0] == '\0')
        soci_fail(r, "blob read: %s", soci_strerror(r));
    return r;
}

int blob_read_vec(soci_blob *b, const struct soci_iov_at *iov, size_t count)
{
    if (b == NULL || (iov == NULL && count))
        return soci_fail(SOCI_EINVAL, "blob read: bad arguments");
    for (size_t i = 0; i < count; i++) {
        if ((iov[i].buf == NULL && iov[i].len) || !range_ok(iov[i].off, iov[i].len, b->size))
            return soci_fail(SOCI_ERANGE, "blob read: [%llu, +%zu) outside the %llu-byte blob",
                             (unsigned long long)iov[i].off, iov[i].len, (unsigned long long)b->size);
    }
    return call_backend(b, iov, count);
}

int soci_blob_read_at(soci_blob *b, void *buf, size_t len, uint64_t off)
{
    struct soci_iov_at one = {.buf = buf, .len = len, .off = off};
    return blob_read_vec(b, &one, 1);
}
