/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A chunk TOC (eStargz's stargz.index.json, zstd:chunked's manifest) as an in-memory
 * zTOC. The TOC's JSON is trusted only as far as its digest goes: the layer's bytes are
 * still checked chunk by chunk, and everything here is bounded so a hostile TOC fails
 * cleanly.
 *
 * Schema (CRFS): an entries array in tar order; a regular file's entry may carry its
 * first chunk (offset, innerOffset, chunkOffset = 0, chunkSize, chunkDigest or, for a
 * one-chunk file, digest) and is followed by "chunk" entries for the rest. A chunk's
 * compressed bytes run from its offset to the next chunk's offset, or for a file's last
 * chunk to its endOffset (zstd:chunked) or the next data offset in the layer (eStargz,
 * where the member also holds the next tar header).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "format/chunk_toc.h"
#include "format/ztoc_internal.h"
#include "format/ztoc_write.h"
#include "util/digest.h"
#include "util/error.h"
#include "util/search.h"

#define MAX_ENTRIES (1u << 22)
#define MAX_XATTRS 1024 /* per entry */
#define MAX_OWNERS 64   /* remembered uid/gid names (eStargz writes each name once) */
#define XATTR_PREFIX "SCHILY.xattr."

struct owner_names {
    json_int_t id[MAX_OWNERS];
    const char *name[MAX_OWNERS];
    unsigned n;
};

struct conv {
    const struct chunk_toc_layer *layer;
    uint64_t *offsets; /* distinct data offsets, sorted */
    size_t noffsets;
    struct ztoc_write_entry *entries;
    uint32_t nentries;
    void **blocks; /* per entry: its xattrs, freed at the end */
    struct ztoc_chunk *chunks;
    const char **digests;
    uint32_t nchunks, chunk_cap;
    uint64_t out; /* the next chunk's offset in the uncompressed space */
    struct owner_names unames, gnames;
};

