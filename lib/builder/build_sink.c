/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The indexing half of a build: what it does with each message of the reading half.
 *
 * Span digests: a span's digest covers its compressed range [in - (bits ? 1 : 0), next
 * span's in): consecutive spans share a byte when the boundary falls inside it. Bytes
 * are hashed from the input chunks as they go by, so nothing is read twice.
 *
 * Gzip members: the inflater leaves CRC-32 checking to this half (it runs on the other
 * core), so each member's output is summed here and compared with its trailer.
 */
#include <stdlib.h>
#include <zlib.h>

#include "builder/build_internal.h"
#include "util/error.h"

/* Hash the compressed bytes [hashed_upto, upto) of the current chunk into the span. */
static int hash_upto(struct build *b, uint64_t upto)
{
    if (!b->hashing || upto <= b->hashed_upto)
        return 0;
    const uint8_t *p = b->hash_chunk + (b->hashed_upto - b->hash_chunk_start);
    if (EVP_DigestUpdate(b->md, p, upto - b->hashed_upto) != 1)
        return soci_fail(SOCI_ENOMEM, "build: sha256 update failed");
    b->hashed_upto = upto;
    return 0;
}

static int close_span(struct build *b)
{
    unsigned int n;
    if (b->ndigests == b->digests_cap) {
        size_t cap = b->digests_cap ? b->digests_cap * 2 : 64;
        void *d = realloc(b->digests, cap * sizeof(*b->digests));
        if (d == NULL)
            return soci_fail_nomem("span digests");
        b->digests = d;
        b->digests_cap = cap;
    }
    if (EVP_DigestFinal_ex(b->md, b->digests[b->ndigests++], &n) != 1)
        return soci_fail(SOCI_ENOMEM, "build: sha256 final failed");
    return 0;
}

/* Close the current span's digest and start the next at `start` (the first byte of the
 * new span; it may be the last byte already hashed, or of the previous chunk). */
static int next_span(struct build *b, uint64_t start)
{
    int r;
    if (b->hashing && (r = close_span(b)) < 0)
        return r;
    if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
        return soci_fail(SOCI_ENOMEM, "build: sha256 init failed");
    b->hashing = true;
    if (start < b->hashed_upto) {
        /* The shared byte: already hashed into the span before; hash it again here. */
        uint8_t byte = start >= b->hash_chunk_start ? b->hash_chunk[start - b->hash_chunk_start]
                                                    : b->prev_chunk_last;
        if (EVP_DigestUpdate(b->md, &byte, 1) != 1)
            return soci_fail(SOCI_ENOMEM, "build: sha256 update failed");
        start++;
    }
    b->hashed_upto = start;
    return 0;
}

/* A new input chunk: what is left of the current one belongs to the current span. */
static int next_chunk(struct build *b, const struct build_msg *m)
{
    int r = hash_upto(b, b->hash_chunk_start + b->hash_chunk_len);
    if (r < 0)
        return r;
    if (b->hash_chunk != NULL) {
        b->prev_chunk_last = b->hash_chunk[b->hash_chunk_len - 1];
        build_pipe_release(b, (uint8_t *)(uintptr_t)b->hash_chunk);
    }
    b->hash_chunk = m->buf;
    b->hash_chunk_start = m->at;
    b->hash_chunk_len = m->len;
    return 0;
}

static int output(struct build *b, const struct build_msg *m)
{
    if (b->compression == SOCI_COMPRESSION_GZIP && m->len > 0) {
        b->member_crc = (uint32_t)crc32_z(b->member_crc, m->buf, m->len);
        b->member_size += m->len;
    }
    int r = m->len > 0 ? tar_reader_feed(b->tar, m->buf, m->len) : 0;
    if (m->pooled)
        build_pipe_release(b, m->buf);
    return r;
}

static int member_end(struct build *b, const struct build_msg *m)
{
    uint32_t crc = b->member_crc, isize = (uint32_t)b->member_size;
    b->member_crc = (uint32_t)crc32_z(0, NULL, 0);
    b->member_size = 0;
    if (crc != m->crc || isize != m->isize)
        return soci_fail(SOCI_EFORMAT, "gzip: the member ending at byte %llu fails its check (CRC-32 %08x, "
                                       "%u bytes; the trailer says %08x, %u)",
                         (unsigned long long)m->at, crc, isize, m->crc, m->isize);
    return 0;
}

int build_sink_handle(struct build *b, const struct build_msg *m)
{
    int r;
    switch (m->op) {
    case BUILD_INPUT:
        return next_chunk(b, m);
    case BUILD_SPAN:
        return (r = hash_upto(b, m->upto)) < 0 ? r : next_span(b, m->at);
    case BUILD_OUTPUT:
        return output(b, m);
    case BUILD_MEMBER_END:
        return member_end(b, m);
    case BUILD_END:
        if ((r = hash_upto(b, b->hash_chunk_start + b->hash_chunk_len)) < 0)
            return r;
        return b->hashing ? close_span(b) : 0;
    }
    return soci_fail(SOCI_EINVAL, "build: unknown message %d", (int)m->op);
}
