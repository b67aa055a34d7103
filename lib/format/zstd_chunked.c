/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zstd:chunked layers (containers/storage): each file's data starts new zstd frames,
 * and after the last data frame come skippable frames a plain zstd decoder ignores: the
 * manifest (the TOC JSON, zstd-compressed), the tar-split data, and a footer.
 *
 * The footer is a skippable frame of 64 bytes (offset, compressed length, uncompressed
 * length, manifest type, then the tar-split's offset and lengths, all little-endian
 * u64, then the magic "GNUlInUx"); older writers made it 40 bytes (no tar-split). The
 * layer's manifest-position annotation gives the same numbers without reading it.
 *
 * The manifest is believed only when its compressed bytes hash to the layer's
 * manifest-checksum annotation; its chunk digests then vouch for every byte read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "format/chunk_toc.h"
#include "format/lazy_formats.h"
#include "util/bytes.h"
#include "util/digest.h"
#include "util/error.h"

#define SKIPPABLE_MAGIC 0x184D2A50u
#define SKIPPABLE_HEADER 8
#define FOOTER_DATA 64
#define LEGACY_FOOTER_DATA 40
#define MANIFEST_TYPE_CRFS 1
static const uint8_t footer_magic[8] = {'G', 'N', 'U', 'l', 'I', 'n', 'U', 'x'};

struct manifest_pos {
    uint64_t offset, length, uncompressed, type;
};

static bool parse_position(const char *s, struct manifest_pos *p)
{
    int end = 0;
    return sscanf(s, "%" SCNu64 ":%" SCNu64 ":%" SCNu64 ":%" SCNu64 "%n", &p->offset, &p->length,
                  &p->uncompressed, &p->type, &end) == 4 &&
           s[end] == '\0' && s[0] >= '0' && s[0] <= '9';
}

/* The footer's numbers: the 64-byte footer, else the 40-byte one. */
static int read_footer(soci_blob *blob, struct manifest_pos *p)
{
    uint8_t f[SKIPPABLE_HEADER + FOOTER_DATA];
    uint64_t size = soci_blob_size(blob);
    static const size_t sizes[] = {FOOTER_DATA, LEGACY_FOOTER_DATA};
    for (size_t k = 0; k < 2; k++) {
        size_t n = SKIPPABLE_HEADER + sizes[k];
        int r;
        if (size < n)
            continue;
        if ((r = soci_blob_read_at(blob, f, n, size - n)) < 0)
            return soci_fail_prefix(r, "zstd:chunked footer");
        if (load_u32le(f) != SKIPPABLE_MAGIC || load_u32le(f + 4) != sizes[k] ||
            memcmp(f + n - sizeof(footer_magic), footer_magic, sizeof(footer_magic)) != 0)
            continue;
        *p = (struct manifest_pos){load_u64le(f + 8), load_u64le(f + 16), load_u64le(f + 24), load_u64le(f + 32)};
        return 0;
    }
    return soci_fail(SOCI_EFORMAT, "zstd:chunked: no footer at the end of the layer");
}

int zstd_chunked_open(soci_blob *blob, const char *checksum, const char *position, soci_ztoc **ret)
{
    uint8_t want[SHA256_LEN], got[SHA256_LEN];
    uint64_t size = soci_blob_size(blob);
    struct manifest_pos p;
    uint8_t *comp = NULL, *json = NULL;
    int r;

    if (!digest_parse(checksum, strlen(checksum), want))
        return soci_fail(SOCI_EFORMAT, "zstd:chunked: manifest checksum \"%.80s\" is not sha256:<hex>", checksum);
    if (position[0] && !parse_position(position, &p))
        return soci_fail(SOCI_EFORMAT, "zstd:chunked: manifest position \"%.80s\" is not offset:length:size:type",
                         position);
    if (!position[0] && (r = read_footer(blob, &p)) < 0)
        return r;
    if (p.type != MANIFEST_TYPE_CRFS)
        return soci_fail(SOCI_EFORMAT, "zstd:chunked: manifest type %" PRIu64 ", not 1 (CRFS)", p.type);
    if (p.offset < SKIPPABLE_HEADER || p.offset > size || p.length > size - p.offset ||
        p.length > CHUNK_TOC_MAX_SIZE || p.uncompressed > CHUNK_TOC_MAX_SIZE)
        return soci_fail(SOCI_EFORMAT, "zstd:chunked: manifest [%" PRIu64 ", +%" PRIu64 ") -> %" PRIu64
                                       " bytes does not fit the %" PRIu64 "-byte layer",
                         p.offset, p.length, p.uncompressed, size);

    comp = malloc(p.length ? (size_t)p.length : 1);
    json = malloc(p.uncompressed ? (size_t)p.uncompressed : 1);
    if (comp == NULL || json == NULL) {
        r = soci_fail_nomem("zstd:chunked manifest");
        goto out;
    }
    if ((r = soci_blob_read_at(blob, comp, (size_t)p.length, p.offset)) < 0 ||
        (r = sha256(comp, (size_t)p.length, got)) < 0)
        goto out;
    if (memcmp(got, want, SHA256_LEN) != 0) {
        r = soci_fail(SOCI_EDIGEST, "zstd:chunked: manifest does not match its annotation %s", checksum);
        goto out;
    }
    /* One-shot decoding writes straight into json: no window beyond the declared size. */
    size_t n = ZSTD_decompress(json, (size_t)p.uncompressed, comp, (size_t)p.length);
    if (ZSTD_isError(n) || n != p.uncompressed) {
        r = soci_fail(SOCI_EFORMAT, "zstd:chunked: manifest does not decompress to its %" PRIu64 " bytes (%s)",
                      p.uncompressed, ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong size");
        goto out;
    }
    struct chunk_toc_layer layer = {SOCI_COMPRESSION_ZSTD, size, p.offset - SKIPPABLE_HEADER, "zstd:chunked"};
    r = chunk_toc_parse(json, n, &layer, ret);
out:
    free(comp);
    free(json);
    return r;
}
