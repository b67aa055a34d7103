/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The indexer's jobs. A fixed pool of slots: at most max_jobs waiting or running, and the
 * last `history` finished (kept for /status, and so that the same image pushed again is
 * recognised without asking the registry); a hash of keys finds a job in one probe, so a
 * flood of events costs each the same. A job counts as accepted only once the journal has
 * it on disk: it is in the pool meanwhile (a duplicate arriving then is one), but no
 * worker takes it. Nothing here allocates after queue_new.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "indexer.h"
#include "metrics_text.h"

#define NONE (-1)

struct slot {
    struct job job;
    bool used, durable;
    int hnext; /* the next slot in its hash bucket, or in the free list */
    int fnext; /* the next finished slot, oldest first */
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct slot *slots;
    int *buckets;
    unsigned cap, nbuckets, max_active, max_finished, active, finished;
    int free_head, fin_head, fin_tail;
    bool stop;
    bool done_is_final; /* v1 indexes: a digest indexed stays indexed */
    struct ix_metrics m;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3u;
    return h;
}

int queue_new(unsigned max_jobs, unsigned history, bool done_is_final, struct queue **ret)
{
    struct queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return -1;
    q->done_is_final = done_is_final;
    q->cap = max_jobs + history;
    q->max_active = max_jobs;
    q->max_finished = history;
    for (q->nbuckets = 64; q->nbuckets < 2 * q->cap; q->nbuckets *= 2)
        ;
    q->slots = calloc(q->cap, sizeof(*q->slots));
    q->buckets = malloc(q->nbuckets * sizeof(*q->buckets));
    if (q->slots == NULL || q->buckets == NULL) {
        queue_free(q);
        return -1;
    }
    for (unsigned i = 0; i < q->nbuckets; i++)
        q->buckets[i] = NONE;
    for (unsigned i = 0; i < q->cap; i++)
        q->slots[i].hnext = i + 1 < q->cap ? (int)i + 1 : NONE;
    q->free_head = 0;
    q->fin_head = q->fin_tail = NONE;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &ca);
    pthread_condattr_destroy(&ca);
    *ret = q;
    return 0;
}

void queue_free(struct queue *q)
{
    if (q == NULL)
        return;
    if (q->slots && q->buckets) {
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->wake);
    }
    free(q->slots);
    free(q->buckets);
    free(q);
}

static int find(const struct queue *q, const char *key)
{
    for (int i = q->buckets[hash(key) & (q->nbuckets - 1)]; i != NONE; i = q->slots[i].hnext)
        if (strcmp(q->slots[i].job.key, key) == 0)
            return i;
    return NONE;
}

static void unlink_hash(struct queue *q, int i)
{
    int *p = &q->buckets[hash(q->slots[i].job.key) & (q->nbuckets - 1)];
    while (*p != i)
        p = &q->slots[*p].hnext;
    *p = q->slots[i].hnext;
}

/* Drop the oldest finished job, freeing its slot. */
static void forget_oldest(struct queue *q)
{
    int i = q->fin_head;
    q->fin_head = q->slots[i].fnext;
    if (q->fin_head == NONE)
        q->fin_tail = NONE;
    unlink_hash(q, i);
    q->slots[i] = (struct slot){.hnext = q->free_head};
    q->free_head = i;
    q->finished--;
}

/* A free slot for key, hashed in; NONE when there is none. */
static int new_slot(struct queue *q, const char *key, const char *ref)
{
    if (q->free_head == NONE && q->finished > 0)
        forget_oldest(q);
    int i = q->free_head;
    if (i == NONE)
        return NONE;
    q->free_head = q->slots[i].hnext;
    struct slot *s = &q->slots[i];
    *s = (struct slot){.used = true, .fnext = NONE};
    snprintf(s->job.key, sizeof(s->job.key), "%s", key);
    snprintf(s->job.ref, sizeof(s->job.ref), "%s", ref);
    s->job.accepted = time(NULL);
    int *b = &q->buckets[hash(key) & (q->nbuckets - 1)];
    s->hnext = *b;
    *b = i;
    return i;
}

