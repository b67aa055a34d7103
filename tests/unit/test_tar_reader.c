/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tar reader on hand-made streams: the formats it must read, and hostile headers it
 * must refuse cleanly (bad checksums, sizes past the end, negative and huge numbers,
 * names climbing out with "..", NUL in PAX paths, oversized extended headers).
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

#include "tar/tar_reader.h"

/* ---- building tar streams ---- */

struct stream {
    uint8_t *data;
    size_t len;
};

static void append(struct stream *s, const void *p, size_t n)
{
    s->data = realloc(s->data, s->len + n);
    memcpy(s->data + s->len, p, n);
    s->len += n;
}

static void pad(struct stream *s)
{
    static const uint8_t zero[512];
    if (s->len % 512)
        append(s, zero, 512 - s->len % 512);
}

static void finish_header(uint8_t *h)
{
    unsigned sum = 0;
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
}

/* A ustar header; the caller may patch fields before finish_header(). */
static void header(uint8_t *h, const char *name, char type, uint64_t size)
{
    memset(h, 0, 512);
    strncpy((char *)h, name, 100);
    snprintf((char *)h + 100, 8, "%07o", 0644);
    snprintf((char *)h + 108, 8, "%07o", 1000);
    snprintf((char *)h + 116, 8, "%07o", 1001);
    snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)(size & 077777777777ull));
    snprintf((char *)h + 136, 12, "%011o", 1700000000);
    h[156] = (uint8_t)type;
    memcpy(h + 257, "ustar\0" "00", 8);
    strcpy((char *)h + 265, "alice");
    strcpy((char *)h + 297, "staff");
}

static void add(struct stream *s, const char *name, char type, const void *data, size_t len)
{
    uint8_t h[512];
    header(h, name, type, len);
    finish_header(h);
    append(s, h, 512);
    if (len) {
        append(s, data, len);
        pad(s);
    }
}

static void add_pax(struct stream *s, char type, const char *records)
{
    add(s, "PaxHeader", type, records, strlen(records));
}

static void end(struct stream *s)
{
    static const uint8_t zero[1024];
    append(s, zero, 1024);
}

/* ---- running the reader ---- */

#define MAX_SEEN 16
struct seen {
    int count;
    char name[MAX_SEEN][300];
    char link[MAX_SEEN][300];
    int64_t size[MAX_SEEN], uid[MAX_SEEN], mtime[MAX_SEEN];
    uint32_t nsec[MAX_SEEN], type[MAX_SEEN];
    uint64_t offset[MAX_SEEN];
    size_t records[MAX_SEEN];
    char first_key[MAX_SEEN][64];
};

static int on_entry(void *ctx, const struct tar_entry *e)
{
    struct seen *s = ctx;
    int i = s->count++;
    assert_true(i < MAX_SEEN);
    snprintf(s->name[i], sizeof(s->name[i]), "%s", e->name);
    snprintf(s->link[i], sizeof(s->link[i]), "%s", e->linkname);
    s->size[i] = e->size;
    s->uid[i] = e->uid;
    s->mtime[i] = e->mtime_sec;
    s->nsec[i] = e->mtime_nsec;
    s->type[i] = e->type;
    s->offset[i] = e->offset;
    s->records[i] = e->record_count;
    snprintf(s->first_key[i], sizeof(s->first_key[i]), "%s", e->record_count ? e->records[0].key : "");
    return 0;
}

/* Feed the stream in pieces of `step` bytes; return the first error or finish's result. */
static int run(const struct stream *st, size_t step, struct seen *seen, uint64_t *end_pos)
{
    struct tar_reader *t;
    uint64_t ignored;
    int r = 0;
    memset(seen, 0, sizeof(*seen));
    assert_int_equal(tar_reader_new(on_entry, seen, &t), 0);
    for (size_t off = 0; off < st->len && r == 0; off += step)
        r = tar_reader_feed(t, st->data + off, st->len - off < step ? st->len - off : step);
    if (r == 0)
        r = tar_reader_finish(t, end_pos ? end_pos : &ignored);
    tar_reader_free(t);
    return r;
}

