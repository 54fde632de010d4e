/*
 * sched.c - the core event loop (one epoll thread), its timers, cross-thread
 * calls, the worker pool and the registry of named threads.
 *
 * DESIGN
 *  - One mutex (loop.lock) guards the loop's tables: fd registrations,
 *    timers and queued calls. Callbacks always run with it released, so they
 *    may use this API freely.
 *  - fd registrations live in an array indexed by fd. Each registration gets
 *    a generation number, stored with the fd in the epoll data, so an event
 *    already fetched for a registration that has since been deleted (and
 *    maybe replaced) is recognised and dropped. The loop marks the
 *    registration it is calling; octo_loop_fd_del() from another thread waits
 *    on loop.done until that mark is gone.
 *  - Timers are a binary min-heap on (deadline, sequence) where each timer
 *    knows its heap index, plus an open-addressing hash table id -> timer.
 *    A running timer is out of the heap but still in the table, so cancel
 *    can find it, mark it cancelled (never rescheduled) and wait for it.
 *    The loop sleeps in epoll_wait() until the earliest deadline.
 *  - An eventfd wakes the loop for queued calls, for a timer added from
 *    another thread that became the earliest, and for stop. A flag keeps
 *    writes to it at one per loop iteration.
 *  - Workers share one FIFO queue (pool.lock, pool.cond).
 *  - Stop order: workers drain their queue first (their items may still post
 *    calls to the loop), then the loop runs its queued calls and ends; then
 *    everything left is freed. Timers pending at stop never run.
 *  - Threads created here block asynchronous signals, which therefore go to
 *    the daemon's main thread.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "octo/octo.h"
#include "octo/sched.h"

#define SCHED_WAKE_TAG UINT64_MAX /* epoll data of the eventfd */
#define SCHED_NOT_QUEUED SIZE_MAX /* heap index of a running timer */
#define SCHED_EVENTS_MAX 64
#define SCHED_DEFAULT_WORKERS 4u /* octo_sched_start(0) */
#define SCHED_MAX_WORKERS 256u
#define SCHED_MAP_MIN 64u

struct sched_fd {
	bool used;
	uint32_t gen; /* != 0 for a registration */
	octo_fd_cb cb;
	void *data;
};

struct sched_timer {
	uint64_t id;
	uint64_t deadline; /* octo_now_ms() time */
	uint64_t seq;      /* ties on the deadline fire in scheduling order */
	size_t heap_idx;   /* SCHED_NOT_QUEUED while the callback runs */
	bool cancelled;    /* cancelled while running: do not reschedule */
	octo_timer_cb cb;
	void *data;
};

/* A queued octo_loop_call() or octo_work_push(). */
struct sched_job {
	struct sched_job *next;
	void (*fn)(void *data);
	void *data;
};

enum sched_state {
	SCHED_DOWN, /* not started, or stopped and cleaned up */
	SCHED_UP,
	SCHED_DRAINING, /* stop asked: queued jobs still run, new jobs still accepted */
	SCHED_CLOSED,   /* drained: the threads are ending, jobs are refused */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t done; /* a callback returned (for fd_del and cancel) */
	unsigned waiters;    /* threads waiting on `done` */
	enum sched_state state;
	int epfd;
	int wakefd;
	bool wake_pending; /* the eventfd was written and not read yet */
	bool thread_started;
	pthread_t thread;
	atomic_long tid; /* the loop thread's kernel id, 0 when none runs */

	struct sched_fd *fds;
	size_t nfds;
	uint32_t fd_gen;
	uint32_t running_gen; /* generation of the fd callback running, or 0 */

	struct sched_timer **heap;
	size_t heap_len, heap_cap;
	struct sched_timer **map; /* open addressing, linear probing */
	size_t map_len, map_cap;  /* map_cap is 0 or a power of two */
	uint64_t next_id;         /* never reused, across restarts too */
	uint64_t seq;
	uint64_t running_timer; /* id of the timer callback running, or 0 */

