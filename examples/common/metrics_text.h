/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus' text exposition format, one metric at a time (the daemons' GET /metrics). */
#ifndef SOCI_EXAMPLES_METRICS_TEXT_H
#define SOCI_EXAMPLES_METRICS_TEXT_H

#include <stdint.h>
#include <stdio.h>

/* The metric's HELP and TYPE ("counter" or "gauge") lines, then its one sample. */
void metrics_text_int(FILE *f, const char *name, const char *type, const char *help, uint64_t value);

/* A counter of seconds (Prometheus' unit of time), with its fraction. */
void metrics_text_seconds(FILE *f, const char *name, const char *help, double seconds);

#endif
