/* SPDX-License-Identifier: Apache-2.0 */
/* soci_builder: options, the one pass over a layer, and the zTOC assembled from it. */
#include <stdlib.h>
#include <string.h>

#include "builder/build_cuts.h"
#include "builder/build_internal.h"
#include "io/blob_internal.h"
#include "util/bytes.h"
#include "util/digest.h"
#include "util/error.h"

#define ZTOC_FORMAT_VERSION "0.9"
#define CHECKPOINT_HEADER 12
#define PACKED_CHECKPOINT (8 + 8 + 1 + ZTOC_WINDOW_SIZE)
#define TAR_ZINFO_VERSION 2
#define V1_IMPLIED_IN 10

int soci_builder_new(soci_builder **ret)
{
    if (ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_builder_new: ret is NULL");
    struct soci_builder *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->tool = strdup(SOCI_BUILD_DEFAULT_TOOL)) == NULL) {
        free(b);
        return soci_fail_nomem("builder");
    }
    b->span_size = SOCI_BUILD_DEFAULT_SPAN_SIZE;
    b->checkpoint_version = 2;
    *ret = b;
    return 0;
}

void soci_builder_free(soci_builder *b)
{
    if (b == NULL)
        return;
    free(b->tool);
    free(b->cuts);
    free(b);
}

/* Join the extents v[0, n) closer than gap, in place; returns how many are left. */
static size_t join_cuts(struct extent *v, size_t n, uint64_t gap)
{
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        if (m > 0 && v[k].start <= v[m - 1].end + gap)
            v[m - 1].end = v[k].end > v[m - 1].end ? v[k].end : v[m - 1].end;
        else
            v[m++] = v[k];
    }
    return m;
}

int builder_set_cuts(soci_builder *b, const struct extent *v, size_t n)
{
    struct extent *copy = NULL;
    size_t m = n;
    if (n > 0 && (copy = malloc(n * sizeof(*copy))) == NULL)
        return soci_fail_nomem("checkpoint cuts");
    for (size_t k = 0; k < n; k++) /* extents are below 2^62 (prefetch_record.h) */
        copy[k] = (struct extent){v[k].start, v[k].end + BUILD_CUT_TAIL};
    /* Wider joins until few enough are left: each extent costs up to two windows. */
    for (uint64_t gap = BUILD_CUT_JOIN; (m = join_cuts(copy, m, gap)) > BUILD_CUTS_MAX; gap *= 2)
        ;
    free(b->cuts);
    b->cuts = copy;
    b->ncuts = m;
    return 0;
}

void soci_free(void *p)
{
    free(p);
}

int soci_builder_set_u64(soci_builder *b, int option, uint64_t value)
{
    if (b == NULL)
        return soci_fail(SOCI_EINVAL, "soci_builder_set_u64: builder is NULL");
    switch (option) {
    case SOCI_BUILD_SPAN_SIZE:
        if (value == 0 || value > ZTOC_SPAN_MAX)
            return soci_fail(SOCI_EINVAL, "span size %llu outside 1..%llu", (unsigned long long)value,
                             (unsigned long long)ZTOC_SPAN_MAX);
        b->span_size = value;
        return 0;
    case SOCI_BUILD_THREADS:
        if (value > 2)
            return soci_fail(SOCI_EINVAL, "build threads %llu: 0 (automatic), 1 or 2", (unsigned long long)value);
        b->threads = (int)value;
        return 0;
    case SOCI_BUILD_CHECKPOINT_VERSION:
        if (value != 1 && value != 2)
            return soci_fail(SOCI_EINVAL, "checkpoint version %llu: 1 or 2", (unsigned long long)value);
        b->checkpoint_version = (int)value;
        return 0;
    default:
        return soci_fail(SOCI_EINVAL, "builder: unknown integer option %d", option);
    }
}

int soci_builder_set_progress(soci_builder *b, soci_progress_fn fn, void *userdata)
{
    if (b == NULL)
        return soci_fail(SOCI_EINVAL, "soci_builder_set_progress: builder is NULL");
    b->progress = fn;
    b->progress_userdata = userdata;
    return 0;
}