static void test_plain_and_piecewise(void **state)
{
    (void)state;
    struct stream s = {0};
    struct seen a, b;
    uint64_t end_a, end_b;
    add(&s, "dir/", '5', NULL, 0);
    add(&s, "dir/file", '0', "hello", 5);
    add(&s, "dir/link", '2', NULL, 0);
    end(&s);
    assert_int_equal(run(&s, s.len, &a, &end_a), 0);
    assert_int_equal(run(&s, 1, &b, &end_b), 0); /* byte by byte: the same answer */
    assert_int_equal(a.count, 3);
    assert_int_equal(b.count, 3);
    assert_string_equal(a.name[1], "dir/file");
    assert_int_equal(a.offset[1], 1024);
    assert_int_equal(b.offset[1], 1024);
    assert_int_equal(a.size[1], 5);
    assert_int_equal(a.uid[1], 1000);
    assert_int_equal(a.mtime[1], 1700000000);
    assert_int_equal(a.type[0], SOCI_TYPE_DIR);
    assert_int_equal(end_a, 2048 + 1024);
    assert_int_equal(end_b, end_a);
    free(s.data);
}

static void test_pax_gnu_and_globals(void **state)
{
    (void)state;
    struct stream s = {0};
    struct seen seen;
    char longname[300];
    memset(longname, 'n', 250);
    longname[250] = '\0';
    add_pax(&s, 'g', "17 comment=hello\n");
    add_pax(&s, 'x', "28 mtime=1700000000.1234567\n" "20 path=pax/renamed\n" "10 uid=42\n");
    add(&s, "short", '0', "abc", 3);
    add(&s, "././@LongLink", 'L', longname, strlen(longname) + 1);
    add(&s, "truncated", '0', "x", 1);
    end(&s);
    assert_int_equal(run(&s, 7, &seen, NULL), 0);
    assert_int_equal(seen.count, 2);
    assert_string_equal(seen.name[0], "pax/renamed");
    assert_int_equal(seen.uid[0], 42);
    assert_int_equal(seen.mtime[0], 1700000000);
    assert_int_equal(seen.nsec[0], 123456700);
    assert_int_equal(seen.records[0], 4);            /* comment (global), mtime, path, uid */
    assert_string_equal(seen.first_key[0], "comment"); /* sorted */
    assert_string_equal(seen.name[1], longname);
    assert_int_equal(seen.records[1], 1); /* the global comment still applies */
    free(s.data);
}

static void test_unpadded_end_is_accepted(void **state)
{
    (void)state;
    struct stream s = {0};
    struct seen seen;
    uint8_t h[512];
    header(h, "f", '0', 3);
    finish_header(h);
    append(&s, h, 512);
    append(&s, "hi\n", 3); /* as umoci 0.4 writes: no padding, no end blocks */
    assert_int_equal(run(&s, s.len, &seen, NULL), 0);
    assert_int_equal(seen.count, 1);
    s.len -= 1; /* ...but a file cut short is not */
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_EFORMAT);
    free(s.data);
}

/* One hostile header: expect `err`. */
static void expect_refused(void (*patch)(uint8_t *h), int err, const char *name, char type)
{
    struct stream s = {0};
    struct seen seen;
    uint8_t h[512];
    header(h, name, type, 4);
    if (patch)
        patch(h);
    finish_header(h);
    append(&s, h, 512);
    append(&s, "data", 4);
    pad(&s);
    end(&s);
    assert_int_equal(run(&s, s.len, &seen, NULL), err);
    assert_true(strlen(soci_last_error()) > 0);
    free(s.data);
}

static void negative_size(uint8_t *h)
{
    memset(h + 124, 0xff, 12); /* base-256 -1 */
}

static void huge_size(uint8_t *h)
{
    h[124] = 0x80;
    memset(h + 125, 0xff, 11); /* base-256, more than 63 bits */
}

