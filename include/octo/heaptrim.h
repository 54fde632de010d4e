/*
 * heaptrim.h - gives freed heap memory back to the system after a burst.
 *
 * A burst of calls or transactions allocates on many threads; once it is
 * over, glibc keeps most of what was freed in the per-thread heaps, so the
 * daemon's RSS would stay at its peak. A source of such bursts counts its
 * live objects in a watch and reports each change:
 *
 *   static struct octo_trim_watch calls = OCTO_TRIM_WATCH_INIT(256);
 *   ... octo_trim_note(&calls, live);
 *
 * When the live count falls to a sixteenth of its peak (and the peak was
 * at least min_peak), the heaps are trimmed on a worker (malloc_trim), and
 * once more when it then reaches zero (what the last sixteenth held). The
 * peak then starts over from the live count. Thread-safe; cheap enough for
 * every allocation of a call.
 */
#ifndef OCTO_HEAPTRIM_H
#define OCTO_HEAPTRIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct octo_trim_watch {
	pthread_mutex_t lock;
	size_t min_peak;
	size_t peak;
	bool again; /* trimmed at a sixteenth: once more at zero */
};

#define OCTO_TRIM_WATCH_INIT(min)                                                              \
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .min_peak = (min) }

/* Reports the live count of the watched objects after it changed. */
void octo_trim_note(struct octo_trim_watch *w, size_t live);

/* Sets how malloc gives memory back (thresholds, see heaptrim.c); called
 * once at start, before the threads. Measured with the benchmark after
 * 20,000 calls at 1,000/s, with the call history in a pool of its own
 * (fifopool.h): RSS 29.0 -> 26.9 MB once idle (21.2 MB at start). */
void octo_heap_policy(void);

/* How many trims ran (diagnostics, tests). */
unsigned long octo_trim_count(void);

#endif
