/*
 * test_sched.c - unit tests of core/sched.c: timers, fd callbacks, loop
 * calls, the worker pool, start/stop and the thread registry.
 *
 * No assertion depends on timing: tests wait for conditions with a generous
 * upper bound (10 s) and check only what a correct scheduler guarantees.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "octo/octo.h"
#include "octo/heaptrim.h"
#include "octo/sched.h"
#include "octo_test.h"
#include "../../core/internal.h"

#define WAIT_MS 10000

/* Waits until *v >= want, for at most WAIT_MS. */
static bool wait_at_least(atomic_int *v, int want)
{
	uint64_t end = octo_now_ms() + WAIT_MS;

	while (atomic_load(v) < want) {
		if (octo_now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

static void barrier_cb(void *data)
{
	atomic_store((atomic_int *)data, 1);
}

/* Returns once the loop ran a call queued now: events that were pending
 * before have been handled by then (two rounds, as one epoll batch may hold
 * the fd event after the first wake-up). */
static bool loop_barrier(void)
{
	for (int round = 0; round < 2; round++) {
		atomic_int done = 0;

		if (octo_loop_call(barrier_cb, &done) != OCTO_OK || !wait_at_least(&done, 1))
			return false;
	}
	return true;
}

static bool start(unsigned workers)
{
	return octo_sched_start(workers) == OCTO_OK;
}

/* ---------------------------------------------------------------- timers */

#define ORDER_N 504

static struct {
	atomic_int fired;
	int order[ORDER_N];   /* written on the loop thread only */
	uint64_t lo[ORDER_N]; /* bounds of each timer's deadline */
	uint64_t hi[ORDER_N];
	unsigned delay[ORDER_N];
	uint64_t add_ms; /* how long adding them took */
	int add_failures;
} order;

static unsigned order_timer_cb(void *data)
{
	int i = (int)(intptr_t)data;
	int n = atomic_load(&order.fired);

	if (n < ORDER_N)
		order.order[n] = i;
	atomic_store(&order.fired, n + 1);
	return 0;
}

static void order_add_cb(void *data)
{
	/* Runs on the loop thread, so no timer fires while we add them. */
	static const unsigned named[4] = { 300, 100, 200, 0 }; /* A, B, C, D */
	uint64_t begin = octo_now_ms();

	srand(7);
	for (int i = 0; i < ORDER_N; i++) {
		order.delay[i] = i < 4 ? named[i] : (unsigned)(rand() % 60);
		order.lo[i] = octo_now_ms() + order.delay[i];
		if (!octo_timer_add(order.delay[i], order_timer_cb, (void *)(intptr_t)i))
			order.add_failures++;
		order.hi[i] = octo_now_ms() + order.delay[i];
	}
	order.add_ms = octo_now_ms() - begin;
}

OCTO_TEST(timers_fire_in_deadline_order)
{
	int inversions = 0;
	char named[5] = "";
	size_t k = 0;

	memset(&order, 0, sizeof(order));
	OCTO_CHECK(start(2));
	OCTO_CHECK_INT_EQ(octo_loop_call(order_add_cb, NULL), OCTO_OK);
	OCTO_CHECK(wait_at_least(&order.fired, ORDER_N));
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK_INT_EQ(atomic_load(&order.fired), ORDER_N);
	OCTO_CHECK_INT_EQ(order.add_failures, 0);
	OCTO_CHECK_INT_EQ(octo_timer_count(), 0);
	/* No timer fired before one whose deadline was surely earlier. */
	for (int a = 0; a < ORDER_N; a++) {
		for (int b = a + 1; b < ORDER_N; b++) {
			if (order.lo[order.order[a]] > order.hi[order.order[b]])
				inversions++;
		}
	}
	OCTO_CHECK_INT_EQ(inversions, 0);
	for (int i = 0; i < ORDER_N; i++) {
		if (order.order[i] < 4)
			named[k++] = (char)('A' + order.order[i]);
	}
	/* Unless adding took longer than the gaps between them (then the check
	 * above already covers it), the four named timers fire by delay. */
	if (order.add_ms < 100)
		OCTO_CHECK_STR_EQ(named, "DBCA");
	octo_sched_stop();
}

static atomic_int resched_runs;

static unsigned resched_cb(void *data)
{
	int n = atomic_fetch_add(&resched_runs, 1) + 1;

	return n < 5 ? 10 : 0;
}

OCTO_TEST(timer_rescheduled_by_return_value)
{
	uint64_t id;

	atomic_store(&resched_runs, 0);
	OCTO_CHECK(start(1));
	id = octo_timer_add(1, resched_cb, NULL);
	OCTO_CHECK(id > 0);
	OCTO_CHECK(wait_at_least(&resched_runs, 5));
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK_INT_EQ(octo_timer_count(), 0);
	OCTO_CHECK(!octo_timer_cancel(id)); /* ended by returning 0 */
	octo_sched_stop();
	OCTO_CHECK_INT_EQ(atomic_load(&resched_runs), 5);
}

static atomic_int never_runs;

static unsigned never_cb(void *data)
{
	atomic_fetch_add(&never_runs, 1);
	return 0;
}

OCTO_TEST(timer_cancel_before_firing)
{
	uint64_t id, id2;

	atomic_store(&never_runs, 0);
	OCTO_CHECK(start(1));
	id = octo_timer_add(10000, never_cb, NULL);
	id2 = octo_timer_add(20000, never_cb, NULL);
	OCTO_CHECK(id > 0);
	OCTO_CHECK(id2 > id);
	OCTO_CHECK_INT_EQ(octo_timer_count(), 2);
	OCTO_CHECK(octo_timer_cancel(id));
	OCTO_CHECK_INT_EQ(octo_timer_count(), 1);
	OCTO_CHECK(!octo_timer_cancel(id)); /* already cancelled */
	OCTO_CHECK(!octo_timer_cancel(0));
	OCTO_CHECK(!octo_timer_cancel(UINT64_MAX));
	OCTO_CHECK_INT_EQ(octo_timer_add(5, NULL, NULL), 0);
	octo_sched_stop(); /* frees id2, which never ran */
	OCTO_CHECK_INT_EQ(atomic_load(&never_runs), 0);
	OCTO_CHECK_INT_EQ(octo_timer_count(), 0);
	OCTO_CHECK(!octo_timer_cancel(id2));
}

static atomic_int slow_started, slow_finished, slow_runs;

static unsigned slow_cb(void *data)
{
	atomic_fetch_add(&slow_runs, 1);
	atomic_store(&slow_started, 1);
	usleep(200000);
	atomic_store(&slow_finished, 1);
	return 1; /* asks to run again: cancel must prevent it */
}

OCTO_TEST(timer_cancel_while_running_waits)
{
	uint64_t id;

	atomic_store(&slow_started, 0);
	atomic_store(&slow_finished, 0);
	atomic_store(&slow_runs, 0);
	OCTO_CHECK(start(1));
	id = octo_timer_add(0, slow_cb, NULL);
	OCTO_CHECK(wait_at_least(&slow_started, 1));
	OCTO_CHECK(!octo_timer_cancel(id));                /* running: false... */
	OCTO_CHECK_INT_EQ(atomic_load(&slow_finished), 1); /* ...after it finished */
	OCTO_CHECK_INT_EQ(octo_timer_count(), 0);
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK_INT_EQ(atomic_load(&slow_runs), 1);
	OCTO_CHECK(!octo_timer_cancel(id));
	octo_sched_stop();
	OCTO_CHECK_INT_EQ(atomic_load(&slow_runs), 1);
}

static uint64_t self_id; /* written and read on the loop thread only */
static atomic_int self_runs, self_cancel_result;

static unsigned self_cancel_cb(void *data)
{
	atomic_fetch_add(&self_runs, 1);
	atomic_store(&self_cancel_result, octo_timer_cancel(self_id) ? 1 : 0);
	return 1;
}

static void self_add_cb(void *data)
{
	self_id = octo_timer_add(0, self_cancel_cb, NULL);
}

OCTO_TEST(timer_cancel_from_its_own_callback)
{
	atomic_store(&self_runs, 0);
	atomic_store(&self_cancel_result, -1);
	OCTO_CHECK(start(1));
	OCTO_CHECK_INT_EQ(octo_loop_call(self_add_cb, NULL), OCTO_OK);
	OCTO_CHECK(wait_at_least(&self_runs, 1));
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK_INT_EQ(atomic_load(&self_cancel_result), 0);
	OCTO_CHECK_INT_EQ(octo_timer_count(), 0);
	octo_sched_stop();
	OCTO_CHECK_INT_EQ(atomic_load(&self_runs), 1);
}

OCTO_TEST(timers_100000_added_and_cancelled)
{
	enum { N = 100000 };
	uint64_t *ids = malloc(N * sizeof(*ids));
	int bad_ids = 0, failed_cancels = 0;

	atomic_store(&never_runs, 0);
	OCTO_CHECK(start(1));
	for (int i = 0; i < N; i++) {
		ids[i] = octo_timer_add(60000 + (unsigned)(i % 1000), never_cb, NULL);
		if (!ids[i] || (i && ids[i] <= ids[i - 1]))
			bad_ids++;
	}
	OCTO_CHECK_INT_EQ(bad_ids, 0);
	OCTO_CHECK_INT_EQ(octo_timer_count(), N);
	/* Cancel in a shuffled order, so removals hit every part of the heap. */
	srand(42);
	for (int i = N - 1; i > 0; i--) {
		int j = rand() % (i + 1);
		uint64_t tmp = ids[i];

		ids[i] = ids[j];
		ids[j] = tmp;
	}
	for (int i = 0; i < N; i++) {
		if (!octo_timer_cancel(ids[i]))
			failed_cancels++;
		if (i == N / 2)
			OCTO_CHECK_INT_EQ(octo_timer_count(), N - N / 2 - 1);
	}
	OCTO_CHECK_INT_EQ(failed_cancels, 0);
	OCTO_CHECK_INT_EQ(octo_timer_count(), 0);
	OCTO_CHECK(!octo_timer_cancel(ids[0]));
	OCTO_CHECK(!octo_timer_cancel(ids[N - 1]));
	octo_sched_stop();
	OCTO_CHECK_INT_EQ(atomic_load(&never_runs), 0);
	free(ids);
}

static atomic_int mixed_total;

static unsigned mixed_cb(void *data)
{
	atomic_fetch_add((atomic_int *)data, 1);
	atomic_fetch_add(&mixed_total, 1);
	return 0;
}

OCTO_TEST(timers_100000_fire_or_cancel)
{
	enum { N = 100000 };
	atomic_int *fired = calloc(N, sizeof(*fired));
	uint64_t *ids = malloc(N * sizeof(*ids));
	bool *cancelled = calloc(N, sizeof(*cancelled));
	int add_failures = 0, early = 0, wrong = 0, ncancelled = 0;

	atomic_store(&mixed_total, 0);
	OCTO_CHECK(start(2));
	for (int i = 0; i < N; i++) {
		ids[i] = octo_timer_add((unsigned)(i % 50), mixed_cb, &fired[i]);
		add_failures += !ids[i];
	}
	OCTO_CHECK_INT_EQ(add_failures, 0);
	for (int i = 1; i < N; i += 2) {
		cancelled[i] = octo_timer_cancel(ids[i]);
		ncancelled += cancelled[i];
		/* false means it ran, and has finished by now */
		if (!cancelled[i] && atomic_load(&fired[i]) != 1)
			early++;
	}
	OCTO_CHECK_INT_EQ(early, 0);
	OCTO_CHECK(wait_at_least(&mixed_total, N - ncancelled));
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK_INT_EQ(atomic_load(&mixed_total), N - ncancelled);
	OCTO_CHECK_INT_EQ(octo_timer_count(), 0);
	for (int i = 0; i < N; i++) {
		if (atomic_load(&fired[i]) != (cancelled[i] ? 0 : 1))
			wrong++;
	}
	OCTO_CHECK_INT_EQ(wrong, 0);
	octo_sched_stop();
	free(fired);
	free(ids);
	free(cancelled);
}

/* ---------------------------------------------------------------- fds */

static atomic_int fd_sum, fd_calls, fd_on_loop, fd_events;

static void eventfd_cb(int fd, uint32_t events, void *data)
{
	uint64_t v = 0;

	atomic_store(&fd_events, (int)events);
	atomic_store(&fd_on_loop, octo_loop_is_current());
	if ((events & EPOLLIN) && read(fd, &v, sizeof(v)) == sizeof(v))
		atomic_fetch_add(&fd_sum, (int)v);
	atomic_fetch_add(&fd_calls, 1);
	if (data)
		atomic_fetch_add((atomic_int *)data, 1);
}

static char pipe_buf[64];
static atomic_int pipe_len;

static void pipe_cb(int fd, uint32_t events, void *data)
{
	int len = atomic_load(&pipe_len);
	ssize_t n = read(fd, pipe_buf + len, sizeof(pipe_buf) - 1 - (size_t)len);

	if (n > 0)
		atomic_store(&pipe_len, len + (int)n);
}

OCTO_TEST(fd_callbacks_on_eventfd_and_pipe)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), p[2];
	uint64_t v = 5;
	atomic_int mine = 0;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

	atomic_store(&fd_sum, 0);
	atomic_store(&fd_calls, 0);
	atomic_store(&fd_on_loop, 0);
	atomic_store(&pipe_len, 0);
	memset(pipe_buf, 0, sizeof(pipe_buf));
	OCTO_CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(efd, EPOLLIN, eventfd_cb, NULL), OCTO_EFAIL);
	OCTO_CHECK(start(1));
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(-1, EPOLLIN, eventfd_cb, NULL), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(efd, EPOLLIN, NULL, NULL), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(devnull, EPOLLIN, eventfd_cb, NULL), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(9999, EPOLLIN, eventfd_cb, NULL), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_loop_fd_mod(efd, EPOLLIN), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_loop_fd_del(efd), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_loop_fd_del(-5), OCTO_ENOTFOUND);

	OCTO_CHECK_INT_EQ(octo_loop_fd_add(efd, EPOLLIN, eventfd_cb, &mine), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(efd, EPOLLIN, eventfd_cb, &mine), OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(p[0], EPOLLIN, pipe_cb, NULL), OCTO_OK);

	OCTO_CHECK(write(efd, &v, sizeof(v)) == sizeof(v));
	OCTO_CHECK(wait_at_least(&fd_sum, 5));
	OCTO_CHECK_INT_EQ(atomic_load(&fd_on_loop), 1);
	OCTO_CHECK_INT_EQ(atomic_load(&fd_events), EPOLLIN);
	OCTO_CHECK(atomic_load(&mine) >= 1); /* data reaches the callback */

	OCTO_CHECK(write(p[1], "hello ", 6) == 6);
	OCTO_CHECK(wait_at_least(&pipe_len, 6));
	OCTO_CHECK(write(p[1], "world", 5) == 5);
	OCTO_CHECK(wait_at_least(&pipe_len, 11));
	OCTO_CHECK_STR_EQ(pipe_buf, "hello world");

	/* An eventfd is always writable: mod to EPOLLOUT reports it. */
	OCTO_CHECK_INT_EQ(octo_loop_fd_mod(efd, EPOLLOUT), OCTO_OK);
	atomic_store(&fd_calls, 0);
	OCTO_CHECK(wait_at_least(&fd_calls, 1));
	OCTO_CHECK_INT_EQ(atomic_load(&fd_events), EPOLLOUT);
	OCTO_CHECK_INT_EQ(octo_loop_fd_del(efd), OCTO_OK);
	OCTO_CHECK_INT_EQ(octo_loop_fd_mod(efd, EPOLLIN), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_loop_fd_del(efd), OCTO_ENOTFOUND);
	/* Registered again after del. */
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(efd, EPOLLIN, eventfd_cb, NULL), OCTO_OK);
	OCTO_CHECK(write(efd, &v, sizeof(v)) == sizeof(v));
	OCTO_CHECK(wait_at_least(&fd_sum, 10));
	OCTO_CHECK_INT_EQ(atomic_load(&fd_sum), 10);

	octo_sched_stop(); /* frees the registrations that are left */
	OCTO_CHECK_INT_EQ(octo_loop_fd_del(p[0]), OCTO_ENOTFOUND);
	close(efd);
	close(p[0]);
	close(p[1]);
	close(devnull);
}

