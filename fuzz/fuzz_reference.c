/* SPDX-License-Identifier: Apache-2.0 */
/* Image references ("host:port/repo:tag@sha256:..."), as docker parses them. */
#include <stdio.h>

#include "remote/reference.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    struct image_ref ref;
    if (ref_parse(text, &ref) == 0) {
        (void)ref_api_host(&ref);
        (void)ref_host_is_local(ref.host);
        /* What we accepted, written back, parses to the same reference. */
        char again[1024];
        struct image_ref ref2;
        snprintf(again, sizeof(again), "%s/%s%s%s%s%s", ref.host, ref.repo, ref.tag[0] ? ":" : "", ref.tag,
                 ref.digest[0] ? "@" : "", ref.digest);
        if (ref_parse(again, &ref2) < 0 || strcmp(ref.host, ref2.host) || strcmp(ref.repo, ref2.repo) ||
            strcmp(ref.tag, ref2.tag) || strcmp(ref.digest, ref2.digest))
            abort();
    }
    free(text);
    return 0;
}
