/* SPDX-License-Identifier: Apache-2.0 */
/* containers-registries.conf(5), as registries_conf.h describes the subset read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <soci/error.h>

#include "remote/registries_conf.h"
#include "util/error.h"
#include "util/file.h"
#include "util/log.h"
#include "util/toml_lines.h"

#define MAX_REGISTRIES_CONF ((uint64_t)1 << 20)

/* Where a parse is: which table the keys belong to. */
enum section { SEC_TOP, SEC_REGISTRY, SEC_MIRROR, SEC_V1_INSECURE, SEC_V1_BLOCK, SEC_OTHER };

/* The registry entry for a host location, made if new; NULL when the table is full. */
static struct regconf_registry *entry_for(struct regconf *c, const char *location)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->r[i].host.location, location) == 0)
            return &c->r[i];
    if (c->n == REGCONF_MAX_REGISTRIES)
        return NULL;
    struct regconf_registry *r = &c->r[c->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->host.location, sizeof(r->host.location), "%s", location);
    return r;
}

/* The older form: a list of hosts made insecure or blocked. */
static int v1_list(struct regconf *c, const char *list, bool blocked)
{
    char item[256];
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        snprintf(item, sizeof(item), "%.*s", (int)(n < sizeof(item) ? n : sizeof(item) - 1), p);
        p += n + (p[n] == ',');
        struct regconf_registry *r = entry_for(c, item);
        if (r == NULL)
            return soci_fail(SOCI_ETOOBIG, "registries.conf: more than %d registries", REGCONF_MAX_REGISTRIES);
        if (blocked)
            r->blocked = true;
        else
            r->host.insecure = true;
    }
    return 0;
}

/* A finished [[registry]] table: kept when its location is a plain host. */
static int keep_registry(struct regconf *c, const struct regconf_registry *cur, int lineno)
{
    if (cur->host.location[0] == '\0')
        return soci_fail(SOCI_EINVAL, "registries.conf: the [[registry]] before line %d has no location", lineno);
    if (strchr(cur->host.location, '/') != NULL) {
        soci_log(SOCI_LOG_INFO, "registries.conf: %s is a namespace, not a host: left out", cur->host.location);
        return 0;
    }
    struct regconf_registry *r = entry_for(c, cur->host.location);
    if (r == NULL)
        return soci_fail(SOCI_ETOOBIG, "registries.conf: more than %d registries", REGCONF_MAX_REGISTRIES);
    *r = *cur;
    return 0;
}

int regconf_parse(const char *text, struct regconf *ret)
{
    struct regconf_registry cur;
    struct toml_line l = {0};
    enum section sec = SEC_TOP;
    bool have = false;
    int r;
    ret->n = 0;
    while ((r = toml_next(&text, "registries.conf", &l)) == 1) {
        if (l.kind != TOML_KEY) {
            if (l.kind == TOML_ARRAY_TABLE && strcmp(l.name, "registry.mirror") == 0) {
                if (!have)
                    return soci_fail(SOCI_EINVAL, "registries.conf line %d: a mirror outside [[registry]]", l.lineno);
                if (cur.nmirrors == REGCONF_MAX_MIRRORS)
                    return soci_fail(SOCI_ETOOBIG, "registries.conf line %d: more than %d mirrors", l.lineno,
                                     REGCONF_MAX_MIRRORS);
                memset(&cur.mirrors[cur.nmirrors++], 0, sizeof(cur.mirrors[0]));
                sec = SEC_MIRROR;
                continue;
            }
            if (have && (r = keep_registry(ret, &cur, l.lineno)) < 0)
                return r;
            have = false;
            if (l.kind == TOML_ARRAY_TABLE && strcmp(l.name, "registry") == 0) {
                memset(&cur, 0, sizeof(cur));
                have = true;
                sec = SEC_REGISTRY;
            } else {
                sec = strcmp(l.name, "registries.insecure") == 0 ? SEC_V1_INSECURE
                      : strcmp(l.name, "registries.block") == 0  ? SEC_V1_BLOCK
                                                                  : SEC_OTHER;
            }
            continue;
        }
        struct regconf_host *h = sec == SEC_MIRROR ? &cur.mirrors[cur.nmirrors - 1] : &cur.host;
        if ((sec == SEC_REGISTRY || sec == SEC_MIRROR) && strcmp(l.name, "location") == 0) {
            if (strlen(l.value) >= sizeof(h->location))
                return soci_fail(SOCI_EINVAL, "registries.conf line %d: location too long", l.lineno);
            memcpy(h->location, l.value, strlen(l.value) + 1);
        }
        else if ((sec == SEC_REGISTRY || sec == SEC_MIRROR) && strcmp(l.name, "insecure") == 0)
            h->insecure = toml_true(&l);
        else if (sec == SEC_REGISTRY && strcmp(l.name, "blocked") == 0)
            cur.blocked = toml_true(&l);
        else if ((sec == SEC_V1_INSECURE || sec == SEC_V1_BLOCK) && strcmp(l.name, "registries") == 0 &&
                 (r = v1_list(ret, l.value, sec == SEC_V1_BLOCK)) < 0)
            return r;
        /* Other keys (prefix, unqualified-search-registries, short names...) are not ours. */
    }
    if (r < 0)
        return r;
    return have ? keep_registry(ret, &cur, l.lineno + 1) : 0;
}

int regconf_read(const char *path, struct regconf *ret)
{
    void *text;
    size_t len;
    int r = read_file_capped(path, MAX_REGISTRIES_CONF, &text, &len);
    if (r < 0)
        return soci_fail_prefix(r, "registries.conf %s", path);
    r = regconf_parse(text, ret);
    free(text);
    return r < 0 ? soci_fail_prefix(r, "%s", path) : 0;
}

static void endpoint_of(const struct regconf_host *h, const char *default_scheme, struct endpoint *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->scheme, sizeof(e->scheme), "%s", default_scheme);
    snprintf(e->host, sizeof(e->host), "%s", h->location);
    snprintf(e->root, sizeof(e->root), "/v2");
    e->insecure = e->skip_verify = h->insecure;
    e->pull = e->resolve = true;
}

int regconf_endpoints(const struct regconf *c, const char *host, const char *default_scheme, struct endpoints *ret)
{
    for (int i = 0; c != NULL && i < c->n; i++) {
        const struct regconf_registry *r = &c->r[i];
        if (strcmp(r->host.location, host) != 0)
            continue;
        if (r->blocked)
            return soci_fail(SOCI_EAUTH, "%s is blocked in registries.conf", host);
        ret->n = 0;
        for (int m = 0; m < r->nmirrors; m++)
            if (r->mirrors[m].location[0] && strchr(r->mirrors[m].location, '/') == NULL)
                endpoint_of(&r->mirrors[m], default_scheme, &ret->e[ret->n++]);
        endpoint_of(&r->host, default_scheme, &ret->e[ret->n]);
        ret->e[ret->n++].origin = true;
        return 1;
    }
    return 0;
}
