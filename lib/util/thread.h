/* SPDX-License-Identifier: Apache-2.0 */
/* Threads the library starts for itself. */
#ifndef SOCI_UTIL_THREAD_H
#define SOCI_UTIL_THREAD_H

#include <pthread.h>

/* pthread_create, with every signal blocked in the new thread: an application's signal
 * handlers must run on its own threads, never on one it does not know of. Returns 0 or
 * pthread_create's error. */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);

/* A thread's fetch class, like an I/O priority: a thread that fills caches ahead of need
 * (background fetching) marks itself so; the HTTP client keeps some of each host's
 * connections for the others, whose readers are waiting, and the thread's CPU priority
 * is lowered (its nice value raised). Unmarked threads are demand. */
void thread_set_background(int background);
int thread_is_background(void);

#endif