static void octal_garbage(uint8_t *h)
{
    memcpy(h + 108, "12x4567", 7);
}

static void test_hostile_headers(void **state)
{
    (void)state;
    expect_refused(negative_size, SOCI_EFORMAT, "f", '0');
    expect_refused(huge_size, SOCI_EFORMAT, "f", '0');
    expect_refused(octal_garbage, SOCI_EFORMAT, "f", '0');
    expect_refused(NULL, SOCI_EFORMAT, "../etc/passwd", '0');
    expect_refused(NULL, SOCI_EFORMAT, "a/../../b", '0');
    expect_refused(NULL, SOCI_ENOTSUP, "sparse", 'S');
    expect_refused(NULL, SOCI_ENOTSUP, "weird", 'Z');

    /* A bad checksum. */
    struct stream s = {0};
    struct seen seen;
    add(&s, "f", '0', "data", 4);
    s.data[0] ^= 1;
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_EFORMAT);
    assert_non_null(strstr(soci_last_error(), "checksum"));
    free(s.data);

    /* A size past the end of the stream. */
    s = (struct stream){0};
    uint8_t h[512];
    header(h, "f", '0', 1 << 20);
    finish_header(h);
    append(&s, h, 512);
    append(&s, "short", 5);
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_EFORMAT);
    free(s.data);

    /* A hard link whose target climbs out. */
    s = (struct stream){0};
    header(h, "link", '1', 0);
    strcpy((char *)h + 157, "../../etc/shadow");
    finish_header(h);
    append(&s, h, 512);
    end(&s);
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_EFORMAT);
    free(s.data);

    /* An empty name, and a zero block followed by data. */
    s = (struct stream){0};
    add(&s, "", '0', NULL, 0);
    end(&s);
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_EFORMAT);
    free(s.data);
    s = (struct stream){0};
    static const uint8_t zero[512];
    append(&s, zero, 512);
    add(&s, "f", '0', NULL, 0);
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_EFORMAT);
    free(s.data);
}

static void test_hostile_pax(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "x path=a\n",          /* no length */
        "99 path=a\n",         /* length past the data */
        "9 path=a\n\n",        /* length not ending on the newline */
        "11 patha_b\n",        /* no '=' */
        "9 =value\n",          /* empty key */
        "14 mtime=12x4\n",     /* bad time */
        "12 uid=12ab\n",       /* bad number */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct stream s = {0};
        struct seen seen;
        add_pax(&s, 'x', bad[i]);
        add(&s, "f", '0', NULL, 0);
        end(&s);
        int r = run(&s, s.len, &seen, NULL);
        if (r != SOCI_EFORMAT)
            fail_msg("PAX record %zu (%s) gave %d", i, bad[i], r);
        free(s.data);
    }

    /* NUL inside a path record. */
    struct stream s = {0};
    struct seen seen;
    const char rec[] = "13 path=a\0bc\n";
    add(&s, "PaxHeader", 'x', rec, sizeof(rec) - 1);
    add(&s, "f", '0', NULL, 0);
    end(&s);
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_EFORMAT);
    free(s.data);

    /* An extended header larger than 1 MiB is refused before it is buffered. */
    s = (struct stream){0};
    uint8_t h[512];
    header(h, "PaxHeader", 'x', (2u << 20));
    finish_header(h);
    append(&s, h, 512);
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_ETOOBIG);
    free(s.data);

    /* PAX sparse files are refused, not misread. */
    s = (struct stream){0};
    add_pax(&s, 'x', "22 GNU.sparse.major=1\n");
    add(&s, "f", '0', NULL, 0);
    end(&s);
    assert_int_equal(run(&s, s.len, &seen, NULL), SOCI_ENOTSUP);
    free(s.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_piecewise),
        cmocka_unit_test(test_pax_gnu_and_globals),
        cmocka_unit_test(test_unpadded_end_is_accepted),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_hostile_pax),
    };
    return cmocka_run_group_tests_name("tar_reader", tests, NULL, NULL);
}
