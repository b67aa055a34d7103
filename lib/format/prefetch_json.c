/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/prefetch_json.h"
#include "util/oci_json.h"
#include "util/error.h"

#define PREFETCH_VERSION "1.0"

static int by_priority_then_span(const void *a, const void *b)
{
    const struct prefetch_range *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

size_t prefetch_normalize(struct prefetch_range *r, size_t n)
{
    if (n == 0)
        return 0;
    qsort(r, n, sizeof(*r), by_priority_then_span);
    size_t out = 0;
    for (size_t i = 1; i < n; i++) {
        struct prefetch_range *cur = &r[out];
        if (r[i].priority == cur->priority && (uint64_t)r[i].first <= (uint64_t)cur->last + 1) {
            if (r[i].last > cur->last)
                cur->last = r[i].last;
        } else {
            r[++out] = r[i];
        }
    }
    return out + 1;
}

/* A span number: a JSON integer within int32 (the reference's SpanID), not negative. */
static bool span_number(const json_t *v, uint32_t *ret)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return false;
    *ret = (uint32_t)json_integer_value(v);
    return true;
}

int prefetch_parse(const void *json, size_t len, struct prefetch_range **ret, size_t *count)
{
    json_t *a;
    if (len > PREFETCH_MAX_SIZE)
        return soci_fail(SOCI_ETOOBIG, "prefetch artifact: %zu bytes", len);
    int r = oci_parse_object(json, len, "prefetch artifact", &a);
    if (r < 0)
        return r;
    r = prefetch_parse_json(a, ret, count);
    json_decref(a);
    return r;
}

int prefetch_parse_json(const json_t *a, struct prefetch_range **ret, size_t *count)
{
    int r = 0;
    if (!json_is_object(a))
        return soci_fail(SOCI_EFORMAT, "prefetch artifact: not a JSON object");
    const char *version = oci_str(a, "version");
    json_t *spans = json_object_get(a, "prefetch_spans");
    size_t n = json_array_size(spans);
    struct prefetch_range *ranges = NULL;
    if (strcmp(version, PREFETCH_VERSION) != 0) {
        r = soci_fail(SOCI_EFORMAT, "prefetch artifact: version \"%.20s\", not " PREFETCH_VERSION, version);
        goto out;
    }
    if (spans != NULL && !json_is_array(spans) && !json_is_null(spans)) {
        r = soci_fail(SOCI_EFORMAT, "prefetch artifact: prefetch_spans is not a list");
        goto out;
    }
    if (n > PREFETCH_MAX_RANGES) {
        r = soci_fail(SOCI_ETOOBIG, "prefetch artifact: %zu ranges", n);
        goto out;
    }
    if ((ranges = calloc(n ? n : 1, sizeof(*ranges))) == NULL) {
        r = soci_fail_nomem("prefetch ranges");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(spans, i), *prio = json_object_get(s, "priority");
        struct prefetch_range *x = &ranges[i];
        if (!json_is_object(s) || !span_number(json_object_get(s, "start_span"), &x->first) ||
            !span_number(json_object_get(s, "end_span"), &x->last) || x->last < x->first ||
            (prio != NULL && (!json_is_integer(prio) || json_integer_value(prio) < INT32_MIN ||
                              json_integer_value(prio) > INT32_MAX))) {
            r = soci_fail(SOCI_EFORMAT, "prefetch artifact: range %zu is not {start_span <= end_span, priority}", i);
            goto out;
        }
        x->priority = prio ? (int32_t)json_integer_value(prio) : 0;
    }
    *count = prefetch_normalize(ranges, n);
    *ret = ranges;
    ranges = NULL;
out:
    free(ranges);
    return r;
}

int prefetch_write(const struct prefetch_range *ranges, size_t count, char **ret, size_t *len)
{
    /* Each range is at most 70 bytes: {"start_span":N,"end_span":N,"priority":-N}, */
    size_t cap = 64 + count * 80, off;
    char *p = malloc(cap);
    if (p == NULL)
        return soci_fail_nomem("prefetch artifact");
    off = (size_t)snprintf(p, cap, "{\"version\":\"" PREFETCH_VERSION "\",\"prefetch_spans\":[");
    for (size_t i = 0; i < count; i++) {
        off += (size_t)snprintf(p + off, cap - off, "%s{\"start_span\":%u,\"end_span\":%u", i ? "," : "",
                                ranges[i].first, ranges[i].last);
        if (ranges[i].priority != 0)
            off += (size_t)snprintf(p + off, cap - off, ",\"priority\":%d", (int)ranges[i].priority);
        off += (size_t)snprintf(p + off, cap - off, "}");
    }
    off += (size_t)snprintf(p + off, cap - off, "]}");
    *ret = p;
    *len = off;
    return 0;
}
