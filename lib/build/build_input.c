/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Input and span digests of a build. A span's digest covers its compressed range
 * [in - (bits ? 1 : 0), next span's in): consecutive spans share a byte when the
 * boundary falls inside it. Bytes are hashed as chunks go by, so nothing is read twice.
 */
#include <stdlib.h>
#include <string.h>

#include "build/build_internal.h"
#include "util/error.h"

int build_next_chunk(struct build *b)
{
    int r;
    /* Everything left of this chunk belongs to the current span. */
    if ((r = build_hash_upto(b, b->chunk_start + b->chunk_len)) < 0)
        return r;
    if (b->chunk_len)
        b->prev_chunk_last = b->chunk[b->chunk_len - 1];
    b->chunk_start += b->chunk_len;
    b->chunk_len = 0;
    /* Fill the chunk: sources may hand out a few bytes at a time (pipes), and the magic
     * test and the inflater both do better with whole chunks. */
    while (b->chunk_len < BUILD_CHUNK && !b->eof) {
        int64_t n = b->read(b->read_ctx, b->chunk + b->chunk_len, BUILD_CHUNK - b->chunk_len);
        if (n < 0)
            return (int)n;
        if ((uint64_t)n > BUILD_CHUNK - b->chunk_len)
            return soci_fail(SOCI_EINVAL, "build: read function returned %lld for a %zu-byte buffer",
                             (long long)n, BUILD_CHUNK - b->chunk_len);
        if (n == 0)
            b->eof = true;
        b->chunk_len += (size_t)n;
    }
    b->total_in += b->chunk_len;
    if (b->opts->progress != NULL)
        b->opts->progress(b->opts->progress_userdata, b->total_in);
    return 0;
}

int build_hash_upto(struct build *b, uint64_t upto)
{
    if (!b->hashing || upto <= b->hashed_upto)
        return 0;
    const uint8_t *p = b->chunk + (b->hashed_upto - b->chunk_start);
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

int build_next_span(struct build *b, uint64_t start)
{
    int r;
    if (b->hashing && (r = close_span(b)) < 0)
        return r;
    if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
        return soci_fail(SOCI_ENOMEM, "build: sha256 init failed");
    b->hashing = true;
    if (start < b->hashed_upto) {
        /* The shared byte: already hashed into the span before; hash it again here. */
        uint8_t byte = start >= b->chunk_start ? b->chunk[start - b->chunk_start] : b->prev_chunk_last;
        if (EVP_DigestUpdate(b->md, &byte, 1) != 1)
            return soci_fail(SOCI_ENOMEM, "build: sha256 update failed");
        start++;
    }
    b->hashed_upto = start;
    return 0;
}

int build_end_spans(struct build *b)
{
    int r = build_hash_upto(b, b->chunk_start + b->chunk_len);
    return r < 0 ? r : close_span(b);
}

int build_add_checkpoint(struct build *b, struct build_checkpoint cp)
{
    int r;
    /* Stop as soon as the checkpoints alone outgrow what readers accept in a zTOC: a
     * hostile layer (a decompression bomb) must not make us hold gigabytes of windows. */
    uint64_t per = cp.window ? ZTOC_WINDOW_SIZE + 17 : 16;
    if ((uint64_t)(b->ncps + 1) * per > SOCI_ZTOC_MAX_SIZE) {
        free(cp.window);
        return soci_fail(SOCI_ETOOBIG, "build: more than %zu checkpoints would not fit in a zTOC; "
                                       "use a larger span size", b->ncps);
    }
    if (b->ncps == b->cps_cap) {
        size_t cap = b->cps_cap ? b->cps_cap * 2 : 64;
        void *p = realloc(b->cps, cap * sizeof(*b->cps));
        if (p == NULL) {
            free(cp.window);
            return soci_fail_nomem("checkpoints");
        }
        b->cps = p;
        b->cps_cap = cap;
    }
    b->cps[b->ncps++] = cp;
    if ((r = build_hash_upto(b, cp.in)) < 0)
        return r;
    return build_next_span(b, cp.bits ? cp.in - 1 : cp.in);
}
