/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry authentication: the WWW-Authenticate challenge (Basic, or Bearer with realm,
 * service and scope), credentials from docker's config.json ($REGISTRY_AUTH_FILE,
 * $DOCKER_CONFIG/config.json, ~/.docker/config.json), and bearer tokens fetched from the
 * realm. Secrets are never put into error messages or logs.
 */
#ifndef SOCI_REMOTE_AUTH_H
#define SOCI_REMOTE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct challenge {
    bool bearer; /* else basic */
    char realm[1024];
    char service[256];
    char scope[512];
};

/* Parse a WWW-Authenticate header value. SOCI_EAUTH if it is neither scheme. */
int auth_parse_challenge(const char *header, struct challenge *ret);

/* "user:password" for host from $REGISTRY_AUTH_FILE, podman's auth.json files or docker's
 * config.json, the first that has host (0, *found false if none does). */
int auth_find_credentials(const char *host, char *userpass, size_t n, bool *found);

/* The same from one config file's text (len bytes); what names it in messages. */
int auth_credentials_from_json(const void *text, size_t len, const char *what, const char *host, char *userpass,
                               size_t n, bool *found);

/* Base64 of data into out (at least 4 * ((n + 2) / 3) + 1 bytes). */
void base64_encode(const void *data, size_t n, char *out);

#endif
