/* SPDX-License-Identifier: Apache-2.0 */
/* Response header lines as curl hands them over (not NUL-terminated): Content-Range,
 * WWW-Authenticate, Location, Docker-Content-Digest, Retry-After. Lines are split at
 * newlines; each is copied into a buffer of exactly its length, so a read past it is
 * caught by AddressSanitizer. */
#include "remote/http.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_response resp = {.retry_after = -1};
    while (size > 0) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t n = nl ? (size_t)(nl - data) + 1 : size;
        char *line = malloc(n);
        if (line == NULL)
            abort();
        memcpy(line, data, n);
        http_parse_header_line(&resp, line, n);
        free(line);
        data += n;
        size -= n;
    }
    if (strnlen(resp.content_range, sizeof(resp.content_range)) == sizeof(resp.content_range))
        abort();
    return 0;
}
