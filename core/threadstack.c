/*
 * threadstack.c - call threads run on stacks that Octo maps and gives back
 * itself (see internal.h, octo_thread_start_stack).
 *
 * Why: glibc keeps the stacks of ended threads for reuse, up to 40 MB of
 * them, and each kept stack stays partly in memory (the 16 KB below where
 * the thread ended, its thread descriptor and TLS). With a thread per call,
 * a burst of calls left 157 stacks and 2.5 MB of RSS that never went back.
 * Here a stack is reused while calls keep coming, and unmapped once it has
 * not been needed for STACK_IDLE_MS.
 *
 * DESIGN
 *  - A mapping is [guard page][stack][descriptor page]: the guard page
 *    (PROT_NONE) stops an overflow before it reaches anything else, and the
 *    descriptor of the stack lives above it, out of the thread's way.
 *  - A thread whose work is done does not end: it parks on its stack (the
 *    `parked` list) and waits on its semaphore for the next work, for
 *    STACK_IDLE_MS. Creating a thread and ending it cost the event loop,
 *    which starts the calls, a clone() per call (5 % of its time at 1,000
 *    calls/s) and the thread an exit; handing work to a parked thread is
 *    one wake-up. Work is whatever fn the caller gives: it must leave no
 *    thread-local state behind that the next work could trip over.
 *  - A parked thread idle for STACK_IDLE_MS is retired by the timer (its
 *    fn set to NULL, then woken): it ends, and its stack is unmapped.
 *  - Threads are joinable: a stack may only be reused or unmapped once its
 *    thread has really ended. The thread puts its stack on the `ended` list
 *    as its last step; pthread_tryjoin_np (never a blocking join, the event
 *    loop starts calls) moves it to the `spare` list when the thread is
 *    gone (a retired one's is unmapped). Starting a thread and a timer on
 *    the loop do this.
 *  - The timer runs while anything is on a list, every STACK_IDLE_MS,
 *    retires the parked threads and unmaps the spares unused for that long.
 *  - `live` counts the threads not yet on `ended` (at work or parked): at
 *    shutdown, release retires the parked ones and waits (briefly) for all
 *    to get there, so that no stack is missed; a thread still at work keeps
 *    its stack.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "octo/heaptrim.h"
#include "octo/octo.h"
#include "octo/sched.h"

#define STACK_IDLE_MS 10000 /* the default of ts.idle_ms */
#define STACK_SPARE_MAX 256 /* spare stacks kept at most (more are unmapped) */
#define TS_REAP_SOON_MS 200 /* the timer's next run when ended threads wait to be joined */

struct thread_stack {
	struct thread_stack *next;
	void *map;           /* the whole mapping */
	size_t map_size;
	size_t stack_size;   /* usable by the thread */
	pthread_t thread;
	void *(*fn)(void *); /* the work; NULL wakes a parked thread to end */
	void *arg;
	uint64_t spare_since; /* octo_now_ms() when it became spare or parked */
	sem_t go;             /* a parked thread waits on it */
	bool retired;         /* ended idle: unmapped once joined */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* live went down */
	size_t live;                 /* threads started, not yet on `ended` */
	struct thread_stack *parked; /* their threads wait for work, latest first */
	struct thread_stack *ended;  /* their threads are ending */
	struct thread_stack *spare;  /* free, most recently used first */
	size_t nparked, nspare, mapped;
	bool stopping; /* release began: threads end instead of parking */
	size_t threads; /* created and not yet joined */
	uint64_t timer;
	unsigned idle_ms;
} ts = { .lock = PTHREAD_MUTEX_INITIALIZER,
	  .cond = PTHREAD_COND_INITIALIZER,
	  .idle_ms = STACK_IDLE_MS };

/* A burst of call threads that has ended: trim the heap (octo/heaptrim.h). */
static struct octo_trim_watch ts_trim = OCTO_TRIM_WATCH_INIT(64);