	struct sched_job *calls, **calls_tail;
} loop = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
	.epfd = -1,
	.wakefd = -1,
	.next_id = 1,
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* work queued, or the pool is draining */
	enum sched_state state;
	struct sched_job *head, **tail;
	unsigned busy; /* workers running an item */
	pthread_t *threads;
	unsigned nthreads;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/* Serialises octo_sched_start() and octo_sched_stop(). */
static pthread_mutex_t sched_life_lock = PTHREAD_MUTEX_INITIALIZER;

/* Threads started and registered, so that octo_sched_start() returns with
 * all of them listed in the thread registry. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned count;
} ready = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static _Thread_local bool sched_on_loop;
static _Thread_local bool sched_on_worker;

static struct {
	pthread_mutex_t lock;
	struct octo_thread_info *list;
	size_t len, cap;
} registry = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

/* ---------------------------------------------------------------- helpers */

static int sched_errno(int err)
{
	switch (err) {
	case ENOMEM:
	case ENOSPC: return OCTO_ENOMEM;
	case EEXIST: return OCTO_EEXIST;
	case ENOENT: return OCTO_ENOTFOUND;
	default: return OCTO_EINVAL;
	}
}

/* Wakes the loop thread. Caller holds loop.lock. */
static void sched_wake_locked(void)
{
	uint64_t one = 1;

	if (loop.wake_pending || loop.wakefd < 0)
		return;
	loop.wake_pending = true;
	/* Cannot block (EFD_NONBLOCK) nor overflow: one write per wake-up. */
	if (write(loop.wakefd, &one, sizeof(one)) != sizeof(one))
		loop.wake_pending = false;
}

/* Wakes anyone waiting for a callback to return. Caller holds loop.lock. */
static void sched_callback_done_locked(void)
{
	if (loop.waiters)
		pthread_cond_broadcast(&loop.done);
}

static void sched_run_jobs(struct sched_job *job)
{
	struct sched_job *next;

	for (; job; job = next) {
		next = job->next;
		job->fn(job->data);
		free(job);
	}
}

/* Called by each new thread once registered. */
static void sched_thread_ready(void)
{
	pthread_mutex_lock(&ready.lock);
	ready.count++;
	pthread_cond_broadcast(&ready.cond);
	pthread_mutex_unlock(&ready.lock);
}

/* Waits until `n` threads have called sched_thread_ready(), then resets. */
static void sched_wait_ready(unsigned n)
{
	pthread_mutex_lock(&ready.lock);
	while (ready.count < n)
		pthread_cond_wait(&ready.cond, &ready.lock);
	ready.count = 0;
	pthread_mutex_unlock(&ready.lock);
}

/* Starts a thread with asynchronous signals blocked. */
static int sched_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(thread, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* ---------------------------------------------------------------- timer heap */

static bool heap_before(const struct sched_timer *a, const struct sched_timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_set(size_t i, struct sched_timer *t)
{
	loop.heap[i] = t;
	t->heap_idx = i;
}

static void heap_sift_up(size_t i)
{
	struct sched_timer *t = loop.heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!heap_before(t, loop.heap[parent]))
			break;
		heap_set(i, loop.heap[parent]);
		i = parent;
	}
	heap_set(i, t);
}

static void heap_sift_down(size_t i)
{
	struct sched_timer *t = loop.heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= loop.heap_len)
			break;
		if (child + 1 < loop.heap_len &&
		    heap_before(loop.heap[child + 1], loop.heap[child]))
			child++;
		if (!heap_before(loop.heap[child], t))
			break;
		heap_set(i, loop.heap[child]);
		i = child;
	}
	heap_set(i, t);
}

