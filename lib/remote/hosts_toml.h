/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry mirrors, configured as containerd's hosts.toml does (a subset):
 *
 *   server = "https://registry.example"          # the origin, if not https://<host>
 *   [host."http://mirror.local:5000"]
 *     capabilities = ["pull", "resolve"]         # resolve: may answer tag lookups
 *     ca = "/etc/ssl/mirror-ca.pem"
 *     skip_verify = false
 *     override_path = false                      # true: the URL's path is the API root
 *
 * read from <dir>/<host>/hosts.toml. Mirrors are tried in file order, the origin last.
 */
#ifndef SOCI_REMOTE_HOSTS_TOML_H
#define SOCI_REMOTE_HOSTS_TOML_H

#include <stdbool.h>

#define HOSTS_MAX_ENDPOINTS 8

struct endpoint {
    char scheme[8];    /* "https" or "http" */
    char host[256];    /* host[:port] */
    char root[512];    /* API root path: "/v2", or the URL's path with override_path */
    bool pull, resolve;
    char ca[1024];     /* "" for the registry-wide setting */
    bool skip_verify;
    bool insecure;     /* plain HTTP where TLS fails (registries.conf's insecure) */
    bool origin;
};

struct endpoints {
    struct endpoint e[HOSTS_MAX_ENDPOINTS];
    int n;
};

/* The endpoints for host: its hosts.toml under dir if there is one, else the origin.
 * default_scheme is the origin's scheme when no server line says otherwise. */
int hosts_endpoints(const char *dir, const char *host, const char *default_scheme, struct endpoints *ret);

/* Parse hosts.toml text (exposed for tests). */
int hosts_parse(const char *text, const char *host, const char *default_scheme, struct endpoints *ret);

#endif