static atomic_int slowfd_in, slowfd_done, slowfd_calls;

static void slow_fd_cb(int fd, uint32_t events, void *data)
{
	uint64_t v;

	atomic_fetch_add(&slowfd_calls, 1);
	atomic_store(&slowfd_in, 1);
	usleep(200000);
	if (read(fd, &v, sizeof(v)) < 0) {
		/* nothing to read: not expected, the count shows it */
	}
	atomic_store(&slowfd_done, 1);
}

OCTO_TEST(fd_del_waits_for_a_running_callback)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t v = 1;

	atomic_store(&slowfd_in, 0);
	atomic_store(&slowfd_done, 0);
	atomic_store(&slowfd_calls, 0);
	OCTO_CHECK(start(1));
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(efd, EPOLLIN, slow_fd_cb, NULL), OCTO_OK);
	OCTO_CHECK(write(efd, &v, sizeof(v)) == sizeof(v));
	OCTO_CHECK(wait_at_least(&slowfd_in, 1));
	OCTO_CHECK_INT_EQ(octo_loop_fd_del(efd), OCTO_OK);
	OCTO_CHECK_INT_EQ(atomic_load(&slowfd_done), 1); /* not running any more */
	/* ...and never again, though the fd becomes readable. */
	OCTO_CHECK(write(efd, &v, sizeof(v)) == sizeof(v));
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK_INT_EQ(atomic_load(&slowfd_calls), 1);
	octo_sched_stop();
	close(efd);
}

