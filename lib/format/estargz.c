/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eStargz layers (containerd/stargz-snapshotter): a gzip stream of many members, each
 * file's data starting a new member, then a member holding a tar entry
 * "stargz.index.json" (the TOC), then a footer: an empty gzip member whose extra field
 * says "%016xSTARGZ" with the TOC member's offset. eStargz's footer is 51 bytes (the
 * extra field is a subfield 'S','G'); legacy stargz's is 47 (the bare string).
 *
 * The TOC is believed only when its digest matches the layer's
 * containerd.io/snapshot/stargz/toc.digest annotation, which the image manifest's own
 * digest vouches for; its chunk digests then vouch for every byte read.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "format/chunk_toc.h"
#include "format/lazy_formats.h"
#include "tar/tar_fields.h"
#include "util/digest.h"
#include "util/error.h"

#define FOOTER_SIZE 51
#define LEGACY_FOOTER_SIZE 47
#define TOC_NAME "stargz.index.json"

/* The TOC offset from a footer of n bytes (51 or 47), or false. */
static bool parse_footer(const uint8_t *f, size_t n, uint64_t *toc_off)
{
    const uint8_t *text;
    if (f[0] != 0x1f || f[1] != 0x8b || f[2] != 8 || !(f[3] & 4))
        return false;
    unsigned xlen = f[10] | (unsigned)f[11] << 8;
    if (n == FOOTER_SIZE) {
        if (xlen != 26 || f[12] != 'S' || f[13] != 'G' || (f[14] | f[15] << 8) != 22)
            return false;
        text = f + 16;
    } else {
        if (xlen != 22)
            return false;
        text = f + 12;
    }
    if (memcmp(text + 16, "STARGZ", 6) != 0)
        return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = (char)text[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *toc_off = v;
    return true;
}

/* Inflate the one gzip member in comp into *ret (malloc'd), at most max bytes. */
static int inflate_member(const uint8_t *comp, size_t len, size_t max, uint8_t **ret, size_t *ret_len)
{
    z_stream s = {0};
    size_t cap = len * 4 + 4096 < max ? len * 4 + 4096 : max, n = 0;
    uint8_t *out = malloc(cap);
    int zret = out ? inflateInit2(&s, 15 + 16) : Z_MEM_ERROR;
    if (zret != Z_OK) {
        free(out);
        return soci_fail_nomem("TOC member");
    }
    s.next_in = (Bytef *)(uintptr_t)comp;
    s.avail_in = (uInt)len;
    do {
        if (n == cap) {
            uint8_t *bigger = cap < max ? realloc(out, cap * 2 < max ? cap * 2 : max) : NULL;
            if (bigger == NULL) {
                zret = cap < max ? Z_MEM_ERROR : Z_BUF_ERROR;
                break;
            }
            out = bigger;
            cap = cap * 2 < max ? cap * 2 : max;
        }
        s.next_out = out + n;
        s.avail_out = (uInt)(cap - n);
        zret = inflate(&s, Z_NO_FLUSH);
        n = cap - s.avail_out;
    } while (zret == Z_OK);
    inflateEnd(&s);
    if (zret != Z_STREAM_END) {
        free(out);
        return zret == Z_MEM_ERROR ? soci_fail_nomem("TOC")
                                   : soci_fail(SOCI_EFORMAT, "TOC member: %s", zret == Z_BUF_ERROR && n == max
                                                                                   ? "larger than the limit"
                                                                                   : "corrupt or cut short");
    }
    *ret = out;
    *ret_len = n;
    return 0;
}

/* The TOC JSON inside the tar bytes of the TOC member: after any PAX headers, the entry
 * named stargz.index.json. */
static int find_toc_json(const uint8_t *tar, size_t len, const uint8_t **json, size_t *json_len)
{
    size_t pos = 0;
    for (int hops = 0; hops < 4; hops++) {
        enum tar_format fmt;
        int64_t size;
        char name[TAR_NAME_LEN + 1];
        if (len - pos < TAR_BLOCK || !tar_block_format(tar + pos, &fmt) ||
            !tar_numeric(tar + pos + TAR_SIZE, TAR_NUM12_LEN, &size) || size < 0 ||
            (uint64_t)size > len - pos - TAR_BLOCK)
            break;
        char type = (char)tar[pos + TAR_TYPEFLAG];
        if (type == 'x' || type == 'g') { /* PAX records: the name is plain below */
            pos += TAR_BLOCK + (((size_t)size + TAR_BLOCK - 1) / TAR_BLOCK) * TAR_BLOCK;
            continue;
        }
        tar_string(tar + pos + TAR_NAME, TAR_NAME_LEN, name);
        if (strcmp(name, TOC_NAME) != 0)
            break;
        *json = tar + pos + TAR_BLOCK;
        *json_len = (size_t)size;
        return 0;
    }
    return soci_fail(SOCI_EFORMAT, "TOC member holds no %s tar entry", TOC_NAME);
}

int estargz_open(soci_blob *blob, const char *toc_digest, soci_ztoc **ret)
{
    uint8_t footer[FOOTER_SIZE], want[SHA256_LEN], got[SHA256_LEN];
    uint64_t size = soci_blob_size(blob), toc_off = 0;
    size_t footer_size = 0;
    uint8_t *comp = NULL, *tar = NULL;
    size_t tar_len = 0;
    int r;

    if (!digest_parse(toc_digest, strlen(toc_digest), want))
        return soci_fail(SOCI_EFORMAT, "eStargz: TOC digest \"%.80s\" is not sha256:<hex>", toc_digest);
    if (size < LEGACY_FOOTER_SIZE)
        return soci_fail(SOCI_EFORMAT, "eStargz: a %llu-byte layer has no footer", (unsigned long long)size);
    size_t n = size < FOOTER_SIZE ? LEGACY_FOOTER_SIZE : FOOTER_SIZE;
    if ((r = soci_blob_read_at(blob, footer, n, size - n)) < 0)
        return soci_fail_prefix(r, "eStargz footer");
    if (n == FOOTER_SIZE && parse_footer(footer, FOOTER_SIZE, &toc_off))
        footer_size = FOOTER_SIZE;
    else if (parse_footer(footer + n - LEGACY_FOOTER_SIZE, LEGACY_FOOTER_SIZE, &toc_off))
        footer_size = LEGACY_FOOTER_SIZE;
    else
        return soci_fail(SOCI_EFORMAT, "eStargz: no footer at the end of the layer");
    if (toc_off == 0 || toc_off >= size - footer_size || size - footer_size - toc_off > CHUNK_TOC_MAX_SIZE)
        return soci_fail(SOCI_EFORMAT, "eStargz: TOC at %llu in a %llu-byte layer", (unsigned long long)toc_off,
                         (unsigned long long)size);

    size_t comp_len = (size_t)(size - footer_size - toc_off);
    const uint8_t *json = NULL;
    size_t json_len = 0;
    if ((comp = malloc(comp_len)) == NULL)
        return soci_fail_nomem("eStargz TOC");
    if ((r = soci_blob_read_at(blob, comp, comp_len, toc_off)) < 0 ||
        (r = inflate_member(comp, comp_len, CHUNK_TOC_MAX_SIZE + 2 * TAR_BLOCK, &tar, &tar_len)) < 0 ||
        (r = find_toc_json(tar, tar_len, &json, &json_len)) < 0 || (r = sha256(json, json_len, got)) < 0)
        goto out;
    if (memcmp(got, want, SHA256_LEN) != 0) {
        r = soci_fail(SOCI_EDIGEST, "eStargz: TOC does not match its annotation %s", toc_digest);
        goto out;
    }
    struct chunk_toc_layer layer = {SOCI_COMPRESSION_GZIP, size, toc_off, "estargz"};
    r = chunk_toc_parse(json, json_len, &layer, ret);
out:
    free(comp);
    free(tar);
    return r;
}
