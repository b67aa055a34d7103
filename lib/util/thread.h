/* SPDX-License-Identifier: Apache-2.0 */
/* Threads the library starts for itself. */
#ifndef SOCI_UTIL_THREAD_H
#define SOCI_UTIL_THREAD_H

#include <pthread.h>

/* pthread_create, with every signal blocked in the new thread: an application's signal
 * handlers must run on its own threads, never on one it does not know of. Returns 0 or
 * pthread_create's error. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
