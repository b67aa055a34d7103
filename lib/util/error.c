/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <soci/version.h>

#include "util/error.h"

/* One table gives every code its name, description and errno, so they cannot drift. */
#define SOCI_ERROR_TABLE(X)                                          \
    X(SOCI_OK, 0, "success")                                         \
    X(SOCI_EINVAL, EINVAL, "invalid argument")                       \
    X(SOCI_ENOMEM, ENOMEM, "out of memory")                          \
    X(SOCI_EFORMAT, EIO, "malformed input")                          \
    X(SOCI_EDIGEST, EIO, "digest mismatch")                          \
    X(SOCI_ENOTFOUND, ENOENT, "not found")                           \
    X(SOCI_EIO, EIO, "input/output error")                           \
    X(SOCI_ENET, EIO, "network error")                               \
    X(SOCI_EAUTH, EACCES, "authentication failed")                   \
    X(SOCI_ERANGE, ERANGE, "offset or size out of range")            \
    X(SOCI_ENOTSUP, ENOTSUP, "operation not supported")              \
    X(SOCI_ETOOBIG, EFBIG, "input exceeds a limit")                  \
    X(SOCI_ENOTDIR, ENOTDIR, "not a directory")                      \
    X(SOCI_EISDIR, EISDIR, "is a directory")                         \
    X(SOCI_ELOOP, ELOOP, "too many links")

#define DETAIL_MAX 1024
static _Thread_local char detail[DETAIL_MAX];

const char *soci_errname(int err)
{
    switch (err) {
#define NAME_CASE(code, eno, text) \
    case code:                     \
        return #code;
        SOCI_ERROR_TABLE(NAME_CASE)
#undef NAME_CASE
    default:
        return "SOCI_E?";
    }
}

const char *soci_strerror(int err)
{
    switch (err) {
#define TEXT_CASE(code, eno, text) \
    case code:                     \
        return text;
        SOCI_ERROR_TABLE(TEXT_CASE)
#undef TEXT_CASE
    default:
        return "unknown error";
    }
}

int soci_errno(int err)
{
    switch (err) {
#define ERRNO_CASE(code, eno, text) \
    case code:                      \
        return eno;
        SOCI_ERROR_TABLE(ERRNO_CASE)
#undef ERRNO_CASE
    default:
        return EIO;
    }
}

const char *soci_last_error(void)
{
    return detail;
}

void soci_clear_error(void)
{
    detail[0] = '\0';
}

int soci_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return code;
}

int soci_fail_prefix(int code, const char *fmt, ...)
{
    char prefix[DETAIL_MAX], old[DETAIL_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, detail, sizeof(old));
    if (old[0] != '\0')
        snprintf(detail, sizeof(detail), "%.400s: %.600s", prefix, old);
    else
        snprintf(detail, sizeof(detail), "%.400s: %.600s", prefix, soci_strerror(code));
    return code;
}

unsigned soci_version(void)
{
    return SOCI_VERSION_NUMBER;
}

const char *soci_version_string(void)
{
    return SOCI_VERSION_STRING;
}
