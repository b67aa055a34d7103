/* SPDX-License-Identifier: Apache-2.0 */
/* Span decoding (gzip, and the same bytes as zstd frames and as tar) from a mutated
 * checkpoint: 4 bytes of wanted output size (bounded), one byte of leftover bits, a flag
 * for a window, then the window (when flagged) and the compressed span. The decoder must
 * fill exactly the size asked or fail cleanly; with ISA-L, whatever both inflaters
 * accept they must decode to the same bytes. */
#include <stdlib.h>
#include <string.h>

#include "span/span.h"
#include "util/bytes.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    size_t out_len = load_u32le(data) % (1u << 20);
    struct ztoc_checkpoint cp = {.bits = data[4] & 7};
    bool window = data[5] & 1;
    data += 6;
    size -= 6;
    if (window) {
        if (size < ZTOC_WINDOW_SIZE)
            return 0;
        cp.window = data;
        data += ZTOC_WINDOW_SIZE;
        size -= ZTOC_WINDOW_SIZE;
    }
    if (cp.bits && size == 0)
        return 0; /* a span with leftover bits starts on a shared byte */
    uint8_t *out = malloc(out_len ? out_len : 1);
    if (out == NULL)
        abort();
    int zr = span_gzip_decode(&cp, data, size, out, out_len);
#ifdef SOCI_HAVE_ISAL
    uint8_t *isal_out = malloc(out_len ? out_len : 1);
    if (isal_out == NULL)
        abort();
    if (span_gzip_decode_isal(&cp, data, size, isal_out, out_len) == 0 && zr == 0 &&
        memcmp(out, isal_out, out_len) != 0)
        abort(); /* the two inflaters disagree */
    free(isal_out);
#else
    (void)zr;
#endif
    (void)span_tar_decode(data, size, out, out_len);
    (void)span_zstd_decode(NULL, data, size, 0, out, out_len);
    free(out);
    return 0;
}
