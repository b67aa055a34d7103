/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Talking to a registry: URLs, authentication on challenge, retries. Each request may
 * meet a 401 with a WWW-Authenticate challenge: for Basic we answer with the docker
 * config's credentials, for Bearer we fetch a token from the realm (with those
 * credentials if any) and cache it per host and scope until it expires. Failures that
 * may pass (connection errors, 5xx, 429, short bodies) are retried with exponential
 * backoff and jitter, honouring Retry-After.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "remote/auth.h"
#include "remote/hosts_toml.h"
#include "remote/registries_conf.h"
#include "remote/registry_internal.h"
#include "util/config_internal.h"
#include "util/error.h"
#include "util/log.h"

#define TOKEN_SLOTS 16
#define MAX_TOKEN_RESPONSE ((size_t)64 << 10)
#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS 5000
#define SCHEME_SLOTS 16

#define SCOPE_MAX 600

struct token {
    char host[REF_HOST_MAX];
    char scope[SCOPE_MAX];
    char auth[8200]; /* the Authorization header value */
    time_t expires;
};

/* Hosts found to behave some way, remembered for the registry's life (bounded: a host
 * past the bound is found again next time). Guarded by the registry's lock. */
struct host_set {
    char names[SCHEME_SLOTS][REF_HOST_MAX];
    unsigned n;
};

static bool host_set_has(const struct host_set *s, const char *host)
{
    for (unsigned i = 0; i < s->n; i++)
        if (strcmp(s->names[i], host) == 0)
            return true;
    return false;
}

/* Add host; true when it was not there before. */
static bool host_set_add(struct host_set *s, const char *host)
{
    if (host_set_has(s, host))
        return false;
    if (s->n < SCHEME_SLOTS)
        snprintf(s->names[s->n++], REF_HOST_MAX, "%s", host);
    return true;
}

struct soci_registry {
    atomic_uint refs;
    struct http *http;
    bool plain_http;
    unsigned retries;
    char hosts_dir[1024];
    struct regconf *regconf; /* registries.conf, when configured; before hosts_dir */
    soci_credential_fn cred_fn;
    void *cred_userdata;
    atomic_uint_fast64_t bytes, requests;

    pthread_mutex_t lock; /* tokens and schemes */
    struct token tokens[TOKEN_SLOTS];
    unsigned next_token;
    struct host_set http_hosts;      /* local hosts found to speak plain HTTP */
    struct host_set rangeless_hosts; /* hosts (or proxies before them) that ignore Range */
    struct host_set one_range_hosts; /* hosts that answer one range per request at most */
};

int soci_registry_new(const soci_config *cfg, soci_registry **ret)
{
    const struct soci_config *c = cfg ? cfg : &soci_config_defaults;
    if (ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_registry_new: ret is NULL");
    struct soci_registry *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return soci_fail_nomem("registry");
    struct http_opts o = {.ca_file = c->ca_file, .insecure = c->insecure != 0, .timeout_s = 300,
                          .max_per_site = c->max_connections};
    int err = 0;
    if (c->registries_conf && ((r->regconf = malloc(sizeof(*r->regconf))) == NULL ||
                               (err = regconf_read(c->registries_conf, r->regconf)) < 0)) {
        free(r->regconf);
        free(r);
        return err < 0 ? err : soci_fail_nomem("registries.conf");
    }
    if ((err = http_new(&o, &r->http)) < 0) {
        free(r->regconf);
        free(r);
        return err;
    }
    atomic_init(&r->refs, 1);
    r->plain_http = c->plain_http != 0;
    snprintf(r->hosts_dir, sizeof(r->hosts_dir), "%s", c->hosts_dir ? c->hosts_dir : "/etc/containerd/certs.d");
    r->retries = c->retries;
    pthread_mutex_init(&r->lock, NULL);
    *ret = r;
    return 0;
}

soci_registry *soci_registry_ref(soci_registry *r)
{
    if (r != NULL)
        atomic_fetch_add(&r->refs, 1);
    return r;
}

soci_registry *soci_registry_unref(soci_registry *r)
{
    if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1)
        return NULL;
    http_free(r->http);
    pthread_mutex_destroy(&r->lock);
    free(r->regconf);
    free(r);
    return NULL;
}

