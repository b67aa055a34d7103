/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A prefetch record: the spans a start-up read, per layer, in the order it first needed
 * them, as soci_fs_prefetch_record() writes it and an index build (SOCI_OPT_PREFETCH_RECORD)
 * turns into the reference's prefetch artifacts. Our own format, a JSON document:
 *
 *   {"mediaType":"application/vnd.libsoci.prefetch-record.v1+json",
 *    "layers":[{"layer":"sha256:<layer digest>","ztoc":"sha256:<its zTOC's digest>",
 *               "artifact":{"version":"1.0","prefetch_spans":[{"start_span":4,"end_span":6,
 *                                                               "priority":1}, ...]},
 *               "extents":[[17301504,17342464,1], ...]}]}
 *
 * Each layer's artifact is exactly the prefetch artifact to store for it; priorities rank
 * the runs of spans by when the start-up first needed them. Span numbers mean something
 * only against the zTOC named, so a build whose zTOC differs (another span size, say)
 * must not use them.
 *
 * "extents" (optional; records before it have none) are the uncompressed byte ranges of
 * the layer the reads asked for, [start, end) with the priority of the run their first
 * byte lies in. They mean the same against any zTOC of the layer: an index build places
 * extra checkpoints around them (builder/build_cuts.h), so that a replayed start fetches
 * and decodes the bytes it reads rather than whole spans around them, and names the new
 * zTOC's spans that hold them in the artifact.
 */
#ifndef SOCI_FORMAT_PREFETCH_RECORD_H
#define SOCI_FORMAT_PREFETCH_RECORD_H

#include <stddef.h>

#include "format/prefetch_json.h"

#define PREFETCH_RECORD_MEDIA_TYPE "application/vnd.libsoci.prefetch-record.v1+json"
#define PREFETCH_RECORD_MAX_SIZE ((uint64_t)16 << 20)
#define PREFETCH_RECORD_MAX_LAYERS 1024
#define PREFETCH_RECORD_MAX_EXTENTS 65536 /* per layer */
#define PREFETCH_RECORD_MAX_OFFSET ((uint64_t)1 << 62)

struct prefetch_extent {
    uint64_t start, end; /* uncompressed layer offsets, [start, end) */
    int32_t priority;
};

struct prefetch_record_layer {
    char layer[72]; /* "sha256:<hex>" */
    char ztoc[72];
    struct prefetch_range *ranges; /* normalized (prefetch_normalize) */
    size_t n;
    struct prefetch_extent *extents; /* in order, none overlapping (parsed ones merged) */
    size_t nextents;
};

struct prefetch_record {
    struct prefetch_record_layer *layers;
    size_t n;
};

/* Parse a record; SOCI_EFORMAT (naming what is wrong) for anything not of the form above,
 * SOCI_ETOOBIG past the bounds. Free with prefetch_record_free(). */
int prefetch_record_parse(const void *json, size_t len, struct prefetch_record *ret);

/* The record as JSON (compact, one line); *ret is malloc'd. */
int prefetch_record_write(const struct prefetch_record *rec, char **ret, size_t *len);

/* The layer entry of a layer digest, or NULL. */
const struct prefetch_record_layer *prefetch_record_find(const struct prefetch_record *rec, const char *layer);

void prefetch_record_free(struct prefetch_record *rec);

#endif
