/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every zTOC in the reference vectors, read through libsoci, must say exactly what the
 * reference implementation read back from it (span-N.json): header, spans, checkpoints
 * with their windows, every field of every entry; and every regular file read through a
 * layer must hash to the reference's extraction. Spans decoded one by one must add up to
 * what plain zlib inflates from the whole layer.
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

#include "format/ztoc_internal.h"
#include "helpers.h"

struct fixture {
    const struct vector_case *vc;
    json_t *expect;
    soci_ztoc *z;
    uint8_t *layer;
    size_t layer_len;
};

static int setup(void **state)
{
    const struct vector_case *vc = *state;
    struct fixture *f = calloc(1, sizeof(*f));
    f->vc = vc;
    f->expect = load_json(vc->json);
    int r = soci_ztoc_open_file(vc->ztoc, &f->z);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", vc->name, soci_last_error());
        return -1;
    }
    f->layer = slurp(vc->layer, &f->layer_len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    soci_ztoc_free(f->z);
    json_decref(f->expect);
    free(f->layer);
    free(f);
    return 0;
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    return json_integer_value(v);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    assert_non_null(v);
    return json_string_value(v);
}

static void check_header(const struct fixture *f)
{
    json_t *e = f->expect;
    const soci_ztoc *z = f->z;
    assert_string_equal(soci_ztoc_version(z), jstr(e, "version"));
    assert_string_equal(soci_ztoc_build_tool(z), jstr(e, "build_tool_identifier"));
    assert_string_equal(soci_ztoc_compression(z) == SOCI_COMPRESSION_GZIP ? "gzip" : "uncompressed",
                        jstr(e, "compression_algorithm"));
    assert_int_equal(soci_ztoc_compressed_size(z), jint(e, "compressed_archive_size"));
    assert_int_equal(soci_ztoc_uncompressed_size(z), jint(e, "uncompressed_archive_size"));
    assert_int_equal(soci_ztoc_span_count(z) - 1, jint(e, "max_span_id"));
    if (json_object_get(e, "checkpoint_blob_version") != NULL)
        assert_int_equal(soci_ztoc_checkpoint_version(z), jint(e, "checkpoint_blob_version"));
    if (json_object_get(e, "span_size") != NULL)
        assert_int_equal(soci_ztoc_span_size(z), jint(e, "span_size"));

    char hex[65];
    assert_int_equal(z->checkpoint_blob_len, jint(e, "checkpoint_blob_size"));
    sha256_hex(z->checkpoint_blob, z->checkpoint_blob_len, hex);
    assert_string_equal(hex, jstr(e, "checkpoint_blob_sha256"));

    json_t *digests = json_object_get(e, "span_digests");
    assert_int_equal(json_array_size(digests), soci_ztoc_span_count(z));
    for (uint32_t i = 0; i < soci_ztoc_span_count(z); i++) {
        struct soci_span_info si;
        assert_int_equal(soci_ztoc_span_info(z, i, &si, sizeof(si)), 0);
        assert_string_equal(si.digest, json_string_value(json_array_get(digests, i)));
    }
}

static void check_checkpoints(const struct fixture *f)
{
    json_t *cps = json_object_get(f->expect, "checkpoints");
    const soci_ztoc *z = f->z;
    if (z->compression != SOCI_COMPRESSION_GZIP)
        return;
    assert_int_equal(json_array_size(cps), z->span_count);
    for (uint32_t i = 0; i < z->span_count; i++) {
        json_t *c = json_array_get(cps, i);
        struct soci_span_info si;
        soci_ztoc_span_info(z, i, &si, sizeof(si));
        assert_int_equal(si.checkpoint_in, jint(c, "in"));
        assert_int_equal(si.uncompressed_offset, jint(c, "out"));
        assert_int_equal(si.checkpoint_bits, jint(c, "bits"));
        if (json_is_true(json_object_get(c, "implicit"))) {
            assert_null(z->checkpoints[i].window);
        } else {
            char hex[65];
            sha256_hex(z->checkpoints[i].window, ZTOC_WINDOW_SIZE, hex);
            assert_string_equal(hex, jstr(c, "window_sha256"));
        }
    }
}

static const char *type_name(uint32_t t)
{
    static const char *const names[] = {"?", "reg", "dir", "symlink", "hardlink", "char", "block", "fifo"};
    return names[t < 8 ? t : 0];
}

