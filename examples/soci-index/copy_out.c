/* SPDX-License-Identifier: Apache-2.0 */
/* Writing one file of a layer to a stream: what `ztoc get-file` and `get-file` share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/soci.h>

#include "cli.h"

/* Reads of this size keep the spans of a file fetched together in few requests. */
#define CHUNK ((size_t)4 << 20)

int cli_copy_entry(soci_layer *layer, uint32_t entry, const char *path, FILE *out, const char *out_name)
{
    uint8_t *buf = malloc(CHUNK);
    int rc = -1;
    if (buf == NULL) {
        cli_fail("buffer", SOCI_ENOMEM);
        return -1;
    }
    for (uint64_t off = 0;;) {
        int64_t n = soci_layer_pread(layer, entry, buf, CHUNK, off);
        if (n < 0) {
            cli_fail(path, (int)n);
            goto out;
        }
        if (n == 0)
            break;
        if (fwrite(buf, 1, (size_t)n, out) != (size_t)n)
            goto write_error;
        off += (uint64_t)n;
    }
    if (fflush(out) != 0)
        goto write_error;
    rc = 0;
    goto out;
write_error:
    fprintf(stderr, "soci-index: %s: %s\n", out_name ? out_name : "stdout", strerror(errno));
out:
    free(buf);
    return rc;
}
