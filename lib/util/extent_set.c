/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/extent_set.h"

void extent_set_init(struct extent_set *s, size_t max)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->max = max < 2 ? 2 : max;
}

void extent_set_destroy(struct extent_set *s)
{
    free(s->v);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof(*s));
}

/* The first range whose end is at or past start: the first that [start, ...) may touch. */
static size_t first_touching(const struct extent_set *s, uint64_t start)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].end < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Merge the two neighbours with the smallest gap between them (n >= 2). */
static void merge_closest(struct extent_set *s)
{
    size_t best = 0;
    for (size_t k = 1; k + 1 < s->n; k++)
        if (s->v[k + 1].start - s->v[k].end < s->v[best + 1].start - s->v[best].end)
            best = k;
    s->v[best].end = s->v[best + 1].end;
    memmove(&s->v[best + 1], &s->v[best + 2], (s->n - best - 2) * sizeof(*s->v));
    s->n--;
}

static int add_locked(struct extent_set *s, uint64_t start, uint64_t end)
{
    size_t k = first_touching(s, start), j = k;
    while (j < s->n && s->v[j].start <= end) /* overlapping or touching: merged */
        j++;
    if (j > k) {
        struct extent m = {start < s->v[k].start ? start : s->v[k].start, end > s->v[j - 1].end ? end : s->v[j - 1].end};
        s->v[k] = m;
        memmove(&s->v[k + 1], &s->v[j], (s->n - j) * sizeof(*s->v));
        s->n -= j - k - 1;
        return 0;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        cap = cap > s->max ? s->max : cap;
        if (cap > s->cap) {
            void *p = realloc(s->v, cap * sizeof(*s->v));
            if (p == NULL)
                return soci_fail_nomem("read extents");
            s->v = p;
            s->cap = cap;
        }
    }
    memmove(&s->v[k + 1], &s->v[k], (s->n - k) * sizeof(*s->v));
    s->v[k] = (struct extent){start, end};
    s->n++;
    if (s->n == s->max) /* keep one slot free: the next range always fits */
        merge_closest(s);
    return 0;
}

int extent_set_add(struct extent_set *s, uint64_t start, uint64_t end)
{
    if (start >= end)
        return 0;
    pthread_mutex_lock(&s->lock);
    int r = add_locked(s, start, end);
    pthread_mutex_unlock(&s->lock);
    return r;
}

int extent_set_copy(struct extent_set *s, struct extent **ret, size_t *n)
{
    pthread_mutex_lock(&s->lock);
    *ret = NULL;
    *n = 0;
    int r = 0;
    if (s->n > 0) {
        if ((*ret = malloc(s->n * sizeof(**ret))) == NULL) {
            r = soci_fail_nomem("read extents");
        } else {
            memcpy(*ret, s->v, s->n * sizeof(**ret));
            *n = s->n;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}
