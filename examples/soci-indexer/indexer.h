/* SPDX-License-Identifier: Apache-2.0 */
/*
 * soci-indexer: a service that builds and pushes the SOCI index of every image pushed to
 * a registry. The parts:
 *   http_api.c      the listener (libmicrohttpd): POST /events, POST /index, GET /status,
 *                   GET /metrics; bodies bounded, the shared secret checked
 *   notifications.c registry push events (CNCF distribution's envelopes) into jobs
 *   queue.c         the jobs: deduplicated by key, bounded, states and counters
 *   journal.c       every accepted job and its outcome on disk before it is acknowledged,
 *                   replayed at start: nothing accepted is lost to a crash
 *   worker.c        worker threads: skip images indexed already, build and push, retry
 *                   with backoff
 *   main.c          options, signals, start and clean stop
 */
#ifndef SOCI_INDEXER_H
#define SOCI_INDEXER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <netinet/in.h>

#include <soci/soci.h>

#define IX_KEY_MAX 400  /* host/repository@sha256:<hex>, or host/repository:tag */
#define IX_REF_MAX 400  /* host/repository:tag */
#define IX_REASON_MAX 240

struct journal;

/* ---- log.c ---- */

/* One structured line on stderr (the journal under systemd): time, level, then fmt's
 * key=value pairs. */
void ix_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A soci_log_fn: libsoci's warnings and errors as lines of ours. */
void ix_library_log(int level, const char *msg, void *userdata);

/* ---- queue.c ---- */

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_SKIPPED, JOB_FAILED };

struct job {
    char key[IX_KEY_MAX];
    char ref[IX_REF_MAX];
    enum job_state state;
    unsigned attempts;
    time_t accepted, next_try;
    char outcome[IX_REASON_MAX]; /* the index digest, why it was skipped, or why it failed */
};

struct ix_metrics {
    uint64_t requests, rejected, events, events_ignored, accepted, duplicates, refused_full;
    uint64_t indexed, skipped, failed, retries;
    double build_seconds;
};

struct queue;

/* A queue of at most max_jobs waiting or running, and the last `history` finished.
 * done_is_final: a job done stays done when its digest is pushed again (v1 indexes). */
int queue_new(unsigned max_jobs, unsigned history, bool done_is_final, struct queue **ret);
void queue_free(struct queue *q);

/* Outcomes of queue_offer. */
enum offer { OFFER_ACCEPTED, OFFER_DUPLICATE, OFFER_FULL, OFFER_ERROR };

/* Add a job for key (indexing ref) unless one with that key is waiting or running (or is
 * done, keyed by digest, and done_is_final): journalled (durably) before it counts as
 * accepted. */
enum offer queue_offer(struct queue *q, struct journal *j, const char *key, const char *ref);

/* The next job due, waiting until one is or stop is set: a copy into *ret, marked running.
 * false once stopping. */
bool queue_take(struct queue *q, struct job *ret);

/* The job with ret->key ended: done (outcome = index digest), skipped, failed for good,
 * or to be tried again at next_try (state JOB_QUEUED). Journalled unless retried. */
void queue_finish(struct queue *q, struct journal *j, const struct job *done, double seconds);

/* Put a job replayed from the journal back (no journalling). */
void queue_restore(struct queue *q, const char *key, const char *ref, enum job_state state, const char *outcome);

/* fn for every finished job (oldest first), then every waiting or running one; under the
 * queue's lock (for rewriting the journal). */
void queue_each_for_journal(struct queue *q, void (*fn)(void *ctx, const struct job *job), void *ctx);

/* Wake every queue_take and make them return false. */
void queue_stop(struct queue *q);

/* The queue as JSON (GET /status) and as Prometheus text (GET /metrics); free(). */
char *queue_status_json(struct queue *q);
char *queue_metrics_text(struct queue *q, uint64_t bytes_read);

/* Count a request, a refusal, an ignored event (for /metrics). */
void queue_count(struct queue *q, uint64_t requests, uint64_t rejected, uint64_t events, uint64_t ignored);

/* ---- journal.c ---- */

struct journal;

/* Open (or make) DIR/journal, replay it into q (jobs accepted and not finished are queued
 * again) and rewrite it compactly. 0, or -1 after logging why. */
int journal_open(const char *state_dir, struct queue *q, struct journal **ret);
void journal_close(struct journal *j);

/* Append a line; accept lines are on disk (fdatasync) when this returns 0. */
int journal_accept(struct journal *j, const char *key, const char *ref);
int journal_outcome(struct journal *j, const struct job *job);

/* ---- notifications.c ---- */

struct indexer_config {
    const char **registries; /* hosts whose images may be indexed; events name the first */
    unsigned nregistries;
};

/* Whether name is a repository name as the distribution spec allows ([a-z0-9] components
 * joined by ., _, __ or -, separated by /; no "..", at most 255 bytes). */
bool valid_repository(const char *name);
bool valid_tag(const char *tag);
bool valid_digest(const char *digest);

/* The jobs a notification envelope asks for, offered to q. *accepted and *ignored count the
 * events; -1 for a body that is not an envelope (400), -2 when the queue is full (503). */
int notifications_take(const struct indexer_config *c, struct queue *q, struct journal *j, const char *body,
                       size_t len, unsigned *accepted, unsigned *ignored);

/* POST /index {"image": REF}: 0 (*offer set), or -1 with *why (400). */
int index_request_take(const struct indexer_config *c, struct queue *q, struct journal *j, const char *body,
                       size_t len, enum offer *offer, const char **why);

/* ---- worker.c ---- */

struct workers;

struct worker_config {
    soci_registry *reg;
    const soci_config *cfg;    /* index version, platforms, minimum layer size */
    uint64_t span_size;        /* 0: the builder's default */
    const char *scratch_dir;   /* STATE_DIR/work */
    unsigned max_attempts;     /* tries before a job fails for good */
    unsigned backoff_seconds;  /* the first retry's wait; doubled each time, at most 300 s */
};

int workers_start(const struct worker_config *wc, struct queue *q, struct journal *j, unsigned count,
                  struct workers **ret);
/* Wait for the jobs in progress to end (queue_stop first), then free. */
void workers_join(struct workers *w);

/* ---- http_api.c ---- */

struct api;

struct api_config {
    const char *listen;      /* where, as --listen gave it (for messages) */
    struct sockaddr_in addr; /* where, parsed */
    const char *secret;      /* the token a request's "Authorization: Bearer" must carry, or NULL */
    const char *tls_cert, *tls_key; /* PEM files, or NULL for plain HTTP */
    const struct indexer_config *ic;
    struct queue *q;
    struct journal *j;
    soci_registry *reg;      /* for bytes read, in /metrics */
};

int api_start(const struct api_config *c, struct api **ret);
void api_stop(struct api *a);

#endif
