/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registries as podman, CRI-O and skopeo configure them: containers-registries.conf(5),
 * the subset that says how to reach a registry host:
 *
 *   [[registry]]
 *   location = "registry.example:5000"   # a host[:port]; entries with a path are namespaces,
 *   insecure = true                      #   which libsoci does not remap (left out)
 *   blocked = false
 *   [[registry.mirror]]
 *   location = "mirror.local:5000"
 *   insecure = true
 *
 * and the older form's `[registries.insecure] registries = [...]` and
 * `[registries.block] registries = [...]`. Insecure means plain HTTP where TLS fails and
 * certificates unverified, as there. Mirrors are tried in order for pulls, the registry last.
 */
#ifndef SOCI_REMOTE_REGISTRIES_CONF_H
#define SOCI_REMOTE_REGISTRIES_CONF_H

#include <stdbool.h>

#include "remote/hosts_toml.h"

#define REGCONF_MAX_REGISTRIES 64
#define REGCONF_MAX_MIRRORS (HOSTS_MAX_ENDPOINTS - 1)

struct regconf_host {
    char location[256];
    bool insecure;
};

struct regconf_registry {
    struct regconf_host host;
    bool blocked;
    struct regconf_host mirrors[REGCONF_MAX_MIRRORS];
    int nmirrors;
};

struct regconf {
    struct regconf_registry r[REGCONF_MAX_REGISTRIES];
    int n;
};

/* Parse the text of a registries.conf. */
int regconf_parse(const char *text, struct regconf *ret);

/* Read and parse the file at path (bounded; a missing file is an error). */
int regconf_read(const char *path, struct regconf *ret);

/* The endpoints for host if the configuration names it: 1 with *ret filled (mirrors then
 * the registry itself), 0 when it does not, SOCI_EAUTH when it blocks the host. */
int regconf_endpoints(const struct regconf *c, const char *host, const char *default_scheme, struct endpoints *ret);

#endif
