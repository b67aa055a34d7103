/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SOCI index manifests: serialised exactly as Go's encoding/json writes the reference's
 * ocispec.Manifest (compact, struct field order, sorted map keys, HTML-safe escapes);
 * parsed from the current form, the older artifact-manifest form and any formatting;
 * malformed ones refused.
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

#include "format/prefetch_json.h"
#include "util/json_go.h"

#define A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define EMPTY "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
#define MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define GZIP_LAYER "application/vnd.oci.image.layer.v1.tar+gzip"

/* What Go's json.Marshal(ocispec.Manifest{...}) gives for the index built below. */
static const char want_v1[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MANIFEST "\",\"config\":{\"mediaType\":"
    "\"application/vnd.amazon.soci.index.v1+json\",\"digest\":\"" EMPTY "\",\"size\":2},\"layers\":[{\"mediaType\":"
    "\"application/octet-stream\",\"digest\":\"" B "\",\"size\":10,\"annotations\":{"
    "\"com.amazon.soci.disable-xattrs\":\"true\",\"com.amazon.soci.image-layer-digest\":\"" C "\","
    "\"com.amazon.soci.image-layer-mediaType\":\"" GZIP_LAYER "\",\"com.amazon.soci.span-size\":\"4194304\"}}],"
    "\"subject\":{\"mediaType\":\"" MANIFEST "\",\"digest\":\"" A "\",\"size\":100},"
    "\"annotations\":{\"com.amazon.soci.build-tool-identifier\":\"t\\u003c\\u0026\\u003e\\u2028\"}}";

static void test_serialise_as_go(void **state)
{
    (void)state;
    soci_index *ix;
    void *out;
    size_t len;
    assert_int_equal(soci_index_new(SOCI_INDEX_V1, &ix), 0);
    assert_int_equal(soci_index_set_subject(ix, MANIFEST, A, 100), 0);
    assert_int_equal(soci_index_set_build_tool(ix, "t<&>\xe2\x80\xa8"), 0);
    assert_int_equal(soci_index_add_ztoc(ix, B, 10, C, GZIP_LAYER, 4194304, 1), 0);
    assert_int_equal(soci_index_serialize(ix, &out, &len), 0);
    assert_int_equal(len, strlen(want_v1));
    assert_memory_equal(out, want_v1, len);

    /* And back: the parsed index says what was built. */
    soci_index *back;
    struct soci_index_entry e;
    struct soci_descriptor subject;
    assert_int_equal(soci_index_parse(out, len, &back), 0);
    assert_int_equal(soci_index_version(back), SOCI_INDEX_V1);
    assert_string_equal(soci_index_build_tool(back), "t<&>\xe2\x80\xa8");
    assert_int_equal(soci_index_subject(back, &subject, sizeof(subject)), 0);
    assert_string_equal(subject.digest, A);
    assert_int_equal(subject.size, 100);
    assert_int_equal(soci_index_entry_count(back), 1);
    assert_int_equal(soci_index_entry(back, 0, &e, sizeof(e)), 0);
    assert_string_equal(e.digest, B);
    assert_string_equal(e.layer_digest, C);
    assert_int_equal(e.span_size, 4194304);
    assert_int_equal(e.disable_xattrs, 1);
    assert_int_equal(e.kind, SOCI_ENTRY_ZTOC);
    uint32_t found;
    assert_int_equal(soci_index_find_layer(back, C, &found), 0);
    assert_int_equal(soci_index_find_layer(back, A, &found), SOCI_ENOTFOUND);
    soci_index_free(back);
    soci_free(out);
    soci_index_free(ix);
}

static void test_v2_has_no_subject(void **state)
{
    (void)state;
    soci_index *ix;
    void *out;
    size_t len;
    struct soci_descriptor s;
    assert_int_equal(soci_index_new(SOCI_INDEX_V2, &ix), 0);
    assert_int_equal(soci_index_add_ztoc(ix, B, 10, C, GZIP_LAYER, 1048576, 0), 0);
    assert_int_equal(soci_index_serialize(ix, &out, &len), 0);
    assert_null(strstr(out, "subject"));
    assert_null(strstr(out, "annotations\":{\"com.amazon.soci.build")); /* none set */
    assert_non_null(strstr(out, "\"application/vnd.amazon.soci.index.v2+json\""));
    assert_int_equal(soci_index_subject(ix, &s, sizeof(s)), SOCI_ENOTFOUND);
    soci_free(out);
    soci_index_free(ix);
}

static void test_parse_forms(void **state)
{
    (void)state;
    soci_index *ix;
    /* Pretty-printed, keys in another order, a prefetch artifact among the zTOCs. */
    const char *pretty = "{\n \"layers\": [\n  {\"size\": 3, \"digest\": \"" B "\", \"mediaType\": "
                         "\"application/octet-stream\", \"annotations\": {\"com.amazon.soci.image-layer-digest\": \"" C
                         "\"}},\n  {\"mediaType\": \"application/vnd.amazon.soci.prefetch.v1+json\", \"digest\": \"" A
                         "\", \"size\": 5, \"annotations\": {\"com.amazon.soci.image-layer-digest\": \"" C "\"}}\n ],\n"
                         " \"config\": {\"mediaType\": \"application/vnd.amazon.soci.index.v2+json\", \"digest\": \"" EMPTY
                         "\", \"size\": 2},\n \"schemaVersion\": 2\n}\n";
    assert_int_equal(soci_index_parse(pretty, strlen(pretty), &ix), 0);
    assert_int_equal(soci_index_version(ix), SOCI_INDEX_V2);
    assert_int_equal(soci_index_entry_count(ix), 2);
    struct soci_index_entry e;
    soci_index_entry(ix, 1, &e, sizeof(e));
    assert_int_equal(e.kind, SOCI_ENTRY_PREFETCH);
    uint32_t found;
    assert_int_equal(soci_index_find_layer(ix, C, &found), 0);
    assert_int_equal(found, 0); /* the zTOC, not the prefetch artifact */
    soci_index_free(ix);

    /* The artifact-manifest form of early releases: blobs, artifactType, subject. */
    const char *old = "{\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\",\"artifactType\":"
                      "\"application/vnd.amazon.soci.index.v1+json\",\"blobs\":[{\"mediaType\":"
                      "\"application/octet-stream\",\"digest\":\"" B "\",\"size\":3,\"annotations\":{"
                      "\"com.amazon.soci.image-layer-digest\":\"" C "\"}}],\"subject\":{\"mediaType\":\"" MANIFEST
                      "\",\"digest\":\"" A "\",\"size\":7}}";
    assert_int_equal(soci_index_parse(old, strlen(old), &ix), 0);
    assert_int_equal(soci_index_version(ix), SOCI_INDEX_V1);
    assert_int_equal(soci_index_entry_count(ix), 1);
    soci_index_free(ix);
}

static void refused(const char *json, int err)
{
    soci_index *ix = NULL;
    assert_int_equal(soci_index_parse(json, strlen(json), &ix), err);
    assert_null(ix);
    assert_true(strlen(soci_last_error()) > 0);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    refused("", SOCI_EFORMAT);
    refused("[1,2]", SOCI_EFORMAT);
    refused("{\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\"}}", SOCI_EFORMAT);
    refused("{\"config\":{\"mediaType\":\"application/vnd.amazon.soci.index.v2+json\"},\"layers\":{}}", SOCI_EFORMAT);
    refused("{\"config\":{\"mediaType\":\"application/vnd.amazon.soci.index.v2+json\"},\"layers\":[{\"mediaType\":"
            "\"application/octet-stream\",\"digest\":\"sha256:zz\",\"size\":1}]}",
            SOCI_EFORMAT);
    refused("{\"config\":{\"mediaType\":\"application/vnd.amazon.soci.index.v2+json\"},\"layers\":[{\"mediaType\":"
            "\"application/octet-stream\",\"digest\":\"" B "\",\"size\":-1}]}",
            SOCI_EFORMAT);
    refused("{\"config\":{\"mediaType\":\"application/vnd.amazon.soci.index.v2+json\"},\"layers\":[{\"mediaType\":"
            "\"application/octet-stream\",\"digest\":\"" B "\",\"size\":1}]}",
            SOCI_EFORMAT); /* a zTOC naming no layer */
    refused("{\"a\":1,\"a\":2}", SOCI_EFORMAT);

    soci_index *ix;
    assert_int_equal(soci_index_new(3, &ix), SOCI_EINVAL);
    assert_int_equal(soci_index_new(SOCI_INDEX_V2, &ix), 0);
    assert_int_equal(soci_index_add_ztoc(ix, "sha256:short", 1, C, GZIP_LAYER, 1, 0), SOCI_EINVAL);
    assert_int_equal(soci_index_set_subject(ix, MANIFEST, "md5:x", 1), SOCI_EINVAL);
    soci_index_free(ix);
}

static void test_go_string_escapes(void **state)
{
    (void)state;
    struct jw w;
    char *out;
    size_t len;
    jw_init(&w);
    jw_arr_begin(&w);
    jw_str(&w, "q\"b\\n\n\t\x01<>&\xe2\x80\xa9 ok \xc3\xa9 bad \xff\xc3");
    jw_u64(&w, 18446744073709551615ull);
    jw_arr_end(&w);
    assert_int_equal(jw_finish(&w, &out, &len), 0);
    assert_string_equal(out, "[\"q\\\"b\\\\n\\n\\t\\u0001\\u003c\\u003e\\u0026\\u2029 ok \xc3\xa9 bad \\ufffd\\ufffd\","
                             "18446744073709551615]");
    free(out);
}

/* The prefetch descriptor as the reference's documentation shows it in an index. */
static const char want_prefetch_entry[] =
    "{\"mediaType\":\"application/vnd.amazon.soci.prefetch.v1+json\",\"digest\":\"" A "\",\"size\":161,"
    "\"annotations\":{\"com.amazon.soci.image-layer-digest\":\"" C "\"}}]";

static void test_prefetch_entries(void **state)
{
    (void)state;
    soci_index *ix, *back;
    void *out;
    size_t len;
    uint32_t i;
    struct soci_index_entry e;
    assert_int_equal(soci_index_new(SOCI_INDEX_V2, &ix), 0);
    assert_int_equal(soci_index_add_ztoc(ix, B, 10, C, GZIP_LAYER, 4194304, 0), 0);
    assert_int_equal(soci_index_add_prefetch(ix, A, 161, C), 0);
    assert_int_equal(soci_index_add_prefetch(ix, "sha256:x", 1, C), SOCI_EINVAL);
    assert_int_equal(soci_index_serialize(ix, &out, &len), 0);
    assert_non_null(memmem(out, len, want_prefetch_entry, strlen(want_prefetch_entry)));
    assert_int_equal(soci_index_parse(out, len, &back), 0);
    assert_int_equal(soci_index_find_layer(back, C, &i), 0);
    assert_int_equal(i, 0);
    assert_int_equal(soci_index_find_prefetch(back, C, &i), 0);
    assert_int_equal(i, 1);
    assert_int_equal(soci_index_entry(back, i, &e, sizeof(e)), 0);
    assert_int_equal(e.kind, SOCI_ENTRY_PREFETCH);
    assert_string_equal(e.digest, A);
    assert_int_equal(e.size, 161);
    assert_int_equal(soci_index_find_prefetch(back, B, &i), SOCI_ENOTFOUND);
    soci_index_free(back);
    soci_free(out);
    soci_index_free(ix);
}

/* What Go's json.Marshal gives for the reference's PrefetchArtifact (priority omitempty). */
static const char want_artifact[] = "{\"version\":\"1.0\",\"prefetch_spans\":[{\"start_span\":10,\"end_span\":15},"
                                    "{\"start_span\":50,\"end_span\":55,\"priority\":1}]}";

static void test_prefetch_artifact(void **state)
{
    (void)state;
    struct prefetch_range *r;
    size_t n, len;
    char *text;
    assert_int_equal(prefetch_parse(want_artifact, strlen(want_artifact), &r, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].first, 10);
    assert_int_equal(r[0].last, 15);
    assert_int_equal(r[1].priority, 1);
    assert_int_equal(prefetch_write(r, n, &text, &len), 0);
    assert_int_equal(len, strlen(want_artifact));
    assert_memory_equal(text, want_artifact, len);
    free(text);
    free(r);

    /* Overlapping and touching ranges of one priority merge; order is priority, then span. */
    static const char messy[] = "{\"version\":\"1.0\",\"prefetch_spans\":[{\"start_span\":7,\"end_span\":9},"
                                "{\"start_span\":0,\"end_span\":3},{\"start_span\":4,\"end_span\":5},"
                                "{\"start_span\":2,\"end_span\":2,\"priority\":-1}],\"unknown\":true}";
    assert_int_equal(prefetch_parse(messy, strlen(messy), &r, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(r[0].priority, -1);
    assert_int_equal(r[1].first, 0);
    assert_int_equal(r[1].last, 5);
    assert_int_equal(r[2].first, 7);
    free(r);

    static const char *const refused[] = {
        "{\"version\":\"2.0\",\"prefetch_spans\":[]}",
        "{\"prefetch_spans\":[]}",
        "{\"version\":\"1.0\",\"prefetch_spans\":[{\"start_span\":5,\"end_span\":4}]}",
        "{\"version\":\"1.0\",\"prefetch_spans\":[{\"start_span\":-1,\"end_span\":4}]}",
        "{\"version\":\"1.0\",\"prefetch_spans\":[{\"start_span\":0,\"end_span\":2147483648}]}",
        "{\"version\":\"1.0\",\"prefetch_spans\":[{\"start_span\":0}]}",
        "{\"version\":\"1.0\",\"prefetch_spans\":[{\"start_span\":0,\"end_span\":1,\"priority\":\"high\"}]}",
        "{\"version\":\"1.0\",\"prefetch_spans\":{}}",
        "{\"version\":\"1.0\",\"prefetch_spans\":[7]}",
        "[]",
        "{\"version\":\"1.0\",",
    };
    for (size_t k = 0; k < sizeof(refused) / sizeof(*refused); k++) {
        int rc = prefetch_parse(refused[k], strlen(refused[k]), &r, &n);
        if (rc != SOCI_EFORMAT)
            fail_msg("accepted (%d): %s", rc, refused[k]);
    }
    /* More ranges than any layer needs: refused before they are allocated. */
    size_t big = 64 + (size_t)(PREFETCH_MAX_RANGES + 1) * 48;
    char *huge = malloc(big), *p = huge;
    p += sprintf(p, "{\"version\":\"1.0\",\"prefetch_spans\":[");
    for (int k = 0; k <= PREFETCH_MAX_RANGES; k++)
        p += sprintf(p, "%s{\"start_span\":%d,\"end_span\":%d}", k ? "," : "", k, k);
    p += sprintf(p, "]}");
    assert_int_equal(prefetch_parse(huge, (size_t)(p - huge), &r, &n), SOCI_ETOOBIG);
    free(huge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serialise_as_go),
        cmocka_unit_test(test_v2_has_no_subject),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_go_string_escapes),
        cmocka_unit_test(test_prefetch_entries),
        cmocka_unit_test(test_prefetch_artifact),
    };
    return cmocka_run_group_tests_name("index", tests, NULL, NULL);
}