/* An integer member: 0 when absent, SOCI_EFORMAT when not a non-negative integer. */
static int get_u64(const json_t *o, const char *key, uint32_t entry, uint64_t *ret)
{
    const json_t *v = json_object_get(o, key);
    *ret = 0;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return soci_fail(SOCI_EFORMAT, "TOC entry %u: \"%s\" is not a non-negative integer", entry, key);
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

static const char *get_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* Fill in a name the TOC gave only on the first entry with that id. */
static const char *owner_name(struct owner_names *names, json_int_t id, const char *given)
{
    for (unsigned i = 0; i < names->n; i++) {
        if (names->id[i] == id) {
            if (given[0])
                names->name[i] = given;
            return names->name[i];
        }
    }
    if (given[0] && names->n < MAX_OWNERS) {
        names->id[names->n] = id;
        names->name[names->n++] = given;
    }
    return given;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_xattr(const void *a, const void *b)
{
    const struct ztoc_write_xattr *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

static bool is_data(const json_t *e)
{
    const char *type = get_str(e, "type");
    return strcmp(type, "chunk") == 0 ||
           (strcmp(type, "reg") == 0 && json_integer_value(json_object_get(e, "size")) > 0);
}

/* The sorted distinct offsets where data chunks start: a chunk without an end of its
 * own ends at the next one. */
static int collect_offsets(struct conv *c, const json_t *entries)
{
    size_t i, n = json_array_size(entries);
    json_t *e;
    c->offsets = malloc((n ? n : 1) * sizeof(*c->offsets));
    if (c->offsets == NULL)
        return soci_fail_nomem("TOC offsets");
    json_array_foreach(entries, i, e) {
        json_int_t off = json_integer_value(json_object_get(e, "offset"));
        if (is_data(e) && off > 0)
            c->offsets[c->noffsets++] = (uint64_t)off;
    }
    qsort(c->offsets, c->noffsets, sizeof(*c->offsets), cmp_u64);
    return 0;
}

static uint64_t next_offset(const struct conv *c, uint64_t off)
{
    size_t next = upper_bound_u64(c->offsets, c->noffsets, off);
    return next < c->noffsets ? c->offsets[next] : c->layer->payload_end;
}

/* base64 as Go encodes []byte (std alphabet, padded); *len gets the exact length. */
static bool base64_decode(const char *s, uint8_t *out, size_t *len)
{
    size_t n = strlen(s);
    if (n % 4 != 0 || n > INT32_MAX)
        return false;
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (got < 0)
        return false;
    size_t pad = n >= 2 && s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    *len = (size_t)got - pad; /* EVP_DecodeBlock counts padding as output bytes */
    return true;
}

/* Entry i's xattrs: the zTOC keeps raw PAX records, so "SCHILY.xattr.<name>". */
static int convert_xattrs(struct conv *c, json_t *xattrs, uint32_t i, struct ztoc_write_entry *we)
{
    const char *key;
    json_t *v;
    size_t n = json_object_size(xattrs), bytes = 0;
    if (n == 0)
        return 0;
    if (!json_is_object(xattrs) || n > MAX_XATTRS)
        return soci_fail(SOCI_EFORMAT, "TOC entry %u: bad xattrs", i);
    json_object_foreach(xattrs, key, v) {
        if (!json_is_string(v))
            return soci_fail(SOCI_EFORMAT, "TOC entry %u: xattr \"%.60s\" is not base64 text", i, key);
        bytes += sizeof(XATTR_PREFIX) + strlen(key) + json_string_length(v) + 3;
    }
    uint8_t *block = malloc(n * sizeof(struct ztoc_write_xattr) + bytes);
    if (block == NULL)
        return soci_fail_nomem("TOC xattrs");
    c->blocks[i] = block;
    struct ztoc_write_xattr *xs = (struct ztoc_write_xattr *)(void *)block;
    uint8_t *p = block + n * sizeof(*xs);
    size_t k = 0;
    json_object_foreach(xattrs, key, v) {
        size_t klen = sizeof(XATTR_PREFIX) - 1 + strlen(key);
        memcpy(p, XATTR_PREFIX, sizeof(XATTR_PREFIX) - 1);
        memcpy(p + sizeof(XATTR_PREFIX) - 1, key, strlen(key));
        xs[k].key = (const char *)p;
        xs[k].key_len = klen;
        p += klen;
        if (!base64_decode(json_string_value(v), p, &xs[k].value_len))
            return soci_fail(SOCI_EFORMAT, "TOC entry %u: xattr \"%.60s\" is not base64", i, key);
        xs[k].value = p;
        p += xs[k].value_len + 1;
        k++;
    }
    qsort(xs, n, sizeof(*xs), cmp_xattr);
    we->xattrs = xs;
    we->xattr_count = (uint32_t)n;
    return 0;
}

/* One chunk of the file in entry e (fields as the TOC has them), appended as a span.
 * end_of_file: where the file's frames end, or 0 when the TOC does not say; whole: the
 * chunk is the whole file. */
static int add_chunk(struct conv *c, const json_t *e, uint32_t i, uint64_t size, uint64_t end_of_file, bool last,
                     bool whole)
{
    uint64_t off, skip;
    int r;
    if ((r = get_u64(e, "offset", i, &off)) < 0 || (r = get_u64(e, "innerOffset", i, &skip)) < 0)
        return r;
    const char *digest = get_str(e, "chunkDigest");
    if (digest[0] == '\0' && whole)
        digest = get_str(e, "digest"); /* zstd:chunked: a one-chunk file's digest is the chunk's */
    uint8_t raw[SHA256_LEN];
    if (!digest_parse(digest, strlen(digest), raw))
        return soci_fail(SOCI_EFORMAT, "TOC entry %u: chunk without a sha256 digest (\"%.80s\")", i, digest);
    uint64_t comp_end = last && end_of_file > off ? end_of_file : next_offset(c, off);
    if (off == 0 || off >= c->layer->payload_end || comp_end > c->layer->payload_end)
        return soci_fail(SOCI_EFORMAT, "TOC entry %u: chunk at %llu outside the layer's %llu bytes of data", i,
                         (unsigned long long)off, (unsigned long long)c->layer->payload_end);
    if (comp_end - off > ZTOC_SPAN_MAX || skip > ZTOC_SPAN_MAX || size > ZTOC_SPAN_MAX)
        return soci_fail(SOCI_ETOOBIG, "TOC entry %u: chunk of %llu bytes at %llu+%llu is too large", i,
                         (unsigned long long)size, (unsigned long long)off, (unsigned long long)skip);
    if (c->nchunks > 0) {
        /* Reads fetch runs of consecutive spans as one range: they must move forward. */
        const struct ztoc_chunk *prev = &c->chunks[c->nchunks - 1];
        if (off < prev->comp_off || comp_end < prev->comp_end)
            return soci_fail(SOCI_EFORMAT, "TOC entry %u: chunk at %llu comes before the one listed ahead of it",
                             i, (unsigned long long)off);
    }
    if (c->nchunks == c->chunk_cap) {
        uint32_t cap = c->chunk_cap ? c->chunk_cap * 2 : 256;
        struct ztoc_chunk *nc = realloc(c->chunks, cap * sizeof(*nc));
        if (nc)
            c->chunks = nc;
        const char **nd = realloc(c->digests, cap * sizeof(*nd));
        if (nd)
            c->digests = nd;
        if (nc == NULL || nd == NULL)
            return soci_fail_nomem("TOC chunks");
        c->chunk_cap = cap;
    }
    c->chunks[c->nchunks] = (struct ztoc_chunk){off, comp_end, skip, c->out};
    c->digests[c->nchunks++] = digest;
    c->out += size;
    return 0;
}

/* A regular file's chunks: its own entry's, then the "chunk" entries after it (at
 * entries[*next...]), which must tile [0, size) in order. */
static int convert_file(struct conv *c, const json_t *entries, size_t *next, const json_t *e, uint32_t i,
                        uint64_t size)
{
    uint64_t chunk_off, chunk_size, end_of_file;
    int r;
    if ((r = get_u64(e, "endOffset", i, &end_of_file)) < 0)
        return r;
    uint64_t covered = 0;
    const json_t *cur = e;
    uint32_t ci = i;
    for (;;) {
        if ((r = get_u64(cur, "chunkOffset", ci, &chunk_off)) < 0 ||
            (r = get_u64(cur, "chunkSize", ci, &chunk_size)) < 0)
            return r;
        if (chunk_off != covered || chunk_off >= size)
            return soci_fail(SOCI_EFORMAT, "TOC entry %u: chunk at file offset %llu, expected %llu", ci,
                             (unsigned long long)chunk_off, (unsigned long long)covered);
        if (chunk_size == 0 || chunk_size > size - chunk_off)
            chunk_size = size - chunk_off; /* eStargz: 0 means to the end of the file */
        const json_t *after = json_array_get(entries, *next);
        bool more = after && strcmp(get_str(after, "type"), "chunk") == 0 && chunk_off + chunk_size < size;
        if ((r = add_chunk(c, cur, ci, chunk_size, end_of_file, !more, chunk_size == size)) < 0)
            return r;
        covered += chunk_size;
        if (!more)
            break;
        cur = after;
        ci = (uint32_t)(*next)++;
    }
    if (covered != size)
        return soci_fail(SOCI_EFORMAT, "TOC entry %u: chunks cover %llu of the file's %llu bytes", i,
                         (unsigned long long)covered, (unsigned long long)size);
    return 0;
}

static int convert_entry(struct conv *c, const json_t *entries, size_t *next)
{
    uint32_t i = (uint32_t)*next;
    const json_t *e = json_array_get(entries, (*next)++);
    uint64_t size, mode, uid, gid, major, minor;
    int r;
    if (!json_is_object(e))
        return soci_fail(SOCI_EFORMAT, "TOC entry %u is not an object", i);
    const char *type = get_str(e, "type");
    if (strcmp(type, "chunk") == 0)
        return soci_fail(SOCI_EFORMAT, "TOC entry %u: a chunk that follows no regular file", i);
    if ((r = get_u64(e, "size", i, &size)) < 0 || (r = get_u64(e, "mode", i, &mode)) < 0 ||
        (r = get_u64(e, "uid", i, &uid)) < 0 || (r = get_u64(e, "gid", i, &gid)) < 0 ||
        (r = get_u64(e, "devMajor", i, &major)) < 0 || (r = get_u64(e, "devMinor", i, &minor)) < 0)
        return r;
    if (uid > UINT32_MAX || gid > UINT32_MAX || major > INT32_MAX || minor > INT32_MAX)
        return soci_fail(SOCI_EFORMAT, "TOC entry %u: owner or device number out of range", i);
    bool reg = strcmp(type, "reg") == 0;
    struct ztoc_write_entry *we = &c->entries[c->nentries++];
    *we = (struct ztoc_write_entry){
        .name = get_str(e, "name"),
        .type = type, /* checked by the zTOC reader, as are names and times */
        .linkname = get_str(e, "linkName"),
        .uname = owner_name(&c->unames, (json_int_t)uid, get_str(e, "userName")),
        .gname = owner_name(&c->gnames, (json_int_t)gid, get_str(e, "groupName")),
        .mod_time = get_str(e, "modtime"),
        .offset = (int64_t)c->out,
        .size = reg ? (int64_t)size : 0,
        .mode = (int64_t)(mode & 07777), /* tar modes may carry type bits */
        .devmajor = (int64_t)major,
        .devminor = (int64_t)minor,
        .uid = (uint32_t)uid,
        .gid = (uint32_t)gid,
    };
    if (reg && size > ZTOC_SPAN_MAX * 1024)
        return soci_fail(SOCI_ETOOBIG, "TOC entry %u: a %llu-byte file", i, (unsigned long long)size);
    if ((r = convert_xattrs(c, json_object_get(e, "xattrs"), c->nentries - 1, we)) < 0)
        return r;
    return reg && size > 0 ? convert_file(c, entries, next, e, i, size) : 0;
}

int chunk_toc_parse(const void *text, size_t len, const struct chunk_toc_layer *layer, soci_ztoc **ret)
{
    struct conv c = {.layer = layer};
    json_error_t jerr;
    uint8_t *bytes = NULL;
    size_t nbytes;
    int r = 0;

    if (len > CHUNK_TOC_MAX_SIZE)
        return soci_fail(SOCI_ETOOBIG, "TOC: %zu bytes of JSON", len);
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (root == NULL)
        return soci_fail(SOCI_EFORMAT, "TOC: not JSON (%s, line %d)", jerr.text, jerr.line);
    const json_t *entries = json_object_get(root, "entries");
    size_t n = json_array_size(entries);
    if (json_integer_value(json_object_get(root, "version")) != 1 || !json_is_array(entries)) {
        r = soci_fail(SOCI_EFORMAT, "TOC: not a version 1 table of contents with entries");
        goto out;
    }
    if (n > MAX_ENTRIES) {
        r = soci_fail(SOCI_ETOOBIG, "TOC: %zu entries", n);
        goto out;
    }
    c.entries = calloc(n ? n : 1, sizeof(*c.entries));
    c.blocks = calloc(n ? n : 1, sizeof(*c.blocks));
    if (c.entries == NULL || c.blocks == NULL) {
        r = soci_fail_nomem("TOC entries");
        goto out;
    }
    if ((r = collect_offsets(&c, entries)) < 0)
        goto out;
    for (size_t next = 0; next < n && r == 0;)
        r = convert_entry(&c, entries, &next);
    if (r < 0)
        goto out;

    struct ztoc_write w = {
        .version = "0.9",
        .build_tool = layer->build_tool,
        .compressed_size = (int64_t)layer->blob_size,
        .uncompressed_size = (int64_t)c.out,
        .compression = layer->compression,
        .span_count = c.nchunks,
        .span_digests = c.digests,
        .entries = c.entries,
        .entry_count = c.nentries,
        .chunked = true,
    };
    if ((r = ztoc_write(&w, &bytes, &nbytes)) < 0)
        goto out;
    r = ztoc_open_chunked(bytes, nbytes, c.chunks, c.nchunks, ret);
    c.chunks = NULL; /* ztoc_open_chunked took it */
out:
    if (r < 0)
        r = soci_fail_prefix(r, "%s", layer->build_tool);
    for (size_t i = 0; c.blocks && i < n; i++)
        free(c.blocks[i]);
    free(c.blocks);
    free(c.entries);
    free(c.offsets);
    free(c.chunks);
    free(c.digests);
    json_decref(root);
    return r;
}
