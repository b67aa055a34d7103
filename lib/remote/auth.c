/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <soci/error.h>

#include "remote/auth.h"
#include "util/error.h"
#include "util/file.h"

#define MAX_CONFIG_FILE ((uint64_t)1 << 20)

/* Copy the value of key="value" (or key=value) from a challenge's parameters. */
static void param(const char *params, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    out[0] = '\0';
    for (const char *p = params; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *eq = strchr(p, '=');
        if (eq == NULL)
            return;
        bool match = (size_t)(eq - p) == klen && strncasecmp(p, key, klen) == 0;
        const char *v = eq + 1, *end;
        if (*v == '"') {
            v++;
            end = strchr(v, '"');
            if (end == NULL)
                return;
        } else {
            end = v + strcspn(v, ",");
        }
        if (match) {
            snprintf(out, n, "%.*s", (int)(end - v), v);
            return;
        }
        p = *end == '"' ? end + 1 : end;
    }
}

int auth_parse_challenge(const char *header, struct challenge *c)
{
    memset(c, 0, sizeof(*c));
    if (strncasecmp(header, "Bearer ", 7) == 0) {
        c->bearer = true;
        param(header + 7, "realm", c->realm, sizeof(c->realm));
        param(header + 7, "service", c->service, sizeof(c->service));
        param(header + 7, "scope", c->scope, sizeof(c->scope));
        if (c->realm[0] == '\0')
            return soci_fail(SOCI_EAUTH, "bearer challenge without a realm");
        return 0;
    }
    if (strncasecmp(header, "Basic", 5) == 0)
        return 0;
    return soci_fail(SOCI_EAUTH, "unsupported authentication scheme \"%.20s\"", header);
}

void base64_encode(const void *data, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
}

/* The config file's entry for host: keys may be a bare host or a URL naming it. */
static json_t *entry_for(json_t *auths, const char *host)
{
    const char *key;
    json_t *v;
    bool docker_hub = strcmp(host, "docker.io") == 0 || strcmp(host, "registry-1.docker.io") == 0;
    json_object_foreach(auths, key, v) {
        const char *k = key;
        if (strncmp(k, "https://", 8) == 0)
            k += 8;
        else if (strncmp(k, "http://", 7) == 0)
            k += 7;
        size_t len = strcspn(k, "/");
        if ((strlen(host) == len && strncmp(k, host, len) == 0) ||
            (docker_hub && len == 15 && strncmp(k, "index.docker.io", 15) == 0))
            return v;
    }
    return NULL;
}

int auth_credentials_from_json(const void *text, size_t len, const char *what, const char *host, char *userpass,
                               size_t n, bool *found)
{
    json_error_t err;
    json_t *cfg = json_loadb(text, len, 0, &err);
    if (cfg == NULL)
        return soci_fail(SOCI_EAUTH, "%s: invalid JSON at line %d", what, err.line);
    json_t *e = entry_for(json_object_get(cfg, "auths"), host);
    const char *auth = json_string_value(json_object_get(e, "auth"));
    const char *user = json_string_value(json_object_get(e, "username"));
    const char *pass = json_string_value(json_object_get(e, "password"));
    int r = 0;
    if (auth != NULL && auth[0]) {
        unsigned char decoded[1024];
        size_t alen = strlen(auth);
        int dn = alen < 1300 ? EVP_DecodeBlock(decoded, (const unsigned char *)auth, (int)alen) : -1;
        if (dn < 0) {
            r = soci_fail(SOCI_EAUTH, "%s: the auth entry for %s is not base64", what, host);
        } else {
            while (dn > 0 && decoded[dn - 1] == '\0')
                dn--; /* EVP_DecodeBlock counts base64 padding as NUL bytes */
            snprintf(userpass, n, "%.*s", dn, decoded);
            *found = strchr(userpass, ':') != NULL;
        }
    } else if (user != NULL && pass != NULL) {
        snprintf(userpass, n, "%s:%s", user, pass);
        *found = true;
    }
    json_decref(cfg);
    return r;
}

static int from_file(const char *path, const char *host, char *userpass, size_t n, bool *found)
{
    void *text;
    size_t len;
    if (read_file_capped(path, MAX_CONFIG_FILE, &text, &len) < 0) {
        soci_clear_error();
        return 0; /* absent or unreadable: no credentials from it */
    }
    int r = auth_credentials_from_json(text, len, path, host, userpass, n, found);
    free(text);
    return r;
}

/* podman's and skopeo's files (containers-auth.json(5)): the runtime directory's, then the
 * per-user configuration's. */
static int from_containers_files(const char *host, char *userpass, size_t n, bool *found)
{
    char path[4096];
    const char *env;
    int r;
    if ((env = getenv("XDG_RUNTIME_DIR")) != NULL && env[0])
        snprintf(path, sizeof(path), "%s/containers/auth.json", env);
    else
        snprintf(path, sizeof(path), "/run/containers/%u/auth.json", (unsigned)getuid());
    if ((r = from_file(path, host, userpass, n, found)) < 0 || *found)
        return r;
    if ((env = getenv("XDG_CONFIG_HOME")) != NULL && env[0])
        snprintf(path, sizeof(path), "%s/containers/auth.json", env);
    else if ((env = getenv("HOME")) != NULL && env[0])
        snprintf(path, sizeof(path), "%s/.config/containers/auth.json", env);
    else
        return 0;
    return from_file(path, host, userpass, n, found);
}

int auth_find_credentials(const char *host, char *userpass, size_t n, bool *found)
{
    char path[4096];
    const char *env;
    int r;
    *found = false;
    if ((env = getenv("REGISTRY_AUTH_FILE")) != NULL && env[0]) {
        if ((r = from_file(env, host, userpass, n, found)) < 0 || *found)
            return r;
    }
    if ((r = from_containers_files(host, userpass, n, found)) < 0 || *found)
        return r;
    if ((env = getenv("DOCKER_CONFIG")) != NULL && env[0]) {
        snprintf(path, sizeof(path), "%s/config.json", env);
        if ((r = from_file(path, host, userpass, n, found)) < 0 || *found)
            return r;
    }
    if ((env = getenv("HOME")) != NULL && env[0]) {
        snprintf(path, sizeof(path), "%s/.docker/config.json", env);
        return from_file(path, host, userpass, n, found);
    }
    return 0;
}
