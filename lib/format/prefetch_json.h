/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reference's prefetch artifact (media type application/vnd.amazon.soci.prefetch.v1+json,
 * one per layer, tied to it by the com.amazon.soci.image-layer-digest annotation of its
 * SOCI index descriptor): the spans of that layer's zTOC to fetch before serving,
 *
 *   {"version":"1.0","prefetch_spans":[{"start_span":10,"end_span":15,"priority":1}]}
 *
 * ranges inclusive, priority optional (lower first; 0 when absent).
 */
#ifndef SOCI_FORMAT_PREFETCH_JSON_H
#define SOCI_FORMAT_PREFETCH_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The largest artifact read, and the most ranges one may hold. */
#define PREFETCH_MAX_SIZE ((uint64_t)1 << 20)
#define PREFETCH_MAX_RANGES 65536

struct prefetch_range {
    uint32_t first, last; /* spans, inclusive */
    int32_t priority;
};

/* Parse an artifact: *ret (free()) gets its ranges ordered by priority then first span,
 * overlapping or touching ranges of one priority merged. SOCI_EFORMAT for anything the
 * reference would not have written: another version, a range that ends before it starts,
 * span numbers outside int32. */
int prefetch_parse(const void *json, size_t len, struct prefetch_range **ret, size_t *count);

/* The same, of an artifact already parsed as JSON (one held inside another document). */
int prefetch_parse_json(const json_t *artifact, struct prefetch_range **ret, size_t *count);

/* The artifact's bytes as the reference marshals them (Go's encoding/json: compact,
 * fields in struct order, priority left out when 0). Free *ret with free(). */
int prefetch_write(const struct prefetch_range *ranges, size_t count, char **ret, size_t *len);

/* Sort ranges (priority, then first span) and merge overlapping or touching ones of the
 * same priority; returns the new count. */
size_t prefetch_normalize(struct prefetch_range *ranges, size_t count);

#endif