static int heap_push(struct sched_timer *t)
{
	if (loop.heap_len == loop.heap_cap) {
		size_t cap = loop.heap_cap ? loop.heap_cap * 2 : 64;
		struct sched_timer **heap;

		if (cap > SIZE_MAX / sizeof(*heap))
			return OCTO_ENOMEM;
		heap = realloc(loop.heap, cap * sizeof(*heap));
		if (!heap)
			return OCTO_ENOMEM;
		loop.heap = heap;
		loop.heap_cap = cap;
	}
	heap_set(loop.heap_len++, t);
	heap_sift_up(t->heap_idx);
	return OCTO_OK;
}

static void heap_remove(struct sched_timer *t)
{
	size_t i = t->heap_idx;
	struct sched_timer *last = loop.heap[--loop.heap_len];

	t->heap_idx = SCHED_NOT_QUEUED;
	if (i != loop.heap_len) {
		heap_set(i, last);
		heap_sift_up(i);
		heap_sift_down(last->heap_idx);
	}
	/* A heap that grew for a burst gives its memory back when mostly
	 * empty (as the id table does); failing to shrink is harmless. */
	if (loop.heap_cap > 64 && loop.heap_len * 8 < loop.heap_cap) {
		struct sched_timer **heap = realloc(loop.heap, loop.heap_cap / 2 * sizeof(*heap));

		if (heap) {
			loop.heap = heap;
			loop.heap_cap /= 2;
		}
	}
}

/* ---------------------------------------------------------------- timer id table */

static size_t map_home(uint64_t id)
{
	/* splitmix64 finaliser, so sequential ids spread over the table */
	id ^= id >> 30;
	id *= 0xbf58476d1ce4e5b9ull;
	id ^= id >> 27;
	id *= 0x94d049bb133111ebull;
	id ^= id >> 31;
	return (size_t)id & (loop.map_cap - 1);
}

static int map_resize(size_t cap)
{
	struct sched_timer **old = loop.map, **map;
	size_t old_cap = loop.map_cap;

	map = calloc(cap, sizeof(*map));
	if (!map)
		return OCTO_ENOMEM;
	loop.map = map;
	loop.map_cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i]) {
			size_t j = map_home(old[i]->id);

			while (map[j])
				j = (j + 1) & (cap - 1);
			map[j] = old[i];
		}
	}
	free(old);
	return OCTO_OK;
}

/* Returns the slot holding `id`, or SIZE_MAX. */
static size_t map_find(uint64_t id)
{
	if (!loop.map_cap)
		return SIZE_MAX;
	for (size_t i = map_home(id); loop.map[i]; i = (i + 1) & (loop.map_cap - 1)) {
		if (loop.map[i]->id == id)
			return i;
	}
	return SIZE_MAX;
}

static int map_insert(struct sched_timer *t)
{
	size_t i;

	/* Keep the load at most one half, so probes stay short. */
	if ((loop.map_len + 1) * 2 > loop.map_cap) {
		size_t cap = loop.map_cap ? loop.map_cap * 2 : SCHED_MAP_MIN;

		if (cap > SIZE_MAX / 2 / sizeof(*loop.map) || map_resize(cap) != OCTO_OK)
			return OCTO_ENOMEM;
	}
	for (i = map_home(t->id); loop.map[i]; i = (i + 1) & (loop.map_cap - 1))
		;
	loop.map[i] = t;
	loop.map_len++;
	return OCTO_OK;
}

static void map_remove(uint64_t id)
{
	size_t mask = loop.map_cap - 1, hole = map_find(id), j;

	if (hole == SIZE_MAX)
		return;
	/* Backward-shift deletion: move up every later entry of the probe run
	 * whose home slot is not between the hole and itself. */
	for (j = (hole + 1) & mask; loop.map[j]; j = (j + 1) & mask) {
		size_t home = map_home(loop.map[j]->id);

		if (((j - home) & mask) >= ((j - hole) & mask)) {
			loop.map[hole] = loop.map[j];
			hole = j;
		}
	}
	loop.map[hole] = NULL;
	loop.map_len--;
	if (loop.map_cap > SCHED_MAP_MIN && loop.map_len * 8 < loop.map_cap)
		map_resize(loop.map_cap / 2); /* failing to shrink is harmless */
}