static atomic_int selfdel_calls, selfdel_rc;

static void self_del_cb(int fd, uint32_t events, void *data)
{
	atomic_fetch_add(&selfdel_calls, 1);
	atomic_store(&selfdel_rc, octo_loop_fd_del(fd));
	/* The fd stays readable (not read): a live registration would fire again. */
}

OCTO_TEST(fd_del_from_its_own_callback)
{
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	uint64_t v = 1;

	atomic_store(&selfdel_calls, 0);
	atomic_store(&selfdel_rc, 1);
	OCTO_CHECK(start(1));
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(efd, EPOLLIN, self_del_cb, NULL), OCTO_OK);
	OCTO_CHECK(write(efd, &v, sizeof(v)) == sizeof(v));
	OCTO_CHECK(wait_at_least(&selfdel_calls, 1));
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK(loop_barrier());
	OCTO_CHECK_INT_EQ(atomic_load(&selfdel_rc), OCTO_OK);
	OCTO_CHECK_INT_EQ(atomic_load(&selfdel_calls), 1);
	octo_sched_stop();
	close(efd);
}

/* ---------------------------------------------------------------- loop calls */

static atomic_int call_on_loop, call_count;
static int call_order[100]; /* written on the loop thread only */

static void call_cb(void *data)
{
	int n = atomic_load(&call_count);

	if (!octo_loop_is_current())
		atomic_store(&call_on_loop, -1);
	else if (atomic_load(&call_on_loop) == 0)
		atomic_store(&call_on_loop, 1);
	if (n < 100)
		call_order[n] = (int)(intptr_t)data;
	atomic_store(&call_count, n + 1);
}

