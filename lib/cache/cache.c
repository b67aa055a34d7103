/* SPDX-License-Identifier: Apache-2.0 */
/* soci_cache: the memory LRU and the optional disk store behind one counted handle. */
#include <stdlib.h>

#include <soci/layer.h>

#include "cache/cache_internal.h"
#include "util/clock.h"
#include "util/config_internal.h"
#include "util/error.h"

int soci_cache_new(const soci_config *cfg_in, soci_cache **ret)
{
    const struct soci_config *cfg = cfg_in ? cfg_in : &soci_config_defaults;
    int r;
    if (ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_cache_new: ret is NULL");
    struct soci_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return soci_fail_nomem("cache");
    atomic_init(&c->refs, 1);
    if ((r = cache_mem_new(cfg->cache_memory, &c->mem)) < 0 ||
        (r = cache_buffers_new(cfg->cache_memory, &c->buffers)) < 0 ||
        (cfg->cache_dir && (r = cache_disk_open(c, cfg->cache_dir, cfg->cache_disk, &c->disk)) < 0)) {
        soci_cache_unref(c);
        return r;
    }
    *ret = c;
    return 0;
}

soci_cache *soci_cache_ref(soci_cache *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void soci_cache_unref(soci_cache *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    cache_mem_free(c->mem);
    cache_disk_close(c->disk);
    cache_buffers_free(c->buffers); /* last: the parts above give theirs back */
    free(c);
}

void cache_read_begin(soci_cache *c)
{
    atomic_fetch_add(&c->reads_in_flight, 1);
}

void cache_read_end(soci_cache *c, bool handed_over)
{
    uint64_t now = clock_now_ns();
    atomic_store(&c->last_read_end_ns, now);
    if (handed_over)
        atomic_store(&c->last_handover_ns, now);
    atomic_fetch_sub(&c->reads_in_flight, 1);
}

bool cache_reads_quiet(soci_cache *c, uint64_t quiet_ns, uint64_t handover_quiet_ns)
{
    uint64_t now = clock_now_ns();
    return atomic_load(&c->reads_in_flight) == 0 && now - atomic_load(&c->last_read_end_ns) >= quiet_ns &&
           now - atomic_load(&c->last_handover_ns) >= handover_quiet_ns;
}

bool cache_reads_seen(soci_cache *c)
{
    return atomic_load(&c->reads_in_flight) > 0 || atomic_load(&c->last_read_end_ns) != 0;
}

void cache_ahead_join(soci_cache *c, int delta)
{
    atomic_fetch_add(&c->ahead_plans, delta);
}

uint64_t cache_ahead_budget(const soci_cache *c)
{
    int n = atomic_load(&c->ahead_plans);
    return cache_mem_limit(c) / 2 / (uint64_t)(n > 1 ? n : 1);
}

uint64_t cache_new_layer_id(soci_cache *c)
{
    return atomic_fetch_add(&c->next_layer_id, 1);
}

int soci_cache_counter(const soci_cache *c, int which, uint64_t *ret)
{
    if (c == NULL || ret == NULL)
        return soci_fail(SOCI_EINVAL, "soci_cache_counter: bad arguments");
    const atomic_uint_fast64_t *v;
    switch (which) {
    case SOCI_COUNTER_BYTES_FETCHED: v = &c->bytes_fetched; break;
    case SOCI_COUNTER_CACHE_HITS: v = &c->hits; break;
    case SOCI_COUNTER_CACHE_DISK_HITS: v = &c->disk_hits; break;
    case SOCI_COUNTER_CACHE_MISSES: v = &c->misses; break;
    case SOCI_COUNTER_BYTES_SERVED: v = &c->bytes_served; break;
    case SOCI_COUNTER_EVICTIONS: v = &c->evictions; break;
    case SOCI_COUNTER_DISK_EVICTIONS: v = &c->disk_evictions; break;
    case SOCI_COUNTER_DISK_CORRUPT: v = &c->disk_corrupt; break;
    default: return soci_fail(SOCI_EINVAL, "soci_cache_counter: unknown counter %d", which);
    }
    *ret = atomic_load(v);
    return 0;
}
