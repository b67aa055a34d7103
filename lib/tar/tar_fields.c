/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "tar/tar_fields.h"

bool tar_block_is_zero(const uint8_t *blk)
{
    for (size_t i = 0; i < TAR_BLOCK; i++)
        if (blk[i])
            return false;
    return true;
}

static bool parse_octal(const uint8_t *f, size_t len, int64_t *ret)
{
    size_t a = 0, b = len;
    while (a < b && (f[a] == ' ' || f[a] == 0))
        a++;
    while (b > a && (f[b - 1] == ' ' || f[b - 1] == 0))
        b--;
    uint64_t x = 0;
    for (size_t i = a; i < b && f[i] != 0; i++) {
        if (f[i] < '0' || f[i] > '7' || (x >> 61) != 0)
            return false;
        x = x << 3 | (uint64_t)(f[i] - '0');
    }
    *ret = (int64_t)x;
    return true;
}

bool tar_numeric(const uint8_t *f, size_t len, int64_t *ret)
{
    if (len == 0 || !(f[0] & 0x80))
        return parse_octal(f, len, ret);
    /* Base-256, two's complement when the second-highest bit of the first byte is set. */
    uint8_t inv = (f[0] & 0x40) ? 0xff : 0x00;
    uint64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = f[i] ^ inv;
        if (i == 0)
            c &= 0x7f;
        if ((x >> 56) != 0)
            return false;
        x = x << 8 | c;
    }
    if ((x >> 63) != 0)
        return false;
    *ret = inv ? (int64_t)~x : (int64_t)x;
    return true;
}

void tar_string(const uint8_t *f, size_t len, char *out)
{
    size_t n = 0;
    while (n < len && f[n] != 0)
        n++;
    memcpy(out, f, n);
    out[n] = '\0';
}

bool tar_block_format(const uint8_t *blk, enum tar_format *ret)
{
    int64_t want;
    if (!parse_octal(blk + TAR_CHKSUM, TAR_CHKSUM_LEN, &want))
        return false;
    int64_t usum = 0, ssum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++) {
        uint8_t c = (i >= TAR_CHKSUM && i < TAR_CHKSUM + TAR_CHKSUM_LEN) ? ' ' : blk[i];
        usum += c;
        ssum += (int8_t)c;
    }
    if (want != usum && want != ssum)
        return false;
    if (memcmp(blk + TAR_MAGIC, "ustar\0", 6) == 0)
        *ret = memcmp(blk + TAR_STAR_TRAILER, "tar\0", 4) == 0 ? TAR_STAR : TAR_USTAR;
    else if (memcmp(blk + TAR_MAGIC, "ustar ", 6) == 0 && memcmp(blk + TAR_VERSION, " \0", 2) == 0)
        *ret = TAR_GNU;
    else
        *ret = TAR_V7;
    return true;
}