static void check_entries(const struct fixture *f)
{
    json_t *entries = json_object_get(f->expect, "entries");
    const soci_ztoc *z = f->z;
    assert_int_equal(json_array_size(entries), soci_ztoc_entry_count(z));
    for (uint32_t i = 0; i < soci_ztoc_entry_count(z); i++) {
        json_t *x = json_array_get(entries, i);
        struct soci_entry e;
        assert_int_equal(soci_ztoc_entry(z, i, &e, sizeof(e)), 0);
        assert_string_equal(e.name, jstr(x, "name"));
        assert_string_equal(type_name(e.type), jstr(x, "type"));
        assert_int_equal(e.offset, jint(x, "uncompressed_offset"));
        assert_int_equal(e.size, jint(x, "uncompressed_size"));
        assert_string_equal(e.linkname, jstr(x, "linkname"));
        assert_int_equal(e.mode, jint(x, "mode"));
        assert_int_equal(e.uid, jint(x, "uid"));
        assert_int_equal(e.gid, jint(x, "gid"));
        assert_string_equal(e.uname, jstr(x, "uname"));
        assert_string_equal(e.gname, jstr(x, "gname"));
        assert_string_equal(e.mod_time, jstr(x, "mod_time"));
        assert_int_equal(e.devmajor, jint(x, "devmajor"));
        assert_int_equal(e.devminor, jint(x, "devminor"));
        /* make_layers.py stamps every entry 1700000000 (+ a fraction for pax/subsecond). */
        assert_int_equal(e.mtime_sec, 1700000000);

        json_t *xattrs = json_object_get(x, "xattrs");
        assert_int_equal(json_object_size(xattrs), e.xattr_count);
        const char *prev_key = "";
        for (uint32_t j = 0; j < e.xattr_count; j++) {
            const char *key;
            const void *value;
            size_t len;
            assert_int_equal(soci_ztoc_entry_xattr(z, i, j, &key, &value, &len), 0);
            assert_true(strcmp(prev_key, key) < 0); /* sorted by key */
            prev_key = key;
            json_t *want = json_object_get(xattrs, key);
            assert_non_null(want);
            assert_int_equal(len, json_string_length(want));
            assert_memory_equal(value, json_string_value(want), len);
            if (strcmp(key, "mtime") == 0 && strchr(json_string_value(want), '.') != NULL) {
                /* The PAX record is the independent source of the sub-second part. */
                const char *frac = strchr(json_string_value(want), '.') + 1;
                uint32_t ns = 0, scale = 100000000;
                for (; *frac && scale; frac++, scale /= 10)
                    ns += (uint32_t)(*frac - '0') * scale;
                assert_int_equal(e.mtime_nsec, ns);
            }
        }

        uint32_t found;
        assert_int_equal(soci_ztoc_lookup(z, e.name, &found), 0);
        struct soci_entry fe;
        soci_ztoc_entry(z, found, &fe, sizeof(fe));
        assert_string_equal(fe.path, e.path);
    }
}

static void read_file_in_chunks(soci_layer *l, uint32_t entry, uint64_t size, size_t chunk, char hex[65])
{
    uint8_t *all = malloc(size + 1), *buf = malloc(chunk);
    uint64_t off = 0;
    for (;;) {
        int64_t n = soci_layer_pread(l, entry, buf, chunk, off);
        if (n < 0)
            fail_msg("pread: %s", soci_last_error());
        if (n == 0)
            break;
        assert_true(off + (uint64_t)n <= size);
        memcpy(all + off, buf, (size_t)n);
        off += (uint64_t)n;
    }
    assert_int_equal(off, size);
    sha256_hex(all, size, hex);
    free(all);
    free(buf);
}

static void check_files(const struct fixture *f)
{
    soci_blob *blob;
    soci_layer *l;
    assert_int_equal(soci_blob_open_mem(f->layer, f->layer_len, 0, &blob), 0);
    assert_int_equal(soci_layer_open(blob, f->z, &l), 0);

    json_t *files = json_object_get(f->expect, "file_sha256");
    const char *path;
    json_t *want;
    json_object_foreach(files, path, want) {
        uint32_t entry, target;
        struct soci_entry e;
        char hex[65];
        assert_int_equal(soci_ztoc_lookup(f->z, path, &entry), 0);
        assert_int_equal(soci_ztoc_resolve(f->z, entry, &target), 0);
        soci_ztoc_entry(f->z, target, &e, sizeof(e));
        /* Big reads (whole spans decoded in place) and small ones (partial spans). */
        read_file_in_chunks(l, entry, e.size, 1 << 20, hex);
        assert_string_equal(hex, json_string_value(want));
        read_file_in_chunks(l, entry, e.size, 4099, hex);
        assert_string_equal(hex, json_string_value(want));
    }
    soci_layer_free(l);
    soci_blob_unref(blob);
}

/* Decoding every span on its own must give the same bytes as inflating the whole layer. */
static void check_spans(const struct fixture *f)
{
    const soci_ztoc *z = f->z;
    size_t full_len;
    uint8_t *full;
    if (z->compression == SOCI_COMPRESSION_GZIP) {
        full = gunzip_all(f->layer, f->layer_len, &full_len);
    } else {
        full = malloc(f->layer_len);
        memcpy(full, f->layer, f->layer_len);
        full_len = f->layer_len;
    }
    for (uint32_t i = 0; i < z->span_count; i++) {
        struct soci_span_info si;
        soci_ztoc_span_info(z, i, &si, sizeof(si));
        assert_true(si.compressed_offset + si.compressed_size <= f->layer_len);
        uint8_t *out = malloc(si.uncompressed_size + 1);
        int64_t n = soci_ztoc_decode_span(z, i, f->layer + si.compressed_offset, si.compressed_size, out,
                                          si.uncompressed_size);
        if (n < 0)
            fail_msg("span %u: %s", i, soci_last_error());
        assert_int_equal(n, si.uncompressed_size);
        assert_true(si.uncompressed_offset + si.uncompressed_size <= full_len);
        assert_memory_equal(out, full + si.uncompressed_offset, si.uncompressed_size);
        free(out);
    }
    free(full);
}

static void test_vector(void **state)
{
    const struct fixture *f = *state;
    check_header(f);
    check_checkpoints(f);
    check_entries(f);
    check_spans(f);
    check_files(f);
}

int main(void)
{
    return run_per_vector("vectors", test_vector, setup, teardown);
}