static void name_cb(void *data)
{
	pthread_getname_np(pthread_self(), data, 16);
	atomic_store(&call_count, 1);
}

OCTO_TEST(loop_call_runs_on_the_loop_thread_in_order)
{
	int wrong = 0;
	char name[16] = "";

	atomic_store(&call_on_loop, 0);
	atomic_store(&call_count, 0);
	OCTO_CHECK_INT_EQ(octo_loop_call(call_cb, NULL), OCTO_EFAIL); /* not started */
	OCTO_CHECK(start(1));
	OCTO_CHECK(!octo_loop_is_current());
	OCTO_CHECK_INT_EQ(octo_loop_call(NULL, NULL), OCTO_EINVAL);
	for (int i = 0; i < 100; i++)
		OCTO_CHECK_INT_EQ(octo_loop_call(call_cb, (void *)(intptr_t)i), OCTO_OK);
	OCTO_CHECK(wait_at_least(&call_count, 100));
	OCTO_CHECK_INT_EQ(atomic_load(&call_on_loop), 1);
	for (int i = 0; i < 100; i++)
		wrong += call_order[i] != i;
	OCTO_CHECK_INT_EQ(wrong, 0);

	atomic_store(&call_count, 0);
	OCTO_CHECK_INT_EQ(octo_loop_call(name_cb, name), OCTO_OK);
	OCTO_CHECK(wait_at_least(&call_count, 1));
	OCTO_CHECK_STR_EQ(name, "event loop");
	octo_sched_stop();
}

