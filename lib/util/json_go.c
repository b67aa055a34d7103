/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json_go.h"

void jw_init(struct jw *w)
{
    memset(w, 0, sizeof(*w));
}

void jw_free(struct jw *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

static void put(struct jw *w, const char *s, size_t n)
{
    if (w->error)
        return;
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (w->len + n + 1 > cap)
            cap *= 2;
        char *b = realloc(w->buf, cap);
        if (b == NULL) {
            w->error = soci_fail_nomem("JSON output");
            return;
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void comma(struct jw *w)
{
    if (w->need_comma)
        put(w, ",", 1);
    w->need_comma = false;
}

void jw_obj_begin(struct jw *w)
{
    comma(w);
    put(w, "{", 1);
}

void jw_obj_end(struct jw *w)
{
    put(w, "}", 1);
    w->need_comma = true;
}

void jw_arr_begin(struct jw *w)
{
    comma(w);
    put(w, "[", 1);
}

void jw_arr_end(struct jw *w)
{
    put(w, "]", 1);
    w->need_comma = true;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static void put_string(struct jw *w, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    put(w, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(w, esc, 2);
            i++;
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
            if (named) {
                put(w, named, 2);
            } else {
                snprintf(esc, sizeof(esc), "\\u00%c%c", hex[c >> 4], hex[c & 15]);
                put(w, esc, 6);
            }
            i++;
        } else if (c < 0x80) {
            put(w, (const char *)s + i, 1);
            i++;
        } else {
            size_t len = utf8_len(s + i, n - i);
            if (len == 0) {
                put(w, "\\ufffd", 6);
                i++;
            } else if (len == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
                put(w, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
                i += 3;
            } else {
                put(w, (const char *)s + i, len);
                i += len;
            }
        }
    }
    put(w, "\"", 1);
}

void jw_key(struct jw *w, const char *key)
{
    comma(w);
    put_string(w, key);
    put(w, ":", 1);
}

void jw_str(struct jw *w, const char *s)
{
    comma(w);
    put_string(w, s);
    w->need_comma = true;
}

void jw_u64(struct jw *w, uint64_t v)
{
    char num[24];
    comma(w);
    put(w, num, (size_t)snprintf(num, sizeof(num), "%" PRIu64, v));
    w->need_comma = true;
}

void jw_i64(struct jw *w, int64_t v)
{
    char num[24];
    comma(w);
    put(w, num, (size_t)snprintf(num, sizeof(num), "%" PRId64, v));
    w->need_comma = true;
}

int jw_finish(struct jw *w, char **ret, size_t *len)
{
    if (w->error) {
        int e = w->error;
        jw_free(w);
        return e;
    }
    if (w->buf == NULL)
        put(w, "", 0);
    *ret = w->buf;
    *len = w->len;
    w->buf = NULL;
    return 0;
}
