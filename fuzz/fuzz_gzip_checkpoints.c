/* SPDX-License-Identifier: Apache-2.0 */
/* The gzip checkpoint blob (FORMAT.md section 2) on its own: the first 20 input bytes
 * give the archive sizes and span count a zTOC would declare, the rest is the blob. */
#include <stdlib.h>

#include "format/ztoc_internal.h"
#include "util/bytes.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 20)
        return 0;
    struct soci_ztoc z = {0};
    z.compressed_size = load_u64le(data);
    z.uncompressed_size = load_u64le(data + 8);
    z.span_count = load_u32le(data + 16) % 4096 + 1;
    z.compression = SOCI_COMPRESSION_GZIP;
    if (zinfo_gzip_parse(&z, data + 20, size - 20) == 0) {
        for (uint32_t i = 0; i < z.span_count; i++) {
            uint64_t co, ce, oo, oe;
            ztoc_span_ranges(&z, i, &co, &ce, &oo, &oe);
            if (co > ce || oo > oe || ce > z.compressed_size || oe > z.uncompressed_size)
                abort(); /* accepted checkpoints give spans inside the archive */
        }
    }
    free(z.checkpoints);
    return 0;
}
