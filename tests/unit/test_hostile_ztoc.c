/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hostile zTOCs: truncated at every length, every byte flipped, and fields patched to
 * lie in the ways the format allows (offsets past the end, overlapping entries,
 * checkpoints out of order or misplaced, names that climb out, spans that claim more or
 * less than they inflate to). Each must give a clean error code, or open and then read
 * either correct bytes or an error; never a crash (the suite also runs under ASan+UBSan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <soci/soci.h>

#include "format/flatbuf.h"
#include "format/ztoc_internal.h"
#include "helpers.h"
#include "util/bytes.h"

static const char *vectors;

struct sample {
    uint8_t *ztoc;
    size_t ztoc_len;
    uint8_t *layer;
    size_t layer_len;
};

static struct sample load(const char *name, const char *span, const char *layer)
{
    struct sample s;
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/%s.ztoc", vectors, name, span);
    s.ztoc = slurp(path, &s.ztoc_len);
    snprintf(path, sizeof(path), "%s/%s/%s", vectors, name, layer);
    s.layer = slurp(path, &s.layer_len);
    return s;
}

static void unload(struct sample *s)
{
    free(s->ztoc);
    free(s->layer);
}

static bool known_error(int r)
{
    return r == SOCI_EFORMAT || r == SOCI_ETOOBIG || r == SOCI_EDIGEST || r == SOCI_ENOTFOUND ||
           r == SOCI_ELOOP || r == SOCI_EINVAL || r == SOCI_EISDIR || r == SOCI_ENOMEM;
}

/* Read up to 4 KiB of every regular file; each read must succeed or fail cleanly. */
static void read_everything(const soci_ztoc *z, const struct sample *s)
{
    soci_blob *blob;
    soci_layer *l;
    uint8_t buf[4096];
    assert_int_equal(soci_blob_open_mem(s->layer, s->layer_len, 0, &blob), 0);
    int r = soci_layer_open(blob, z, &l);
    if (r == 0) {
        for (uint32_t i = 0; i < soci_ztoc_entry_count(z); i++) {
            int64_t n = soci_layer_pread(l, i, buf, sizeof(buf), 0);
            if (n < 0 && !known_error((int)n))
                fail_msg("entry %u: unexpected %s: %s", i, soci_errname((int)n), soci_last_error());
        }
        soci_layer_free(l);
    } else {
        assert_int_equal(r, SOCI_EFORMAT);
    }
    soci_blob_unref(blob);
}

static void truncations(const char *name, const char *span, const char *layer, size_t step, bool all_fail)
{
    struct sample s = load(name, span, layer);
    for (size_t len = 0; len < s.ztoc_len; len += step) {
        soci_ztoc *z = NULL;
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        memcpy(copy, s.ztoc, len);
        int r = soci_ztoc_open_mem(copy, len, 0, &z);
        if (r == 0) {
            if (all_fail)
                fail_msg("%s truncated to %zu bytes opened", name, len);
            read_everything(z, &s);
            soci_ztoc_free(z);
        } else {
            assert_int_equal(r, SOCI_EFORMAT);
            assert_true(strlen(soci_last_error()) > 0);
        }
        free(copy);
    }
    unload(&s);
}

static void test_truncated(void **state)
{
    (void)state;
    truncations("tiny-gzip6", "span-65536", "layer.tar.gz", 1, true);
    truncations("alltypes-pax-uncompressed", "span-65536", "layer.tar", 1, true);
    truncations("alltypes-pax-gzip6", "span-1048576", "layer.tar.gz", 7, false);
}

static void flips(const char *name, const char *span, const char *layer, size_t step)
{
    struct sample s = load(name, span, layer);
    uint8_t *copy = malloc(s.ztoc_len);
    for (size_t pos = 0; pos < s.ztoc_len; pos += step) {
        for (int k = 0; k < 2; k++) {
            static const uint8_t masks[] = {0xff, 0x80};
            soci_ztoc *z = NULL;
            memcpy(copy, s.ztoc, s.ztoc_len);
            copy[pos] ^= masks[k];
            int r = soci_ztoc_open_mem(copy, s.ztoc_len, 0, &z);
            if (r == 0) {
                read_everything(z, &s);
                soci_ztoc_free(z);
            } else if (!known_error(r)) {
                fail_msg("flip at %zu: unexpected %s", pos, soci_errname(r));
            }
        }
    }
    free(copy);
    unload(&s);
}

static void test_flipped_bytes(void **state)
{
    (void)state;
    flips("alltypes-pax-uncompressed", "span-65536", "layer.tar", 1);
    flips("tiny-gzip6", "span-65536", "layer.tar.gz", 1);
}

/* ---- patching named fields of a real zTOC ---- */

struct patcher {
    uint8_t *buf;
    size_t len;
    struct fb_buf fb;
    struct fb_table root, toc, ci;
    struct fb_vec meta;
};

static void patcher_init(struct patcher *p, const struct sample *s)
{
    int present;
    p->len = s->ztoc_len;
    p->buf = malloc(p->len);
    memcpy(p->buf, s->ztoc, p->len);
    fb_buf_init(&p->fb, p->buf, p->len);
    assert_int_equal(fb_root(&p->fb, &p->root), 0);
    assert_int_equal(fb_table_field(&p->root, 4, "toc", &p->toc, &present), 0);
    assert_int_equal(fb_vector(&p->toc, 0, 4, "metadata", &p->meta), 0);
    assert_int_equal(fb_table_field(&p->root, 5, "ci", &p->ci, &present), 0);
}

/* Position of field id of entry i (must be present). */
static uint32_t entry_field(struct patcher *p, uint32_t i, unsigned id, size_t size)
{
    struct fb_table t;
    uint32_t pos;
    assert_int_equal(fb_vec_table(&p->meta, i, "entry", &t), 0);
    assert_int_equal(fb_field_pos(&t, id, size, "field", &pos), 0);
    assert_true(pos != 0);
    return pos;
}

/* Byte position of entry i's string field id (its characters). */
static uint8_t *entry_string(struct patcher *p, uint32_t i, unsigned id)
{
    struct fb_table t;
    struct fb_str s;
    assert_int_equal(fb_vec_table(&p->meta, i, "entry", &t), 0);
    assert_int_equal(fb_string(&t, id, "string", &s), 0);
    return (uint8_t *)(uintptr_t)s.ptr;
}

static uint8_t *checkpoint(struct patcher *p, uint32_t i)
{
    struct fb_vec cps;
    assert_int_equal(fb_vector(&p->ci, 3, 1, "checkpoints", &cps), 0);
    return p->buf + cps.pos + 12 + (size_t)i * (17 + ZTOC_WINDOW_SIZE);
}

static int open_patched(struct patcher *p, soci_ztoc **z)
{
    *z = NULL;
    return soci_ztoc_open_mem(p->buf, p->len, 0, z);
}

static void expect_refused(struct patcher *p, const char *why)
{
    soci_ztoc *z;
    int r = open_patched(p, &z);
    if (r == 0)
        fail_msg("zTOC with %s opened", why);
    assert_int_equal(r, SOCI_EFORMAT);
    assert_true(strlen(soci_last_error()) > 0);
    free(p->buf);
}

static void test_bad_entries(void **state)
{
    (void)state;
    struct sample s = load("alltypes-pax-gzip6", "span-65536", "layer.tar.gz");
    struct patcher p;
    enum { NAME = 0, TYPE = 1, OFFSET = 2, SIZE = 3 };
    uint32_t passwd = 4; /* etc/passwd, a regular file */

    patcher_init(&p, &s);
    store_u64le(p.buf + entry_field(&p, passwd, OFFSET, 8), 3173888);
    expect_refused(&p, "an offset past the archive");

    patcher_init(&p, &s);
    store_u64le(p.buf + entry_field(&p, passwd, SIZE, 8), INT64_MAX);
    expect_refused(&p, "a size past the archive");

    patcher_init(&p, &s);
    store_u64le(p.buf + entry_field(&p, passwd, SIZE, 8), (uint64_t)-5);
    expect_refused(&p, "a negative size");

    patcher_init(&p, &s);
    store_u64le(p.buf + entry_field(&p, passwd, OFFSET, 8), 2560); /* etc/block512's data */
    expect_refused(&p, "overlapping entries");

    patcher_init(&p, &s);
    memcpy(entry_string(&p, passwd, NAME), "..//passwd", 10);
    expect_refused(&p, "a name climbing out with ..");

    patcher_init(&p, &s);
    entry_string(&p, passwd, NAME)[3] = '\0';
    expect_refused(&p, "a NUL inside a name");

    patcher_init(&p, &s);
    memcpy(entry_string(&p, passwd, TYPE), "rex", 3);
    expect_refused(&p, "an unknown entry type");

    patcher_init(&p, &s);
    memcpy(entry_string(&p, passwd, 10), "2023-13", 7); /* mod_time */
    expect_refused(&p, "a bad mod_time");

    patcher_init(&p, &s);
    store_u32le(p.buf + p.meta.pos - 4, 0x7fffffff); /* entry count */
    expect_refused(&p, "an entry count near INT32_MAX");
    unload(&s);
}

static void test_bad_spans(void **state)
{
    (void)state;
    struct sample s = load("alltypes-pax-gzip6", "span-65536", "layer.tar.gz");
    struct patcher p;
    uint32_t pos;

    patcher_init(&p, &s);
    assert_int_equal(fb_field_pos(&p.ci, 1, 4, "max_span_id", &pos), 0);
    store_u32le(p.buf + pos, 48); /* one more span than digests and checkpoints */
    expect_refused(&p, "a span count disagreeing with the digests");

    patcher_init(&p, &s);
    store_u32le(checkpoint(&p, 0) - 12, 47); /* the checkpoint blob's own count */
    expect_refused(&p, "a checkpoint count disagreeing with max_span_id");

    patcher_init(&p, &s);
    store_u64le(checkpoint(&p, 5), load_u64le(checkpoint(&p, 4)) - 1);
    expect_refused(&p, "checkpoints out of order");

    patcher_init(&p, &s);
    checkpoint(&p, 5)[16] = 9;
    expect_refused(&p, "a checkpoint with 9 bits");

    /* Checkpoints past the uncompressed size occur in real zTOCs (tar padding after the
     * end of the archive): accepted, their spans empty. */
    patcher_init(&p, &s);
    store_u64le(checkpoint(&p, 47) + 8, 3173889);
    soci_ztoc *z;
    struct soci_span_info si;
    assert_int_equal(open_patched(&p, &z), 0);
    assert_int_equal(soci_ztoc_span_info(z, 47, &si, sizeof(si)), 0);
    assert_int_equal(si.uncompressed_size, 0);
    assert_int_equal(si.uncompressed_offset, soci_ztoc_uncompressed_size(z));
    soci_ztoc_free(z);
    free(p.buf);

    patcher_init(&p, &s);
    store_u64le(checkpoint(&p, 0) + 8, 1);
    expect_refused(&p, "a first checkpoint not at 0");

    patcher_init(&p, &s);
    struct fb_vec digests;
    struct fb_str d;
    assert_int_equal(fb_vector(&p.ci, 2, 4, "digests", &digests), 0);
    assert_int_equal(fb_vec_string(&digests, 3, "digest", &d), 0);
    ((uint8_t *)(uintptr_t)d.ptr)[10] = 'z';
    expect_refused(&p, "a malformed span digest");
    unload(&s);
}

/* Read [off, off+len) of bin/big through a patched zTOC. */
static int64_t read_big(struct patcher *p, const struct sample *s, uint64_t off, size_t len, uint8_t *out)
{
    soci_ztoc *z;
    soci_blob *blob;
    soci_layer *l;
    uint32_t big;
    assert_int_equal(open_patched(p, &z), 0);
    assert_int_equal(soci_blob_open_mem(s->layer, s->layer_len, 0, &blob), 0);
    assert_int_equal(soci_layer_open(blob, z, &l), 0);
    assert_int_equal(soci_ztoc_lookup(z, "bin/big", &big), 0);
    int64_t n = soci_layer_pread(l, big, out, len, off);
    soci_layer_free(l);
    soci_blob_unref(blob);
    soci_ztoc_free(z);
    return n;
}

static void test_lying_checkpoints(void **state)
{
    (void)state;
    struct sample s = load("alltypes-pax-gzip6", "span-65536", "layer.tar.gz");
    struct patcher p;
    uint8_t buf[1000];
    const uint64_t big_off = 5120; /* bin/big's data offset in the tar */

    /* A checkpoint moved by one compressed byte: both spans it bounds now cover other
     * bytes than their digests, so reads in them fail; no wrong byte comes out. */
    patcher_init(&p, &s);
    uint64_t in10 = load_u64le(checkpoint(&p, 10)), out10 = load_u64le(checkpoint(&p, 10) + 8);
    store_u64le(checkpoint(&p, 10), in10 + 1);
    assert_int_equal(read_big(&p, &s, out10 - big_off + 10, 100, buf), SOCI_EDIGEST);
    assert_int_equal(read_big(&p, &s, out10 - big_off - 200, 100, buf), SOCI_EDIGEST);
    free(p.buf);

    /* Leftover bits claimed where there are none: the range grows by a byte, digest fails. */
    patcher_init(&p, &s);
    checkpoint(&p, 10)[16] = 3;
    assert_int_equal(read_big(&p, &s, out10 - big_off + 10, 100, buf), SOCI_EDIGEST);
    free(p.buf);

    /* A span declared 1000 bytes longer than its data inflates to: the decoder runs out of
     * input and says so instead of inventing bytes. */
    patcher_init(&p, &s);
    store_u64le(checkpoint(&p, 10) + 8, out10 + 1000);
    int64_t n = read_big(&p, &s, out10 - big_off + 500, 100, buf);
    assert_int_equal(n, SOCI_EFORMAT);
    assert_non_null(strstr(soci_last_error(), "ends after"));
    free(p.buf);

    /* A span declared shorter than its data (a would-be bomb): decoding stops at the
     * declared size, nothing is written past it. */
    patcher_init(&p, &s);
    store_u64le(checkpoint(&p, 10) + 8, out10 - 1000);
    n = read_big(&p, &s, out10 - big_off - 3000, sizeof(buf), buf);
    assert_int_equal(n, sizeof(buf));
    free(p.buf);
    unload(&s);
}

static void test_bad_tar_zinfo(void **state)
{
    (void)state;
    struct sample s = load("alltypes-pax-uncompressed", "span-65536", "layer.tar");
    struct patcher p;
    uint32_t pos;

    patcher_init(&p, &s);
    assert_int_equal(fb_field_pos(&p.ci, 0, 1, "algorithm", &pos), 0);
    assert_true(pos != 0);
    p.buf[pos] = 3;
    expect_refused(&p, "an unknown compression algorithm");

    patcher_init(&p, &s);
    assert_int_equal(fb_field_pos(&p.root, 2, 8, "compressed size", &pos), 0);
    store_u64le(p.buf + pos, load_u64le(p.buf + pos) + 1);
    expect_refused(&p, "a tar size that disagrees with the archive size");
    unload(&s);
}

/* The reference appends prefetch hints after the flatbuffer ("---SOCI-PREFETCH---" and
 * JSON); such a zTOC opens as the flatbuffer it starts with. */
static void test_prefetch_appendix(void **state)
{
    (void)state;
    struct sample s = load("tiny-gzip6", "span-65536", "layer.tar.gz");
    const char tail[] = "---SOCI-PREFETCH---[{\"path\":\"blob.bin\"}]";
    uint8_t *buf = malloc(s.ztoc_len + sizeof(tail));
    memcpy(buf, s.ztoc, s.ztoc_len);
    memcpy(buf + s.ztoc_len, tail, sizeof(tail) - 1);
    soci_ztoc *z;
    assert_int_equal(soci_ztoc_open_mem(buf, s.ztoc_len + sizeof(tail) - 1, 0, &z), 0);
    assert_int_equal(soci_ztoc_entry_count(z), 1);
    read_everything(z, &s);
    soci_ztoc_free(z);
    free(buf);
    unload(&s);
}

static void test_api_misuse(void **state)
{
    (void)state;
    soci_ztoc *z = NULL;
    assert_int_equal(soci_ztoc_open_mem(NULL, 0, 0, &z), SOCI_EINVAL);
    assert_int_equal(soci_ztoc_open_mem("", 0, 0, &z), SOCI_EFORMAT);
    assert_int_equal(soci_ztoc_open_mem("", 0, 0x80, &z), SOCI_EINVAL);
    assert_null(z);
    assert_int_equal(soci_ztoc_open_file("/nonexistent/z.ztoc", &z), SOCI_ENOTFOUND);
    assert_int_equal(soci_ztoc_open_file("/", &z), SOCI_EINVAL);
    soci_ztoc_free(NULL);
}

int main(void)
{
    vectors = vectors_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_flipped_bytes),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_bad_spans),
        cmocka_unit_test(test_lying_checkpoints),
        cmocka_unit_test(test_bad_tar_zinfo),
        cmocka_unit_test(test_prefetch_appendix),
        cmocka_unit_test(test_api_misuse),
    };
    return cmocka_run_group_tests_name("hostile_ztoc", tests, NULL, NULL);
}
