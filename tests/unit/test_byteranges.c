/* SPDX-License-Identifier: Apache-2.0 */
/*
 * multipart/byteranges answers (RFC 9110, 14.6), placed into the pieces of a request for
 * several ranges: as servers write them (parts in order or not, a preamble, quoted
 * boundaries, merged ranges), cut into the body's every split, and hostile ones refused.
 * The registry tests read the same through Go's net/http (docker-registry).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "remote/byteranges.h"

#define BLOB_SIZE 1000
#define NPIECES 3

static uint8_t blob[BLOB_SIZE];
static const uint64_t piece_off[NPIECES] = {100, 400, 900};
static const size_t piece_len[NPIECES] = {50, 20, 100};

struct asked {
    uint8_t bufs[NPIECES][100];
    struct soci_iov_at pieces[NPIECES];
    bool done[NPIECES];
};

static void ask(struct asked *a)
{
    memset(a, 0, sizeof(*a));
    for (int i = 0; i < NPIECES; i++)
        a->pieces[i] = (struct soci_iov_at){a->bufs[i], piece_len[i], piece_off[i]};
}

/* A part holding blob bytes [first, last], as servers write it. */
static size_t part(char *out, size_t at, const char *delim, uint64_t first, uint64_t last)
{
    at += (size_t)sprintf(out + at, "%s\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes %llu-%llu/%d\r\n\r\n",
                          delim, (unsigned long long)first, (unsigned long long)last, BLOB_SIZE);
    memcpy(out + at, blob + first, (size_t)(last - first + 1));
    return at + (size_t)(last - first + 1);
}

/* The body with parts for the given ranges (inclusive), Go's layout: a delimiter line
 * before each part, CRLF between, the closing delimiter last. */
static size_t body(char *out, const uint64_t (*ranges)[2], size_t n)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            at += (size_t)sprintf(out + at, "\r\n");
        at = part(out, at, "--b0undary", ranges[i][0], ranges[i][1]);
    }
    return at + (size_t)sprintf(out + at, "\r\n--b0undary--\r\n");
}

/* Feed the body in chunks of `chunk` bytes: what the last feed returned. */
static int feed(struct byteranges *p, const char *data, size_t len, size_t chunk)
{
    int r = 0;
    for (size_t at = 0; at < len && r == 0; at += chunk)
        r = byteranges_feed(p, data + at, len - at < chunk ? len - at : chunk);
    return r;
}

static void assert_placed(const struct asked *a, int i)
{
    assert_true(a->done[i]);
    assert_memory_equal(a->bufs[i], blob + piece_off[i], piece_len[i]);
}

static void test_parts_every_split(void **state)
{
    (void)state;
    static const uint64_t in_order[][2] = {{100, 149}, {400, 419}, {900, 999}};
    static const uint64_t reordered[][2] = {{900, 999}, {100, 149}, {400, 419}};
    static char text[4096];
    for (int order = 0; order < 2; order++) {
        size_t len = body(text, order ? reordered : in_order, 3);
        for (size_t chunk = 1; chunk <= len; chunk++) {
            struct asked a;
            struct byteranges p;
            ask(&a);
            assert_true(byteranges_begin_multipart(&p, "multipart/byteranges; boundary=b0undary", a.pieces, NPIECES,
                                                   a.done));
            assert_int_equal(feed(&p, text, len, chunk), 1);
            for (int i = 0; i < NPIECES; i++)
                assert_placed(&a, i);
        }
    }
}

static void test_server_variants(void **state)
{
    (void)state;
    static char text[4096];
    struct asked a;
    struct byteranges p;
    /* A preamble, a quoted boundary, padding after delimiters, bare LF line ends. */
    size_t at = (size_t)sprintf(text, "This is a preamble.\r\n\r\n");
    at = part(text, at, "--q b", 100, 149);
    at += (size_t)sprintf(text + at, "\n--q b \t\ncontent-range: bytes 400-419/*\n\n");
    memcpy(text + at, blob + 400, 20);
    at += 20;
    at += (size_t)sprintf(text + at, "\r\n");
    at = part(text, at, "--q b", 900, 999);
    at += (size_t)sprintf(text + at, "\r\n--q b--  \r\nepilogue, ignored");
    ask(&a);
    assert_true(byteranges_begin_multipart(&p, "Multipart/ByteRanges; charset=x; boundary=\"q b\"", a.pieces, NPIECES,
                                           a.done));
    assert_int_equal(feed(&p, text, at, 7), 1);
    for (int i = 0; i < NPIECES; i++)
        assert_placed(&a, i);

    /* Two ranges merged into one part (RFC 9110 allows it), the third left out: the two
     * are in, the third is not. */
    static const uint64_t merged[][2] = {{90, 430}};
    size_t len = body(text, merged, 1);
    ask(&a);
    assert_true(byteranges_begin_multipart(&p, "multipart/byteranges; boundary=b0undary", a.pieces, NPIECES, a.done));
    assert_int_equal(feed(&p, text, len, len), 1);
    assert_placed(&a, 0);
    assert_placed(&a, 1);
    assert_false(a.done[2]);

    /* A part holding a piece in part only does not count it in. */
    static const uint64_t partial[][2] = {{120, 149}, {400, 419}};
    len = body(text, partial, 2);
    ask(&a);
    assert_true(byteranges_begin_multipart(&p, "multipart/byteranges; boundary=b0undary", a.pieces, NPIECES, a.done));
    assert_int_equal(feed(&p, text, len, 5), 1);
    assert_false(a.done[0]);
    assert_placed(&a, 1);

    /* A cut body: the pieces whose part came whole are in, the cut one is not, and the
     * parser still waits for more. */
    static const uint64_t all[][2] = {{100, 149}, {400, 419}, {900, 999}};
    len = body(text, all, 3);
    ask(&a);
    assert_true(byteranges_begin_multipart(&p, "multipart/byteranges; boundary=b0undary", a.pieces, NPIECES, a.done));
    assert_int_equal(feed(&p, text, len - 60, 3), 0);
    assert_placed(&a, 0);
    assert_placed(&a, 1);
    assert_false(a.done[2]);
}

