/* SPDX-License-Identifier: Apache-2.0 */
/* An uncompressed tar's span is its own bytes. */
#include <string.h>

#include "span/span.h"
#include "util/error.h"

int span_tar_decode(const uint8_t *comp, size_t comp_len, uint8_t *out, size_t out_len)
{
    if (comp_len != out_len)
        return soci_fail(SOCI_EFORMAT, "tar span: %zu bytes for a %zu-byte span", comp_len, out_len);
    if (out_len)
        memcpy(out, comp, out_len);
    return 0;
}
