/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkpoints placed around what a start-up reads (a prefetch record's extents), on top
 * of the span-size rule. A learned start fetches and decodes whole spans; with 4 MiB
 * spans, a scientific-Python start-up's 90 MB of reads lie in 365 MB of spans. A
 * checkpoint at the last deflate block boundary before each extent and one at the first
 * after it make the spans holding the extents little larger than the extents: the
 * replay fetches 40% and decodes 55% less, for a 32 KiB window per extra checkpoint in
 * the zTOC (docs/prefetch.md).
 *
 * Only gzip layers take them (the other formats' spans are fixed). Without cuts a build
 * is the reference's, byte for byte. The zTOC stays valid for any reader: readers map an
 * offset to the last checkpoint at or before it, whatever the spacing.
 */
#ifndef SOCI_BUILDER_BUILD_CUTS_H
#define SOCI_BUILDER_BUILD_CUTS_H

#include <soci/build.h>

#include "util/extent_set.h"

/* Extents closer than this are one: a window costs about what decoding this much does
 * once fetching, hashing and another span's bookkeeping are counted. */
#define BUILD_CUT_JOIN ((uint64_t)256 << 10)
/* Reads go on past what was recorded: the kernel reads ahead of what a start-up asks for,
 * further through EROFS (soci-mount --kernel) than through FUSE, where the record is
 * usually made. Recorded both ways, the --kernel start of a 400 MB image read 7.3 MB
 * outside the FUSE start's extents, in 250 places, all but 1.1 MB within 128 KiB of an
 * extent's end and none beyond 256 KiB. So the cut after an extent goes this far past
 * its end, and the span holding the end holds that too. */
#define BUILD_CUT_TAIL ((uint64_t)256 << 10)
/* How far before an extent a block boundary may be taken for it. */
#define BUILD_CUT_LEAD ((uint64_t)256 << 10)
/* At most this many extents a layer (closer ones joined beyond it): two windows each,
 * 64 MiB at most added to a zTOC, whatever a record asks. */
#define BUILD_CUTS_MAX 1024
/* No extra checkpoint closer than this to the one before it. */
#define BUILD_CUT_MIN_SPAN ((uint64_t)64 << 10)

/* The extents (uncompressed layer offsets below 2^62, in order, none overlapping) the
 * next builds place checkpoints around; n = 0 clears them. They are copied, each made
 * BUILD_CUT_TAIL longer, and those then closer than BUILD_CUT_JOIN joined (further apart
 * too, past BUILD_CUTS_MAX). */
int builder_set_cuts(soci_builder *b, const struct extent *v, size_t n);

#endif