/* ---------------------------------------------------------------- workers */

static atomic_int work_done, work_on_loop;
static int work_order[100]; /* with one worker, written by it only */

static void work_cb(void *data)
{
	int n = atomic_fetch_add(&work_done, 1);

	if (octo_loop_is_current())
		atomic_store(&work_on_loop, 1);
	if (data && n < 100)
		work_order[n] = (int)(intptr_t)data - 1;
}

OCTO_TEST(worker_pool_runs_every_item)
{
	atomic_store(&work_done, 0);
	atomic_store(&work_on_loop, 0);
	OCTO_CHECK_INT_EQ(octo_work_push(work_cb, NULL), OCTO_EFAIL); /* not started */
	OCTO_CHECK(start(4));
	OCTO_CHECK_INT_EQ(octo_work_push(NULL, NULL), OCTO_EINVAL);
	for (int i = 0; i < 1000; i++)
		OCTO_CHECK_INT_EQ(octo_work_push(work_cb, NULL), OCTO_OK);
	OCTO_CHECK(wait_at_least(&work_done, 1000));
	OCTO_CHECK_INT_EQ(atomic_load(&work_done), 1000);
	OCTO_CHECK_INT_EQ(atomic_load(&work_on_loop), 0);
	octo_sched_stop();
}

OCTO_TEST(worker_pool_is_fifo)
{
	int wrong = 0;

	atomic_store(&work_done, 0);
	OCTO_CHECK(start(1));
	for (int i = 0; i < 100; i++)
		octo_work_push(work_cb, (void *)(intptr_t)(i + 1));
	OCTO_CHECK(wait_at_least(&work_done, 100));
	octo_sched_stop();
	for (int i = 0; i < 100; i++)
		wrong += work_order[i] != i;
	OCTO_CHECK_INT_EQ(wrong, 0);
}

