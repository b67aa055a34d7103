/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/prefetch_record.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/oci_json.h"

static bool is_digest(const char *s)
{
    uint8_t raw[SHA256_LEN];
    return s != NULL && digest_parse(s, strlen(s), raw);
}

static int by_start(const void *a, const void *b)
{
    const struct prefetch_extent *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* One [start, end, priority] of "extents", bounded. */
static bool parse_extent(const json_t *e, struct prefetch_extent *out)
{
    if (!json_is_array(e) || json_array_size(e) != 3)
        return false;
    const json_t *s = json_array_get(e, 0), *t = json_array_get(e, 1), *p = json_array_get(e, 2);
    if (!json_is_integer(s) || !json_is_integer(t) || !json_is_integer(p))
        return false;
    json_int_t start = json_integer_value(s), end = json_integer_value(t), prio = json_integer_value(p);
    if (start < 0 || end <= start || (uint64_t)end > PREFETCH_RECORD_MAX_OFFSET || prio < INT32_MIN ||
        prio > INT32_MAX)
        return false;
    *out = (struct prefetch_extent){(uint64_t)start, (uint64_t)end, (int32_t)prio};
    return true;
}

/* A layer's "extents", if any: sorted, overlapping or touching ones merged (the earlier
 * priority kept). */
static int parse_extents(const json_t *list, const char *layer, struct prefetch_record_layer *out)
{
    if (list == NULL)
        return 0;
    size_t n = json_array_size(list);
    if (!json_is_array(list))
        return soci_fail(SOCI_EFORMAT, "prefetch record: layer %s: \"extents\" is not a list", layer);
    if (n > PREFETCH_RECORD_MAX_EXTENTS)
        return soci_fail(SOCI_ETOOBIG, "prefetch record: layer %s: %zu extents", layer, n);
    if (n == 0)
        return 0;
    if ((out->extents = malloc(n * sizeof(*out->extents))) == NULL)
        return soci_fail_nomem("prefetch record");
    for (size_t k = 0; k < n; k++)
        if (!parse_extent(json_array_get(list, k), &out->extents[k]))
            return soci_fail(SOCI_EFORMAT,
                             "prefetch record: layer %s: extent %zu is not [start, end, priority] with "
                             "0 <= start < end <= 2^62",
                             layer, k);
    qsort(out->extents, n, sizeof(*out->extents), by_start);
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        struct prefetch_extent *prev = m ? &out->extents[m - 1] : NULL, *e = &out->extents[k];
        if (prev && e->start <= prev->end) {
            prev->end = e->end > prev->end ? e->end : prev->end;
            prev->priority = e->priority < prev->priority ? e->priority : prev->priority;
        } else {
            out->extents[m++] = *e;
        }
    }
    out->nextents = m;
    return 0;
}

static int parse_layer(const json_t *j, size_t i, struct prefetch_record_layer *out)
{
    const char *layer = json_string_value(json_object_get(j, "layer"));
    const char *ztoc = json_string_value(json_object_get(j, "ztoc"));
    if (!json_is_object(j) || !is_digest(layer) || !is_digest(ztoc))
        return soci_fail(SOCI_EFORMAT, "prefetch record: layer %zu has no \"layer\" and \"ztoc\" sha256 digests", i);
    snprintf(out->layer, sizeof(out->layer), "%s", layer);
    snprintf(out->ztoc, sizeof(out->ztoc), "%s", ztoc);
    int r = prefetch_parse_json(json_object_get(j, "artifact"), &out->ranges, &out->n);
    if (r < 0)
        return soci_fail_prefix(r, "prefetch record: layer %s", layer);
    return parse_extents(json_object_get(j, "extents"), layer, out);
}

int prefetch_record_parse(const void *json, size_t len, struct prefetch_record *ret)
{
    json_t *doc;
    memset(ret, 0, sizeof(*ret));
    if (len > PREFETCH_RECORD_MAX_SIZE)
        return soci_fail(SOCI_ETOOBIG, "prefetch record: %zu bytes", len);
    int r = oci_parse_object(json, len, "prefetch record", &doc);
    if (r < 0)
        return r;
    json_t *layers = json_object_get(doc, "layers");
    size_t n = json_array_size(layers);
    if (strcmp(oci_str(doc, "mediaType"), PREFETCH_RECORD_MEDIA_TYPE) != 0 || !json_is_array(layers))
        r = soci_fail(SOCI_EFORMAT, "prefetch record: not a " PREFETCH_RECORD_MEDIA_TYPE " with a \"layers\" list");
    else if (n > PREFETCH_RECORD_MAX_LAYERS)
        r = soci_fail(SOCI_ETOOBIG, "prefetch record: %zu layers", n);
    else if ((ret->layers = calloc(n ? n : 1, sizeof(*ret->layers))) == NULL)
        r = soci_fail_nomem("prefetch record");
    for (size_t i = 0; i < n && r == 0; i++) {
        r = parse_layer(json_array_get(layers, i), i, &ret->layers[i]);
        ret->n++; /* what it holds is freed either way */
    }
    json_decref(doc);
    if (r < 0)
        prefetch_record_free(ret);
    return r;
}

int prefetch_record_write(const struct prefetch_record *rec, char **ret, size_t *len)
{
    size_t cap = 128, off = 0;
    for (size_t i = 0; i < rec->n; i++)
        cap += 256 + rec->layers[i].n * 80 + rec->layers[i].nextents * 56; /* see prefetch_write */
    char *p = malloc(cap);
    if (p == NULL)
        return soci_fail_nomem("prefetch record");
    off += (size_t)snprintf(p, cap, "{\"mediaType\":\"" PREFETCH_RECORD_MEDIA_TYPE "\",\"layers\":[");
    for (size_t i = 0; i < rec->n; i++) {
        const struct prefetch_record_layer *l = &rec->layers[i];
        char *artifact;
        size_t alen;
        int r = prefetch_write(l->ranges, l->n, &artifact, &alen);
        if (r < 0) {
            free(p);
            return r;
        }
        off += (size_t)snprintf(p + off, cap - off, "%s{\"layer\":\"%s\",\"ztoc\":\"%s\",\"artifact\":%s",
                                i ? "," : "", l->layer, l->ztoc, artifact);
        free(artifact);
        if (l->nextents > 0)
            off += (size_t)snprintf(p + off, cap - off, ",\"extents\":[");
        for (size_t k = 0; k < l->nextents; k++) /* at most 2 + 20 + 20 + 11 + 3 bytes each */
            off += (size_t)snprintf(p + off, cap - off, "%s[%llu,%llu,%d]", k ? "," : "",
                                    (unsigned long long)l->extents[k].start,
                                    (unsigned long long)l->extents[k].end, (int)l->extents[k].priority);
        off += (size_t)snprintf(p + off, cap - off, "%s}", l->nextents > 0 ? "]" : "");
    }
    off += (size_t)snprintf(p + off, cap - off, "]}\n");
    *ret = p;
    *len = off;
    return 0;
}

const struct prefetch_record_layer *prefetch_record_find(const struct prefetch_record *rec, const char *layer)
{
    for (size_t i = 0; rec && i < rec->n; i++)
        if (strcmp(rec->layers[i].layer, layer) == 0)
            return &rec->layers[i];
    return NULL;
}

void prefetch_record_free(struct prefetch_record *rec)
{
    for (size_t i = 0; i < rec->n; i++) {
        free(rec->layers[i].ranges);
        free(rec->layers[i].extents);
    }
    free(rec->layers);
    memset(rec, 0, sizeof(*rec));
}
