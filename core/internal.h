/*
 * internal.h - declarations shared between core files only. Modules never
 * include this: their API is include/octo/.
 */
#ifndef OCTO_CORE_INTERNAL_H
#define OCTO_CORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "octo/config.h"
#include "octo/log.h"
#include "octo/module.h"

struct octo_channel;

/* A CLOCK_REALTIME deadline `ms` from now, for pthread_cond_timedwait (util.c). */
struct timespec octo_deadline_after_ms(unsigned ms);

/* ---------------------------------------------------------------- thread stacks (threadstack.c) */
/* Runs fn(arg) in a thread of its own on a stack of at least `stack_size`
 * bytes: a parked thread whose last work is done, or a new one. A thread
 * parks when fn returns and ends after 10 s without work; its stack is then
 * unmapped (glibc's own cache of ended threads' stacks never gives its
 * memory back). fn must leave no thread-local state behind that the next
 * work would see. The pool joins the threads: do not join or detach them.
 * 0 or OCTO_E*. */
int octo_thread_start_stack(void *(*fn)(void *), void *arg, size_t stack_size);
/* Ends the parked threads, waits for the threads that ended (their work is
 * done) and unmaps every spare stack: at shutdown, once no such thread has
 * work left. Threads whose work ends later end instead of parking. */
void octo_thread_stacks_release(void);
/* Stacks mapped now, in use or spare (tests, core show memory). */
size_t octo_thread_stacks_mapped(void);
/* Tests: how long a parked thread or a spare stack waits unused before it
 * ends or is unmapped (0: the default, 10 s). */
void octo_thread_stacks_idle_ms(unsigned ms);

/* The event loop thread's kernel thread id, 0 when it does not run (sched.c). */
long octo_loop_tid(void);

/* ---------------------------------------------------------------- daemon state (daemon.c) */
/* octo.conf [options]; filled by main.c before anything starts. */
struct octo_settings {
	int verbose;
	char *language;
	unsigned workers;
	unsigned max_calls;      /* 0: no limit */
	int loop_nice;           /* the event loop's nice, relative to the daemon's */
};
extern struct octo_settings octo_settings;
void octo_set_booted(bool booted);
extern uint64_t octo_start_time_us;     /* when the daemon started */
extern uint64_t octo_reload_time_us;    /* last successful reload */
bool octo_fully_booted(void);
/* Asks the daemon to stop now (like SIGTERM) or when the last call ends. */
void octo_request_stop(bool gracefully);
/* Reloads every config (core files and every module); serialised. Errors go
 * to `diags`. Returns 0 or OCTO_ECONFIG when anything failed (what failed
 * keeps its running config). */
int octo_reload_all(struct octo_diags *diags);
/* Channel bookkeeping for a graceful stop: called when a channel ends. */
void octo_main_channel_gone(void);
void octo_main_cancel_graceful(void);
bool octo_main_stopping_gracefully(void);

/* ---------------------------------------------------------------- logger (log.c) */
void octo_log_init(void);
/* Foreground output on stderr at verbosity `verbose` (0 = errors, warnings, notices). */
void octo_log_stderr(bool on, int verbose);
/* Loads logger.conf from the config folder (atomically: on errors the running
 * channels stay). */
int octo_logger_reload(struct octo_diags *diags);
/* Checks logger.conf without applying it. */
int octo_logger_check(const char *config_dir, struct octo_diags *diags);
void octo_log_shutdown(void);
int octo_logger_cli_init(void);

/* ---------------------------------------------------------------- registry (registry.c) */
int octo_registry_init(void);
void octo_registry_shutdown(void);
/* Removes every entry owned by `mod`. */
void octo_registry_remove_module(struct octo_module *mod);
/* The registry's write lock, held by the loader while it checks a module's
 * use count and removes its entries, so no new get() can slip in between. */
void octo_registry_wrlock(void);
void octo_registry_unlock(void);

/* ---------------------------------------------------------------- loader (loader.c) */
int octo_loader_init(const char *module_dir);
/* Loads what modules.conf says. Problems are logged and added to `diags`;
 * the core keeps running whatever fails. Returns the number of modules loaded. */
int octo_loader_load_all(struct octo_diags *diags);
/* Runs every module's check() on the config folder (octo -t). */
int octo_loader_check_all(const char *config_dir, struct octo_diags *diags);
/* Runtime operations; on failure a message for the administrator is written
 * into `err`. */
int octo_loader_load(const char *name, char *err, size_t errsize);
int octo_loader_unload(const char *name, bool force, char *err, size_t errsize);
int octo_loader_reload(const char *name, struct octo_diags *diags);
/* Calls every loaded module's reload(), in load order. */
int octo_loader_reload_all(struct octo_diags *diags);
/* Unloads everything in reverse dependency order (shutdown). */
void octo_loader_shutdown(void);
/* A malloc'ed array of malloc'ed names of the loaded modules; returns the count. */
size_t octo_loader_module_names(char ***names);
int octo_loader_cli_init(void);
/* Used-by text of a module: "chan_test (2), Test/100-00000001 (1)". */
void octo_module_holders(struct octo_module *mod, char *buf, size_t size);

/* ---------------------------------------------------------------- CLI (cli.c / cli_core.c) */
int octo_core_cli_init(void);

/* ---------------------------------------------------------------- channels, dialplan */
int octo_chan_init(void);
void octo_chan_shutdown(void);
int octo_chan_cli_init(void);
/* The position shown by "calls show active" ("users/100/2 Dial"). */
void octo_chan_set_position(struct octo_channel *chan, const char *position);
void octo_chan_var_foreach(struct octo_channel *chan,
			   void (*cb)(const char *name, const char *value, void *arg), void *arg);
/* Call threads (pbx.c): true while `chan` runs dialplan; wait for all to end. */
bool octo_pbx_is_running(struct octo_channel *chan);
void octo_pbx_wait_threads(unsigned timeout_ms);
/* cdr.c: a record from a channel that just hung up. */
struct octo_cdr;
void octo_cdr_from_channel(struct octo_channel *chan, struct octo_cdr *cdr);
int octo_dialplan_init(void);
void octo_dialplan_shutdown(void);
int octo_dialplan_check(const char *config_dir, struct octo_diags *diags);
int octo_dialplan_cli_init(void);

#endif
