/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Chunk TOCs: the JSON table of contents that eStargz and zstd:chunked layers carry
 * (both use CRFS's schema: tar metadata per entry, and for file data the compressed
 * offset where a gzip member or zstd frame holding it starts, with the digest of the
 * decoded bytes). chunk_toc_parse turns one into an in-memory zTOC whose spans are the
 * chunks (ztoc_internal.h, struct ztoc_chunk), so layers, the cache and the image
 * filesystem read these layers exactly as they read SOCI ones.
 */
#ifndef SOCI_FORMAT_CHUNK_TOC_H
#define SOCI_FORMAT_CHUNK_TOC_H

#include <stddef.h>
#include <stdint.h>

#include <soci/ztoc.h>

/* Largest TOC accepted, compressed or not: a TOC is ~200 bytes per file, so this is
 * room for a million files. */
#define CHUNK_TOC_MAX_SIZE ((uint64_t)256 << 20)

struct chunk_toc_layer {
    int compression;        /* SOCI_COMPRESSION_GZIP (eStargz) or SOCI_COMPRESSION_ZSTD */
    uint64_t blob_size;     /* the layer blob's size */
    uint64_t payload_end;   /* where the TOC begins: no chunk may reach past it */
    const char *build_tool; /* what soci_ztoc_build_tool reports: the format's name */
};

/* Parse TOC JSON (already verified against its digest) into *ret. Every data chunk
 * must carry a sha256 digest; entries must tile each file in order. SOCI_EFORMAT
 * otherwise. */
int chunk_toc_parse(const void *json, size_t len, const struct chunk_toc_layer *layer, soci_ztoc **ret);

#endif
