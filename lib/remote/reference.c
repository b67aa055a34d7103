/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <soci/error.h>

#include "remote/reference.h"
#include "util/digest.h"
#include "util/error.h"

#define DEFAULT_HOST "docker.io"

/* A path component: [a-z0-9]+ joined by one of ".", "_", "__" or "-"+. */
static bool valid_component(const char *s, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isdigit(c) || (c >= 'a' && c <= 'z'))
            continue;
        if (c == '.' || c == '_') {
            size_t run = 1;
            while (i + run < n && s[i + run] == '_' && c == '_')
                run++;
            if ((c == '.' && (s[i + 1] == '.' || s[i + 1] == '_' || s[i + 1] == '-')) || run > 2)
                return false;
            i += run - 1;
            continue;
        }
        if (c == '-')
            continue;
        return false;
    }
    return true;
}

static bool valid_host(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']'))
            return false;
    }
    return true;
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > REF_TAG_MAX || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

int ref_parse(const char *text, struct image_ref *r)
{
    char buf[REF_HOST_MAX + REF_REPO_MAX + REF_TAG_MAX + 80];
    memset(r, 0, sizeof(*r));
    if (text == NULL || text[0] == '\0')
        return soci_fail(SOCI_EINVAL, "image reference is empty");
    if (strlen(text) >= sizeof(buf))
        return soci_fail(SOCI_EINVAL, "image reference \"%.60s...\" is too long", text);
    snprintf(buf, sizeof(buf), "%s", text);

    char *at = strchr(buf, '@');
    if (at != NULL) {
        uint8_t d[SHA256_LEN];
        *at = '\0';
        if (!digest_parse(at + 1, strlen(at + 1), d))
            return soci_fail(SOCI_EINVAL, "image reference \"%s\": \"%s\" is not a sha256 digest", text, at + 1);
        snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
    }
    /* A tag follows the last ':' of the last path component. */
    char *slash = strrchr(buf, '/'), *colon = strrchr(slash ? slash : buf, ':');
    if (colon != NULL) {
        *colon = '\0';
        if (!valid_tag(colon + 1))
            return soci_fail(SOCI_EINVAL, "image reference \"%s\": bad tag \"%s\"", text, colon + 1);
        snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
    }

    /* The first component is a host if it looks like one (has '.' or ':', or is localhost). */
    const char *name = buf;
    char *first = strchr(buf, '/');
    if (first != NULL) {
        size_t hn = (size_t)(first - buf);
        bool looks_like_host = memchr(buf, '.', hn) || memchr(buf, ':', hn) ||
                               (hn == 9 && strncmp(buf, "localhost", 9) == 0);
        for (size_t i = 0; i < hn && !looks_like_host; i++)
            looks_like_host = isupper((unsigned char)buf[i]) != 0;
        if (looks_like_host) {
            if (!valid_host(buf, hn) || hn >= REF_HOST_MAX)
                return soci_fail(SOCI_EINVAL, "image reference \"%s\": bad registry host", text);
            snprintf(r->host, sizeof(r->host), "%.*s", (int)hn, buf);
            name = first + 1;
        }
    }
    if (r->host[0] == '\0' || strcmp(r->host, "index.docker.io") == 0)
        snprintf(r->host, sizeof(r->host), "%s", DEFAULT_HOST);

    /* Check every path component. */
    for (const char *c = name;;) {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (!valid_component(c, n))
            return soci_fail(SOCI_EINVAL, "image reference \"%s\": bad name component \"%.*s\" "
                                          "(lowercase letters, digits and separators only)",
                             text, (int)n, c);
        if (end == NULL)
            break;
        c = end + 1;
    }
    bool official = strcmp(r->host, DEFAULT_HOST) == 0 && strchr(name, '/') == NULL;
    if ((official ? 8 : 0) + strlen(name) >= REF_REPO_MAX)
        return soci_fail(SOCI_EINVAL, "image reference \"%s\": name too long", text);
    /* Lengths are checked above: copy exactly (a precision here once cut long names). */
    size_t prefix = official ? 8 : 0, name_len = strlen(name);
    memcpy(r->repo, "library/", prefix);
    memcpy(r->repo + prefix, name, name_len + 1);
    if (r->tag[0] == '\0' && r->digest[0] == '\0')
        snprintf(r->tag, sizeof(r->tag), "latest");
    return 0;
}

const char *ref_api_host(const struct image_ref *r)
{
    return strcmp(r->host, DEFAULT_HOST) == 0 ? "registry-1.docker.io" : r->host;
}

bool ref_host_is_local(const char *host)
{
    size_t n = strcspn(host, ":");
    if (host[0] == '[')
        return strncmp(host, "[::1]", 5) == 0;
    return (n == 9 && strncmp(host, "localhost", 9) == 0) || strncmp(host, "127.", 4) == 0;
}