static void test_single_part(void **state)
{
    (void)state;
    struct asked a;
    struct byteranges p;
    /* One range covering all three pieces (a server that merges what was asked). */
    ask(&a);
    assert_true(byteranges_begin_single(&p, "bytes 100-999/1000", a.pieces, NPIECES, a.done));
    assert_int_equal(feed(&p, (const char *)blob + 100, 900, 33), 1);
    for (int i = 0; i < NPIECES; i++)
        assert_placed(&a, i);
    /* The first range only (a server that serves one per request). */
    ask(&a);
    assert_true(byteranges_begin_single(&p, "bytes 100-149/1000", a.pieces, NPIECES, a.done));
    assert_int_equal(feed(&p, (const char *)blob + 100, 50, 50), 1);
    assert_placed(&a, 0);
    assert_false(a.done[1] || a.done[2]);
    assert_false(byteranges_begin_single(&p, "bytes 100-99/1000", a.pieces, NPIECES, a.done));
}

static void test_content_range(void **state)
{
    (void)state;
    uint64_t a, b;
    assert_true(byteranges_parse_content_range("bytes 0-9/10", &a, &b));
    assert_true(a == 0 && b == 9);
    assert_true(byteranges_parse_content_range(" bytes  5-5/*", &a, &b));
    assert_true(a == 5 && b == 5);
    static const char *const bad[] = {
        "", "bytes", "bytes 1-", "bytes -1/10", "bytes 5-4/10", "bytes 0-9/9", "bytes 0-9/10x",
        "bits 0-9/10", "bytes 0-99999999999999999999/*", "bytes 0-18446744073709551615/*", "bytes 0 - 9/10",
        "bytes=0-9/10", "bytes 0-9",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(byteranges_parse_content_range(bad[i], &a, &b));
}

/* Refused at the start, or as the body comes: never more bytes read than allowed. */
static void test_hostile(void **state)
{
    (void)state;
    static char text[1 << 20];
    struct asked a;
    struct byteranges p;
    static const char *const types[] = {
        "application/octet-stream", "multipart/byteranges", "multipart/byteranges; boundary=",
        "multipart/byteranges; boundary=\"open",
        ("multipart/byteranges; boundary="
         "12345678901234567890123456789012345678901234567890123456789012345678901"),
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        ask(&a);
        assert_false(byteranges_begin_multipart(&p, types[i], a.pieces, NPIECES, a.done));
        assert_true(p.error[0] != '\0');
    }
    static const char *const bodies[] = {
        "--b\r\nContent-Type: x\r\n\r\ndata", /* a part without its range */
        "--b\r\nContent-Range: bytes 9-1/1000\r\n\r\n", /* a backwards range */
        ("--b\r\nContent-Range: bytes 100-149/1000\r\n\r\n" /* junk where a delimiter belongs */
         "01234567890123456789012345678901234567890123456789junk\r\n"),
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ask(&a);
        assert_true(byteranges_begin_multipart(&p, "multipart/byteranges; boundary=b", a.pieces, NPIECES, a.done));
        assert_int_equal(byteranges_feed(&p, bodies[i], strlen(bodies[i])), -1);
        assert_true(p.error[0] != '\0');
    }
    /* An endless header line. */
    memset(text, 'x', 4096);
    ask(&a);
    assert_true(byteranges_begin_multipart(&p, "multipart/byteranges; boundary=b", a.pieces, NPIECES, a.done));
    assert_int_equal(feed(&p, text, 4096, 100), -1);
    /* Endless parts of nothing asked for: refused once past the budget the pieces allow. */
    size_t at = 0;
    while (at < sizeof(text) - 200)
        at += (size_t)sprintf(text + at, "--b\r\nContent-Range: bytes 0-9/1000\r\n\r\n0123456789\r\n");
    ask(&a);
    assert_true(byteranges_begin_multipart(&p, "multipart/byteranges; boundary=b", a.pieces, NPIECES, a.done));
    assert_int_equal(feed(&p, text, at, 4096), -1);
    /* One huge part: refused before its bytes are all read. */
    ask(&a);
    assert_true(byteranges_begin_single(&p, "bytes 0-999999999/1000000000", a.pieces, NPIECES, a.done));
    assert_int_equal(feed(&p, text, sizeof(text), 4096), -1);
}

int main(void)
{
    for (int i = 0; i < BLOB_SIZE; i++)
        blob[i] = (uint8_t)(i * 7 + 3);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_every_split), cmocka_unit_test(test_server_variants),
        cmocka_unit_test(test_single_part),       cmocka_unit_test(test_content_range),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