static atomic_int chain_loop_calls;

static void chain_loop_cb(void *data)
{
	atomic_fetch_add(&chain_loop_calls, 1);
}

static void slow_work_cb(void *data)
{
	usleep(100000);
	atomic_fetch_add(&work_done, 1);
	/* A work item posting to the loop while the scheduler stops. */
	if (octo_loop_call(chain_loop_cb, NULL) != OCTO_OK)
		atomic_store(&chain_loop_calls, -1000);
}

OCTO_TEST(stop_runs_pending_work_first)
{
	atomic_store(&work_done, 0);
	atomic_store(&chain_loop_calls, 0);
	OCTO_CHECK(start(1));
	OCTO_CHECK_INT_EQ(octo_work_push(slow_work_cb, NULL), OCTO_OK);
	for (int i = 0; i < 50; i++)
		OCTO_CHECK_INT_EQ(octo_work_push(work_cb, NULL), OCTO_OK);
	octo_sched_stop();
	OCTO_CHECK_INT_EQ(atomic_load(&work_done), 51);
	OCTO_CHECK_INT_EQ(atomic_load(&chain_loop_calls), 1);
	/* Everything refuses politely once stopped. */
	OCTO_CHECK_INT_EQ(octo_work_push(work_cb, NULL), OCTO_EFAIL);
	OCTO_CHECK_INT_EQ(octo_loop_call(chain_loop_cb, NULL), OCTO_EFAIL);
	OCTO_CHECK_INT_EQ(octo_timer_add(1, never_cb, NULL), 0);
	OCTO_CHECK_INT_EQ(octo_loop_fd_add(0, EPOLLIN, eventfd_cb, NULL), OCTO_EFAIL);
	octo_sched_stop(); /* twice is harmless */
}