static size_t ts_page(void)
{
	long p = sysconf(_SC_PAGESIZE);

	return p > 0 ? (size_t)p : 4096;
}

static struct thread_stack *ts_map(size_t stack_size)
{
	size_t page = ts_page(), usable = (stack_size + page - 1) / page * page;
	size_t size = page + usable + page;
	struct thread_stack *s;
	char *map;

	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
		   -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map, page, PROT_NONE) != 0) {
		munmap(map, size);
		return NULL;
	}
	s = (struct thread_stack *)(map + page + usable);
	memset(s, 0, sizeof(*s));
	s->map = map;
	s->map_size = size;
	s->stack_size = usable;
	sem_init(&s->go, 0, 0);
	return s;
}

/* Lock held. */
static void ts_unmap(struct thread_stack *s)
{
	sem_destroy(&s->go);
	munmap(s->map, s->map_size);
	ts.mapped--;
}

/* Moves the stacks whose threads are gone from `ended` to `spare`.
 * With `wait`, joins them (shutdown: they have finished their work). Lock
 * held. */
static void ts_reap(bool wait, uint64_t now)
{
	struct thread_stack **pp = &ts.ended;

	while (*pp) {
		struct thread_stack *s = *pp;
		int rc = wait ? pthread_join(s->thread, NULL) : pthread_tryjoin_np(s->thread, NULL);

		if (rc == EBUSY) {
			pp = &s->next;
			continue;
		}
		*pp = s->next;
		/* its malloc cache went back to the arenas as it ended: once
		 * the threads of a burst are gone, the heap is trimmed */
		octo_trim_note(&ts_trim, --ts.threads);
		if (s->retired || ts.nspare >= STACK_SPARE_MAX) {
			ts_unmap(s);
			continue;
		}
		s->spare_since = now;
		s->next = ts.spare;
		ts.spare = s;
		ts.nspare++;
	}
}

/* Unmaps the spares unused since `before`. They are ordered by last use,
 * most recent first. Lock held. */
static void ts_release_idle(uint64_t before)
{
	struct thread_stack **pp = &ts.spare;

	while (*pp && (*pp)->spare_since > before)
		pp = &(*pp)->next;
	while (*pp) {
		struct thread_stack *s = *pp;

		*pp = s->next;
		ts.nspare--;
		ts_unmap(s);
	}
}

/* Wakes the parked threads idle since `before` to end. Lock held. */
static void ts_retire_parked(uint64_t before)
{
	struct thread_stack **pp = &ts.parked;

	while (*pp && (*pp)->spare_since > before)
		pp = &(*pp)->next;
	while (*pp) {
		struct thread_stack *s = *pp;

		*pp = s->next;
		ts.nparked--;
		s->fn = NULL;
		s->retired = true;
		sem_post(&s->go);
	}
}

static unsigned ts_timer_cb(void *data)
{
	uint64_t now = octo_now_ms();
	unsigned next;

	(void)data;
	pthread_mutex_lock(&ts.lock);
	ts_reap(false, now);
	ts_retire_parked(now > ts.idle_ms ? now - ts.idle_ms : 0);
	ts_release_idle(now > ts.idle_ms ? now - ts.idle_ms : 0);
	next = ts.ended || ts.spare || ts.parked ? ts.idle_ms : 0;
	if (ts.ended && next > TS_REAP_SOON_MS)
		next = TS_REAP_SOON_MS; /* retired threads: join them soon */
	if (!next)
		ts.timer = 0;
	pthread_mutex_unlock(&ts.lock);
	return next;
}

/* Lock held. */
static void ts_timer_ensure(void)
{
	if (!ts.timer)
		ts.timer = octo_timer_add(ts.idle_ms, ts_timer_cb, NULL);
}

