/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "remote/byteranges.h"

enum { BR_PREAMBLE, BR_HEADERS, BR_DATA, BR_BETWEEN, BR_END };

/* What a body may hold besides the bytes asked for: delimiters and part headers are a
 * few hundred bytes a part; the rest allows a server that merges near ranges into one. */
#define BYTERANGES_SLACK ((uint64_t)64 << 10)
#define BYTERANGES_PART_OVERHEAD 1024u

static bool fail(struct byteranges *p, const char *what)
{
    snprintf(p->error, sizeof(p->error), "%s", what);
    return false;
}

static void start(struct byteranges *p, const struct soci_iov_at *pieces, size_t npieces, bool *done)
{
    uint64_t asked = 0;
    memset(p, 0, sizeof(*p));
    p->pieces = pieces;
    p->npieces = npieces;
    p->done = done;
    for (size_t i = 0; i < npieces; i++) {
        done[i] = pieces[i].len == 0;
        asked += pieces[i].len;
    }
    p->budget = 2 * asked + BYTERANGES_SLACK + BYTERANGES_PART_OVERHEAD * (uint64_t)npieces;
}

static bool parse_u64(const char **s, uint64_t *ret)
{
    const char *c = *s;
    uint64_t v = 0;
    if (*c < '0' || *c > '9')
        return false;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    *s = c;
    *ret = v;
    return true;
}

bool byteranges_parse_content_range(const char *v, uint64_t *first, uint64_t *last)
{
    uint64_t a, b, size;
    while (*v == ' ' || *v == '\t')
        v++;
    if (strncasecmp(v, "bytes", 5) != 0 || (v[5] != ' ' && v[5] != '\t'))
        return false;
    v += 5;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!parse_u64(&v, &a) || *v++ != '-' || !parse_u64(&v, &b) || *v++ != '/' || a > b || b == UINT64_MAX)
        return false;
    if (*v == '*')
        v++;
    else if (!parse_u64(&v, &size) || b >= size)
        return false;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v != '\0')
        return false;
    *first = a;
    *last = b;
    return true;
}

/* The boundary parameter of a multipart/byteranges type, quoted or not (RFC 2046: 1 to
 * 70 characters). */
static bool take_boundary(struct byteranges *p, const char *type)
{
    static const char kind[] = "multipart/byteranges";
    if (strncasecmp(type, kind, sizeof(kind) - 1) != 0)
        return fail(p, "not a multipart/byteranges answer");
    for (const char *c = type + sizeof(kind) - 1; (c = strchr(c, ';')) != NULL;) {
        c++;
        while (*c == ' ' || *c == '\t')
            c++;
        if (strncasecmp(c, "boundary=", 9) != 0)
            continue;
        c += 9;
        bool quoted = *c == '"';
        c += quoted;
        size_t n = quoted ? strcspn(c, "\"") : strcspn(c, "; \t");
        if (n == 0 || n > 70 || (quoted && c[n] != '"'))
            return fail(p, "multipart/byteranges answer with a malformed boundary");
        memcpy(p->boundary, c, n);
        p->boundary[n] = '\0';
        p->boundary_len = n;
        return true;
    }
    return fail(p, "multipart/byteranges answer without a boundary");
}

bool byteranges_begin_multipart(struct byteranges *p, const char *content_type, const struct soci_iov_at *pieces,
                                size_t npieces, bool *done)
{
    start(p, pieces, npieces, done);
    p->state = BR_PREAMBLE;
    return take_boundary(p, content_type);
}

bool byteranges_begin_single(struct byteranges *p, const char *content_range, const struct soci_iov_at *pieces,
                             size_t npieces, bool *done)
{
    uint64_t first, last;
    start(p, pieces, npieces, done);
    if (!byteranges_parse_content_range(content_range, &first, &last))
        return fail(p, "206 answer with a malformed Content-Range");
    p->part_first = p->at = first;
    p->part_end = last + 1;
    p->state = BR_DATA;
    p->parts = 1;
    return true;
}

static bool covers(const struct byteranges *p, size_t i)
{
    const struct soci_iov_at *v = &p->pieces[i];
    return v->off >= p->part_first && v->off + v->len <= p->part_end;
}

