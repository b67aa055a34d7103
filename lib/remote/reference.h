/* SPDX-License-Identifier: Apache-2.0 */
/* Image references, parsed as docker parses them:
 *   alpine                       -> docker.io/library/alpine:latest
 *   ghcr.io/org/app:1.2          -> ghcr.io, org/app, tag 1.2
 *   localhost:5000/a/b@sha256:.. -> localhost:5000, a/b, digest */
#ifndef SOCI_REMOTE_REFERENCE_H
#define SOCI_REMOTE_REFERENCE_H

#include <stdbool.h>

#define REF_HOST_MAX 256
#define REF_REPO_MAX 256
#define REF_TAG_MAX 128

struct image_ref {
    char host[REF_HOST_MAX];     /* "docker.io", "localhost:5000" */
    char repo[REF_REPO_MAX];     /* "library/alpine" */
    char tag[REF_TAG_MAX + 1];   /* "" when a digest is given without a tag */
    char digest[72];             /* "sha256:<hex>" or "" */
};

/* SOCI_EINVAL with a message saying what is wrong, for a malformed reference. */
int ref_parse(const char *text, struct image_ref *ret);

/* The host to talk to: docker.io's registry is registry-1.docker.io. */
const char *ref_api_host(const struct image_ref *r);

/* Whether the host is local (localhost, 127.0.0.0/8, ::1): docker falls back to plain
 * HTTP for those without being told. */
bool ref_host_is_local(const char *host);

#endif
