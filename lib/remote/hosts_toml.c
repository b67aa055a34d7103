/* SPDX-License-Identifier: Apache-2.0 */
/* A reader for the hosts.toml subset described in hosts_toml.h: [host."URL"] tables of
 * "key = value" lines (util/toml_lines.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/error.h>

#include "remote/hosts_toml.h"
#include "util/error.h"
#include "util/file.h"
#include "util/toml_lines.h"

#define MAX_HOSTS_TOML ((uint64_t)64 << 10)

/* Fill scheme, host and root of e from a URL ("https://h:p/path"). */
static int parse_url(const char *url, bool override_path, struct endpoint *e)
{
    const char *p = strstr(url, "://");
    if (p == NULL || (size_t)(p - url) >= sizeof(e->scheme))
        return soci_fail(SOCI_EINVAL, "hosts.toml: \"%.200s\" is not a URL", url);
    snprintf(e->scheme, sizeof(e->scheme), "%.*s", (int)(p - url), url);
    if (strcmp(e->scheme, "http") != 0 && strcmp(e->scheme, "https") != 0)
        return soci_fail(SOCI_EINVAL, "hosts.toml: scheme of \"%.200s\" is not http or https", url);
    p += 3;
    size_t hn = strcspn(p, "/");
    if (hn == 0 || hn >= sizeof(e->host))
        return soci_fail(SOCI_EINVAL, "hosts.toml: no host in \"%.200s\"", url);
    snprintf(e->host, sizeof(e->host), "%.*s", (int)hn, p);
    const char *path = p + hn;
    size_t pn = strlen(path);
    while (pn > 0 && path[pn - 1] == '/')
        pn--;
    if (override_path)
        snprintf(e->root, sizeof(e->root), "%.*s", (int)pn, path);
    else
        snprintf(e->root, sizeof(e->root), "%.*s/v2", (int)pn, path);
    return 0;
}

int hosts_parse(const char *text, const char *host, const char *default_scheme, struct endpoints *ret)
{
    char server[1024] = "", cur_url[1024] = "";
    struct endpoint cur = {0};
    struct toml_line l = {0};
    bool in_host = false, override_path = false;
    int r;
    memset(ret, 0, sizeof(*ret));

    while ((r = toml_next(&text, "hosts.toml", &l)) == 1) {
        if (l.kind != TOML_KEY) {
            if (in_host) {
                if ((r = parse_url(cur_url, override_path, &cur)) < 0)
                    return r;
                if (ret->n < HOSTS_MAX_ENDPOINTS - 1)
                    ret->e[ret->n++] = cur;
            }
            char *q1 = strchr(l.name, '"'), *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
            if (l.kind != TOML_TABLE || strncmp(l.name, "host.", 5) != 0 || q1 == NULL || q2 == NULL)
                return soci_fail(SOCI_EINVAL, "hosts.toml line %d: expected [host.\"URL\"]", l.lineno);
            snprintf(cur_url, sizeof(cur_url), "%.*s", (int)(q2 - q1 - 1), q1 + 1);
            memset(&cur, 0, sizeof(cur));
            cur.pull = cur.resolve = true; /* containerd's default capabilities */
            override_path = false;
            in_host = true;
            continue;
        }
        if (!in_host && strcmp(l.name, "server") == 0)
            snprintf(server, sizeof(server), "%s", l.value);
        else if (in_host && strcmp(l.name, "capabilities") == 0) {
            cur.pull = strstr(l.value, "pull") != NULL;
            cur.resolve = strstr(l.value, "resolve") != NULL;
        } else if (in_host && strcmp(l.name, "ca") == 0)
            snprintf(cur.ca, sizeof(cur.ca), "%s", l.value);
        else if (in_host && strcmp(l.name, "skip_verify") == 0)
            cur.skip_verify = toml_true(&l);
        else if (in_host && strcmp(l.name, "override_path") == 0)
            override_path = toml_true(&l);
        /* Other keys (header, client, dial_timeout...) are not ours to honour. */
    }
    if (r < 0)
        return r;
    if (in_host) {
        if ((r = parse_url(cur_url, override_path, &cur)) < 0)
            return r;
        if (ret->n < HOSTS_MAX_ENDPOINTS - 1)
            ret->e[ret->n++] = cur;
    }
    struct endpoint *o = &ret->e[ret->n++];
    memset(o, 0, sizeof(*o));
    if (server[0]) {
        if ((r = parse_url(server, false, o)) < 0)
            return r;
    } else {
        snprintf(o->scheme, sizeof(o->scheme), "%s", default_scheme);
        snprintf(o->host, sizeof(o->host), "%s", host);
        snprintf(o->root, sizeof(o->root), "/v2");
    }
    o->pull = o->resolve = o->origin = true;
    return 0;
}

int hosts_endpoints(const char *dir, const char *host, const char *default_scheme, struct endpoints *ret)
{
    char path[4096];
    void *text = NULL;
    size_t len;
    if (dir != NULL && dir[0]) {
        snprintf(path, sizeof(path), "%s/%s/hosts.toml", dir, host);
        if (read_file_capped(path, MAX_HOSTS_TOML, &text, &len) == 0) {
            int r = hosts_parse(text, host, default_scheme, ret);
            free(text);
            return r < 0 ? soci_fail_prefix(r, "%s", path) : 0;
        }
        soci_clear_error();
    }
    return hosts_parse("", host, default_scheme, ret);
}
