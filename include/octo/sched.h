/*
 * sched.h - the core event loop (epoll), timers and the worker pool.
 *
 * There is one event loop thread. File descriptor and timer callbacks run on
 * it and must not block: push blocking work to the worker pool with
 * octo_work_push(). Timers live in a binary heap (O(log n) add/cancel, O(1)
 * next deadline), so hundreds of thousands of them stay cheap.
 *
 * Every function here is thread-safe.
 */
#ifndef OCTO_SCHED_H
#define OCTO_SCHED_H

#include <stdbool.h>
#include <stdint.h>

/* Start/stop the loop thread and the worker pool (the daemon does this;
 * unit tests may too). octo_sched_start() returns 0 or a negative OCTO_E*. */
int octo_sched_start(unsigned workers);
/* Stops the loop and the workers (pending work items are run first), joins
 * their threads and frees every timer and fd registration. */
void octo_sched_stop(void);

/* True when called from the loop thread. */
bool octo_loop_is_current(void);

/* ---------------------------------------------------------------- fds
 * `events` are EPOLLIN/EPOLLOUT/... The callback gets the fd, the events that
 * fired and `data`. An fd is registered once; octo_loop_fd_del() guarantees
 * that, when it returns, the callback is not running and will not run again
 * (unless called from inside that very callback, which is allowed). */
typedef void (*octo_fd_cb)(int fd, uint32_t events, void *data);
int octo_loop_fd_add(int fd, uint32_t events, octo_fd_cb cb, void *data);
int octo_loop_fd_mod(int fd, uint32_t events);
int octo_loop_fd_del(int fd);

/* ---------------------------------------------------------------- timers
 * The callback runs on the loop thread after `ms` milliseconds. It returns
 * the delay in ms until it should run again, or 0 to end the timer.
 * Returns a timer id (> 0), or 0 on failure. */
typedef unsigned (*octo_timer_cb)(void *data);
uint64_t octo_timer_add(unsigned ms, octo_timer_cb cb, void *data);

/* Cancels a timer. Returns true if it was pending and will now never run;
 * false if it already ended or is running right now. When it returns false
 * from a thread other than the loop, it waits for a running callback to
 * finish, so the caller may free `data` afterwards either way. */
bool octo_timer_cancel(uint64_t id);

/* Number of pending timers (diagnostics). */
unsigned long octo_timer_count(void);

/* Runs fn(data) on the loop thread soon (thread-safe wake-up via eventfd). */
int octo_loop_call(void (*fn)(void *data), void *data);

/* ---------------------------------------------------------------- workers
 * A small pool of threads for work that must not block the loop (sqlite,
 * e-mail, CLI commands). Items run in FIFO order, possibly in parallel. */
int octo_work_push(void (*fn)(void *data), void *data);

/* Thread names and counts for "core show threads". */
struct octo_thread_info {
	char name[32];
	unsigned long tid;
};
/* Fills up to `max` entries, returns how many threads there are. */
unsigned octo_sched_threads(struct octo_thread_info *out, unsigned max);

/* Registers / unregisters the calling thread for "core show threads" (call
 * threads and module threads do this). */
void octo_thread_register(const char *name);
void octo_thread_unregister(void);

#endif