/* Ends a timer: out of the table, freed. Caller holds loop.lock; the timer is
 * not in the heap. */
static void timer_free_locked(struct sched_timer *t)
{
	map_remove(t->id);
	free(t);
}

/* ---------------------------------------------------------------- the loop thread */

/* Runs the timers that are due. Called and returns with loop.lock held. */
static void loop_run_timers_locked(void)
{
	uint64_t now = octo_now_ms();

	while (loop.heap_len && loop.heap[0]->deadline <= now && loop.state == SCHED_UP) {
		struct sched_timer *t = loop.heap[0];
		unsigned next;

		heap_remove(t);
		loop.running_timer = t->id;
		pthread_mutex_unlock(&loop.lock);
		next = t->cb(t->data);
		pthread_mutex_lock(&loop.lock);
		loop.running_timer = 0;
		if (t->cancelled || !next) {
			timer_free_locked(t);
		} else {
			t->deadline = octo_now_ms() + next;
			t->seq = loop.seq++;
			if (heap_push(t) != OCTO_OK)
				timer_free_locked(t);
		}
		sched_callback_done_locked();
	}
}

/* epoll_wait() timeout until the earliest deadline. Caller holds loop.lock. */
static int loop_timeout_locked(void)
{
	uint64_t now, deadline;

	if (!loop.heap_len)
		return -1;
	now = octo_now_ms();
	deadline = loop.heap[0]->deadline;
	if (deadline <= now)
		return 0;
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

static void loop_dispatch_fd(uint64_t tag, uint32_t events)
{
	int fd = (int)(uint32_t)tag;
	uint32_t gen = (uint32_t)(tag >> 32);

	pthread_mutex_lock(&loop.lock);
	if (loop.state == SCHED_UP && (size_t)fd < loop.nfds && loop.fds[fd].used &&
	    loop.fds[fd].gen == gen) {
		octo_fd_cb cb = loop.fds[fd].cb;
		void *data = loop.fds[fd].data;

		loop.running_gen = gen;
		pthread_mutex_unlock(&loop.lock);
		cb(fd, events, data);
		pthread_mutex_lock(&loop.lock);
		loop.running_gen = 0;
		sched_callback_done_locked();
	}
	pthread_mutex_unlock(&loop.lock);
}

static void loop_woken(void)
{
	struct sched_job *calls;
	uint64_t count;

	/* Read before clearing the flag: a wake-up asked after the clear gets
	 * a write of its own. */
	if (read(loop.wakefd, &count, sizeof(count)) < 0) {
		/* EAGAIN: nothing to read, the flag is cleared below anyway */
	}
	pthread_mutex_lock(&loop.lock);
	loop.wake_pending = false;
	calls = loop.calls;
	loop.calls = NULL;
	loop.calls_tail = &loop.calls;
	pthread_mutex_unlock(&loop.lock);
	sched_run_jobs(calls);
}

static void *loop_main(void *arg)
{
	struct epoll_event evs[SCHED_EVENTS_MAX];

	sched_on_loop = true;
	atomic_store(&loop.tid, (long)gettid());
	octo_thread_register("event loop");
	sched_thread_ready();
	pthread_mutex_lock(&loop.lock);
	while (loop.state == SCHED_UP) {
		int timeout, n;

		loop_run_timers_locked();
		if (loop.state != SCHED_UP)
			break;
		timeout = loop_timeout_locked();
		pthread_mutex_unlock(&loop.lock);
		n = epoll_wait(loop.epfd, evs, SCHED_EVENTS_MAX, timeout);
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == SCHED_WAKE_TAG)
				loop_woken();
			else
				loop_dispatch_fd(evs[i].data.u64, evs[i].events);
		}
		pthread_mutex_lock(&loop.lock);
	}
	/* Stopping: run the calls still queued, including those they queue. */
	for (;;) {
		struct sched_job *calls = loop.calls;

		if (!calls) {
			loop.state = SCHED_CLOSED;
			break;
		}
		loop.calls = NULL;
		loop.calls_tail = &loop.calls;
		pthread_mutex_unlock(&loop.lock);
		sched_run_jobs(calls);
		pthread_mutex_lock(&loop.lock);
	}
	pthread_mutex_unlock(&loop.lock);
	octo_thread_unregister();
	sched_on_loop = false;
	return NULL;
}

