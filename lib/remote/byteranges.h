/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The body of a 206 answer to a request for several byte ranges at once (RFC 9110,
 * 14.6: multipart/byteranges), parsed as it streams in. Each part says which bytes it
 * holds (its Content-Range); they go straight into the pieces of the request they cover.
 * A piece counts as in only when one part held all of it, so a server that answers with
 * fewer, other, merged, reordered or cut parts leaves some pieces out, for the caller to
 * ask again one at a time, and never puts wrong offsets in. A single-part 206 answer
 * (some servers merge what was asked into one range) goes through the same placing.
 *
 * The body is hostile until parsed: lines are bounded, every part must declare its
 * range before its bytes, and the whole body may not exceed a budget derived from the
 * bytes asked for, so a server cannot make us read without end.
 */
#ifndef SOCI_REMOTE_BYTERANGES_H
#define SOCI_REMOTE_BYTERANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <soci/blob.h>

#define BYTERANGES_MAX_PIECES 32 /* ranges in one request: its Range header stays short */
#define BYTERANGES_LINE_MAX 512  /* a delimiter or part header line */

struct byteranges {
    const struct soci_iov_at *pieces; /* asked for; each piece's bytes land in its buf */
    size_t npieces;
    bool *done; /* done[i]: piece i came in whole */
    char boundary[72];
    size_t boundary_len;
    int state;
    char line[BYTERANGES_LINE_MAX];
    size_t line_len;
    bool part_has_range;
    uint64_t part_first, part_end; /* the part's bytes [first, end) */
    uint64_t at;                   /* the blob offset of the next part byte */
    uint64_t budget;               /* body bytes still acceptable */
    unsigned parts;
    char error[160]; /* why the body was refused */
};

/* Start parsing a body whose Content-Type is content_type: false (error set) unless it
 * is multipart/byteranges with a usable boundary. done[] is cleared. */
bool byteranges_begin_multipart(struct byteranges *p, const char *content_type, const struct soci_iov_at *pieces,
                                size_t npieces, bool *done);

/* Start placing a single-part 206 body, whose Content-Range is content_range: false
 * (error set) unless it is "bytes first-last/size" in valid form. */
bool byteranges_begin_single(struct byteranges *p, const char *content_range, const struct soci_iov_at *pieces,
                             size_t npieces, bool *done);

/* Take the next n bytes of the body: 0 to go on, 1 once the body is complete (bytes
 * after that are ignored, within the budget), -1 if it is malformed or over budget
 * (error set). However the body is cut into calls, the outcome is the same. */
int byteranges_feed(struct byteranges *p, const char *data, size_t n);

/* Parse "bytes first-last/size" (size may be "*"): false unless well formed. */
bool byteranges_parse_content_range(const char *v, uint64_t *first, uint64_t *last);

#endif
