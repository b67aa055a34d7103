/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include <openssl/evp.h>

#include "util/digest.h"
#include "util/error.h"

int sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != SHA256_LEN)
        return soci_fail(SOCI_ENOMEM, "sha256: OpenSSL digest failed");
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool digest_parse(const char *text, size_t len, uint8_t out[SHA256_LEN])
{
    if (len != DIGEST_TEXT_LEN || memcmp(text, "sha256:", 7) != 0)
        return false;
    for (size_t i = 0; i < SHA256_LEN; i++) {
        int hi = hex_value(text[7 + 2 * i]), lo = hex_value(text[8 + 2 * i]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

void digest_format(const uint8_t d[SHA256_LEN], char out[DIGEST_TEXT_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < SHA256_LEN; i++) {
        out[7 + 2 * i] = hex[d[i] >> 4];
        out[8 + 2 * i] = hex[d[i] & 15];
    }
    out[DIGEST_TEXT_LEN] = '\0';
}
