/* SPDX-License-Identifier: Apache-2.0 */
/* OCI manifests and image indexes as the image code reads them: the object itself, then
 * every descriptor in "manifests" and "layers" (and "config", "subject") checked. */
#include <jansson.h>

#include "util/oci_json.h"

#include "fuzz.h"

static void descriptors(const json_t *arr)
{
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d) {
        if (oci_check_descriptor(d, "fuzz") == 0) {
            (void)oci_str(d, "digest");
            (void)oci_str(json_object_get(d, "platform"), "architecture");
            (void)oci_str(json_object_get(d, "annotations"), "com.amazon.soci.index-digest");
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *obj;
    if (oci_parse_object(data, size, "fuzz", &obj) < 0)
        return 0;
    descriptors(json_object_get(obj, "manifests"));
    descriptors(json_object_get(obj, "layers"));
    (void)oci_check_descriptor(json_object_get(obj, "config"), "config");
    (void)oci_check_descriptor(json_object_get(obj, "subject"), "subject");
    json_decref(obj);
    return 0;
}
