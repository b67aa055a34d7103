/* SPDX-License-Identifier: Apache-2.0 */
/* Small internal helpers whose mistakes would show up far away: path cleaning (lookup
 * keys), RFC 3339 parsing (mtimes), digest text, the error table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <soci/soci.h>

#include "util/digest.h"
#include "util/error.h"
#include "util/extent_set.h"
#include "util/path.h"
#include "util/time.h"

static void clean_is(const char *in, const char *want, bool want_dotdot)
{
    char out[256];
    bool dotdot;
    size_t n = path_clean(in, strlen(in), out, &dotdot);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(dotdot, want_dotdot);
}

static void test_path_clean(void **state)
{
    (void)state;
    clean_is("etc/passwd", "etc/passwd", false);
    clean_is("/etc/passwd", "etc/passwd", false);
    clean_is("./etc/passwd", "etc/passwd", false);
    clean_is("etc/", "etc", false);
    clean_is("./", "", false);
    clean_is("/", "", false);
    clean_is("", "", false);
    clean_is("a//b/./c/", "a/b/c", false);
    clean_is("a/b/../c", "a/c", true);
    clean_is("../../x", "x", true);
    clean_is("a/..", "", true);
    clean_is(".wh..wh..opq", ".wh..wh..opq", false);
    clean_is("...", "...", false);
}

static void time_is(const char *s, int64_t sec, uint32_t nsec)
{
    int64_t got_sec;
    uint32_t got_nsec;
    assert_true(rfc3339_parse(s, strlen(s), &got_sec, &got_nsec));
    assert_int_equal(got_sec, sec);
    assert_int_equal(got_nsec, nsec);
}

static void time_bad(const char *s)
{
    int64_t sec;
    uint32_t nsec;
    assert_false(rfc3339_parse(s, strlen(s), &sec, &nsec));
}

static void test_rfc3339(void **state)
{
    (void)state;
    time_is("1970-01-01T00:00:00Z", 0, 0);
    time_is("2023-11-14T22:13:20Z", 1700000000, 0);
    time_is("2023-11-14T22:13:20.1234567Z", 1700000000, 123456700);
    time_is("2023-11-15T00:13:20+02:00", 1700000000, 0); /* a builder in another zone */
    time_is("2023-11-14T17:13:20-05:00", 1700000000, 0);
    time_is("1969-12-31T23:59:59Z", -1, 0);
    time_is("2000-02-29T00:00:00Z", 951782400, 0);
    time_is("2023-11-14T22:13:20.123456789123Z", 1700000000, 123456789);
    time_bad("2023-11-14 22:13:20");
    time_bad("2023-13-14T22:13:20Z");
    time_bad("2023-11-14T22:13:20.Z");
    time_bad("2023-11-14T22:13:20Zjunk");
    time_bad("");
}

static void test_digest_text(void **state)
{
    (void)state;
    uint8_t d[SHA256_LEN];
    char text[DIGEST_TEXT_LEN + 1];
    const char *good = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert_true(digest_parse(good, strlen(good), d));
    digest_format(d, text);
    assert_string_equal(text, good);
    assert_int_equal(sha256("", 0, d), 0);
    digest_format(d, text);
    assert_string_equal(text, good);
    assert_false(digest_parse(good, strlen(good) - 1, d));
    assert_false(digest_parse("sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 71, d));
    assert_false(digest_parse("sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 71, d));
}

static void test_errors(void **state)
{
    (void)state;
    assert_string_equal(soci_errname(SOCI_EDIGEST), "SOCI_EDIGEST");
    assert_string_equal(soci_errname(-999), "SOCI_E?");
    assert_int_equal(soci_errno(SOCI_ENOTFOUND), ENOENT);
    assert_int_equal(soci_errno(SOCI_EDIGEST), EIO);
    assert_int_equal(soci_errno(0), 0);
    assert_int_equal(soci_fail(SOCI_EFORMAT, "span %d", 3), SOCI_EFORMAT);
    assert_string_equal(soci_last_error(), "span 3");
    soci_fail_prefix(SOCI_EFORMAT, "file %s", "x");
    assert_string_equal(soci_last_error(), "file x: span 3");
    soci_clear_error();
    assert_string_equal(soci_last_error(), "");
    assert_int_equal(soci_version(), SOCI_VERSION_NUMBER);
    assert_string_equal(soci_version_string(), SOCI_VERSION_STRING);
}

/* Read extents: merged when they overlap or touch, in order, and never more than the
 * bound: past it the closest two become one, and every byte added stays covered. */
static void test_extent_set(void **state)
{
    (void)state;
    struct extent_set s;
    struct extent *v;
    size_t n;
    extent_set_init(&s, 4);
    assert_int_equal(extent_set_add(&s, 100, 200), 0);
    assert_int_equal(extent_set_add(&s, 0, 10), 0);
    assert_int_equal(extent_set_add(&s, 200, 250), 0); /* touching: merged */
    assert_int_equal(extent_set_add(&s, 5, 5), 0);     /* empty: ignored */
    assert_int_equal(extent_set_add(&s, 150, 160), 0);  /* inside */
    assert_int_equal(extent_set_copy(&s, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_true(v[0].start == 0 && v[0].end == 10 && v[1].start == 100 && v[1].end == 250);
    free(v);
    assert_int_equal(extent_set_add(&s, 1000, 1001), 0); /* three: the bound (4) keeps one free */
    assert_int_equal(extent_set_add(&s, 260, 270), 0);   /* four: 250..260 is the closest gap */
    assert_int_equal(extent_set_copy(&s, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_true(v[0].end == 10 && v[1].start == 100 && v[1].end == 270 && v[2].start == 1000);
    free(v);
    assert_int_equal(extent_set_add(&s, 5, 120), 0); /* spans two: one */
    assert_int_equal(extent_set_copy(&s, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_true(v[0].start == 0 && v[0].end == 270 && v[1].start == 1000 && v[1].end == 1001);
    free(v);
    for (uint64_t k = 0; k < 1000; k++) /* many apart: bounded, all covered */
        assert_int_equal(extent_set_add(&s, 10000 + k * 97 % 1000 * 10, 10000 + k * 97 % 1000 * 10 + 1), 0);
    assert_int_equal(extent_set_copy(&s, &v, &n), 0);
    assert_true(n <= 3);
    for (uint64_t at = 10000; at < 20000; at += 10) {
        size_t k = 0;
        while (k < n && v[k].end <= at)
            k++;
        assert_true(k < n && v[k].start <= at);
    }
    for (size_t k = 1; k < n; k++)
        assert_true(v[k - 1].end < v[k].start);
    free(v);
    extent_set_destroy(&s);
    extent_set_init(&s, 16);
    assert_int_equal(extent_set_copy(&s, &v, &n), 0);
    assert_true(n == 0 && v == NULL);
    extent_set_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_clean),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_digest_text),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_extent_set),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
