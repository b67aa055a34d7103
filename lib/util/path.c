/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "util/path.h"

size_t path_clean(const char *path, size_t len, char *out, bool *had_dotdot)
{
    size_t n = 0; /* bytes written to out */
    size_t i = 0;
    bool dotdot = false;

    while (i < len) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t clen = i - start;
        if (i < len)
            i++; /* skip the slash */

        if (clen == 0 || (clen == 1 && path[start] == '.'))
            continue;
        if (clen == 2 && path[start] == '.' && path[start + 1] == '.') {
            dotdot = true;
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the slash before the removed component */
            continue;
        }
        if (n > 0)
            out[n++] = '/';
        memcpy(out + n, path + start, clen);
        n += clen;
    }
    out[n] = '\0';
    if (had_dotdot != NULL)
        *had_dotdot = dotdot;
    return n;
}