static void *ts_trampoline(void *arg)
{
	struct thread_stack *s = arg;

	for (;;) {
		s->fn(s->arg);
		pthread_mutex_lock(&ts.lock);
		if (ts.stopping || ts.nparked >= STACK_SPARE_MAX)
			break;
		s->fn = NULL;
		s->spare_since = octo_now_ms();
		s->next = ts.parked;
		ts.parked = s;
		ts.nparked++;
		ts_timer_ensure();
		pthread_mutex_unlock(&ts.lock);
		while (sem_wait(&s->go) != 0)
			; /* EINTR */
		/* the starter or the retirer took s off `parked`, then posted */
		if (!s->fn) {
			pthread_mutex_lock(&ts.lock);
			break;
		}
	}
	/* the last use of s by this thread: from here on only its exit */
	s->thread = pthread_self();
	s->next = ts.ended;
	ts.ended = s;
	ts.live--;
	pthread_cond_broadcast(&ts.cond);
	ts_timer_ensure();
	pthread_mutex_unlock(&ts.lock);
	return NULL;
}

int octo_thread_start_stack(void *(*fn)(void *), void *arg, size_t stack_size)
{
	struct thread_stack *s = NULL, **pp;
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	pthread_mutex_lock(&ts.lock);
	ts_reap(false, octo_now_ms());
	for (pp = &ts.parked; *pp; pp = &(*pp)->next)
		if ((*pp)->stack_size >= stack_size) {
			s = *pp;
			*pp = s->next;
			ts.nparked--;
			s->fn = fn;
			s->arg = arg;
			pthread_mutex_unlock(&ts.lock);
			sem_post(&s->go);
			return 0;
		}
	for (pp = &ts.spare; *pp; pp = &(*pp)->next)
		if ((*pp)->stack_size >= stack_size) {
			s = *pp;
			*pp = s->next;
			ts.nspare--;
			break;
		}
	pthread_mutex_unlock(&ts.lock);
	if (!s) {
		s = ts_map(stack_size);
		if (!s)
			return OCTO_ENOMEM;
		pthread_mutex_lock(&ts.lock);
		ts.mapped++;
		pthread_mutex_unlock(&ts.lock);
	}
	pthread_mutex_lock(&ts.lock);
	ts.live++;
	octo_trim_note(&ts_trim, ++ts.threads); /* before it can end and be joined */
	pthread_mutex_unlock(&ts.lock);
	s->fn = fn;
	s->arg = arg;
	s->retired = false;
	pthread_attr_init(&attr);
	pthread_attr_setstack(&attr, (char *)s->map + ts_page(), s->stack_size);
	rc = pthread_create(&tid, &attr, ts_trampoline, s);
	pthread_attr_destroy(&attr);
	if (rc) {
		pthread_mutex_lock(&ts.lock);
		ts.live--;
		ts.threads--;
		ts_unmap(s);
		pthread_mutex_unlock(&ts.lock);
		return OCTO_EFAIL;
	}
	return 0;
}

void octo_thread_stacks_release(void)
{
	/* the callers know the threads' work is done; what may be left is the
	 * few instructions between that and `ended` */
	struct timespec deadline = octo_deadline_after_ms(2000);

	pthread_mutex_lock(&ts.lock);
	ts.stopping = true;
	ts_retire_parked(UINT64_MAX);
	while (ts.live && pthread_cond_timedwait(&ts.cond, &ts.lock, &deadline) == 0)
		;
	if (ts.live)
		octo_log(OCTO_WARNING, "%zu threads still run: their stacks stay mapped",
			 ts.live);
	ts_reap(true, octo_now_ms());
	ts_release_idle(UINT64_MAX);
	pthread_mutex_unlock(&ts.lock);
}

void octo_thread_stacks_idle_ms(unsigned ms)
{
	pthread_mutex_lock(&ts.lock);
	ts.idle_ms = ms ? ms : STACK_IDLE_MS;
	pthread_mutex_unlock(&ts.lock);
}

size_t octo_thread_stacks_mapped(void)
{
	size_t n;

	pthread_mutex_lock(&ts.lock);
	n = ts.mapped;
	pthread_mutex_unlock(&ts.lock);
	return n;
}