int soci_builder_set_str(soci_builder *b, int option, const char *value)
{
    if (b == NULL || value == NULL)
        return soci_fail(SOCI_EINVAL, "soci_builder_set_str: bad arguments");
    if (option != SOCI_BUILD_TOOL_IDENTIFIER)
        return soci_fail(SOCI_EINVAL, "builder: unknown string option %d", option);
    char *copy = strdup(value);
    if (copy == NULL)
        return soci_fail_nomem("option");
    free(b->tool);
    b->tool = copy;
    return 0;
}

/* The gzip checkpoint data: count, span size, then each checkpoint packed. */
static int gzip_checkpoint_blob(const struct build *b, uint8_t **ret, size_t *ret_len)
{
    size_t from = b->opts->checkpoint_version == 1 ? 1 : 0;
    if (from == 1 && (b->cps[0].in != V1_IMPLIED_IN || b->cps[0].bits != 0))
        return soci_fail(SOCI_EINVAL, "checkpoint version 1 needs a 10-byte gzip header (this one is %llu)",
                         (unsigned long long)b->cps[0].in);
    size_t len = CHECKPOINT_HEADER + (b->ncps - from) * PACKED_CHECKPOINT;
    uint8_t *p = malloc(len), *w;
    if (p == NULL)
        return soci_fail_nomem("checkpoint data");
    store_u32le(p, (uint32_t)b->ncps);
    store_u64le(p + 4, b->opts->span_size);
    w = p + CHECKPOINT_HEADER;
    for (size_t i = from; i < b->ncps; i++, w += PACKED_CHECKPOINT) {
        store_u64le(w, b->cps[i].in);
        store_u64le(w + 8, b->cps[i].out);
        w[16] = b->cps[i].bits;
        memcpy(w + 17, b->cps[i].window, ZTOC_WINDOW_SIZE);
    }
    *ret = p;
    *ret_len = len;
    return 0;
}

/* The zstd checkpoint bytes: each span's start, compressed and not. */
static int zstd_checkpoint_blob(const struct build *b, uint8_t **ret, size_t *ret_len)
{
    uint64_t(*offsets)[2] = calloc(b->ncps ? b->ncps : 1, sizeof(*offsets));
    if (offsets == NULL)
        return soci_fail_nomem("zstd checkpoints");
    for (size_t i = 0; i < b->ncps; i++) {
        offsets[i][0] = b->cps[i].in;
        offsets[i][1] = b->cps[i].out;
    }
    int r = zinfo_zstd_write((const uint64_t(*)[2])offsets, b->ncps, b->opts->span_size, ret, ret_len);
    free(offsets);
    return r;
}

static int assemble(struct build *b, int compression, void **ret, size_t *ret_len)
{
    uint8_t *cps = NULL;
    size_t cps_len = 0;
    char(*text)[DIGEST_TEXT_LEN + 1] = calloc(b->ndigests, sizeof(*text));
    const char **digests = calloc(b->ndigests, sizeof(*digests));
    int r;

    if (text == NULL || digests == NULL) {
        r = soci_fail_nomem("span digests");
        goto out;
    }
    for (size_t i = 0; i < b->ndigests; i++) {
        digest_format(b->digests[i], text[i]);
        digests[i] = text[i];
    }
    if (compression == SOCI_COMPRESSION_GZIP)
        r = gzip_checkpoint_blob(b, &cps, &cps_len);
    else if (compression == SOCI_COMPRESSION_ZSTD)
        r = zstd_checkpoint_blob(b, &cps, &cps_len);
    else
        r = tar_zinfo_write(TAR_ZINFO_VERSION, (int64_t)b->opts->span_size, (int64_t)b->total_in, &cps,
                            &cps_len);
    if (r < 0)
        goto out;

    struct ztoc_write m = {
        .version = ZTOC_FORMAT_VERSION,
        .build_tool = b->opts->tool,
        .compressed_size = (int64_t)b->total_in,
        .uncompressed_size = (int64_t)b->tar_end,
        .compression = compression,
        .span_count = (uint32_t)b->ndigests,
        .span_digests = digests,
        .checkpoints = cps,
        .checkpoints_len = cps_len,
        .entries = b->entries,
        .entry_count = (uint32_t)b->nentries,
    };
    r = ztoc_write(&m, (uint8_t **)ret, ret_len);
    if (r == 0 && *ret_len > SOCI_ZTOC_MAX_SIZE) {
        r = soci_fail(SOCI_ETOOBIG, "build: the zTOC would be %zu bytes, more than readers accept (%llu); "
                                    "use a larger span size", *ret_len, (unsigned long long)SOCI_ZTOC_MAX_SIZE);
        free(*ret);
        *ret = NULL;
    }
out:
    free(cps);
    free(text);
    free(digests);
    return r;
}

