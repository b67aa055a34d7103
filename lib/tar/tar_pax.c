/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <soci/error.h>

#include "tar/tar_pax.h"
#include "util/error.h"

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

void pax_set_clear(struct pax_set *s)
{
    for (size_t i = 0; i < s->count; i++) {
        free(s->recs[i].key);
        free(s->recs[i].value);
    }
    free(s->recs);
    memset(s, 0, sizeof(*s));
}

static char *dup_bytes(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

int pax_set_put(struct pax_set *s, const char *key, size_t key_len, const char *value, size_t value_len)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = key_cmp(s->recs[mid].key, s->recs[mid].key_len, key, key_len);
        if (c == 0) {
            char *v = dup_bytes(value, value_len);
            if (v == NULL)
                return soci_fail_nomem("PAX record");
            free(s->recs[mid].value);
            s->recs[mid].value = v;
            s->recs[mid].value_len = value_len;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->count == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 8;
        struct tar_record *n = realloc(s->recs, ncap * sizeof(*n));
        if (n == NULL)
            return soci_fail_nomem("PAX records");
        s->recs = n;
        s->cap = ncap;
    }
    struct tar_record r = {dup_bytes(key, key_len), dup_bytes(value, value_len), key_len, value_len};
    if (r.key == NULL || r.value == NULL) {
        free(r.key);
        free(r.value);
        return soci_fail_nomem("PAX record");
    }
    memmove(s->recs + lo + 1, s->recs + lo, (s->count - lo) * sizeof(*s->recs));
    s->recs[lo] = r;
    s->count++;
    return 0;
}

const struct tar_record *pax_set_get(const struct pax_set *s, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < s->count; i++)
        if (key_cmp(s->recs[i].key, s->recs[i].key_len, key, klen) == 0)
            return &s->recs[i];
    return NULL;
}

int pax_set_merge(struct pax_set *dst, const struct pax_set *a, const struct pax_set *b)
{
    const struct pax_set *srcs[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < srcs[k]->count; i++) {
            const struct tar_record *r = &srcs[k]->recs[i];
            int err = pax_set_put(dst, r->key, r->key_len, r->value, r->value_len);
            if (err < 0)
                return err;
        }
    }
    return 0;
}

/* Keys naming strings that end up as C strings must hold no NUL (as Go requires). */
static bool valid_record(const char *k, size_t klen, const char *v, size_t vlen)
{
    static const char *const text_keys[] = {"path", "linkpath", "uname", "gname"};
    if (klen == 0 || memchr(k, '\0', klen) != NULL)
        return false;
    for (size_t i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]); i++)
        if (key_cmp(k, klen, text_keys[i], strlen(text_keys[i])) == 0)
            return memchr(v, '\0', vlen) == NULL;
    return true;
}

int pax_parse(const uint8_t *data, size_t len, struct pax_set *s)
{
    const char *p = (const char *)data;
    size_t at = 0;

    while (at < len) {
        /* "<decimal length> " : the length counts the whole record with its newline. */
        size_t n = 0, i = at;
        while (i < len && p[i] >= '0' && p[i] <= '9' && n < len)
            n = n * 10 + (size_t)(p[i++] - '0');
        if (i == at || i >= len || p[i] != ' ' || n < 5 || n > len - at)
            return soci_fail(SOCI_EFORMAT, "tar: malformed PAX record length at byte %zu", at);
        const char *rec = p + i + 1, *end = p + at + n; /* end: one past the newline */
        if (rec >= end || end[-1] != '\n')
            return soci_fail(SOCI_EFORMAT, "tar: PAX record at byte %zu does not end in a newline", at);
        const char *eq = memchr(rec, '=', (size_t)(end - 1 - rec));
        if (eq == NULL)
            return soci_fail(SOCI_EFORMAT, "tar: PAX record at byte %zu has no '='", at);
        size_t klen = (size_t)(eq - rec), vlen = (size_t)(end - 1 - (eq + 1));
        if (!valid_record(rec, klen, eq + 1, vlen))
            return soci_fail(SOCI_EFORMAT, "tar: invalid PAX record at byte %zu", at);
        int r = pax_set_put(s, rec, klen, eq + 1, vlen);
        if (r < 0)
            return r;
        at += n;
    }
    return 0;
}

static bool parse_i64(const char *v, size_t n, int64_t *ret)
{
    bool neg = n > 0 && (v[0] == '-' || v[0] == '+');
    bool minus = neg && v[0] == '-';
    size_t i = neg ? 1 : 0;
    uint64_t x = 0;
    if (i == n)
        return false;
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9' || x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x > (uint64_t)INT64_MAX + minus)
        return false;
    *ret = minus ? (int64_t)(0 - x) : (int64_t)x;
    return true;
}

int pax_time(const char *v, int64_t *sec, uint32_t *nsec)
{
    const char *dot = strchr(v, '.');
    size_t slen = dot ? (size_t)(dot - v) : strlen(v);
    if (!parse_i64(v, slen, sec))
        return soci_fail(SOCI_EFORMAT, "tar: bad PAX time \"%.40s\"", v);
    *nsec = 0;
    if (dot == NULL || dot[1] == '\0')
        return 0;
    uint32_t ns = 0, scale = 100000000;
    for (const char *f = dot + 1; *f; f++) {
        if (*f < '0' || *f > '9')
            return soci_fail(SOCI_EFORMAT, "tar: bad PAX time \"%.40s\"", v);
        if (scale) {
            ns += (uint32_t)(*f - '0') * scale;
            scale /= 10;
        }
    }
    /* Go's time.Unix(sec, -nsec) for negative times: normalise to a positive fraction. */
    if (v[0] == '-' && ns) {
        *sec -= 1;
        ns = 1000000000 - ns;
    }
    *nsec = ns;
    return 0;
}
