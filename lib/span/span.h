/* SPDX-License-Identifier: Apache-2.0 */
/* Span codecs: turn one span's compressed bytes into its uncompressed bytes. They do no
 * I/O and trust nothing: output is capped at out_len and a stream that cannot produce
 * exactly out_len bytes is SOCI_EFORMAT. Digests are checked by the caller (span.c). */
#ifndef SOCI_SPAN_SPAN_H
#define SOCI_SPAN_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include "format/ztoc_internal.h"

/* comp starts at the span's compressed offset: with the partial byte first when
 * cp->bits != 0. */
int span_gzip_decode(const struct ztoc_checkpoint *cp, const uint8_t *comp, size_t comp_len,
                     uint8_t *out, size_t out_len);

/* comp holds whole zstd frames; the first `skip` decoded bytes are dropped. pool: where
 * the decoding context comes from and goes back to (NULL: a fresh one, freed after). */
int span_zstd_decode(struct zstd_pool *pool, const uint8_t *comp, size_t comp_len, uint64_t skip, uint8_t *out,
                     size_t out_len);

/* comp starts with a gzip member header (more members may follow); the first `skip`
 * decoded bytes are dropped. */
int span_gzip_members_decode(const uint8_t *comp, size_t comp_len, uint64_t skip, uint8_t *out, size_t out_len);

#ifdef SOCI_HAVE_ISAL
/* The same with ISA-L's inflater (span_gzip_isal.c); identical output. */
int span_gzip_decode_isal(const struct ztoc_checkpoint *cp, const uint8_t *comp, size_t comp_len, uint8_t *out,
                          size_t out_len);
#endif

int span_tar_decode(const uint8_t *comp, size_t comp_len, uint8_t *out, size_t out_len);

#endif