static void build_free(struct build *b)
{
    build_pipe_free(b); /* first: it stops the worker */
    for (size_t i = 0; i < b->ncps; i++)
        free(b->cps[i].window);
    free(b->cps);
    free(b->digests);
    EVP_MD_CTX_free(b->md);
    tar_reader_free(b->tar);
    build_free_entries(b);
}

/* By the first bytes: gzip's magic, a zstd frame (or a skippable frame, as the seekable
 * format may start with), else a plain tar. */
static int detect_compression(const struct build *b)
{
    if (b->chunk_len >= 2 && b->chunk[0] == 0x1f && b->chunk[1] == 0x8b)
        return SOCI_COMPRESSION_GZIP;
    if (b->chunk_len >= 4) {
        uint32_t magic = load_u32le(b->chunk);
        if (magic == 0xfd2fb528u || (magic & 0xfffffff0u) == 0x184d2a50u)
            return SOCI_COMPRESSION_ZSTD;
    }
    return SOCI_COMPRESSION_UNCOMPRESSED;
}

static int build_run(soci_builder *opts, soci_read_fn read, void *ctx, soci_blob *blob, void **ret,
                     size_t *ret_len)
{
    struct build b = {.opts = opts, .read = read, .read_ctx = ctx, .blob = blob};
    int r;

    if (opts == NULL || read == NULL || ret == NULL || ret_len == NULL)
        return soci_fail(SOCI_EINVAL, "soci_builder_build_stream: bad arguments");
    b.md = EVP_MD_CTX_new();
    if (b.md == NULL) {
        r = soci_fail_nomem("build digests");
        goto out;
    }
    if ((r = tar_reader_new(build_collect_entry, &b, &b.tar)) < 0 || (r = build_pipe_start(&b, opts->threads)) < 0 ||
        (r = build_next_chunk(&b)) < 0)
        goto out;

    b.compression = detect_compression(&b);
    r = b.compression == SOCI_COMPRESSION_GZIP   ? build_gzip(&b)
        : b.compression == SOCI_COMPRESSION_ZSTD ? build_zstd(&b)
                                                 : build_tar(&b);
    if (r == 0)
        r = build_pipe_post(&b, &(struct build_msg){.op = BUILD_END});
    /* From here on the indexing half is done: its state is this thread's again. */
    if ((r = build_pipe_finish(&b, r)) < 0 || (r = tar_reader_finish(b.tar, &b.tar_end)) < 0)
        goto out;
    r = assemble(&b, b.compression, ret, ret_len);
out:
    build_free(&b);
    return r;
}

int soci_builder_build_stream(soci_builder *opts, soci_read_fn read, void *ctx, void **ret, size_t *ret_len)
{
    return build_run(opts, read, ctx, NULL, ret, ret_len);
}

struct blob_reader {
    soci_blob *blob;
    uint64_t off;
};

static int64_t read_blob(void *ctx, void *buf, size_t len)
{
    struct blob_reader *br = ctx;
    uint64_t left = soci_blob_size(br->blob) - br->off;
    size_t n = left < len ? (size_t)left : len;
    int r = soci_blob_read_at(br->blob, buf, n, br->off);
    if (r < 0)
        return r;
    br->off += n;
    return (int64_t)n;
}

int soci_builder_build_blob(soci_builder *b, soci_blob *blob, void **ret, size_t *ret_len)
{
    struct blob_reader br = {.blob = blob};
    if (blob == NULL)
        return soci_fail(SOCI_EINVAL, "soci_builder_build_blob: blob is NULL");
    return build_run(b, read_blob, &br, blob, ret, ret_len);
}
