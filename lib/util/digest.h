/* SPDX-License-Identifier: Apache-2.0 */
/* sha256 through OpenSSL's libcrypto, and the "sha256:<hex>" text form. */
#ifndef SOCI_UTIL_DIGEST_H
#define SOCI_UTIL_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define DIGEST_TEXT_LEN (7 + 2 * SHA256_LEN) /* "sha256:" + hex */

int sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* Parse "sha256:<64 hex>" (len bytes, no NUL needed). False if it is anything else. */
bool digest_parse(const char *text, size_t len, uint8_t out[SHA256_LEN]);

/* Format as "sha256:<hex>" into out (DIGEST_TEXT_LEN + 1 bytes). */
void digest_format(const uint8_t d[SHA256_LEN], char out[DIGEST_TEXT_LEN + 1]);

#endif
