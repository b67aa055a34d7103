/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the indexer is asked to do. CNCF distribution (Debian's docker-registry) posts
 * envelopes of events ({"events": [...]}, media types
 * application/vnd.docker.distribution.events.v1+json and .v2+json); an event asks for a
 * job when it is a push of an image manifest or image index under a tag:
 *   action "push", target.mediaType a manifest or index type, target.repository,
 *   target.digest, target.tag
 * and the job is keyed by repository and digest, so the same image pushed again (or
 * announced twice) is indexed once. Everything else is ignored, which keeps the indexer
 * out of its own way: zTOCs are blob pushes, SOCI index manifests go by digest with no
 * tag, the v1 referrers fallback tag is "sha256-<hex>", and a v2 image index pushed under
 * the tag is an image that is found indexed already. The image is read from the first
 * --registry host, whatever host the event's URL names (an event cannot point the
 * indexer at another server). POST /index {"image": "HOST/REPO:TAG"} asks for one image
 * directly, for any of the --registry hosts.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "indexer.h"

#define MAX_EVENTS_PER_BODY 10000

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool valid_repository(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255)
        return false;
    /* components of [a-z0-9]+ joined by one '.', one or two '_', or any '-' */
    for (const char *p = name; *p;) {
        if (!is_lower_alnum(*p))
            return false;
        while (is_lower_alnum(*p))
            p++;
        if (*p == '\0')
            break;
        if (*p == '/') {
            p++;
            continue;
        }
        if (*p == '.')
            p++;
        else if (p[0] == '_' && p[1] == '_')
            p += 2;
        else if (*p == '_')
            p++;
        else if (*p == '-')
            while (*p == '-')
                p++;
        else
            return false;
    }
    return name[n - 1] != '/';
}

bool valid_tag(const char *tag)
{
    size_t n = strlen(tag);
    if (n == 0 || n > 128 || tag[0] == '.' || tag[0] == '-')
        return false;
    for (const char *p = tag; *p; p++)
        if (!is_lower_alnum(*p) && !(*p >= 'A' && *p <= 'Z') && *p != '_' && *p != '.' && *p != '-')
            return false;
    return true;
}

bool valid_digest(const char *digest)
{
    if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 71)
        return false;
    for (const char *p = digest + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static bool is_image_type(const char *mt)
{
    static const char *const types[] = {
        "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(mt, types[i]) == 0)
            return true;
    return false;
}

/* The referrers tag fallback's tags: "sha256-" and 64 hex digits. */
static bool is_referrers_tag(const char *tag)
{
    char digest[80];
    snprintf(digest, sizeof(digest), "sha256:%s", strncmp(tag, "sha256-", 7) == 0 ? tag + 7 : "");
    return valid_digest(digest);
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* A name from a request fit for a log line: at most n - 1 bytes, anything but printable
 * ASCII (quotes and backslashes included) as '?', so no request can forge a line. */
static const char *printable(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (; in[k] && k + 1 < n; k++)
        out[k] = in[k] > 0x20 && in[k] < 0x7f && in[k] != '"' && in[k] != '\\' ? in[k] : '?';
    out[k] = '\0';
    return out;
}

/* Offer the job one event asks for: 1 accepted or already known, 0 ignored, -2 full. */
static int take_event(const struct indexer_config *c, struct queue *q, struct journal *j, const json_t *ev)
{
    const json_t *target = json_object_get(ev, "target");
    const char *repo = str(target, "repository"), *digest = str(target, "digest"), *tag = str(target, "tag");
    char key[IX_KEY_MAX], ref[IX_REF_MAX];
    if (strcmp(str(ev, "action"), "push") != 0 || !is_image_type(str(target, "mediaType")))
        return 0;
    if (!valid_repository(repo) || !valid_digest(digest) || !valid_tag(tag) || is_referrers_tag(tag)) {
        char r[101], t[101], d[81];
        if (tag[0] && !is_referrers_tag(tag))
            ix_log("warning", "msg=\"event ignored: bad name\" repository=\"%s\" tag=\"%s\" digest=\"%s\"",
                   printable(repo, r, sizeof(r)), printable(tag, t, sizeof(t)), printable(digest, d, sizeof(d)));
        return 0;
    }
    snprintf(key, sizeof(key), "%s/%s@%s", c->registries[0], repo, digest);
    snprintf(ref, sizeof(ref), "%s/%s:%s", c->registries[0], repo, tag);
    switch (queue_offer(q, j, key, ref)) {
    case OFFER_ACCEPTED:
        ix_log("info", "msg=accepted key=%s image=%s", key, ref);
        return 1;
    case OFFER_DUPLICATE:
        return 1;
    case OFFER_FULL:
        ix_log("warning", "msg=\"queue full: event refused\" key=%s", key);
        return -2;
    default:
        return -2;
    }
}

int notifications_take(const struct indexer_config *c, struct queue *q, struct journal *j, const char *body,
                       size_t len, unsigned *accepted, unsigned *ignored)
{
    json_error_t err;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    const json_t *events = json_object_get(o, "events");
    int r = 0;
    *accepted = *ignored = 0;
    if (!json_is_array(events) || json_array_size(events) > MAX_EVENTS_PER_BODY) {
        json_decref(o);
        return -1;
    }
    size_t i;
    const json_t *ev;
    json_array_foreach(events, i, ev) {
        int got = json_is_object(ev) ? take_event(c, q, j, ev) : 0;
        if (got == -2) {
            r = -2; /* the registry sends the envelope again later: what was taken is known then */
            break;
        }
        *accepted += got == 1;
        *ignored += got == 0;
    }
    json_decref(o);
    return r;
}

int index_request_take(const struct indexer_config *c, struct queue *q, struct journal *j, const char *body,
                       size_t len, enum offer *offer, const char **why)
{
    json_error_t err;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
    const char *image = str(o, "image");
    char host[256], repo[256], tag[160];
    const char *slash = strchr(image, '/'), *colon = strrchr(image, ':');
    int r = -1;
    *why = "the body must be {\"image\": \"HOST/REPOSITORY:TAG\"}";
    if (slash == NULL || colon == NULL || colon < slash || strchr(image, '@') != NULL ||
        (size_t)(slash - image) >= sizeof(host) || (size_t)(colon - slash - 1) >= sizeof(repo) ||
        strlen(colon + 1) >= sizeof(tag))
        goto out;
    snprintf(host, sizeof(host), "%.*s", (int)(slash - image), image);
    snprintf(repo, sizeof(repo), "%.*s", (int)(colon - slash - 1), slash + 1);
    snprintf(tag, sizeof(tag), "%s", colon + 1);
    if (!valid_repository(repo) || !valid_tag(tag)) {
        *why = "not a valid repository and tag";
        goto out;
    }
    bool known = false;
    for (unsigned k = 0; k < c->nregistries; k++)
        known |= strcmp(c->registries[k], host) == 0;
    if (!known) {
        *why = "not a registry this indexer serves (--registry)";
        goto out;
    }
    *offer = queue_offer(q, j, image, image);
    if (*offer == OFFER_ACCEPTED)
        ix_log("info", "msg=accepted key=%s image=%s", image, image);
    r = 0;
out:
    json_decref(o);
    return r;
}
