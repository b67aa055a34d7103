/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The answer to a request for several ranges, as a server streams it: the input's first
 * line is the Content-Type (multipart/byteranges; boundary=...) or, when it starts with
 * "bytes", the Content-Range of a single part; the rest is the body. It is placed into
 * four pieces of a notional blob twice, once whole and once in pieces of a size the
 * first byte picks: how the network cuts a body must change nothing (the same outcome,
 * the same pieces counted in, the same bytes in them).
 */
#include "remote/byteranges.h"

#include "fuzz.h"

#define PIECES 4

struct placed {
    uint8_t bufs[PIECES][64];
    bool done[PIECES];
    int r;
};

static const uint64_t piece_off[PIECES] = {0, 100, 1000, 1100};
static const size_t piece_len[PIECES] = {10, 64, 1, 50};

static void place(const char *head, const uint8_t *body, size_t size, size_t chunk, struct placed *out)
{
    struct soci_iov_at pieces[PIECES];
    struct byteranges p;
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < PIECES; i++)
        pieces[i] = (struct soci_iov_at){out->bufs[i], piece_len[i], piece_off[i]};
    bool single = strncmp(head, "bytes", 5) == 0;
    if (!(single ? byteranges_begin_single(&p, head, pieces, PIECES, out->done)
                 : byteranges_begin_multipart(&p, head, pieces, PIECES, out->done))) {
        out->r = -2;
        return;
    }
    for (size_t at = 0; at < size && out->r == 0; at += chunk)
        out->r = byteranges_feed(&p, (const char *)body + at, size - at < chunk ? size - at : chunk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] % 17 + 1;
    fuzz_take(&data, &size, 1);
    const uint8_t *nl = memchr(data, '\n', size);
    size_t head_len = nl ? (size_t)(nl - data) : size;
    char *head = fuzz_string(fuzz_take(&data, &size, head_len), head_len);
    fuzz_take(&data, &size, 1);
    static struct placed whole, cut;
    place(head, data, size, size ? size : 1, &whole);
    place(head, data, size, chunk, &cut);
    free(head);
    /* Fed at once, a body that fails fails in the same feed; one that ends, ends. */
    if (whole.r != cut.r || memcmp(whole.done, cut.done, sizeof(whole.done)) != 0)
        abort();
    for (int i = 0; i < PIECES; i++)
        if (whole.done[i] && memcmp(whole.bufs[i], cut.bufs[i], piece_len[i]) != 0)
            abort();
    return 0;
}
