/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "util/oci_json.h"
#include "util/digest.h"
#include "util/error.h"

const char *oci_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A map[string]string, keys sorted (Go sorts map keys); left out when empty. */
static void write_string_map(struct jw *w, const char *name, const json_t *m)
{
    size_t n = json_object_size(m), i = 0;
    const char *key;
    json_t *value;
    if (!json_is_object(m) || n == 0)
        return;
    const char **keys = malloc(n * sizeof(*keys));
    if (keys == NULL) {
        w->error = soci_fail_nomem("annotations");
        return;
    }
    json_object_foreach((json_t *)(uintptr_t)m, key, value) keys[i++] = key;
    qsort(keys, n, sizeof(*keys), cmp_keys);
    jw_key(w, name);
    jw_obj_begin(w);
    for (i = 0; i < n; i++) {
        jw_key(w, keys[i]);
        jw_str(w, oci_str(m, keys[i]));
    }
    jw_obj_end(w);
    free(keys);
}

static void write_opt_str(struct jw *w, const json_t *o, const char *key)
{
    const char *s = oci_str(o, key);
    if (s[0]) {
        jw_key(w, key);
        jw_str(w, s);
    }
}

static void write_str_array(struct jw *w, const json_t *o, const char *key)
{
    const json_t *a = json_object_get(o, key);
    size_t i;
    json_t *v;
    if (!json_is_array(a) || json_array_size(a) == 0)
        return;
    jw_key(w, key);
    jw_arr_begin(w);
    json_array_foreach((json_t *)(uintptr_t)a, i, v) jw_str(w, json_string_value(v) ? json_string_value(v) : "");
    jw_arr_end(w);
}

static void write_platform(struct jw *w, const json_t *p)
{
    jw_obj_begin(w);
    jw_key(w, "architecture");
    jw_str(w, oci_str(p, "architecture"));
    jw_key(w, "os");
    jw_str(w, oci_str(p, "os"));
    write_opt_str(w, p, "os.version");
    write_str_array(w, p, "os.features");
    write_opt_str(w, p, "variant");
    jw_obj_end(w);
}

void oci_write_descriptor(struct jw *w, const json_t *d)
{
    jw_obj_begin(w);
    jw_key(w, "mediaType");
    jw_str(w, oci_str(d, "mediaType"));
    jw_key(w, "digest");
    jw_str(w, oci_str(d, "digest"));
    jw_key(w, "size");
    jw_i64(w, json_integer_value(json_object_get(d, "size")));
    write_str_array(w, d, "urls");
    write_string_map(w, "annotations", json_object_get(d, "annotations"));
    write_opt_str(w, d, "data");
    if (json_is_object(json_object_get(d, "platform"))) {
        jw_key(w, "platform");
        write_platform(w, json_object_get(d, "platform"));
    }
    write_opt_str(w, d, "artifactType");
    jw_obj_end(w);
}

static void write_descriptor_list(struct jw *w, const char *name, const json_t *list)
{
    size_t i;
    json_t *d;
    jw_key(w, name);
    jw_arr_begin(w);
    if (json_is_array(list))
        json_array_foreach((json_t *)(uintptr_t)list, i, d) oci_write_descriptor(w, d);
    jw_arr_end(w);
}

static void write_head(struct jw *w, const json_t *o)
{
    jw_obj_begin(w);
    jw_key(w, "schemaVersion");
    jw_i64(w, json_integer_value(json_object_get(o, "schemaVersion")));
    write_opt_str(w, o, "mediaType");
    write_opt_str(w, o, "artifactType");
}

static void write_tail(struct jw *w, const json_t *o)
{
    if (json_is_object(json_object_get(o, "subject"))) {
        jw_key(w, "subject");
        oci_write_descriptor(w, json_object_get(o, "subject"));
    }
    write_string_map(w, "annotations", json_object_get(o, "annotations"));
    jw_obj_end(w);
}

void oci_write_manifest(struct jw *w, const json_t *m)
{
    write_head(w, m);
    jw_key(w, "config");
    oci_write_descriptor(w, json_object_get(m, "config"));
    write_descriptor_list(w, "layers", json_object_get(m, "layers"));
    write_tail(w, m);
}

void oci_write_index(struct jw *w, const json_t *ix)
{
    write_head(w, ix);
    write_descriptor_list(w, "manifests", json_object_get(ix, "manifests"));
    write_tail(w, ix);
}

int oci_parse_object(const void *text, size_t len, const char *what, json_t **ret)
{
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL)
        return soci_fail(SOCI_EFORMAT, "%s: invalid JSON at line %d: %s", what, err.line, err.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return soci_fail(SOCI_EFORMAT, "%s: not a JSON object", what);
    }
    *ret = j;
    return 0;
}

int oci_check_descriptor(const json_t *d, const char *what)
{
    uint8_t digest[SHA256_LEN];
    const char *dg = oci_str(d, "digest");
    json_t *size = json_object_get(d, "size");
    if (!json_is_object(d) || oci_str(d, "mediaType")[0] == '\0')
        return soci_fail(SOCI_EFORMAT, "%s: descriptor without a media type", what);
    if (!digest_parse(dg, strlen(dg), digest))
        return soci_fail(SOCI_EFORMAT, "%s: digest \"%.80s\" is not sha256:<hex>", what, dg);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return soci_fail(SOCI_EFORMAT, "%s: descriptor %s has no valid size", what, dg);
    return 0;
}