/* Part bytes [at, at + n) into the pieces the part covers whole. */
static void place(struct byteranges *p, const char *data, size_t n)
{
    for (size_t i = 0; i < p->npieces; i++) {
        const struct soci_iov_at *v = &p->pieces[i];
        if (!covers(p, i))
            continue;
        uint64_t from = p->at > v->off ? p->at : v->off;
        uint64_t to = p->at + n < v->off + v->len ? p->at + n : v->off + v->len;
        if (from < to)
            memcpy((char *)v->buf + (from - v->off), data + (from - p->at), (size_t)(to - from));
    }
}

static void part_complete(struct byteranges *p)
{
    for (size_t i = 0; i < p->npieces; i++)
        if (covers(p, i))
            p->done[i] = true;
}

/* A delimiter line, "--boundary" or the closing "--boundary--", padding stripped: 1, 2,
 * or 0 if it is neither. */
static int delimiter(const struct byteranges *p, const char *line, size_t len)
{
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
        len--;
    if (len < 2 + p->boundary_len || line[0] != '-' || line[1] != '-' ||
        memcmp(line + 2, p->boundary, p->boundary_len) != 0)
        return 0;
    if (len == 2 + p->boundary_len)
        return 1;
    return len == 4 + p->boundary_len && line[len - 2] == '-' && line[len - 1] == '-' ? 2 : 0;
}

static bool take_line(struct byteranges *p, const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (p->state == BR_HEADERS) {
        if (len == 0) {
            if (!p->part_has_range)
                return fail(p, "multipart/byteranges part without a Content-Range");
            p->at = p->part_first;
            p->state = BR_DATA;
            return true;
        }
        if (len > 14 && strncasecmp(line, "content-range:", 14) == 0) {
            char value[BYTERANGES_LINE_MAX];
            uint64_t first, last;
            snprintf(value, sizeof(value), "%.*s", (int)(len - 14), line + 14);
            if (!byteranges_parse_content_range(value, &first, &last))
                return fail(p, "multipart/byteranges part with a malformed Content-Range");
            p->part_first = first;
            p->part_end = last + 1;
            p->part_has_range = true;
        }
        return true;
    }
    int d = delimiter(p, line, len);
    if (d == 1) {
        if (++p->parts > 2 * p->npieces + 4)
            return fail(p, "multipart/byteranges answer with more parts than ranges asked for");
        p->part_has_range = false;
        p->state = BR_HEADERS;
    } else if (d == 2) {
        p->state = BR_END;
    } else if (len > 0 && p->state == BR_BETWEEN) {
        return fail(p, "multipart/byteranges part not followed by a boundary");
    }
    return true; /* an empty line, or the preamble */
}

/* Charge k more body bytes to the budget: false (error set) past it. */
static bool charge(struct byteranges *p, size_t k)
{
    if (k > p->budget)
        return fail(p, "multipart/byteranges answer longer than the ranges asked for allow");
    p->budget -= k;
    return true;
}

/* Bytes are charged as they are taken (a part's bytes, a line, the epilogue), so how the
 * network cuts the body changes nothing of the outcome. */
int byteranges_feed(struct byteranges *p, const char *data, size_t n)
{
    while (n > 0) {
        if (p->state == BR_END) { /* an epilogue: ignored, but bounded */
            if (!charge(p, n))
                return -1;
            break;
        }
        if (p->state == BR_DATA) {
            uint64_t left = p->part_end - p->at;
            size_t k = n < left ? n : (size_t)left;
            if (!charge(p, k))
                return -1;
            place(p, data, k);
            p->at += k;
            data += k;
            n -= k;
            if (p->at == p->part_end) {
                part_complete(p);
                p->state = p->boundary_len ? BR_BETWEEN : BR_END;
            }
            continue;
        }
        const char *nl = memchr(data, '\n', n);
        size_t k = nl ? (size_t)(nl - data) : n;
        if (!charge(p, k + (nl != NULL)))
            return -1;
        if (p->line_len + k >= sizeof(p->line)) {
            fail(p, "multipart/byteranges line too long");
            return -1;
        }
        memcpy(p->line + p->line_len, data, k);
        p->line_len += k;
        data += k + (nl != NULL);
        n -= k + (nl != NULL);
        if (nl != NULL) {
            size_t len = p->line_len;
            p->line_len = 0;
            if (!take_line(p, p->line, len))
                return -1;
        }
    }
    return p->state == BR_END ? 1 : 0;
}
