/* SPDX-License-Identifier: Apache-2.0 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/zstd_pool.h"

struct zstd_pool {
    pthread_mutex_t lock;
    ZSTD_DCtx *idle[ZSTD_POOL_MAX];
    unsigned nidle;
};

struct zstd_pool *zstd_pool_new(void)
{
    struct zstd_pool *p = calloc(1, sizeof(*p));
    if (p != NULL && pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        p = NULL;
    }
    return p;
}

void zstd_pool_free(struct zstd_pool *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->nidle; i++)
        ZSTD_freeDCtx(p->idle[i]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

ZSTD_DCtx *zstd_pool_take(struct zstd_pool *p, int window_log_max)
{
    ZSTD_DCtx *d = NULL;
    if (p != NULL) {
        pthread_mutex_lock(&p->lock);
        if (p->nidle > 0)
            d = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->lock);
    }
    if (d == NULL && (d = ZSTD_createDCtx()) == NULL)
        return NULL;
    /* Set on every take: a parameter is kept across session resets, but the bound is the
     * caller's to choose. */
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, window_log_max);
    return d;
}

void zstd_pool_give_back(struct zstd_pool *p, ZSTD_DCtx *d)
{
    if (d == NULL)
        return;
    ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
    bool kept = false;
    if (p != NULL) {
        pthread_mutex_lock(&p->lock);
        if ((kept = p->nidle < ZSTD_POOL_MAX))
            p->idle[p->nidle++] = d;
        pthread_mutex_unlock(&p->lock);
    }
    if (!kept)
        ZSTD_freeDCtx(d);
}
