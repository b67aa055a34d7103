/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP over libcurl, for the registry client: one request at a time per call, from any
 * thread, connections and TLS sessions shared between calls (curl's share interface).
 * Bodies are capped (a hostile server cannot make us buffer without end); redirects are
 * followed, and curl drops our Authorization header when a redirect leaves the host.
 */
#ifndef SOCI_REMOTE_HTTP_H
#define SOCI_REMOTE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <soci/blob.h>

struct http;

struct http_opts {
    const char *ca_file; /* NULL: the system's */
    bool insecure;       /* skip TLS verification */
    long timeout_s;      /* whole-request timeout */
    unsigned max_per_site; /* requests in flight to one scheme://host:port at once (0: 8) */
};

int http_new(const struct http_opts *o, struct http **ret);
void http_free(struct http *h);

struct http_request {
    const char *method;       /* "GET", "HEAD", "PUT", "POST" */
    const char *url;
    const char *authorization; /* the header's value, or NULL */
    const char *accept;
    const char *content_type;
    const void *body;          /* for PUT/POST */
    size_t body_len;
    bool range;                /* ask for bytes [range_off, range_off + range_len) */
    uint64_t range_off, range_len;
    void *into;                /* write the body here (exactly range_len bytes), else buffer it.
                                * A server that ignores Range and answers 200 with the whole
                                * resource: the range is cut out of that body as it streams by
                                * and the transfer dropped once it is in (whole_body set). */
    const struct soci_iov_at *pieces; /* several ranges in one request (range unset): the
                                * answer's parts go into the pieces they cover (at most
                                * BYTERANGES_MAX_PIECES, ascending, apart) */
    size_t npieces;
    bool *pieces_done;         /* pieces_done[i]: piece i came in whole */
    size_t max_body;           /* cap for a buffered body */
    const char *ca_file;       /* overrides the client's CA file for this request */
    bool insecure;             /* skip TLS verification for this request */
    bool one_try;              /* registry_request: no retries (a request sent on speculation) */
};

struct http_response {
    long status;
    char *body; /* buffered body (NUL-terminated), or NULL */
    size_t body_len;
    uint64_t received;             /* body bytes received (into: bytes placed there) */
    uint64_t skipped;              /* whole_body: bytes read before the range and dropped */
    bool whole_body;               /* a range request was answered 200 with the whole resource */
    bool pieces_refused;           /* a request for pieces was answered, but not with byte
                                    * ranges we can place: ask this server for one at a time */
    char www_authenticate[2048];
    char content_range[128];
    char content_type[256];
    char docker_digest[80];
    char location[2048];
    long retry_after;              /* seconds, -1 if absent */
    int curl_code;                 /* curl's result, also when http_do fails */
    char final_url[4096];          /* where the last redirect led, "" if none was followed */
};

/* Whether a failed request met a server that does not speak TLS (so plain HTTP may). A
 * certificate that fails verification is not that: it must never fall back. */
/* Take one response header line (len bytes, CRLF included or not; not NUL-terminated)
 * into resp: the status line resets the kept headers, kept ones are copied, bounded. */
void http_parse_header_line(struct http_response *resp, const char *line, size_t len);

bool http_failed_tls_handshake(const struct http_response *resp);

/* Perform one request. Network-level failures are SOCI_ENET with the URL's host in the
 * message (never its credentials); any HTTP status is a success here, for the caller to
 * judge. Free resp with http_response_free(). */
int http_do(struct http *h, const struct http_request *req, struct http_response *resp);
void http_response_free(struct http_response *resp);

/* Perform n requests at once (curl multi: connections reused, HTTP/2 multiplexed where
 * the server offers it). errs[i] is what http_do would have returned for request i. */
void http_do_many(struct http *h, const struct http_request *reqs, struct http_response *resps, int *errs, size_t n);

#endif
