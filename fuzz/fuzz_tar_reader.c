/* SPDX-License-Identifier: Apache-2.0 */
/* The push tar parser, fed in pieces whose sizes the first byte chooses (so headers and
 * PAX records are split at every point over a run). */
#include "tar/tar_reader.h"

#include "fuzz.h"

static int on_entry(void *ctx, const struct tar_entry *e)
{
    (void)ctx;
    (void)e;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tar_reader *t;
    if (size < 1 || tar_reader_new(on_entry, NULL, &t) < 0)
        return 0;
    size_t piece = (size_t)data[0] * 7 + 1;
    data++;
    size--;
    int r = 0;
    while (size > 0 && r == 0) {
        size_t n = piece < size ? piece : size;
        r = tar_reader_feed(t, data, n);
        data += n;
        size -= n;
    }
    uint64_t end;
    if (r == 0)
        (void)tar_reader_finish(t, &end);
    tar_reader_free(t);
    return 0;
}