static atomic_int restart_runs;

static unsigned restart_cb(void *data)
{
	atomic_fetch_add(&restart_runs, 1);
	return 0;
}

OCTO_TEST(stop_and_start_twice)
{
	uint64_t first = 0;

	atomic_store(&restart_runs, 0);
	for (int round = 0; round < 2; round++) {
		uint64_t id;

		OCTO_CHECK(start(2));
		OCTO_CHECK_INT_EQ(octo_sched_start(2), OCTO_EBUSY);
		id = octo_timer_add(1, restart_cb, NULL);
		OCTO_CHECK(id > 0);
		if (round == 0)
			first = id;
		else
			OCTO_CHECK(id > first); /* ids are never reused */
		OCTO_CHECK(wait_at_least(&restart_runs, round + 1));
		/* Left pending: freed by stop. */
		OCTO_CHECK(octo_timer_add(100000, restart_cb, NULL) > 0);
		octo_sched_stop();
		OCTO_CHECK_INT_EQ(atomic_load(&restart_runs), round + 1);
	}
}

/* ---------------------------------------------------------------- threads */

static bool has_thread(const struct octo_thread_info *list, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(list[i].name, name) == 0)
			return true;
	}
	return false;
}

OCTO_TEST(thread_registry_lists_loop_workers_and_others)
{
	struct octo_thread_info list[8];
	unsigned n;

	OCTO_CHECK_INT_EQ(octo_sched_threads(NULL, 0), 0);
	OCTO_CHECK(start(2));
	n = octo_sched_threads(list, 8);
	OCTO_CHECK_INT_EQ(n, 3);
	OCTO_CHECK(has_thread(list, n, "event loop"));
	OCTO_CHECK(has_thread(list, n, "worker 1"));
	OCTO_CHECK(has_thread(list, n, "worker 2"));

	octo_thread_register("test main thread");
	n = octo_sched_threads(list, 8);
	OCTO_CHECK_INT_EQ(n, 4);
	OCTO_CHECK(has_thread(list, n, "test main thread"));
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(list[i].name, "test main thread") == 0)
			OCTO_CHECK_INT_EQ(list[i].tid, gettid());
	}
	octo_thread_register("renamed");
	OCTO_CHECK_INT_EQ(octo_sched_threads(list, 2), 4); /* fills 2, counts 4 */
	n = octo_sched_threads(list, 8);
	OCTO_CHECK(has_thread(list, n, "renamed"));
	OCTO_CHECK(!has_thread(list, n, "test main thread"));
	octo_thread_unregister();
	OCTO_CHECK_INT_EQ(octo_sched_threads(list, 8), 3);
	octo_thread_unregister(); /* not registered: no-op */
	OCTO_CHECK_INT_EQ(octo_sched_threads(list, 8), 3);
	octo_sched_stop();
	OCTO_CHECK_INT_EQ(octo_sched_threads(list, 8), 0);
}

/* ---------------------------------------------------------------- heap trim */

