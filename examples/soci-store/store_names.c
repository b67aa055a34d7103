/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's directory names: containers/storage names an image's directory with the
 * standard base64 (padded) of its normalized reference, "docker.io/library/x:latest" or
 * "host:port/repo@sha256:...". Anyone who can reach the mount can look names up, so a
 * name is decoded strictly and must decode to a fully qualified registry reference:
 * nothing that could name a local path (an OCI layout) gets as far as the library.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "store.h"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict standard base64: whole quads, '=' only as padding at the end. */
static int b64_decode(const char *in, char *out, size_t out_size, size_t *out_len)
{
    size_t n = strlen(in), o = 0;
    if (n == 0 || n % 4 != 0 || n / 4 * 3 >= out_size)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + (size_t)k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad > 0 || (v[k] = b64_value(c)) < 0) {
                return -1;
            }
        }
        unsigned triple = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        out[o++] = (char)(triple >> 16);
        if (pad < 2)
            out[o++] = (char)(triple >> 8 & 0xFF);
        if (pad < 1)
            out[o++] = (char)(triple & 0xFF);
    }
    out[o] = '\0';
    *out_len = o;
    return 0;
}

/* A reference as podman writes them: printable, no spaces, a registry host (a dot or a
 * port in it, or localhost) then a repository path. */
static bool qualified_reference(const char *ref, size_t len)
{
    if (len == 0 || strlen(ref) != len || !isalnum((unsigned char)ref[0]) || strstr(ref, ".."))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isgraph((unsigned char)ref[i]) || ref[i] == '\\')
            return false;
    const char *slash = strchr(ref, '/');
    if (slash == NULL || slash[1] == '\0')
        return false;
    size_t host = (size_t)(slash - ref);
    return memchr(ref, '.', host) || memchr(ref, ':', host) || (host == 9 && strncmp(ref, "localhost", 9) == 0);
}

int store_decode_ref(const char *b64, char *out, size_t out_size)
{
    size_t len;
    if (b64_decode(b64, out, out_size, &len) < 0 || !qualified_reference(out, len))
        return -1;
    return 0;
}