/* ---------------------------------------------------------------- the worker pool */

static void *pool_main(void *arg)
{
	char name[32];

	snprintf(name, sizeof(name), "worker %u", (unsigned)(uintptr_t)arg);
	sched_on_worker = true;
	octo_thread_register(name);
	sched_thread_ready();
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct sched_job *job = pool.head;

		if (!job) {
			/* Draining ends when the queue is empty and no running item
			 * can queue another. */
			if (pool.state != SCHED_UP && !pool.busy) {
				pool.state = SCHED_CLOSED;
				pthread_cond_broadcast(&pool.cond);
				break;
			}
			pthread_cond_wait(&pool.cond, &pool.lock);
			continue;
		}
		pool.head = job->next;
		if (!pool.head)
			pool.tail = &pool.head;
		pool.busy++;
		pthread_mutex_unlock(&pool.lock);
		job->fn(job->data);
		free(job);
		pthread_mutex_lock(&pool.lock);
		pool.busy--;
		if (pool.state != SCHED_UP && !pool.head && !pool.busy)
			pthread_cond_broadcast(&pool.cond);
	}
	pthread_mutex_unlock(&pool.lock);
	octo_thread_unregister();
	sched_on_worker = false;
	return NULL;
}

int octo_work_push(void (*fn)(void *data), void *data)
{
	struct sched_job *job;

	if (!fn)
		return OCTO_EINVAL;
	job = malloc(sizeof(*job));
	if (!job)
		return OCTO_ENOMEM;
	job->next = NULL;
	job->fn = fn;
	job->data = data;
	pthread_mutex_lock(&pool.lock);
	if (pool.state != SCHED_UP && pool.state != SCHED_DRAINING) {
		pthread_mutex_unlock(&pool.lock);
		free(job);
		return OCTO_EFAIL;
	}
	*pool.tail = job;
	pool.tail = &job->next;
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	return OCTO_OK;
}

/* ---------------------------------------------------------------- start / stop */

static void sched_shutdown(void)
{
	struct sched_job *left;

	/* Workers first: their pending items run and may still post to the loop. */
	pthread_mutex_lock(&pool.lock);
	if (pool.state == SCHED_UP)
		pool.state = SCHED_DRAINING;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	free(pool.threads);
	pool.threads = NULL;
	pool.nthreads = 0;
	pthread_mutex_lock(&pool.lock);
	pool.state = SCHED_DOWN;
	left = pool.head; /* only when no worker could start */
	pool.head = NULL;
	pool.tail = &pool.head;
	pthread_mutex_unlock(&pool.lock);
	sched_run_jobs(left);

	pthread_mutex_lock(&loop.lock);
	if (loop.state == SCHED_UP)
		loop.state = SCHED_DRAINING;
	sched_wake_locked();
	pthread_mutex_unlock(&loop.lock);
	if (loop.thread_started)
		pthread_join(loop.thread, NULL);
	loop.thread_started = false;
	atomic_store(&loop.tid, 0);

	pthread_mutex_lock(&loop.lock);
	loop.state = SCHED_DOWN;
	left = loop.calls; /* only when the loop thread could not start */
	loop.calls = NULL;
	loop.calls_tail = &loop.calls;
	for (size_t i = 0; i < loop.heap_len; i++)
		free(loop.heap[i]);
	free(loop.heap);
	loop.heap = NULL;
	loop.heap_len = loop.heap_cap = 0;
	free(loop.map);
	loop.map = NULL;
	loop.map_len = loop.map_cap = 0;
	free(loop.fds);
	loop.fds = NULL;
	loop.nfds = 0;
	if (loop.epfd >= 0)
		close(loop.epfd);
	if (loop.wakefd >= 0)
		close(loop.wakefd);
	loop.epfd = loop.wakefd = -1;
	loop.wake_pending = false;
	pthread_mutex_unlock(&loop.lock);
	sched_run_jobs(left);
}

