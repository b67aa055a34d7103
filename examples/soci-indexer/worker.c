/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workers: each takes the next job due, and
 *  - for a pushed image, waits until its tag names it (the registry notifies before it
 *    tags) and skips it if the tag has moved on to a later push;
 *  - skips it when the image has a SOCI index already (the discovery soci_image_open
 *    does: referrers, the tag fallback, a v2 image index), which is also how an image
 *    index the indexer itself pushed under a tag ends;
 *  - else builds and pushes the index where the image lies (soci_registry_build_index:
 *    layers streamed from the registry into the builder, two threads each, nothing copied);
 *  - on a failure that may pass (the network, the registry answering 5xx, a timeout) puts
 *    the job back for later, waiting backoff_seconds, doubled each time up to 300 s, at
 *    most max_attempts tries; any other failure (no such image, a malformed one, refused
 *    credentials) ends the job as failed, with the library's reason.
 * Requests to one registry are bounded by the client all workers share
 * (SOCI_OPT_MAX_CONNECTIONS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indexer.h"

#define MAX_BACKOFF_SECONDS 300
#define TAG_SETTLE_TRIES 25             /* ... of TAG_SETTLE_PAUSE_NS: 5 s for the registry to tag */
#define TAG_SETTLE_PAUSE_NS 200000000L

struct workers {
    const struct worker_config *wc;
    struct queue *q;
    struct journal *j;
    soci_config *probe; /* the host's platform, for the "indexed already" check */
    unsigned count;
    pthread_t *threads;
};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* 1 when the image has a SOCI index, 0 when not (or when something is not found: the
 * host's platform not in the image, or the image itself — the build says which), a
 * negative code when the registry cannot be read. */
static int indexed_already(struct workers *w, const char *ref, char *digest, size_t size)
{
    soci_image *img;
    int r = soci_image_open(ref, w->wc->reg, w->probe, &img);
    if (r == SOCI_ENOTFOUND)
        return 0;
    if (r < 0)
        return r;
    const char *ix = soci_image_index_digest(img);
    snprintf(digest, size, "%s", ix ? ix : "");
    soci_image_free(img);
    return digest[0] != '\0';
}

static bool retryable(int code)
{
    return code == SOCI_ENET || code == SOCI_EIO;
}

/* For a job from an event (keyed by the pushed manifest's digest): wait until the tag
 * names that manifest. The registry announces a push before it moves the tag (the
 * manifest is stored, then tagged), so the tag read at once may be missing or still name
 * the image before. 1 when it names it, 0 when it does not after the wait (now: the
 * digest it names, a later push with a job of its own; "" when there is no such tag), a
 * negative code when the registry cannot be read. */
static int tag_settled(struct workers *w, const struct job *job, char *now, size_t size)
{
    const char *at = strrchr(job->key, '@');
    int r = 0;
    if (at == NULL)
        return 1; /* POST /index: whatever the tag names */
    for (int tries = 0; tries < TAG_SETTLE_TRIES; tries++) {
        char got[SOCI_REGISTRY_DIGEST_BUFSIZE] = "";
        void *data = NULL;
        size_t len;
        r = soci_registry_get_manifest(w->wc->reg, job->ref, &data, &len, got);
        soci_free(data);
        if (r == 0 && strcmp(got, at + 1) == 0)
            return 1;
        if (r < 0 && r != SOCI_ENOTFOUND)
            return r;
        snprintf(now, size, "%s", r == 0 ? got : "");
        struct timespec pause = {0, TAG_SETTLE_PAUSE_NS};
        nanosleep(&pause, NULL);
    }
    return 0;
}

/* One attempt at a job: its new state and outcome in *job. */
static void run_job(struct workers *w, struct job *job)
{
    char digest[SOCI_DIGEST_BUFSIZE] = "", now[SOCI_REGISTRY_DIGEST_BUFSIZE] = "";
    soci_builder *b = NULL;
    int r = tag_settled(w, job, now, sizeof(now));
    if (r == 0) {
        /* Another image under the tag: its own push is its own job. No tag: nothing to do. */
        bool moved = now[0] != '\0';
        job->state = moved ? JOB_SKIPPED : JOB_FAILED;
        snprintf(job->outcome, sizeof(job->outcome), moved ? "the tag names %s now" : "%s does not exist",
                 moved ? now : job->ref);
        return;
    }
    if (r == 1)
        r = indexed_already(w, job->ref, digest, sizeof(digest));
    if (r == 1) {
        job->state = JOB_SKIPPED;
        snprintf(job->outcome, sizeof(job->outcome), "indexed already: %s", digest);
        return;
    }
    if (r == 0 && (r = soci_builder_new(&b)) == 0 &&
        (w->wc->span_size == 0 || (r = soci_builder_set_u64(b, SOCI_BUILD_SPAN_SIZE, w->wc->span_size)) == 0) &&
        (r = soci_builder_set_str(b, SOCI_BUILD_TOOL_IDENTIFIER, "soci-indexer (libsoci)")) == 0)
        r = soci_registry_build_index(w->wc->reg, job->ref, w->wc->scratch_dir, b, w->wc->cfg, NULL, NULL, digest);
    soci_builder_free(b);
    if (r == 0) {
        job->state = JOB_DONE;
        snprintf(job->outcome, sizeof(job->outcome), "%s", digest);
        return;
    }
    const char *why = soci_last_error()[0] ? soci_last_error() : soci_strerror(r);
    snprintf(job->outcome, sizeof(job->outcome), "%s", why);
    if (retryable(r) && job->attempts < w->wc->max_attempts) {
        unsigned wait = w->wc->backoff_seconds;
        for (unsigned k = 1; k < job->attempts && wait < MAX_BACKOFF_SECONDS; k++)
            wait *= 2;
        job->state = JOB_QUEUED;
        job->next_try = time(NULL) + (wait < MAX_BACKOFF_SECONDS ? wait : MAX_BACKOFF_SECONDS);
    } else {
        job->state = JOB_FAILED;
    }
}

static void *worker_main(void *arg)
{
    struct workers *w = arg;
    struct job job;
    while (queue_take(w->q, &job)) {
        double t0 = now_seconds();
        ix_log("info", "msg=indexing key=%s image=%s attempt=%u", job.key, job.ref, job.attempts);
        run_job(w, &job);
        double took = now_seconds() - t0;
        switch (job.state) {
        case JOB_DONE:
            ix_log("info", "msg=indexed key=%s index=%s seconds=%.2f", job.key, job.outcome, took);
            break;
        case JOB_SKIPPED:
            ix_log("info", "msg=skipped key=%s reason=\"%s\"", job.key, job.outcome);
            break;
        case JOB_QUEUED:
            ix_log("warning", "msg=\"will retry\" key=%s attempt=%u in=%llds error=\"%s\"", job.key, job.attempts,
                   (long long)(job.next_try - time(NULL)), job.outcome);
            break;
        default:
            ix_log("error", "msg=failed key=%s attempts=%u error=\"%s\"", job.key, job.attempts, job.outcome);
            break;
        }
        queue_finish(w->q, w->j, &job, took);
    }
    return NULL;
}

int workers_start(const struct worker_config *wc, struct queue *q, struct journal *j, unsigned count,
                  struct workers **ret)
{
    struct workers *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->threads = calloc(count, sizeof(*w->threads))) == NULL || soci_config_new(&w->probe) < 0) {
        if (w)
            free(w->threads);
        free(w);
        return -1;
    }
    *w = (struct workers){.wc = wc, .q = q, .j = j, .probe = w->probe, .threads = w->threads};
    for (; w->count < count; w->count++) {
        if (pthread_create(&w->threads[w->count], NULL, worker_main, w) != 0) {
            ix_log("error", "msg=\"cannot start a worker thread\"");
            break;
        }
    }
    *ret = w;
    return w->count > 0 ? 0 : -1;
}

void workers_join(struct workers *w)
{
    if (w == NULL)
        return;
    for (unsigned i = 0; i < w->count; i++)
        pthread_join(w->threads[i], NULL);
    soci_config_free(w->probe);
    free(w->threads);
    free(w);
}
