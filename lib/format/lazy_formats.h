/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers that index themselves: eStargz and zstd:chunked carry a chunk TOC inside the
 * blob. These find it, check it against the digest the image manifest gives for it, and
 * open it as an in-memory zTOC (chunk_toc.h). Only the footer and the TOC are read.
 */
#ifndef SOCI_FORMAT_LAZY_FORMATS_H
#define SOCI_FORMAT_LAZY_FORMATS_H

#include <soci/blob.h>
#include <soci/ztoc.h>

/* Layer annotations naming the TOC and what it must hash to. */
#define ANN_ESTARGZ_TOC_DIGEST "containerd.io/snapshot/stargz/toc.digest"
#define ANN_ZSTD_CHUNKED_CHECKSUM "io.github.containers.zstd-chunked.manifest-checksum"
#define ANN_ZSTD_CHUNKED_POSITION "io.github.containers.zstd-chunked.manifest-position"
/* The same, as containers/storage named them before (and stargz-snapshotter's
 * ctr-remote still writes them). */
#define ANN_ZSTD_CHUNKED_CHECKSUM_OLD "io.containers.zstd-chunked.manifest-checksum"
#define ANN_ZSTD_CHUNKED_POSITION_OLD "io.containers.zstd-chunked.manifest-position"

/* toc_digest: sha256 of the TOC JSON (the toc.digest annotation). */
int estargz_open(soci_blob *blob, const char *toc_digest, soci_ztoc **ret);

/* checksum: sha256 of the compressed manifest (manifest-checksum annotation); position:
 * "offset:length:uncompressed length:type" (manifest-position), or "" to read the
 * footer instead. */
int zstd_chunked_open(soci_blob *blob, const char *checksum, const char *position, soci_ztoc **ret);

#endif
