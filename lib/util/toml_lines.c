/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <soci/error.h>

#include "util/error.h"
#include "util/toml_lines.h"

/* The value after '=': a quoted string, true/false, or ["a", "b"] (joined by ','). */
static int parse_value(const char *v, char *out, size_t n)
{
    size_t o = 0;
    while (isspace((unsigned char)*v))
        v++;
    if (*v == '[' || *v == '"') {
        bool list = *v == '[';
        for (const char *p = v + (list ? 1 : 0); *p && o + 2 < n;) {
            while (*p == ' ' || *p == ',')
                p++;
            if (*p == ']' || *p == '\0')
                break;
            if (*p != '"')
                return -1;
            const char *end = strchr(p + 1, '"');
            if (end == NULL)
                return -1;
            o += (size_t)snprintf(out + o, n - o, "%s%.*s", o ? "," : "", (int)(end - p - 1), p + 1);
            p = end + 1;
            if (!list)
                break;
        }
        out[o < n ? o : n - 1] = '\0';
        return 0;
    }
    size_t len = strcspn(v, " \t#\r\n");
    snprintf(out, n, "%.*s", (int)len, v);
    return strcmp(out, "true") == 0 || strcmp(out, "false") == 0 ? 0 : -1;
}

/* An array value that goes on over the next lines ("[" then one item a line, "]"): join
 * them onto line (n bytes), their comments dropped. */
static int join_array(const char **p, char *line, size_t n, const char *what, struct toml_line *out)
{
    size_t used = strlen(line);
    while (strchr(line, ']') == NULL) {
        if (**p == '\0')
            return soci_fail(SOCI_EINVAL, "%s line %d: unterminated array", what, out->lineno);
        size_t len = strcspn(*p, "\n"), keep = strcspn(*p, "#\n");
        if (keep > len)
            keep = len;
        if (used + keep + 2 > n)
            return soci_fail(SOCI_EINVAL, "%s line %d: array too long", what, out->lineno);
        line[used++] = ' ';
        memcpy(line + used, *p, keep);
        used += keep;
        line[used] = '\0';
        *p += len + ((*p)[len] == '\n');
        out->lineno++;
    }
    return 0;
}

int toml_next(const char **p, const char *what, struct toml_line *out)
{
    char line[4096];
    while (**p) {
        size_t len = strcspn(*p, "\n");
        snprintf(line, sizeof(line), "%.*s", (int)len, *p);
        *p += len + ((*p)[len] == '\n');
        out->lineno++;
        char *s = line, *end = line + strlen(line);
        while (isspace((unsigned char)*s))
            s++;
        while (end > s && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*s == '#' || *s == '\0')
            continue;
        if (*s == '[') {
            bool array = s[1] == '[';
            size_t open = array ? 2 : 1;
            char *close = strstr(s + open, array ? "]]" : "]");
            if (close == NULL)
                return soci_fail(SOCI_EINVAL, "%s line %d: unterminated table header", what, out->lineno);
            out->kind = array ? TOML_ARRAY_TABLE : TOML_TABLE;
            snprintf(out->name, sizeof(out->name), "%.*s", (int)(close - s - (ptrdiff_t)open), s + open);
            out->value[0] = '\0';
            return 1;
        }
        char *eq = strchr(s, '=');
        if (eq == NULL)
            return soci_fail(SOCI_EINVAL, "%s line %d: expected key = value", what, out->lineno);
        char *v = eq + 1;
        while (isspace((unsigned char)*v))
            v++;
        int r;
        if (*v == '[' && (r = join_array(p, line, sizeof(line), what, out)) < 0)
            return r;
        char *k_end = eq;
        while (k_end > s && isspace((unsigned char)k_end[-1]))
            k_end--;
        *k_end = '\0';
        out->kind = TOML_KEY;
        snprintf(out->name, sizeof(out->name), "%s", s);
        if (parse_value(eq + 1, out->value, sizeof(out->value)) < 0)
            return soci_fail(SOCI_EINVAL, "%s line %d: bad value for %s", what, out->lineno, s);
        return 1;
    }
    return 0;
}
