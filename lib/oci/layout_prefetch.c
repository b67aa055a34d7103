/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prefetch artifacts at index build time (soci-index create --prefetch-file): each
 * requested file is looked up from the top layer down, as the container will see it, and
 * the spans holding its bytes in that layer's zTOC go to that layer's artifact.
 *
 * Only layers with a zTOC can be looked into (the others are too small to index, and are
 * fetched whole anyway). A whiteout of the file, or an opaque directory above it, in an
 * indexed layer ends the search: the file is not there. A layer without a zTOC that
 * overrides the file is not seen; the artifact then names spans of a copy the container
 * does not read, which costs bytes, never correctness.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/prefetch_json.h"
#include "format/ztoc_internal.h"
#include "oci/layout_internal.h"
#include "util/error.h"
#include "util/path.h"

/* Is `path` present (as anything) in z? */
static bool has(const soci_ztoc *z, const char *path)
{
    uint32_t i;
    bool found = soci_ztoc_lookup(z, path, &i) == 0;
    soci_clear_error();
    return found;
}

/* Does layer z hide everything below it at path: a whiteout of path itself or of one of
 * its parents, or an opaque marker in one of its parent directories? */
static bool hides(const soci_ztoc *z, const char *path)
{
    char probe[PATH_MAX + 16];
    size_t len = strlen(path);
    for (size_t cut = len; cut > 0; cut--) {
        if (cut < len && path[cut] != '/')
            continue;
        /* path[0, cut) is the path or one of its parents; its base name starts after the
         * last '/' before cut. */
        size_t base = cut;
        while (base > 0 && path[base - 1] != '/')
            base--;
        snprintf(probe, sizeof(probe), "%.*s.wh.%.*s", (int)base, path, (int)(cut - base), path + base);
        if (has(z, probe))
            return true;
        if (cut < len) { /* a parent directory: an opaque marker in it */
            snprintf(probe, sizeof(probe), "%.*s/.wh..wh..opq", (int)cut, path);
            if (has(z, probe))
                return true;
        }
    }
    return false;
}

int layout_prefetch_add(struct layout_prefetch *p, uint32_t first, uint32_t last, int32_t priority)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        if (cap > PREFETCH_MAX_RANGES)
            return soci_fail(SOCI_ETOOBIG, "prefetch: more than %d ranges in a layer", PREFETCH_MAX_RANGES);
        void *q = realloc(p->ranges, cap * sizeof(*p->ranges));
        if (q == NULL)
            return soci_fail_nomem("prefetch ranges");
        p->ranges = q;
        p->cap = cap;
    }
    p->ranges[p->n++] = (struct prefetch_range){first, last, priority};
    return 0;
}

int layout_prefetch_file(struct layout_prefetch *layers, size_t count, const char *file, const char **why)
{
    char path[PATH_MAX];
    size_t len = strlen(file);
    if (len >= sizeof(path) || path_clean(file, len, path, NULL) == 0) {
        *why = "not a file path";
        return 0;
    }
    for (size_t k = count; k-- > 0;) {
        const soci_ztoc *z = layers[k].z;
        uint32_t i, target;
        if (z == NULL)
            continue;
        if (soci_ztoc_lookup(z, path, &i) == 0) {
            struct soci_entry e;
            int r = soci_ztoc_resolve(z, i, &target);
            if (r < 0 || (r = soci_ztoc_entry(z, target, &e, sizeof(e))) < 0)
                return r;
            if (e.type != SOCI_TYPE_REG) {
                *why = "not a regular file";
                return 0;
            }
            uint32_t first, last;
            if (e.size == 0)
                return 1; /* nothing to fetch, nothing missing */
            if ((r = ztoc_entry_spans(z, &e, &first, &last)) < 0 || (r = layout_prefetch_add(&layers[k], first, last, 0)) < 0)
                return r;
            return 1;
        }
        soci_clear_error();
        if (hides(z, path)) {
            *why = "deleted by a whiteout";
            return 0;
        }
    }
    *why = "in no indexed layer";
    return 0;
}