int soci_registry_set_credential_fn(soci_registry *r, soci_credential_fn fn, void *userdata)
{
    if (r == NULL)
        return soci_fail(SOCI_EINVAL, "soci_registry_set_credential_fn: registry is NULL");
    r->cred_fn = fn;
    r->cred_userdata = userdata;
    return 0;
}

/* user:secret for host: the caller's credential source first, then docker's config files. */
static int find_credentials(soci_registry *r, const char *host, char *userpass, size_t n, bool *found)
{
    *found = false;
    if (r->cred_fn != NULL) {
        char user[256] = "", secret[4096] = "";
        int got = r->cred_fn(r->cred_userdata, host, user, sizeof(user), secret, sizeof(secret));
        user[sizeof(user) - 1] = secret[sizeof(secret) - 1] = '\0';
        if (got < 0)
            return soci_fail(got, "the credential source failed for %s", host);
        if (got == 1) {
            snprintf(userpass, n, "%s:%s", user, secret);
            *found = true;
            return 0;
        }
    }
    return auth_find_credentials(host, userpass, n, found);
}

int soci_registry_counter(const soci_registry *r, int which, uint64_t *ret)
{
    if (r == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_registry_counter: bad arguments");
    if (which == SOCI_COUNTER_REQUESTS)
        *ret = atomic_load(&r->requests);
    else if (which == 1 /* SOCI_COUNTER_BYTES_FETCHED */)
        *ret = atomic_load(&r->bytes);
    else
        return soci_fail(SOCI_EINVAL, "soci_registry_counter: unknown counter %d", which);
    return 0;
}

/* Add host to one of the registry's host sets, under its lock: whether it was new. */
static bool remember_host(soci_registry *r, struct host_set *set, const char *host)
{
    pthread_mutex_lock(&r->lock);
    bool added = host_set_add(set, host);
    pthread_mutex_unlock(&r->lock);
    return added;
}

static bool knows_host(soci_registry *r, const struct host_set *set, const char *host)
{
    pthread_mutex_lock(&r->lock);
    bool found = host_set_has(set, host);
    pthread_mutex_unlock(&r->lock);
    return found;
}

static bool uses_plain_http(soci_registry *r, const char *host)
{
    return r->plain_http || knows_host(r, &r->http_hosts, host);
}

static void remember_plain_http(soci_registry *r, const char *host)
{
    remember_host(r, &r->http_hosts, host);
}

void registry_note_rangeless(soci_registry *r, const char *host)
{
    if (remember_host(r, &r->rangeless_hosts, host))
        soci_log(SOCI_LOG_WARNING,
                 "%s ignores HTTP range requests (it, or a proxy before it, answers 200 with the whole blob): "
                 "each read now streams its blob from the start and stops where the range ends, which fetches "
                 "more bytes than a lazy read should",
                 host);
}

bool registry_is_rangeless(soci_registry *r, const char *host)
{
    return knows_host(r, &r->rangeless_hosts, host);
}

void registry_note_one_range(soci_registry *r, const char *host)
{
    if (remember_host(r, &r->one_range_hosts, host))
        soci_log(SOCI_LOG_INFO, "%s does not answer requests for several ranges: it is asked for one at a time", host);
}

bool registry_is_one_range(soci_registry *r, const char *host)
{
    return knows_host(r, &r->one_range_hosts, host);
}

static bool cached_token(soci_registry *r, const char *host, const char *scope, char *auth, size_t n)
{
    bool found = false;
    time_t now = time(NULL);
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < TOKEN_SLOTS && !found; i++) {
        struct token *t = &r->tokens[i];
        if (t->auth[0] && t->expires > now && strcmp(t->host, host) == 0 && strcmp(t->scope, scope) == 0) {
            snprintf(auth, n, "%s", t->auth);
            found = true;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return found;
}

static void store_token(soci_registry *r, const char *host, const char *scope, const char *auth, long ttl)
{
    pthread_mutex_lock(&r->lock);
    struct token *t = &r->tokens[r->next_token++ % TOKEN_SLOTS];
    snprintf(t->host, sizeof(t->host), "%s", host);
    snprintf(t->scope, sizeof(t->scope), "%s", scope);
    snprintf(t->auth, sizeof(t->auth), "%s", auth);
    /* Renew a little before the registry would refuse it. */
    t->expires = time(NULL) + (ttl > 30 ? ttl - 10 : ttl > 0 ? ttl : 50);
    pthread_mutex_unlock(&r->lock);
}

static void forget_token(soci_registry *r, const char *host, const char *scope)
{
    pthread_mutex_lock(&r->lock);
    for (unsigned i = 0; i < TOKEN_SLOTS; i++)
        if (strcmp(r->tokens[i].host, host) == 0 && strcmp(r->tokens[i].scope, scope) == 0)
            r->tokens[i].auth[0] = '\0';
    pthread_mutex_unlock(&r->lock);
}

static void url_escape_into(char *out, size_t n, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s && o + 4 < n; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-_.~", c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* Answer a challenge: the Authorization value to retry with. */
static int answer_challenge(soci_registry *r, const char *host, const char *header, const char *scope, char *auth,
                            size_t n)
{
    struct challenge ch;
    char userpass[1024], b64[1400] = "";
    bool have_creds;
    int err;
    if ((err = auth_parse_challenge(header, &ch)) < 0 ||
        (err = find_credentials(r, host, userpass, sizeof(userpass), &have_creds)) < 0)
        return err;
    if (have_creds)
        base64_encode(userpass, strlen(userpass), b64);
    if (!ch.bearer) {
        if (!have_creds)
            return soci_fail(SOCI_EAUTH, "%s asks for credentials and none are configured for it", host);
        snprintf(auth, n, "Basic %s", b64);
        store_token(r, host, scope, auth, 3600); /* kept like a token, for parallel requests */
        return 0;
    }

    /* Bearer: ask the realm for a token for this repository's scope. */
    char url[4096], esc_service[800], esc_scope[1600];
    url_escape_into(esc_service, sizeof(esc_service), ch.service);
    url_escape_into(esc_scope, sizeof(esc_scope), ch.scope[0] ? ch.scope : scope);
    snprintf(url, sizeof(url), "%s%sservice=%s&scope=%s", ch.realm, strchr(ch.realm, '?') ? "&" : "?", esc_service,
             esc_scope);
    char basic[1500];
    snprintf(basic, sizeof(basic), "Basic %s", b64);
    struct http_request req = {.method = "GET", .url = url, .authorization = have_creds ? basic : NULL,
                               .max_body = MAX_TOKEN_RESPONSE};
    struct http_response resp;
    if ((err = http_do(r->http, &req, &resp)) < 0)
        return soci_fail_prefix(SOCI_EAUTH, "token service for %s", host);
    atomic_fetch_add(&r->requests, 1);
    atomic_fetch_add(&r->bytes, resp.received);
    if (resp.status != 200) {
        http_response_free(&resp);
        return soci_fail(SOCI_EAUTH, "token service for %s answered HTTP %ld%s", host, resp.status,
                         have_creds ? "" : " (no credentials configured)");
    }
    json_error_t jerr;
    json_t *j = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, &jerr);
    http_response_free(&resp);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (tok == NULL)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (tok == NULL || strlen(tok) > sizeof(((struct token *)0)->auth) - 8) {
        json_decref(j);
        return soci_fail(SOCI_EAUTH, "token service for %s returned no usable token", host);
    }
    snprintf(auth, n, "Bearer %s", tok);
    store_token(r, host, ch.scope[0] ? ch.scope : scope, auth, (long)json_integer_value(json_object_get(j, "expires_in")));
    json_decref(j);
    return 0;
}

/* Whether a response or error is worth another try. */
static bool transient(int err, const struct http_response *resp)
{
    if (err == SOCI_ENET)
        return true;
    return err == 0 && (resp->status >= 500 || resp->status == 429 || resp->status == 408);
}

static void backoff(unsigned attempt, long retry_after)
{
    long ms = BACKOFF_BASE_MS << (attempt < 6 ? attempt : 6);
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    static _Thread_local unsigned seed;
    if (seed == 0)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed; /* per thread: rand() is not thread-safe */
    ms = ms / 2 + (long)((unsigned)rand_r(&seed) % (unsigned)(ms + 1)); /* jitter: 0.5x to 1.5x */
    if (retry_after >= 0)
        ms = retry_after * 1000 < 10000 ? retry_after * 1000 : 10000;
    usleep((useconds_t)ms * 1000);
}

/* One request to one endpoint (the origin or a mirror). */
static int endpoint_request(soci_registry *r, const struct endpoint *ep, const struct image_ref *ref,
                            struct http_request *req, const char *path, struct http_response *resp, unsigned retries)
{
    const char *host = ep->host;
    char url[4096], scope[SCOPE_MAX], auth[8200];
    bool authed = false,
         plain = strcmp(ep->scheme, "http") == 0 || ((ep->origin || ep->insecure) && uses_plain_http(r, host));
    int err = 0;

    req->ca_file = ep->ca;
    req->insecure = ep->skip_verify;
    snprintf(scope, sizeof(scope), "repository:%s:%s", ref->repo,
             strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0 ? "pull" : "pull,push");
    if (cached_token(r, host, scope, auth, sizeof(auth)))
        authed = true;
    for (unsigned attempt = 0;; attempt++) {
        /* path is relative to the repository, or an absolute path or URL a registry gave us
         * (an upload's Location). */
        if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
            snprintf(url, sizeof(url), "%s", path);
        else if (path[0] == '/')
            snprintf(url, sizeof(url), "%s://%s%s", plain ? "http" : "https", host, path);
        else
            snprintf(url, sizeof(url), "%s://%s%s/%s/%s", plain ? "http" : "https", host, ep->root, ref->repo, path);
        req->url = url;
        req->authorization = authed ? auth : NULL;
        err = http_do(r->http, req, resp);
        atomic_fetch_add(&r->requests, 1);
        if (err == 0)
            atomic_fetch_add(&r->bytes, resp->received + resp->skipped);
        /* docker's rule: a local registry that does not speak TLS is spoken to in plain HTTP;
         * registries.conf's for a registry or mirror it calls insecure. */
        if (err == SOCI_ENET && !plain && (ep->insecure || (ep->origin && ref_host_is_local(host))) &&
            http_failed_tls_handshake(resp)) {
            plain = true;
            remember_plain_http(r, host);
            attempt--;
            continue;
        }
        if (err == 0 && resp->status == 401 && resp->www_authenticate[0]) {
            char header[sizeof(resp->www_authenticate)];
            snprintf(header, sizeof(header), "%s", resp->www_authenticate);
            http_response_free(resp);
            if (authed) {
                forget_token(r, host, scope); /* expired or refused: one fresh try */
                if (attempt > 0)
                    return soci_fail(SOCI_EAUTH, "%s refused our credentials for %s", host, ref->repo);
            }
            if ((err = answer_challenge(r, host, header, scope, auth, sizeof(auth))) < 0)
                return err;
            authed = true;
            continue;
        }
        if (err == 0 && resp->status == 401)
            return soci_fail(SOCI_EAUTH, "%s: HTTP 401 for %s without a challenge", host, ref->repo);
        /* A body cut short (a reset mid-transfer that curl did not see) is retried too. */
        if (err == 0 && req->into != NULL && (resp->status == 200 || resp->status == 206) &&
            resp->received != req->range_len) {
            err = soci_fail(SOCI_ENET, "%s: %llu of %llu bytes received", host, (unsigned long long)resp->received,
                            (unsigned long long)req->range_len);
            http_response_free(resp);
        }
        if (!transient(err, resp) || attempt >= retries)
            break;
        long retry_after = err == 0 ? resp->retry_after : -1;
        if (err == 0)
            http_response_free(resp);
        backoff(attempt, retry_after);
    }
    if (err < 0)
        return retries ? soci_fail_prefix(err, "after %u retries", retries) : err;
    return 0;
}

int registry_request(soci_registry *r, const struct image_ref *ref, struct http_request *req, const char *path,
                     struct http_response *resp)
{
    struct endpoints eps;
    const char *host = ref_api_host(ref);
    const char *scheme = r->plain_http ? "http" : "https";
    int err = regconf_endpoints(r->regconf, host, scheme, &eps);
    if (err == 0)
        err = hosts_endpoints(r->hosts_dir, host, scheme, &eps);
    if (err < 0)
        return err;
    /* Mirrors serve reads only; tag lookups only those with the resolve capability;
     * a URL a registry gave us (an upload's Location) goes back to it. */
    bool read = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool absolute = path[0] == '/' || strncmp(path, "http", 4) == 0;
    bool by_tag = strncmp(path, "manifests/", 10) == 0 && strncmp(path + 10, "sha256:", 7) != 0;
    struct http_response answer; /* a mirror's 404: the answer if the origin gives none */
    bool have_answer = false;
    for (int i = 0; i < eps.n; i++) {
        const struct endpoint *ep = &eps.e[i];
        if (!ep->origin && (!read || absolute || !ep->pull || (by_tag && !ep->resolve)))
            continue;
        /* A mirror gets one try: the origin is the fallback, not more waiting. */
        err = endpoint_request(r, ep, ref, req, path, resp, ep->origin && !req->one_try ? r->retries : 0);
        if (ep->origin) {
            if (err < 0 && have_answer) {
                *resp = answer;
                soci_clear_error();
                return 0;
            }
            if (have_answer)
                http_response_free(&answer);
            return err;
        }
        /* A mirror that fails or lacks the content: on to the next, the origin last. */
        if (err == 0 && resp->status < 500 && resp->status != 404 && resp->status != 401 && resp->status != 403) {
            if (have_answer)
                http_response_free(&answer);
            return 0;
        }
        if (err == 0 && resp->status == 404 && !have_answer) {
            answer = *resp;
            have_answer = true;
        } else if (err == 0) {
            http_response_free(resp);
        }
        soci_clear_error();
    }
    if (have_answer)
        http_response_free(&answer);
    return soci_fail(SOCI_ENET, "%s: no endpoint left to try", host);
}

int registry_direct(soci_registry *r, struct http_request *req, struct http_response *resp)
{
    int err = http_do(r->http, req, resp);
    atomic_fetch_add(&r->requests, 1);
    if (err == 0)
        atomic_fetch_add(&r->bytes, resp->received + resp->skipped);
    return err;
}

int registry_prepare(soci_registry *r, const struct image_ref *ref, const char *path, struct http_request *req,
                     char *url, size_t url_size, char *auth, size_t auth_size)
{
    const char *host = ref_api_host(ref);
    char scope[SCOPE_MAX];
    bool plain = r->plain_http || uses_plain_http(r, host);
    struct endpoints eps;
    snprintf(scope, sizeof(scope), "repository:%s:pull", ref->repo);
    snprintf(url, url_size, "%s://%s/v2/%s/%s", plain ? "http" : "https", host, ref->repo, path);
    req->url = url;
    /* An insecure registry's certificate goes unverified here too. */
    if (regconf_endpoints(r->regconf, host, "https", &eps) == 1)
        req->insecure = eps.e[eps.n - 1].skip_verify;
    soci_clear_error();
    req->authorization = cached_token(r, host, scope, auth, auth_size) ? auth : NULL;
    return 0;
}

void registry_count(soci_registry *r, uint64_t requests, uint64_t bytes)
{
    atomic_fetch_add(&r->requests, requests);
    atomic_fetch_add(&r->bytes, bytes);
}

struct http *registry_http(soci_registry *r)
{
    return r->http;
}