static void release_slot(struct queue *q, int i)
{
    unlink_hash(q, i);
    q->slots[i] = (struct slot){.hnext = q->free_head};
    q->free_head = i;
}

/* Move slot i to the finished list (the oldest finished go once history is full). */
static void mark_finished(struct queue *q, int i)
{
    if (q->max_finished == 0) {
        release_slot(q, i);
        return;
    }
    if (q->finished == q->max_finished)
        forget_oldest(q);
    q->slots[i].fnext = NONE;
    if (q->fin_tail == NONE)
        q->fin_head = i;
    else
        q->slots[q->fin_tail].fnext = i;
    q->fin_tail = i;
    q->finished++;
}

/* Take slot i off the finished list (a failed job offered again). */
static void unfinish(struct queue *q, int i)
{
    int *p = &q->fin_head, prev = NONE;
    while (*p != i) {
        prev = *p;
        p = &q->slots[*p].fnext;
    }
    *p = q->slots[i].fnext;
    if (q->fin_tail == i)
        q->fin_tail = prev;
    q->finished--;
}

enum offer queue_offer(struct queue *q, struct journal *j, const char *key, const char *ref)
{
    pthread_mutex_lock(&q->lock);
    int i = find(q, key);
    /* Waiting or running: the same job. Finished: the same image if keyed by digest and
     * its index hangs off that digest (v1); a v2 index is an image index under the tag, which
     * a push of the same image moves away, so that is looked at again (the worker skips it
     * if the tag still has its index). A tag from POST /index may have moved: again too. */
    bool by_digest = q->done_is_final && strchr(key, '@') != NULL;
    enum job_state st = i != NONE ? q->slots[i].job.state : JOB_FAILED;
    if (i != NONE && (st == JOB_QUEUED || st == JOB_RUNNING || (by_digest && st != JOB_FAILED))) {
        q->m.duplicates++;
        pthread_mutex_unlock(&q->lock);
        return OFFER_DUPLICATE;
    }
    if (q->active >= q->max_active) {
        q->m.refused_full++;
        pthread_mutex_unlock(&q->lock);
        return OFFER_FULL;
    }
    if (i != NONE) { /* finished before, and asked for again */
        unfinish(q, i);
        q->slots[i].job.attempts = 0;
        q->slots[i].job.outcome[0] = '\0';
        q->slots[i].durable = false;
        snprintf(q->slots[i].job.ref, sizeof(q->slots[i].job.ref), "%s", ref);
    } else if ((i = new_slot(q, key, ref)) == NONE) {
        q->m.refused_full++;
        pthread_mutex_unlock(&q->lock);
        return OFFER_FULL;
    }
    q->slots[i].job.state = JOB_QUEUED;
    q->slots[i].job.next_try = 0;
    q->active++;
    pthread_mutex_unlock(&q->lock);

    /* On disk before it is acknowledged; outside the lock, so that concurrent requests'
     * syncs share the disk's flushes instead of queueing behind each other. */
    int r = journal_accept(j, key, ref);

    pthread_mutex_lock(&q->lock);
    if (r < 0) {
        q->active--;
        release_slot(q, i);
        pthread_mutex_unlock(&q->lock);
        return OFFER_ERROR;
    }
    q->slots[i].durable = true;
    q->m.accepted++;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
    return OFFER_ACCEPTED;
}

