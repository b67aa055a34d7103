/* SPDX-License-Identifier: Apache-2.0 */
#include <inttypes.h>

#include "metrics_text.h"

void metrics_text_int(FILE *f, const char *name, const char *type, const char *help, uint64_t value)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, value);
}

void metrics_text_seconds(FILE *f, const char *name, const char *help, double seconds)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %.6f\n", name, help, name, name, seconds);
}
