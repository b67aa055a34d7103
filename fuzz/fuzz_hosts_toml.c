/* SPDX-License-Identifier: Apache-2.0 */
/* The registry configuration files: containerd's hosts.toml for a host and the https
 * default, and the same bytes as a containers-registries.conf. */
#include "remote/hosts_toml.h"
#include "remote/registries_conf.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    struct endpoints eps;
    if (hosts_parse(text, "registry.example:5000", "https", &eps) == 0) {
        if (eps.n < 1 || eps.n > HOSTS_MAX_ENDPOINTS || !eps.e[eps.n - 1].origin)
            abort(); /* at least the origin, last */
    }
    static struct regconf conf; /* 140 KiB: not on the stack */
    if (regconf_parse(text, &conf) == 0) {
        for (int i = 0; i < conf.n; i++) {
            int r = regconf_endpoints(&conf, conf.r[i].host.location, "https", &eps);
            if (r == 1 && (eps.n < 1 || eps.n > HOSTS_MAX_ENDPOINTS || !eps.e[eps.n - 1].origin))
                abort(); /* the registry itself, last, after its mirrors */
            if (r != 1 && !conf.r[i].blocked)
                abort(); /* every entry kept answers for its host */
        }
    }
    free(text);
    return 0;
}