int octo_sched_start(unsigned workers)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SCHED_WAKE_TAG };
	int rc = OCTO_OK;

	if (!workers)
		workers = SCHED_DEFAULT_WORKERS;
	if (workers > SCHED_MAX_WORKERS)
		workers = SCHED_MAX_WORKERS;
	pthread_mutex_lock(&sched_life_lock);
	pthread_mutex_lock(&loop.lock);
	if (loop.state != SCHED_DOWN) {
		pthread_mutex_unlock(&loop.lock);
		pthread_mutex_unlock(&sched_life_lock);
		return OCTO_EBUSY;
	}
	loop.epfd = epoll_create1(EPOLL_CLOEXEC);
	loop.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop.epfd < 0 || loop.wakefd < 0 ||
	    epoll_ctl(loop.epfd, EPOLL_CTL_ADD, loop.wakefd, &ev) < 0) {
		rc = errno == EMFILE || errno == ENFILE || errno == ENOMEM ? OCTO_ENOMEM
									   : OCTO_EFAIL;
		pthread_mutex_unlock(&loop.lock);
		goto fail;
	}
	loop.calls = NULL;
	loop.calls_tail = &loop.calls;
	loop.running_gen = 0;
	loop.running_timer = 0;
	loop.state = SCHED_UP;
	pthread_mutex_unlock(&loop.lock);
	if (sched_thread_create(&loop.thread, loop_main, NULL) != 0) {
		rc = OCTO_EFAIL;
		goto fail;
	}
	loop.thread_started = true;

	pool.threads = calloc(workers, sizeof(*pool.threads));
	if (!pool.threads) {
		rc = OCTO_ENOMEM;
		goto fail;
	}
	pthread_mutex_lock(&pool.lock);
	pool.head = NULL;
	pool.tail = &pool.head;
	pool.busy = 0;
	pool.state = SCHED_UP;
	pthread_mutex_unlock(&pool.lock);
	for (unsigned i = 0; i < workers; i++) {
		if (sched_thread_create(&pool.threads[i], pool_main, (void *)(uintptr_t)(i + 1))) {
			rc = OCTO_EFAIL;
			goto fail;
		}
		pool.nthreads++;
	}
	sched_wait_ready(1 + pool.nthreads);
	pthread_mutex_unlock(&sched_life_lock);
	return OCTO_OK;

fail:
	sched_wait_ready((loop.thread_started ? 1 : 0) + pool.nthreads);
	sched_shutdown();
	pthread_mutex_unlock(&sched_life_lock);
	return rc;
}

void octo_sched_stop(void)
{
	/* From one of our own threads this would wait for itself forever. */
	if (sched_on_loop || sched_on_worker)
		return;
	pthread_mutex_lock(&sched_life_lock);
	sched_shutdown();
	pthread_mutex_unlock(&sched_life_lock);
}

bool octo_loop_is_current(void)
{
	return sched_on_loop;
}

long octo_loop_tid(void)
{
	return atomic_load(&loop.tid);
}

/* ---------------------------------------------------------------- fds */

