/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prefetch artifacts: the spans an image's builder asked to have fetched before the
 * container starts (format/prefetch_json.h). They name spans of a layer's SOCI zTOC, so
 * only layers read through one take them.
 */
#include <stdio.h>
#include <stdlib.h>

#include "format/prefetch_json.h"
#include "fs/fs_internal.h"
#include "image/image_internal.h"
#include "util/error.h"
#include "util/log.h"

/* Best effort: the first failure is kept (code and message) and returned at the end. */
struct first_failure {
    int code;
    char message[512];
};

static void note_failure(struct first_failure *f, int code)
{
    soci_log(SOCI_LOG_WARNING, "prefetch: %s", soci_last_error());
    if (f->code == 0) {
        f->code = code;
        snprintf(f->message, sizeof(f->message), "%s", soci_last_error());
    }
}

static uint64_t prefetch_layer(struct soci_fs *fs, uint32_t i, struct first_failure *f)
{
    struct soci_image_layer info = {0};
    struct prefetch_range *ranges;
    size_t n;
    uint64_t done = 0;
    int r;
    if (soci_image_layer(fs->img, i, &info, sizeof(info)) < 0 || info.lazy_path != SOCI_LAZY_SOCI)
        return 0;
    if ((r = image_layer_prefetch(fs->img, i, &ranges, &n)) < 0) {
        note_failure(f, r);
        return 0;
    }
    uint32_t spans = soci_ztoc_span_count(fs->ztocs[i]);
    for (size_t k = 0; k < n; k++) {
        uint32_t first = ranges[k].first, last = ranges[k].last;
        if (first >= spans) {
            soci_log(SOCI_LOG_WARNING, "prefetch: layer %s has %u spans; range %u-%u skipped", info.digest, spans,
                     first, last);
            continue;
        }
        if (last >= spans) {
            soci_log(SOCI_LOG_WARNING, "prefetch: layer %s has %u spans; range %u-%u cut at %u", info.digest, spans,
                     first, last, spans - 1);
            last = spans - 1;
        }
        if ((r = soci_layer_prefetch(fs->layers[i], first, last)) < 0) {
            soci_fail_prefix(r, "layer %s spans %u-%u", info.digest, first, last);
            note_failure(f, r);
            continue;
        }
        done += (uint64_t)(last - first) + 1;
    }
    free(ranges);
    return done;
}

int soci_fs_prefetch_artifacts(soci_fs *fs, uint64_t *ret_spans)
{
    struct first_failure f = {0};
    uint64_t spans = 0;
    if (fs == NULL)
        return soci_fail(SOCI_EINVAL, "soci_fs_prefetch_artifacts: no fs");
    for (uint32_t i = fs->img ? fs->nlayers : 0; i-- > 0;)
        spans += prefetch_layer(fs, i, &f);
    if (ret_spans != NULL)
        *ret_spans = spans;
    if (f.code < 0)
        return soci_fail(f.code, "%s", f.message);
    soci_clear_error();
    return 0;
}
