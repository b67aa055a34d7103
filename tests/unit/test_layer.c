/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading files out of a layer: pread semantics, links, lookups, laziness (only the
 * spans needed are fetched), many threads at once, and corrupt layer bytes. The expected
 * bytes come from plain zlib inflating the whole layer at the offsets the reference's
 * JSON gives, never from libsoci itself.
 */
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

#include "helpers.h"

struct fixture {
    struct vector_layer v;
    soci_ztoc *z; /* v.z */
    uint8_t *gz, *tar;
    size_t gz_len, tar_len;
    soci_blob *blob;
    soci_layer *layer;
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    if (vector_layer_load("alltypes-pax-gzip6", "span-65536", &fx.v) < 0)
        return -1;
    fx.z = fx.v.z;
    fx.gz = fx.v.gz;
    fx.gz_len = fx.v.gz_len;
    fx.tar = fx.v.tar;
    fx.tar_len = fx.v.tar_len;
    if (soci_blob_open_mem(fx.gz, fx.gz_len, 0, &fx.blob) < 0 || soci_layer_open(fx.blob, fx.z, &fx.layer) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    soci_layer_free(fx.layer);
    soci_blob_unref(fx.blob);
    vector_layer_free(&fx.v);
    return 0;
}

static void expected_extent(const char *name, uint64_t *off, uint64_t *size)
{
    vector_entry_extent(&fx.v, name, off, size);
}

static uint32_t lookup(const char *path)
{
    uint32_t i;
    int r = soci_ztoc_lookup(fx.z, path, &i);
    if (r < 0)
        fail_msg("lookup %s: %s", path, soci_last_error());
    return i;
}

static void test_pread_semantics(void **state)
{
    (void)state;
    uint64_t off, size;
    uint8_t buf[200];
    uint32_t passwd = lookup("etc/passwd");
    expected_extent("etc/passwd", &off, &size);

    assert_int_equal(soci_layer_pread(fx.layer, passwd, buf, sizeof(buf), 0), size);
    assert_memory_equal(buf, fx.tar + off, size);
    assert_int_equal(soci_layer_pread(fx.layer, passwd, buf, 100, size - 10), 10); /* short at EOF */
    assert_memory_equal(buf, fx.tar + off + size - 10, 10);
    assert_int_equal(soci_layer_pread(fx.layer, passwd, buf, 100, size), 0);      /* at EOF */
    assert_int_equal(soci_layer_pread(fx.layer, passwd, buf, 100, size + 99), 0); /* past it */
    assert_int_equal(soci_layer_pread(fx.layer, passwd, buf, 0, 0), 0);
    assert_int_equal(soci_layer_pread(fx.layer, passwd, buf, 100, UINT64_MAX), 0);

    assert_int_equal(soci_layer_pread(fx.layer, lookup("etc"), buf, 1, 0), SOCI_EISDIR);
    assert_int_equal(soci_layer_pread(fx.layer, lookup("dev/null"), buf, 1, 0), SOCI_EINVAL);
    assert_int_equal(soci_layer_pread(fx.layer, lookup("bin/sh"), buf, 1, 0), SOCI_EINVAL);
    assert_int_equal(soci_layer_pread(fx.layer, 1u << 30, buf, 1, 0), SOCI_EINVAL);
    assert_int_equal(soci_layer_pread(fx.layer, lookup("etc/empty"), buf, 10, 0), 0);
}

static void test_links_and_lookup(void **state)
{
    (void)state;
    const char *target;
    uint32_t hard = lookup("bin/hard"), big = lookup("bin/big"), resolved;

    assert_int_equal(soci_ztoc_readlink(fx.z, lookup("bin/sh"), &target), 0);
    assert_string_equal(target, "big");
    assert_int_equal(soci_ztoc_readlink(fx.z, lookup("deep/longlink"), &target), 0);
    assert_int_equal(strlen(target), 151);
    assert_int_equal(soci_ztoc_readlink(fx.z, big, &target), SOCI_EINVAL);

    assert_int_equal(soci_ztoc_resolve(fx.z, hard, &resolved), 0);
    assert_int_equal(resolved, big);
    assert_int_equal(soci_ztoc_resolve(fx.z, big, &resolved), 0);
    assert_int_equal(resolved, big);

    uint64_t off, size;
    expected_extent("bin/big", &off, &size);
    uint8_t buf[1000];
    assert_int_equal(soci_layer_pread(fx.layer, hard, buf, sizeof(buf), 2000000), sizeof(buf));
    assert_memory_equal(buf, fx.tar + off + 2000000, sizeof(buf));

    assert_int_equal(lookup("/etc/passwd"), lookup("etc/passwd"));
    assert_int_equal(lookup("./etc//passwd"), lookup("etc/passwd"));
    assert_int_equal(lookup("etc/"), lookup("etc"));
    assert_int_equal(lookup("dotslash"), lookup("./dotslash"));
    assert_int_equal(lookup("uni/h\xc3\xa9llo-\xe4\xb8\x96\xe7\x95\x8c.txt"), lookup("/uni/h\xc3\xa9llo-\xe4\xb8\x96\xe7\x95\x8c.txt"));
    uint32_t ignored;
    assert_int_equal(soci_ztoc_lookup(fx.z, "etc/nope", &ignored), SOCI_ENOTFOUND);
    assert_int_equal(soci_ztoc_lookup(fx.z, "", &ignored), SOCI_ENOTFOUND); /* no root entry */
    assert_int_equal(soci_ztoc_lookup(fx.z, "et", &ignored), SOCI_ENOTFOUND);
}

/* Reading a little from the middle of a 3 MiB file fetches one 64 KiB span, not the file. */
static void test_reads_are_lazy(void **state)
{
    (void)state;
    soci_blob *blob;
    soci_layer *l;
    uint64_t fetched, reads, spans, off, size;
    uint8_t buf[100];
    assert_int_equal(soci_blob_open_mem(fx.gz, fx.gz_len, 0, &blob), 0);
    assert_int_equal(soci_layer_open(blob, fx.z, &l), 0);

    expected_extent("bin/big", &off, &size);
    uint32_t big = lookup("bin/big"), span;
    assert_int_equal(soci_layer_pread(l, big, buf, sizeof(buf), 1500000), sizeof(buf));
    assert_memory_equal(buf, fx.tar + off + 1500000, sizeof(buf));
    assert_int_equal(soci_ztoc_span_at(fx.z, off + 1500000, &span), 0);
    struct soci_span_info si;
    soci_ztoc_span_info(fx.z, span, &si, sizeof(si));

    soci_layer_counter(l, SOCI_COUNTER_BYTES_FETCHED, &fetched);
    soci_layer_counter(l, SOCI_COUNTER_READS, &reads);
    soci_layer_counter(l, SOCI_COUNTER_SPANS_DECODED, &spans);
    assert_int_equal(fetched, si.compressed_size);
    assert_int_equal(reads, 1);
    assert_int_equal(spans, 1);

    /* The next small read in the same span is served from the decoded span. */
    assert_int_equal(soci_layer_pread(l, big, buf, sizeof(buf), 1500100), sizeof(buf));
    soci_layer_counter(l, SOCI_COUNTER_READS, &reads);
    assert_int_equal(reads, 1);
    assert_int_equal(soci_layer_counter(l, 99, &reads), SOCI_EINVAL);
    soci_layer_free(l);
    soci_blob_unref(blob);
}

static uint64_t counter(soci_layer *l, int which)
{
    uint64_t v;
    assert_int_equal(soci_layer_counter(l, which, &v), 0);
    return v;
}

/* Reads that run on through a file have the spans after theirs fetched in the background:
 * once they are in, reading there costs no request. Reads that jump about do not. */
static void test_sequential_readahead(void **state)
{
    (void)state;
    soci_blob *blob;
    soci_layer *l;
    uint64_t off, size;
    uint32_t big = lookup("bin/big"), first, file_last;
    uint8_t buf[100];
    expected_extent("bin/big", &off, &size);
    assert_int_equal(soci_ztoc_span_at(fx.z, off, &first), 0);
    assert_int_equal(soci_ztoc_span_at(fx.z, off + size - 1, &file_last), 0);
    assert_true(file_last >= first + 3); /* room to read ahead */
    assert_int_equal(soci_blob_open_mem(fx.gz, fx.gz_len, 0, &blob), 0);

    /* Jumping about: no read-ahead. */
    assert_int_equal(soci_layer_open(blob, fx.z, &l), 0);
    for (uint64_t at = 0; at < 4 * 150; at += 150)
        assert_int_equal(soci_layer_pread(l, big, buf, sizeof(buf), at), sizeof(buf));
    assert_int_equal(counter(l, SOCI_COUNTER_SPANS_DECODED), 1);
    soci_layer_free(l);

    /* Three reads in a row, the first two ending where the next begins. */
    assert_int_equal(soci_layer_open(blob, fx.z, &l), 0);
    for (uint64_t at = 0; at < 3 * sizeof(buf); at += sizeof(buf)) {
        assert_int_equal(soci_layer_pread(l, big, buf, sizeof(buf), at), sizeof(buf));
        assert_memory_equal(buf, fx.tar + off + at, sizeof(buf));
    }
    for (int waited = 0; counter(l, SOCI_COUNTER_SPANS_DECODED) < 3 && waited < 500; waited++)
        usleep(10000);
    assert_int_equal(counter(l, SOCI_COUNTER_SPANS_DECODED), 3);
    uint64_t reads = counter(l, SOCI_COUNTER_READS);
    for (uint32_t s = first + 1; s <= first + 2; s++) {
        struct soci_span_info si;
        assert_int_equal(soci_ztoc_span_info(fx.z, s, &si, sizeof(si)), 0);
        assert_int_equal(soci_layer_pread(l, big, buf, sizeof(buf), si.uncompressed_offset - off), sizeof(buf));
        assert_memory_equal(buf, fx.tar + si.uncompressed_offset, sizeof(buf));
    }
    assert_int_equal(counter(l, SOCI_COUNTER_READS), reads);
    soci_layer_free(l); /* stops the read-ahead thread, idle or not */
    soci_blob_unref(blob);
}

/* Two spans to load with a small one already held between them: one request for all
 * three (refetching the middle costs less than a round trip), the middle not decoded again. */
static void test_gaps_coalesced(void **state)
{
    (void)state;
    soci_blob *blob;
    soci_layer *l;
    uint64_t off, size;
    uint32_t big = lookup("bin/big"), first;
    uint8_t buf[100];
    struct soci_span_info si[3];
    expected_extent("bin/big", &off, &size);
    assert_int_equal(soci_ztoc_span_at(fx.z, off, &first), 0);
    first++; /* a span wholly inside the file */
    for (uint32_t i = 0; i < 3; i++)
        assert_int_equal(soci_ztoc_span_info(fx.z, first + i, &si[i], sizeof(si[i])), 0);
    assert_true(si[1].compressed_size <= (256 << 10));
    assert_int_equal(soci_blob_open_mem(fx.gz, fx.gz_len, 0, &blob), 0);
    assert_int_equal(soci_layer_open(blob, fx.z, &l), 0);

    assert_int_equal(soci_layer_pread(l, big, buf, sizeof(buf), si[1].uncompressed_offset - off), sizeof(buf));
    assert_int_equal(counter(l, SOCI_COUNTER_READS), 1);
    uint64_t start = si[0].uncompressed_offset + si[0].uncompressed_size - 50, end = si[2].uncompressed_offset + 50;
    uint8_t *across = malloc(end - start);
    assert_int_equal(soci_layer_pread(l, big, across, end - start, start - off), (int64_t)(end - start));
    assert_memory_equal(across, fx.tar + start, end - start);
    free(across);
    assert_int_equal(counter(l, SOCI_COUNTER_READS), 2);
    assert_int_equal(counter(l, SOCI_COUNTER_SPANS_DECODED), 3);
    assert_int_equal(counter(l, SOCI_COUNTER_BYTES_FETCHED),
                     si[1].compressed_size + (si[2].compressed_offset + si[2].compressed_size - si[0].compressed_offset));
    soci_layer_free(l);
    soci_blob_unref(blob);
}

struct thread_arg {
    unsigned seed;
    int failures;
};

static void *random_reader(void *p)
{
    struct thread_arg *a = p;
    uint64_t off, size;
    uint32_t big = 0;
    soci_ztoc_lookup(fx.z, "bin/big", &big);
    expected_extent("bin/big", &off, &size);
    uint8_t *buf = malloc(300000);
    for (int i = 0; i < 60; i++) {
        uint64_t at = (uint64_t)rand_r(&a->seed) % (size + 1000);
        size_t len = (size_t)rand_r(&a->seed) % 300000;
        int64_t n = soci_layer_pread(fx.layer, big, buf, len, at);
        uint64_t want = at >= size ? 0 : (size - at < len ? size - at : len);
        if (n != (int64_t)want || (want && memcmp(buf, fx.tar + off + at, want) != 0))
            a->failures++;
    }
    free(buf);
    return NULL;
}

static void test_many_threads(void **state)
{
    (void)state;
    pthread_t t[8];
    struct thread_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct thread_arg){.seed = (unsigned)i + 1};
        pthread_create(&t[i], NULL, random_reader, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
}

/* A flipped byte in the layer is caught by the span digest before any byte is returned;
 * spans it does not touch still read correctly. */
static void test_corrupt_layer_bytes(void **state)
{
    (void)state;
    uint8_t *bad = malloc(fx.gz_len);
    memcpy(bad, fx.gz, fx.gz_len);
    uint64_t off, size;
    uint32_t big = lookup("bin/big"), span;
    expected_extent("bin/big", &off, &size);
    assert_int_equal(soci_ztoc_span_at(fx.z, off + 1000000, &span), 0);
    struct soci_span_info si;
    soci_ztoc_span_info(fx.z, span, &si, sizeof(si));
    bad[si.compressed_offset + si.compressed_size / 2] ^= 0x40;

    soci_blob *blob;
    soci_layer *l;
    uint8_t buf[64];
    memset(buf, 0xAA, sizeof(buf));
    assert_int_equal(soci_blob_open_mem(bad, fx.gz_len, 0, &blob), 0);
    assert_int_equal(soci_layer_open(blob, fx.z, &l), 0);
    assert_int_equal(soci_layer_pread(l, big, buf, sizeof(buf), 1000000), SOCI_EDIGEST);
    assert_non_null(strstr(soci_last_error(), "do not match"));
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0xAA); /* nothing written */
    uint64_t poff, psize;
    expected_extent("etc/passwd", &poff, &psize);
    assert_int_equal(soci_layer_pread(l, lookup("etc/passwd"), buf, sizeof(buf), 0), psize);
    assert_memory_equal(buf, fx.tar + poff, psize);
    soci_layer_free(l);
    soci_blob_unref(blob);

    /* A blob of the wrong size is refused when the layer opens. */
    assert_int_equal(soci_blob_open_mem(bad, fx.gz_len - 1, 0, &blob), 0);
    assert_int_equal(soci_layer_open(blob, fx.z, &l), SOCI_EFORMAT);
    soci_blob_unref(blob);
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pread_semantics),
        cmocka_unit_test(test_links_and_lookup),
        cmocka_unit_test(test_reads_are_lazy),
        cmocka_unit_test(test_sequential_readahead),
        cmocka_unit_test(test_gaps_coalesced),
        cmocka_unit_test(test_many_threads),
        cmocka_unit_test(test_corrupt_layer_bytes),
    };
    return cmocka_run_group_tests_name("layer", tests, setup, teardown);
}