int octo_loop_fd_add(int fd, uint32_t events, octo_fd_cb cb, void *data)
{
	struct epoll_event ev = { .events = events };
	int rc = OCTO_OK;
	uint32_t gen;

	if (fd < 0 || !cb)
		return OCTO_EINVAL;
	pthread_mutex_lock(&loop.lock);
	if (loop.state != SCHED_UP) {
		rc = OCTO_EFAIL;
		goto out;
	}
	if ((size_t)fd < loop.nfds && loop.fds[fd].used) {
		rc = OCTO_EEXIST;
		goto out;
	}
	gen = ++loop.fd_gen;
	if (!gen)
		gen = ++loop.fd_gen;
	ev.data.u64 = (uint64_t)gen << 32 | (uint32_t)fd;
	/* epoll first: it rejects a bad fd before the table grows for it. The
	 * loop cannot look the fd up before the table has it: we hold the lock. */
	if (epoll_ctl(loop.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		rc = sched_errno(errno);
		goto out;
	}
	if ((size_t)fd >= loop.nfds) {
		size_t n = loop.nfds ? loop.nfds : 64;
		struct sched_fd *fds;

		while (n <= (size_t)fd)
			n *= 2;
		fds = realloc(loop.fds, n * sizeof(*fds));
		if (!fds) {
			epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, &ev);
			rc = OCTO_ENOMEM;
			goto out;
		}
		memset(fds + loop.nfds, 0, (n - loop.nfds) * sizeof(*fds));
		loop.fds = fds;
		loop.nfds = n;
	}
	loop.fds[fd] = (struct sched_fd){ .used = true, .gen = gen, .cb = cb, .data = data };
out:
	pthread_mutex_unlock(&loop.lock);
	return rc;
}

