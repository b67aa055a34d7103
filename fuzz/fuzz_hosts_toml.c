/* SPDX-License-Identifier: Apache-2.0 */
/* containerd hosts.toml files, for a host and the https default. */
#include "remote/hosts_toml.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    struct endpoints eps;
    if (hosts_parse(text, "registry.example:5000", "https", &eps) == 0) {
        if (eps.n < 1 || eps.n > HOSTS_MAX_ENDPOINTS || !eps.e[eps.n - 1].origin)
            abort(); /* at least the origin, last */
    }
    free(text);
    return 0;
}
