/* SPDX-License-Identifier: Apache-2.0 */
/* SOCI index manifests (v1 and v2): parse, read every field, serialise, and parse the
 * serialisation again: what we write from what we accepted must be accepted. The same
 * bytes as a prefetch artifact: parsed ranges are sorted, merged and well formed, and
 * written out they parse back to themselves. */
#include <soci/build.h>
#include <soci/index.h>

#include "format/prefetch_json.h"
#include "fuzz.h"

static void prefetch_artifact(const uint8_t *data, size_t size)
{
    struct prefetch_range *r, *back;
    size_t n, m, len;
    char *text;
    if (prefetch_parse(data, size, &r, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (r[i].first > r[i].last || r[i].last > INT32_MAX ||
            (i > 0 && r[i].priority == r[i - 1].priority && r[i].first <= r[i - 1].last + 1))
            abort();
    if (prefetch_write(r, n, &text, &len) < 0)
        abort();
    if (prefetch_parse(text, len, &back, &m) < 0 || m != n || memcmp(back, r, n * sizeof(*r)) != 0)
        abort();
    free(back);
    free(text);
    free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    soci_index *ix, *again;
    prefetch_artifact(data, size);
    if (soci_index_parse(data, size, &ix) < 0)
        return 0;
    struct soci_descriptor subject;
    (void)soci_index_version(ix);
    (void)soci_index_build_tool(ix);
    (void)soci_index_subject(ix, &subject, sizeof(subject));
    for (uint32_t i = 0; i < soci_index_entry_count(ix); i++) {
        struct soci_index_entry e;
        uint32_t found;
        if (soci_index_entry(ix, i, &e, sizeof(e)) < 0)
            abort();
        (void)soci_index_find_layer(ix, e.layer_digest, &found);
        (void)soci_index_find_prefetch(ix, e.layer_digest, &found);
    }
    void *json;
    size_t len;
    if (soci_index_serialize(ix, &json, &len) == 0) {
        if (soci_index_parse(json, len, &again) < 0)
            abort();
        soci_index_free(again);
        soci_free(json);
    }
    soci_index_free(ix);
    return 0;
}