void queue_restore(struct queue *q, const char *key, const char *ref, enum job_state state, const char *outcome)
{
    pthread_mutex_lock(&q->lock);
    int i = find(q, key);
    if (state == JOB_QUEUED) {
        if (i != NONE && q->slots[i].job.state == JOB_FAILED) { /* offered again after failing */
            unfinish(q, i);
            q->slots[i].job.state = JOB_QUEUED;
            q->active++;
        } else if (i == NONE && q->active < q->max_active && (i = new_slot(q, key, ref)) != NONE) {
            q->slots[i].job.state = JOB_QUEUED;
            q->slots[i].durable = true;
            q->active++;
        }
    } else if (i != NONE && q->slots[i].job.state == JOB_QUEUED) {
        q->slots[i].job.state = state;
        snprintf(q->slots[i].job.outcome, sizeof(q->slots[i].job.outcome), "%s", outcome);
        q->active--;
        mark_finished(q, i);
    } else if (i == NONE && (i = new_slot(q, key, ref)) != NONE) {
        q->slots[i].job.state = state;
        q->slots[i].durable = true;
        snprintf(q->slots[i].job.outcome, sizeof(q->slots[i].job.outcome), "%s", outcome);
        mark_finished(q, i);
    }
    pthread_mutex_unlock(&q->lock);
}

bool queue_take(struct queue *q, struct job *ret)
{
    pthread_mutex_lock(&q->lock);
    while (!q->stop) {
        time_t now = time(NULL), soonest = 0;
        int best = NONE;
        for (unsigned k = 0; k < q->cap; k++) {
            const struct slot *s = &q->slots[k];
            if (!s->used || !s->durable || s->job.state != JOB_QUEUED)
                continue;
            if (best == NONE || s->job.next_try < q->slots[best].job.next_try ||
                (s->job.next_try == q->slots[best].job.next_try && s->job.accepted < q->slots[best].job.accepted))
                best = (int)k;
        }
        if (best != NONE && q->slots[best].job.next_try <= now) {
            q->slots[best].job.state = JOB_RUNNING;
            q->slots[best].job.attempts++;
            *ret = q->slots[best].job;
            pthread_mutex_unlock(&q->lock);
            return true;
        }
        if (best == NONE) {
            pthread_cond_wait(&q->wake, &q->lock);
        } else {
            soonest = q->slots[best].job.next_try;
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += soonest - now;
            pthread_cond_timedwait(&q->wake, &q->lock, &until);
        }
    }
    pthread_mutex_unlock(&q->lock);
    return false;
}

void queue_finish(struct queue *q, struct journal *j, const struct job *done, double seconds)
{
    if (done->state != JOB_QUEUED)
        journal_outcome(j, done);
    pthread_mutex_lock(&q->lock);
    int i = find(q, done->key);
    if (i != NONE) {
        struct job *job = &q->slots[i].job;
        job->state = done->state;
        job->next_try = done->next_try;
        snprintf(job->outcome, sizeof(job->outcome), "%s", done->outcome);
        q->m.build_seconds += seconds;
        switch (done->state) {
        case JOB_QUEUED: q->m.retries++; break;
        case JOB_DONE: q->m.indexed++; break;
        case JOB_SKIPPED: q->m.skipped++; break;
        default: q->m.failed++; break;
        }
        if (done->state != JOB_QUEUED) {
            q->active--;
            mark_finished(q, i);
        }
        pthread_cond_broadcast(&q->wake);
    }
    pthread_mutex_unlock(&q->lock);
}

void queue_stop(struct queue *q)
{
    pthread_mutex_lock(&q->lock);
    q->stop = true;
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
}

void queue_count(struct queue *q, uint64_t requests, uint64_t rejected, uint64_t events, uint64_t ignored)
{
    pthread_mutex_lock(&q->lock);
    q->m.requests += requests;
    q->m.rejected += rejected;
    q->m.events += events;
    q->m.events_ignored += ignored;
    pthread_mutex_unlock(&q->lock);
}

static const char *state_name(enum job_state s)
{
    static const char *const names[] = {"queued", "running", "done", "skipped", "failed"};
    return names[s];
}

/* The most jobs of each state /status lists (counts are always whole). */
#define STATUS_LIST_MAX 200

