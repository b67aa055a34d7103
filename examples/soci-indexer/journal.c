/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The journal, STATE_DIR/journal: one line per accepted job and one per outcome, appended.
 *   A <TAB> key <TAB> image      accepted (on disk before the request is answered)
 *   D <TAB> key <TAB> digest     indexed, the SOCI index (or image index) digest
 *   S <TAB> key <TAB> why        skipped (indexed already)
 *   F <TAB> key <TAB> why        failed for good
 * At start it is replayed (a job accepted with no outcome is queued again: it was waiting
 * or running when the indexer stopped or died) and rewritten compactly through a
 * temporary file and a rename. Lines that do not parse (a torn last line after a crash, a
 * damaged file) are skipped and counted in the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "indexer.h"

#define LINE_MAX_BYTES 2048

struct journal {
    pthread_mutex_t lock;
    int fd;
    char path[4096];
};

/* A reason fit for one field of a line: tabs and newlines become spaces. */
static void field(char *out, size_t size, const char *in)
{
    snprintf(out, size, "%s", in);
    for (char *p = out; *p; p++)
        if (*p == '\t' || *p == '\n' || *p == '\r')
            *p = ' ';
}

static int append(struct journal *j, char kind, const char *key, const char *value, bool sync)
{
    char line[LINE_MAX_BYTES], v[IX_REASON_MAX + IX_REF_MAX];
    field(v, sizeof(v), value);
    int n = snprintf(line, sizeof(line), "%c\t%s\t%s\n", kind, key, v);
    if (n < 0 || (size_t)n >= sizeof(line))
        return -1;
    pthread_mutex_lock(&j->lock);
    bool ok = write(j->fd, line, (size_t)n) == n;
    pthread_mutex_unlock(&j->lock);
    /* Appends of other threads made meanwhile are flushed by the same call. */
    if (ok && sync && fdatasync(j->fd) != 0)
        ok = false;
    if (!ok)
        ix_log("error", "msg=\"cannot write the journal\" path=%s error=\"%s\"", j->path, strerror(errno));
    return ok ? 0 : -1;
}

int journal_accept(struct journal *j, const char *key, const char *ref)
{
    return append(j, 'A', key, ref, true);
}

int journal_outcome(struct journal *j, const struct job *job)
{
    char kind = job->state == JOB_DONE ? 'D' : job->state == JOB_SKIPPED ? 'S' : 'F';
    return append(j, kind, job->key, job->outcome, true);
}

static enum job_state kind_state(char kind)
{
    return kind == 'D' ? JOB_DONE : kind == 'S' ? JOB_SKIPPED : kind == 'F' ? JOB_FAILED : JOB_QUEUED;
}

/* Replay the file into q; the number of lines skipped. */
static unsigned replay(FILE *f, struct queue *q, unsigned *jobs)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned bad = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        char *save, *kind, *key, *value;
        if (line[n - 1] != '\n' || n > LINE_MAX_BYTES) { /* torn by a crash, or not ours */
            bad++;
            continue;
        }
        line[n - 1] = '\0';
        kind = strtok_r(line, "\t", &save);
        key = strtok_r(NULL, "\t", &save);
        value = strtok_r(NULL, "", &save);
        if (kind == NULL || key == NULL || kind[1] != '\0' || strchr("ADSF", kind[0]) == NULL ||
            strlen(key) >= IX_KEY_MAX) {
            bad++;
            continue;
        }
        if (kind[0] == 'A' && (value == NULL || strlen(value) >= IX_REF_MAX)) {
            bad++;
            continue;
        }
        queue_restore(q, key, kind[0] == 'A' ? value : key, kind_state(kind[0]), value ? value : "");
        *jobs += kind[0] == 'A';
    }
    free(line);
    return bad;
}

struct rewrite {
    FILE *f;
    bool ok;
};

static void write_job(void *ctx, const struct job *job)
{
    struct rewrite *w = ctx;
    char v[IX_REASON_MAX];
    w->ok = w->ok && fprintf(w->f, "A\t%s\t%s\n", job->key, job->ref) > 0;
    if (job->state == JOB_DONE || job->state == JOB_SKIPPED || job->state == JOB_FAILED) {
        field(v, sizeof(v), job->outcome);
        w->ok = w->ok && fprintf(w->f, "%c\t%s\t%s\n", job->state == JOB_DONE ? 'D' : job->state == JOB_SKIPPED ? 'S' : 'F',
                                 job->key, v) > 0;
    }
}

/* The journal as the queue now has it, through a temporary file renamed over it. */
static int compact(struct journal *j, struct queue *q, const char *dir)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", j->path);
    struct rewrite w = {.f = fopen(tmp, "we"), .ok = true};
    if (w.f == NULL)
        return -1;
    queue_each_for_journal(q, write_job, &w);
    w.ok = w.ok && fflush(w.f) == 0 && fsync(fileno(w.f)) == 0;
    if (fclose(w.f) != 0 || !w.ok || rename(tmp, j->path) != 0) {
        unlink(tmp);
        return -1;
    }
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
        fsync(d);
        close(d);
    }
    return 0;
}

int journal_open(const char *state_dir, struct queue *q, struct journal **ret)
{
    struct journal *j = calloc(1, sizeof(*j));
    unsigned jobs = 0, bad = 0;
    if (j == NULL)
        return -1;
    pthread_mutex_init(&j->lock, NULL);
    j->fd = -1;
    snprintf(j->path, sizeof(j->path), "%s/journal", state_dir);
    FILE *f = fopen(j->path, "re");
    if (f != NULL) {
        bad = replay(f, q, &jobs);
        fclose(f);
    } else if (errno != ENOENT) {
        ix_log("error", "msg=\"cannot read the journal\" path=%s error=\"%s\"", j->path, strerror(errno));
        goto fail;
    }
    if (compact(j, q, state_dir) != 0 ||
        (j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0) {
        ix_log("error", "msg=\"cannot write the journal\" path=%s error=\"%s\"", j->path, strerror(errno));
        goto fail;
    }
    ix_log("info", "msg=\"journal replayed\" path=%s jobs=%u skipped_lines=%u", j->path, jobs, bad);
    *ret = j;
    return 0;
fail:
    pthread_mutex_destroy(&j->lock);
    free(j);
    return -1;
}

void journal_close(struct journal *j)
{
    if (j == NULL)
        return;
    if (j->fd >= 0)
        close(j->fd);
    pthread_mutex_destroy(&j->lock);
    free(j);
}