int octo_loop_fd_mod(int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	int rc = OCTO_OK;

	pthread_mutex_lock(&loop.lock);
	if (fd < 0 || (size_t)fd >= loop.nfds || !loop.fds[fd].used) {
		rc = OCTO_ENOTFOUND;
	} else {
		ev.data.u64 = (uint64_t)loop.fds[fd].gen << 32 | (uint32_t)fd;
		if (epoll_ctl(loop.epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
			rc = sched_errno(errno);
	}
	pthread_mutex_unlock(&loop.lock);
	return rc;
}

int octo_loop_fd_del(int fd)
{
	struct epoll_event ev = { 0 };
	uint32_t gen;

	pthread_mutex_lock(&loop.lock);
	if (fd < 0 || (size_t)fd >= loop.nfds || !loop.fds[fd].used) {
		pthread_mutex_unlock(&loop.lock);
		return OCTO_ENOTFOUND;
	}
	gen = loop.fds[fd].gen;
	loop.fds[fd].used = false;
	/* Fails harmlessly when the caller closed the fd already. */
	epoll_ctl(loop.epfd, EPOLL_CTL_DEL, fd, &ev);
	if (!sched_on_loop) {
		loop.waiters++;
		while (loop.running_gen == gen)
			pthread_cond_wait(&loop.done, &loop.lock);
		loop.waiters--;
	}
	pthread_mutex_unlock(&loop.lock);
	return OCTO_OK;
}

/* ---------------------------------------------------------------- timers */

uint64_t octo_timer_add(unsigned ms, octo_timer_cb cb, void *data)
{
	struct sched_timer *t;
	uint64_t id = 0;

	if (!cb)
		return 0;
	t = malloc(sizeof(*t));
	if (!t)
		return 0;
	t->cb = cb;
	t->data = data;
	t->cancelled = false;
	pthread_mutex_lock(&loop.lock);
	if (loop.state != SCHED_UP)
		goto fail;
	t->id = loop.next_id;
	t->deadline = octo_now_ms() + ms;
	t->seq = loop.seq++;
	if (map_insert(t) != OCTO_OK)
		goto fail;
	if (heap_push(t) != OCTO_OK) {
		map_remove(t->id);
		goto fail;
	}
	id = loop.next_id++;
	/* The loop recomputes its timeout itself before it sleeps again. */
	if (t->heap_idx == 0 && !sched_on_loop)
		sched_wake_locked();
	pthread_mutex_unlock(&loop.lock);
	return id;

fail:
	pthread_mutex_unlock(&loop.lock);
	free(t);
	return 0;
}

bool octo_timer_cancel(uint64_t id)
{
	struct sched_timer *t;
	size_t slot;

	pthread_mutex_lock(&loop.lock);
	slot = map_find(id);
	if (slot == SIZE_MAX) {
		pthread_mutex_unlock(&loop.lock);
		return false;
	}
	t = loop.map[slot];
	if (t->heap_idx != SCHED_NOT_QUEUED) {
		heap_remove(t);
		timer_free_locked(t);
		pthread_mutex_unlock(&loop.lock);
		return true;
	}
	/* Running right now: it will not be rescheduled. */
	t->cancelled = true;
	if (!sched_on_loop) {
		loop.waiters++;
		while (loop.running_timer == id)
			pthread_cond_wait(&loop.done, &loop.lock);
		loop.waiters--;
	}
	pthread_mutex_unlock(&loop.lock);
	return false;
}

unsigned long octo_timer_count(void)
{
	unsigned long n;

	pthread_mutex_lock(&loop.lock);
	n = loop.heap_len;
	pthread_mutex_unlock(&loop.lock);
	return n;
}

int octo_loop_call(void (*fn)(void *data), void *data)
{
	struct sched_job *job;

	if (!fn)
		return OCTO_EINVAL;
	job = malloc(sizeof(*job));
	if (!job)
		return OCTO_ENOMEM;
	job->next = NULL;
	job->fn = fn;
	job->data = data;
	pthread_mutex_lock(&loop.lock);
	if (loop.state != SCHED_UP && loop.state != SCHED_DRAINING) {
		pthread_mutex_unlock(&loop.lock);
		free(job);
		return OCTO_EFAIL;
	}
	*loop.calls_tail = job;
	loop.calls_tail = &job->next;
	sched_wake_locked();
	pthread_mutex_unlock(&loop.lock);
	return OCTO_OK;
}

/* ---------------------------------------------------------------- thread registry */

void octo_thread_register(const char *name)
{
	unsigned long tid = (unsigned long)gettid();
	char short_name[16]; /* the kernel keeps 15 characters */
	size_t i;

	if (!name || !*name)
		name = "thread";
	octo_strlcpy(short_name, name, sizeof(short_name));
	pthread_setname_np(pthread_self(), short_name);

	pthread_mutex_lock(&registry.lock);
	for (i = 0; i < registry.len && registry.list[i].tid != tid; i++)
		;
	if (i == registry.len) {
		if (registry.len == registry.cap) {
			size_t cap = registry.cap ? registry.cap * 2 : 16;
			struct octo_thread_info *list = realloc(registry.list, cap * sizeof(*list));

			if (!list) {
				pthread_mutex_unlock(&registry.lock);
				return; /* only "core show threads" misses it */
			}
			registry.list = list;
			registry.cap = cap;
		}
		registry.len++;
	}
	registry.list[i].tid = tid;
	octo_strlcpy(registry.list[i].name, name, sizeof(registry.list[i].name));
	pthread_mutex_unlock(&registry.lock);
}

void octo_thread_unregister(void)
{
	unsigned long tid = (unsigned long)gettid();

	pthread_mutex_lock(&registry.lock);
	for (size_t i = 0; i < registry.len; i++) {
		if (registry.list[i].tid == tid) {
			memmove(&registry.list[i], &registry.list[i + 1],
				(registry.len - i - 1) * sizeof(*registry.list));
			registry.len--;
			break;
		}
	}
	if (!registry.len) {
		free(registry.list);
		registry.list = NULL;
		registry.cap = 0;
	}
	pthread_mutex_unlock(&registry.lock);
}

unsigned octo_sched_threads(struct octo_thread_info *out, unsigned max)
{
	unsigned n;

	pthread_mutex_lock(&registry.lock);
	n = registry.len > UINT_MAX ? UINT_MAX : (unsigned)registry.len;
	for (unsigned i = 0; out && i < n && i < max; i++)
		out[i] = registry.list[i];
	pthread_mutex_unlock(&registry.lock);
	return n;
}
