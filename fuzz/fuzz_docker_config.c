/* SPDX-License-Identifier: Apache-2.0 */
/* docker's config.json: the "auths" entries, base64 "auth" or username/password. */
#include "remote/auth.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *hosts[] = {"registry.example", "docker.io", "localhost:5000"};
    for (size_t i = 0; i < sizeof(hosts) / sizeof(*hosts); i++) {
        char userpass[512];
        bool found = false;
        if (auth_credentials_from_json(data, size, "fuzz", hosts[i], userpass, sizeof(userpass), &found) == 0 &&
            found && strnlen(userpass, sizeof(userpass)) == sizeof(userpass))
            abort();
    }
    return 0;
}
