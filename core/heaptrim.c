/*
 * heaptrim.c - malloc_trim after a burst of calls or transactions is over
 * (see octo/heaptrim.h). Measured with the benchmark (contrib/bench): after
 * 400 concurrent calls with media the daemon stayed 20 MB over its start,
 * 10 MB with a trim; after 6,000 calls at 1,000/s, 5 times its start.
 */
#include <stdatomic.h>
#include <stdlib.h> /* defines __GLIBC__ with glibc */
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "octo/heaptrim.h"
#include "octo/sched.h"

static atomic_ulong trim_count;

void octo_heap_policy(void)
{
#ifdef __GLIBC__
	/* A fixed trim threshold: glibc raises it to twice the largest mapped
	 * block freed so far (a hash table's buckets in a burst: megabytes),
	 * and then the free top of a thread's heap arena never went back. */
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	/* What a trimmed arena keeps on top of its last block: half the
	 * default (128 KB, times 16 arenas, stayed in memory after a burst;
	 * none at all would give back pages that the next calls take again). */
	mallopt(M_TOP_PAD, 64 * 1024);
	/* No fast bins. Call threads park between calls (threadstack.c) and
	 * end together 10 s after a burst; their malloc caches then go back
	 * to their arenas as small blocks. In fast bins those were never
	 * merged into the arena's top until malloc_trim(), which does not
	 * trim the top of a thread's arena: 1.2 MB stayed in memory per arena
	 * (RSS 33 MB after 20,000 calls at 1,000/s against 26 MB). Merged at
	 * once, the top grows past the trim threshold and is given back. The
	 * cost in the SIP loop could not be told from the benchmark's noise
	 * (94.9 % of a core at 1,000 calls/s, 86.7-103 % with fast bins; at
	 * 1,200/s 106-128 % against 100-123 %), but may be a few percent:
	 * every small block freed is merged at once. */
	mallopt(M_MXFAST, 0);
#endif
}

static void trim_job(void *data)
{
	(void)data;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	atomic_fetch_add(&trim_count, 1);
}

void octo_trim_note(struct octo_trim_watch *w, size_t live)
{
	bool trim = false;

	pthread_mutex_lock(&w->lock);
	if (live > w->peak) {
		w->peak = live;
	} else if (!live && w->again) {
		w->again = false;
		w->peak = 0;
		trim = true;
	} else if (w->peak >= w->min_peak && live <= w->peak / 16) {
		w->again = live != 0;
		w->peak = live;
		trim = true;
	}
	pthread_mutex_unlock(&w->lock);
	if (trim)
		octo_work_push(trim_job, NULL);
}

unsigned long octo_trim_count(void)
{
	return atomic_load(&trim_count);
}
