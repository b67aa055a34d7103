/* SPDX-License-Identifier: Apache-2.0 */
/* The blob contract of blob.h, enforced for every backend by lib/io/blob.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <soci/soci.h>

struct fake {
    uint64_t size;
    int size_result;
    int reads;
    int closes;
    int fail_reads; /* return this from read_at when nonzero */
    int in_flight, max_in_flight;
    pthread_mutex_t lock;
};

static int fake_size(void *ctx, uint64_t *ret)
{
    struct fake *f = ctx;
    *ret = f->size;
    return f->size_result;
}

static int fake_read(void *ctx, void *buf, size_t len, uint64_t off)
{
    struct fake *f = ctx;
    pthread_mutex_lock(&f->lock);
    f->reads++;
    if (++f->in_flight > f->max_in_flight)
        f->max_in_flight = f->in_flight;
    pthread_mutex_unlock(&f->lock);
    usleep(1000);
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = (uint8_t)(off + i);
    pthread_mutex_lock(&f->lock);
    f->in_flight--;
    pthread_mutex_unlock(&f->lock);
    if (f->fail_reads)
        return f->fail_reads == SOCI_EIO ? soci_blob_set_error(SOCI_EIO, "fake: injected failure at %llu",
                                                               (unsigned long long)off)
                                         : f->fail_reads;
    return 0;
}

static void fake_close(void *ctx)
{
    ((struct fake *)ctx)->closes++;
}

static struct soci_blob_methods fake_methods = {
    .version = SOCI_BLOB_METHODS_VERSION,
    .size = fake_size,
    .read_at = fake_read,
    .close = fake_close,
};

static void test_callbacks_bounds_and_refs(void **state)
{
    (void)state;
    struct fake f = {.size = 100, .lock = PTHREAD_MUTEX_INITIALIZER};
    soci_blob *b;
    uint8_t buf[200];

    assert_int_equal(soci_blob_new(&fake_methods, &f, &b), 0);
    assert_int_equal(soci_blob_size(b), 100);
    assert_int_equal(soci_blob_read_at(b, buf, 10, 90), 0);
    assert_int_equal(buf[0], 90);
    assert_int_equal(soci_blob_read_at(b, buf, 11, 90), SOCI_ERANGE);
    assert_int_equal(soci_blob_read_at(b, buf, 1, UINT64_MAX), SOCI_ERANGE);
    assert_int_equal(soci_blob_read_at(b, buf, 0, 100), 0); /* empty read at the end is fine */
    assert_int_equal(f.reads, 1);                            /* ...and never reaches the backend */

    soci_blob_ref(b);
    assert_null(soci_blob_unref(b));
    assert_int_equal(f.closes, 0);
    assert_null(soci_blob_unref(b));
    assert_int_equal(f.closes, 1);
    assert_null(soci_blob_unref(NULL));
}

static void test_callbacks_errors(void **state)
{
    (void)state;
    struct fake f = {.size = 100, .lock = PTHREAD_MUTEX_INITIALIZER};
    soci_blob *b = NULL;
    uint8_t buf[8];

    /* A failing size: creation fails and ctx stays the caller's (no close). */
    f.size_result = SOCI_EIO;
    assert_int_equal(soci_blob_new(&fake_methods, &f, &b), SOCI_EIO);
    assert_null(b);
    assert_int_equal(f.closes, 0);
    assert_true(strlen(soci_last_error()) > 0);

    f.size_result = 0;
    assert_int_equal(soci_blob_new(&fake_methods, &f, &b), 0);
    f.fail_reads = SOCI_EIO;
    assert_int_equal(soci_blob_read_at(b, buf, 8, 0), SOCI_EIO);
    assert_non_null(strstr(soci_last_error(), "injected failure at 0"));
    /* A backend that fails without a message still leaves one. */
    f.fail_reads = SOCI_ENET;
    assert_int_equal(soci_blob_read_at(b, buf, 8, 0), SOCI_ENET);
    assert_true(strlen(soci_last_error()) > 0);
    /* A backend returning a positive value is a bug reported as an error, not data. */
    f.fail_reads = 5;
    assert_int_equal(soci_blob_read_at(b, buf, 8, 0), SOCI_EIO);
    soci_blob_unref(b);

    struct soci_blob_methods bad = fake_methods;
    bad.read_at = NULL;
    assert_int_equal(soci_blob_new(&bad, &f, &b), SOCI_EINVAL);
    bad = fake_methods;
    bad.version = 0;
    assert_int_equal(soci_blob_new(&bad, &f, &b), SOCI_EINVAL);
}

struct reader_arg {
    soci_blob *b;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    uint8_t buf[4];
    for (int i = 0; i < 20; i++)
        soci_blob_read_at(a->b, buf, sizeof(buf), (uint64_t)i);
    return NULL;
}

static int max_concurrency(uint32_t caps)
{
    struct fake f = {.size = 100, .lock = PTHREAD_MUTEX_INITIALIZER};
    struct soci_blob_methods m = fake_methods;
    soci_blob *b;
    pthread_t t[4];
    m.caps = caps;
    assert_int_equal(soci_blob_new(&m, &f, &b), 0);
    struct reader_arg a = {b};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, reader, &a);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    soci_blob_unref(b);
    return f.max_in_flight;
}

static void test_serialised_unless_concurrent(void **state)
{
    (void)state;
    assert_int_equal(max_concurrency(0), 1);
    assert_true(max_concurrency(SOCI_BLOB_CONCURRENT) > 1);
}

static void test_file_and_mem(void **state)
{
    (void)state;
    char path[] = "/tmp/soci-blob-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello, blob", 11), 11);
    close(fd);

    soci_blob *fb, *mb;
    char buf[16] = {0};
    assert_int_equal(soci_blob_open_file(path, &fb), 0);
    assert_int_equal(soci_blob_size(fb), 11);
    assert_int_equal(soci_blob_read_at(fb, buf, 4, 7), 0);
    assert_memory_equal(buf, "blob", 4);
    assert_int_equal(soci_blob_read_at(fb, buf, 12, 0), SOCI_ERANGE);

    /* A file that shrinks under the blob is an error, never a short read. */
    assert_int_equal(truncate(path, 5), 0);
    assert_int_equal(soci_blob_read_at(fb, buf, 4, 7), SOCI_EIO);
    soci_blob_unref(fb);
    unlink(path);
    assert_int_equal(soci_blob_open_file(path, &fb), SOCI_ENOTFOUND);
    assert_non_null(strstr(soci_last_error(), path));

    char src[] = "memory";
    assert_int_equal(soci_blob_open_mem(src, 6, SOCI_BLOB_COPY, &mb), 0);
    src[0] = 'X'; /* the copy is unaffected */
    assert_int_equal(soci_blob_read_at(mb, buf, 6, 0), 0);
    assert_memory_equal(buf, "memory", 6);
    soci_blob_unref(mb);
    assert_int_equal(soci_blob_open_mem(NULL, 0, 0, &mb), 0);
    assert_int_equal(soci_blob_size(mb), 0);
    soci_blob_unref(mb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_callbacks_bounds_and_refs),
        cmocka_unit_test(test_callbacks_errors),
        cmocka_unit_test(test_serialised_unless_concurrent),
        cmocka_unit_test(test_file_and_mem),
    };
    return cmocka_run_group_tests_name("blob", tests, NULL, NULL);
}
