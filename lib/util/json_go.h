/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing JSON exactly as Go's encoding/json.Marshal does: compact, keys in the order the
 * caller writes them (struct order; callers sort map keys), strings escaped as Go escapes
 * them ("<", ">", "&", U+2028 and U+2029 as \u escapes, invalid UTF-8 as U+FFFD). The
 * reference re-encodes SOCI index manifests this way and keeps the original digest, so an
 * index we write must be byte-identical to Go's encoding of the same content.
 */
#ifndef SOCI_UTIL_JSON_GO_H
#define SOCI_UTIL_JSON_GO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jw {
    char *buf;
    size_t len, cap;
    bool need_comma;
    int error;
};

void jw_init(struct jw *w);
void jw_free(struct jw *w);

void jw_obj_begin(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_str(struct jw *w, const char *s);
void jw_u64(struct jw *w, uint64_t v);
void jw_i64(struct jw *w, int64_t v);

/* Hand over the text (NUL-terminated, not counted in *len); 0 or the first error. */
int jw_finish(struct jw *w, char **ret, size_t *len);

#endif