OCTO_TEST(heap_trimmed_after_a_burst)
{
	struct octo_trim_watch w = OCTO_TRIM_WATCH_INIT(64);
	unsigned long before = octo_trim_count();

	OCTO_CHECK(start(1));
	/* a small burst: under min_peak, never trimmed */
	for (size_t i = 1; i <= 40; i++)
		octo_trim_note(&w, i);
	for (size_t i = 40; i-- > 0;)
		octo_trim_note(&w, i);
	/* a burst of 1000: trimmed at a sixteenth (62), once more at zero */
	for (size_t i = 1; i <= 1000; i++)
		octo_trim_note(&w, i);
	for (size_t i = 1000; i-- > 0;)
		octo_trim_note(&w, i);
	octo_sched_stop(); /* runs the pushed work first */
	OCTO_CHECK_INT_EQ(octo_trim_count() - before, 2);
	/* the peak started over: a second burst is trimmed again */
	OCTO_CHECK(start(1));
	for (size_t i = 1; i <= 100; i++)
		octo_trim_note(&w, i);
	octo_trim_note(&w, 0);
	octo_sched_stop();
	OCTO_CHECK_INT_EQ(octo_trim_count() - before, 3);
}

/* ---------------------------------------------------------------- call thread stacks */

static atomic_int stack_runs;
static atomic_long stack_last_tid;

static void *stack_thread(void *arg)
{
	volatile char deep[16 * 1024]; /* uses the stack it was given */

	memset((char *)deep, (int)(intptr_t)arg, sizeof(deep));
	atomic_store(&stack_last_tid, (long)gettid());
	atomic_fetch_add(&stack_runs, deep[100] == (char)(intptr_t)arg);
	return NULL;
}

/* counts itself, then still takes a moment to return (as a call thread
 * does after it told the PBX it ended) */
static void *stack_thread_tail(void *arg)
{
	stack_thread(arg);
	usleep(20000);
	return NULL;
}

static void wait_runs(int n)
{
	for (int i = 0; i < 500 && atomic_load(&stack_runs) < n; i++)
		usleep(10000);
}

/* Threads on Octo's own stacks: a thread whose work is done parks and
 * takes the next work, a parked thread idle for 10 s (the timer) ends and
 * its stack is unmapped, and all at shutdown. */
OCTO_TEST(call_thread_stacks_reused_and_given_back)
{
	size_t base = octo_thread_stacks_mapped();
	long first_tid = 0;
	int same_thread = 0;

	octo_thread_stacks_idle_ms(300);
	OCTO_CHECK(start(1));
	atomic_store(&stack_runs, 0);
	/* one after the other: the same parked thread serves them all */
	for (int i = 0; i < 20; i++) {
		OCTO_CHECK_INT_EQ(octo_thread_start_stack(stack_thread, (void *)(intptr_t)(i + 1),
							  256 * 1024), 0);
		wait_runs(i + 1);
		usleep(20000); /* it parks */
		if (!i)
			first_tid = atomic_load(&stack_last_tid);
		same_thread += atomic_load(&stack_last_tid) == first_tid;
	}
	OCTO_CHECK_INT_EQ(atomic_load(&stack_runs), 20);
	OCTO_CHECK_INT_EQ(same_thread, 20);
	OCTO_CHECK(octo_thread_stacks_mapped() - base <= 2);
	/* a burst at once: a stack each */
	for (int i = 0; i < 40; i++)
		OCTO_CHECK_INT_EQ(octo_thread_start_stack(stack_thread, (void *)(intptr_t)7,
							  256 * 1024), 0);
	wait_runs(60);
	OCTO_CHECK_INT_EQ(atomic_load(&stack_runs), 60);
	OCTO_CHECK(octo_thread_stacks_mapped() - base >= 2);
	/* idle: the timer ends the parked threads and unmaps their stacks
	 * within two of its periods */
	for (int i = 0; i < 500 && octo_thread_stacks_mapped() > base; i++)
		usleep(10000);
	OCTO_CHECK_INT_EQ(octo_thread_stacks_mapped(), base);
	/* and at shutdown, without waiting for the timer, also the stacks of
	 * threads whose work ended a moment ago (not yet listed as ended) */
	for (int i = 0; i < 40; i++)
		OCTO_CHECK_INT_EQ(octo_thread_start_stack(stack_thread_tail, (void *)(intptr_t)3,
							  128 * 1024), 0);
	wait_runs(100);
	octo_thread_stacks_release();
	OCTO_CHECK_INT_EQ(octo_thread_stacks_mapped(), base);
	octo_sched_stop();
	octo_thread_stacks_idle_ms(0);
}

OCTO_TEST_MAIN()
