/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding one gzip span with ISA-L's inflater, about twice zlib's speed on these
 * machines. ISA-L has no inflatePrime, so the checkpoint's leftover bits go straight into
 * the state's bit buffer (read_in, read_in_length: consumed from the low bit, as zlib's
 * inflatePrime feeds them); the 32 KiB window is set with isal_inflate_set_dict; the
 * stream is raw deflate. That leans on the layout of struct inflate_state, so
 * tests/unit/test_span_backends.c decodes every span of every vector with both
 * inflaters and compares, and fuzz_span_gzip does the same on mutated spans.
 *
 * A gzip member that ends inside the span (concatenated members, pigz) is left to the
 * zlib decoder, which steps over trailers and headers: ISA-L's path stays the simple one.
 */
#include <limits.h>
#include <stdlib.h>

#include <isa-l/igzip_lib.h>

#include "span/span.h"
#include "util/error.h"

int span_gzip_decode_isal(const struct ztoc_checkpoint *cp, const uint8_t *span, size_t span_len, uint8_t *out,
                          size_t out_len)
{
    const uint8_t *comp = span;
    size_t comp_len = span_len;
    if (comp_len > UINT32_MAX || out_len > UINT32_MAX)
        return soci_fail(SOCI_ETOOBIG, "gzip span: %zu -> %zu bytes is too large", comp_len, out_len);
    if (out_len == 0)
        return 0;
    if (cp->bits && comp_len == 0)
        return soci_fail(SOCI_EFORMAT, "gzip span: empty, but its checkpoint needs %u bits", cp->bits);
    struct inflate_state *s = malloc(sizeof(*s)); /* ~100 KiB: not for the stack */
    if (s == NULL)
        return soci_fail_nomem("inflate state");
    isal_inflate_init(s);
    s->crc_flag = ISAL_DEFLATE;
    int r = 0;
    if (cp->window != NULL && isal_inflate_set_dict(s, (uint8_t *)(uintptr_t)cp->window, ZTOC_WINDOW_SIZE) != 0) {
        r = soci_fail(SOCI_EFORMAT, "gzip span: ISA-L refused the window");
        goto out;
    }
    if (cp->bits) {
        s->read_in = (uint64_t)(comp[0] >> (8 - cp->bits));
        s->read_in_length = cp->bits;
        comp++;
        comp_len--;
    }
    s->next_in = (uint8_t *)(uintptr_t)comp;
    s->avail_in = (uint32_t)comp_len;
    s->next_out = out;
    s->avail_out = (uint32_t)out_len;
    while (s->avail_out > 0) {
        uint32_t before_in = s->avail_in, before_out = s->avail_out;
        int ret = isal_inflate(s);
        if (ret < 0) {
            r = soci_fail(SOCI_EFORMAT, "gzip span: corrupt deflate data (ISA-L %d)", ret);
            goto out;
        }
        if (s->block_state == ISAL_BLOCK_FINISH && s->avail_out > 0) {
            r = span_gzip_decode(cp, span, span_len, out, out_len);
            goto out; /* a member ends inside the span: zlib's path handles what follows */
        }
        if (s->avail_in == before_in && s->avail_out == before_out)
            break; /* input used up */
    }
    if (s->avail_out != 0)
        r = soci_fail(SOCI_EFORMAT, "gzip span: data ends after %zu of %zu bytes", out_len - s->avail_out, out_len);
out:
    free(s);
    return r;
}
