/* SPDX-License-Identifier: Apache-2.0 */
/* WWW-Authenticate challenges: Basic, Bearer realm/service/scope, quoting, commas. */
#include "remote/auth.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_string(data, size);
    struct challenge c;
    if (auth_parse_challenge(text, &c) == 0) {
        if (strnlen(c.realm, sizeof(c.realm)) == sizeof(c.realm) ||
            strnlen(c.scope, sizeof(c.scope)) == sizeof(c.scope))
            abort(); /* fields are always terminated */
    }
    free(text);
    return 0;
}