char *queue_status_json(struct queue *q)
{
    json_t *lists[5], *o = json_object();
    unsigned counts[5] = {0};
    for (int s = 0; s < 5; s++)
        lists[s] = json_array();
    pthread_mutex_lock(&q->lock);
    for (unsigned k = 0; k < q->cap; k++) {
        const struct slot *s = &q->slots[k];
        if (!s->used || !s->durable)
            continue;
        enum job_state st = s->job.state;
        if (counts[st]++ >= STATUS_LIST_MAX)
            continue;
        json_t *j = json_pack("{s:s, s:s, s:i, s:I}", "key", s->job.key, "image", s->job.ref, "attempts",
                              (int)s->job.attempts, "accepted", (json_int_t)s->job.accepted);
        if (j && s->job.outcome[0])
            json_object_set_new(j, st == JOB_DONE ? "index" : st == JOB_QUEUED ? "last_error" : "reason",
                                json_string(s->job.outcome));
        json_array_append_new(lists[st], j);
    }
    pthread_mutex_unlock(&q->lock);
    for (int s = 0; s < 5; s++) {
        char name[32];
        json_object_set_new(o, state_name((enum job_state)s), lists[s]);
        snprintf(name, sizeof(name), "%s_count", state_name((enum job_state)s));
        json_object_set_new(o, name, json_integer(counts[s]));
    }
    char *text = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

char *queue_metrics_text(struct queue *q, uint64_t bytes_read)
{
    struct ix_metrics m;
    unsigned queued = 0, running = 0;
    pthread_mutex_lock(&q->lock);
    m = q->m;
    for (unsigned k = 0; k < q->cap; k++) {
        queued += q->slots[k].used && q->slots[k].durable && q->slots[k].job.state == JOB_QUEUED;
        running += q->slots[k].used && q->slots[k].job.state == JOB_RUNNING;
    }
    pthread_mutex_unlock(&q->lock);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
#define COUNTER(name, help, value) metrics_text_int(f, "soci_indexer_" name, "counter", help, (value))
#define GAUGE(name, help, value) metrics_text_int(f, "soci_indexer_" name, "gauge", help, (value))
    COUNTER("http_requests_total", "HTTP requests answered.", m.requests);
    COUNTER("http_rejected_total", "HTTP requests refused (bad secret, body, route or method).", m.rejected);
    COUNTER("events_total", "Registry events received.", m.events);
    COUNTER("events_ignored_total", "Events that ask for no work (not a tagged image push, our own pushes).",
            m.events_ignored);
    COUNTER("jobs_accepted_total", "Jobs accepted (journalled).", m.accepted);
    COUNTER("jobs_duplicate_total", "Jobs already waiting, running or done.", m.duplicates);
    COUNTER("jobs_refused_full_total", "Jobs refused because the queue was full.", m.refused_full);
    COUNTER("images_indexed_total", "Images indexed and pushed.", m.indexed);
    COUNTER("images_skipped_total", "Images that had a SOCI index already.", m.skipped);
    COUNTER("failures_total", "Jobs failed for good.", m.failed);
    COUNTER("retries_total", "Attempts that failed and were tried again.", m.retries);
    COUNTER("registry_bytes_read_total", "Bytes read from registries.", bytes_read);
    metrics_text_seconds(f, "soci_indexer_build_seconds_total", "Seconds spent on jobs.", m.build_seconds);
    GAUGE("jobs_queued", "Jobs waiting.", queued);
    GAUGE("jobs_running", "Jobs in progress.", running);
#undef COUNTER
#undef GAUGE
    fclose(f);
    return text;
}

void queue_each_for_journal(struct queue *q, void (*fn)(void *ctx, const struct job *job), void *ctx)
{
    pthread_mutex_lock(&q->lock);
    for (int i = q->fin_head; i != NONE; i = q->slots[i].fnext)
        fn(ctx, &q->slots[i].job);
    for (unsigned k = 0; k < q->cap; k++)
        if (q->slots[k].used && q->slots[k].durable &&
            (q->slots[k].job.state == JOB_QUEUED || q->slots[k].job.state == JOB_RUNNING))
            fn(ctx, &q->slots[k].job);
    pthread_mutex_unlock(&q->lock);
}
