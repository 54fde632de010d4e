/*
 * pbx.c - runs the dialplan of a call: one thread per call, each step looked
 * up in the running dialplan, its arguments substituted, its application
 * found in the registry and run, and everything written to the channel's
 * step log.
 *
 * DESIGN: a call thread keeps its position (procedure, number, priority) in a
 * frame on its own stack, reached by applications through a thread-local
 * pointer (octo_pbx_goto is only valid on the call thread). At every step the
 * entry is found again in the running dialplan, so a reload takes effect at
 * the next step of calls in progress.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "dialplan_int.h"
#include "internal.h"

#define PBX_MAX_STEPS 100000     /* a dialplan loop ends the call, not the PBX */

/* The call thread's position. */
struct pbx_frame {
	struct octo_channel *chan;
	char procedure[80];
	char number[80];
	int prio;            /* the priority number to run next */
	bool jumped;         /* set by octo_pbx_goto */
	char jump_label[64]; /* a label to resolve in the new entry */
};

static _Thread_local struct pbx_frame *pbx_frame;

/* Running call threads, for shutdown and "is running". */
static pthread_mutex_t pbx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pbx_cond = PTHREAD_COND_INITIALIZER;
static unsigned pbx_threads;
#define PBX_THREAD_NICE 5 /* call threads: this much nicer than the daemon */
#define PBX_STACK_SIZE (256 * 1024)
static struct octo_channel **pbx_running;
static size_t pbx_running_count, pbx_running_cap;

/* Global variables. */
static pthread_mutex_t pbx_globals_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dp_global *pbx_globals;
static size_t pbx_nglobals;

/* ---------------------------------------------------------------- registration */

int octo_app_register_all(struct octo_module *owner, const struct octo_app *apps)
{
	for (size_t i = 0; apps[i].name; i++) {
		int rc = apps[i].exec ? octo_registry_add(owner, OCTO_REG_APP, apps[i].name,
							  &apps[i])
				      : OCTO_EINVAL;

		if (rc) {
			while (i-- > 0)
				octo_registry_remove(OCTO_REG_APP, &apps[i]);
			return rc;
		}
	}
	return 0;
}

int octo_func_register_all(struct octo_module *owner, const struct octo_func *funcs)
{
	for (size_t i = 0; funcs[i].name; i++) {
		int rc = funcs[i].read ? octo_registry_add(owner, OCTO_REG_FUNC, funcs[i].name,
							   &funcs[i])
				       : OCTO_EINVAL;

		if (rc) {
			while (i-- > 0)
				octo_registry_remove(OCTO_REG_FUNC, &funcs[i]);
			return rc;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- globals */

void octo_pbx_globals_replace(const struct dp_global *globals, size_t count)
{
	struct dp_global *copy = NULL, *old;
	size_t old_count;

	if (count) {
		copy = calloc(count, sizeof(*copy));
		if (!copy)
			abort();
		for (size_t i = 0; i < count; i++) {
			copy[i].name = octo_strdup(globals[i].name);
			copy[i].value = octo_strdup(globals[i].value);
		}
	}
	pthread_mutex_lock(&pbx_globals_lock);
	old = pbx_globals;
	old_count = pbx_nglobals;
	pbx_globals = copy;
	pbx_nglobals = count;
	pthread_mutex_unlock(&pbx_globals_lock);
	for (size_t i = 0; i < old_count; i++) {
		free(old[i].name);
		free(old[i].value);
	}
	free(old);
}

const char *octo_pbx_global_get(const char *name, char *buf, size_t size)
{
	const char *found = NULL;

	pthread_mutex_lock(&pbx_globals_lock);
	for (size_t i = 0; i < pbx_nglobals; i++) {
		if (!strcmp(pbx_globals[i].name, name)) {
			octo_strlcpy(buf, pbx_globals[i].value, size);
			found = buf;
			break;
		}
	}
	pthread_mutex_unlock(&pbx_globals_lock);
	return found;
}

int octo_pbx_global_set(const char *name, const char *value)
{
	struct dp_global *grown;

	if (!name || !*name || !value)
		return OCTO_EINVAL;
	pthread_mutex_lock(&pbx_globals_lock);
	for (size_t i = 0; i < pbx_nglobals; i++) {
		if (!strcmp(pbx_globals[i].name, name)) {
			free(pbx_globals[i].value);
			pbx_globals[i].value = octo_strdup(value);
			pthread_mutex_unlock(&pbx_globals_lock);
			return 0;
		}
	}
	grown = realloc(pbx_globals, (pbx_nglobals + 1) * sizeof(*grown));
	if (!grown) {
		pthread_mutex_unlock(&pbx_globals_lock);
		return OCTO_ENOMEM;
	}
	pbx_globals = grown;
	pbx_globals[pbx_nglobals].name = octo_strdup(name);
	pbx_globals[pbx_nglobals].value = octo_strdup(value);
	pbx_nglobals++;
	pthread_mutex_unlock(&pbx_globals_lock);
	return 0;
}

/* ---------------------------------------------------------------- substitution */

static const char *pbx_get_var(void *data, const char *name, char *buf, size_t size)
{
	struct octo_channel *chan = data;

	if (chan) {
		static const struct {
			const char *name;
			enum octo_chan_field field;
		} fields[] = {
			{ "CALLER", OCTO_CHAN_CALLER_NUM },
			{ "CALLERNAME", OCTO_CHAN_CALLER_NAME },
			{ "CALLED", OCTO_CHAN_CALLED },
			{ "DIALED", OCTO_CHAN_DIALED },
			{ "PROCEDURE", OCTO_CHAN_PROCEDURE },
		};
		const char *v = octo_chan_var_get(chan, name, buf, size);

		if (v)
			return v;
		for (size_t i = 0; i < OCTO_ARRAY_LEN(fields); i++)
			if (!strcmp(name, fields[i].name))
				return octo_chan_copy(chan, fields[i].field, buf, size);
		if (!strcmp(name, "CHANNEL"))
			return octo_strlcpy(buf, octo_chan_name(chan), size), buf;
		if (!strcmp(name, "UNIQUEID"))
			return octo_strlcpy(buf, octo_chan_id(chan), size), buf;
		if (!strcmp(name, "HANGUPCAUSE")) {
			snprintf(buf, size, "%d", octo_chan_hangup_cause(chan));
			return buf;
		}
		if (!strcmp(name, "PRIORITY") && pbx_frame && pbx_frame->chan == chan) {
			snprintf(buf, size, "%d", pbx_frame->prio);
			return buf;
		}
	}
	if (!strcmp(name, "EPOCH")) {
		snprintf(buf, size, "%lld", (long long)time(NULL));
		return buf;
	}
	return octo_pbx_global_get(name, buf, size);
}

static int pbx_call_func(void *data, const char *name, const char *args, char *buf, size_t size)
{
	struct octo_channel *chan = data;
	const char *holder = chan ? octo_chan_name(chan) : "dialplan";
	const struct octo_func *func = octo_registry_get(OCTO_REG_FUNC, name, holder);
	int rc;

	if (!func)
		return OCTO_ENOTFOUND;
	rc = func->read(chan, args, buf, size);
	octo_registry_put(OCTO_REG_FUNC, func, holder);
	return rc;
}

static void pbx_warn(void *data, const char *message)
{
	struct octo_channel *chan = data;

	if (chan) {
		octo_chan_step(chan, "warning: %s", message);
		octo_chan_log(chan, OCTO_WARNING, "%s", message);
	} else {
		octo_log(OCTO_WARNING, "%s", message);
	}
}

char *octo_pbx_subst(struct octo_channel *chan, const char *in)
{
	struct octo_subst_ctx ctx = {
		.get_var = pbx_get_var,
		.call_func = pbx_call_func,
		.warn = pbx_warn,
		.data = chan,
	};

	return octo_subst(in ? in : "", &ctx, 0);
}

/* ---------------------------------------------------------------- jumps */

int octo_pbx_goto(struct octo_channel *chan, const char *procedure, const char *number,
		  const char *priority_or_label)
{
	struct pbx_frame *f = pbx_frame;
	struct dp_snapshot *dp;
	const struct dp_exten *ext;
	const char *proc = procedure && *procedure ? procedure : NULL;
	const char *num = number && *number ? number : NULL;
	int rc = 0;

	if (!f || f->chan != chan) {
		octo_chan_log(chan, OCTO_ERROR, "goto called outside the call's thread");
		return OCTO_EINVAL;
	}
	if (!proc)
		proc = f->procedure;
	if (!num)
		num = f->number;
	dp = dp_current();
	ext = dp_match(dp, proc, num, NULL);
	if (!ext) {
		octo_chan_step(chan, "goto %s,%s: no entry matches in [%s]", proc, num, proc);
		rc = OCTO_ENOTFOUND;
		goto out;
	}
	f->jump_label[0] = '\0';
	if (priority_or_label && *priority_or_label) {
		char *end;
		long prio = strtol(priority_or_label, &end, 10);

		if (!*end && prio > 0) {
			if (dp_find_prio(ext, (int)prio) < 0) {
				octo_chan_step(chan, "goto %s,%s,%ld: no such priority", proc, num,
					       prio);
				rc = OCTO_ENOTFOUND;
				goto out;
			}
			f->prio = (int)prio;
		} else {
			int idx = dp_find_label(ext, priority_or_label);

			if (idx < 0) {
				octo_chan_step(chan, "goto %s,%s,%s: no such label", proc, num,
					       priority_or_label);
				rc = OCTO_ENOTFOUND;
				goto out;
			}
			f->prio = ext->prios[idx].prio;
		}
	} else {
		f->prio = ext->nprios ? ext->prios[0].prio : 1;
	}
	if (proc != f->procedure)
		octo_strlcpy(f->procedure, proc, sizeof(f->procedure));
	if (num != f->number)
		octo_strlcpy(f->number, num, sizeof(f->number));
	if (procedure && *procedure)
		octo_chan_set(chan, OCTO_CHAN_PROCEDURE, f->procedure);
	if (number && *number)
		octo_chan_set(chan, OCTO_CHAN_CALLED, f->number);
	f->jumped = true;
	octo_chan_step(chan, "goto %s/%s/%d", f->procedure, f->number, f->prio);
out:
	octo_obj_unref(dp);
	return rc;
}

/* ---------------------------------------------------------------- engine */

static void pbx_running_add(struct octo_channel *chan)
{
	pthread_mutex_lock(&pbx_lock);
	if (pbx_running_count == pbx_running_cap) {
		size_t cap = pbx_running_cap ? pbx_running_cap * 2 : 64;
		struct octo_channel **grown = realloc(pbx_running, cap * sizeof(*grown));

		if (!grown)
			abort();
		pbx_running = grown;
		pbx_running_cap = cap;
	}
	pbx_running[pbx_running_count++] = chan;
	pthread_mutex_unlock(&pbx_lock);
}

static void pbx_running_remove(struct octo_channel *chan)
{
	pthread_mutex_lock(&pbx_lock);
	for (size_t i = 0; i < pbx_running_count; i++) {
		if (pbx_running[i] == chan) {
			pbx_running[i] = pbx_running[--pbx_running_count];
			break;
		}
	}
	if (!pbx_running_count) {
		free(pbx_running);
		pbx_running = NULL;
		pbx_running_cap = 0;
	}
	pthread_mutex_unlock(&pbx_lock);
}

bool octo_pbx_is_running(struct octo_channel *chan)
{
	bool found = false;

	pthread_mutex_lock(&pbx_lock);
	for (size_t i = 0; i < pbx_running_count && !found; i++)
		found = pbx_running[i] == chan;
	pthread_mutex_unlock(&pbx_lock);
	return found;
}

/* Runs one step; returns false when the dialplan of this call is over. */
static bool pbx_step(struct pbx_frame *f)
{
	struct octo_channel *chan = f->chan;
	struct dp_snapshot *dp = dp_current();
	const struct dp_proc *where = NULL;
	const struct dp_exten *ext = dp_match(dp, f->procedure, f->number, &where);
	const struct octo_app *app;
	const struct dp_prio *p;
	char position[160];
	char *args;
	int idx, rc;
	bool go_on = true;

	if (!ext) {
		octo_chan_step(chan, "no entry for %s in [%s]: hanging up (unallocated)",
			       f->number, f->procedure);
		octo_chan_log(chan, OCTO_NOTICE, "no entry for %s in procedure %s", f->number,
			      f->procedure);
		octo_chan_var_set(chan, "HANGUPCAUSE", "1");
		octo_obj_unref(dp);
		octo_chan_hangup(chan, OCTO_CAUSE_UNALLOCATED);
		return false;
	}
	idx = dp_find_prio(ext, f->prio);
	if (idx < 0) {
		/* Past the last priority (or a gap): the next higher one, else the end. */
		idx = -1;
		for (size_t i = 0; i < ext->nprios; i++) {
			if (ext->prios[i].prio > f->prio) {
				idx = (int)i;
				break;
			}
		}
		if (idx < 0) {
			octo_chan_step(chan, "end of %s in [%s]: hanging up", octo_pattern_text(
					       ext->pat), where->name);
			octo_obj_unref(dp);
			return false;
		}
	}
	p = &ext->prios[idx];
	f->prio = p->prio;
	args = octo_pbx_subst(chan, p->args);
	if (!args)
		abort();
	snprintf(position, sizeof(position), "%s/%s/%d %s", where->name,
		 octo_pattern_text(ext->pat), p->prio, p->app);
	octo_chan_set_position(chan, position);
	octo_chan_step(chan, "%s/%s/%d%s%s%s [%s:%d] %s(%s)", where->name,
		       octo_pattern_text(ext->pat), p->prio, p->label ? "(" : "",
		       p->label ? p->label : "", p->label ? ")" : "", p->file, p->line, p->app,
		       args);
	octo_verbose(3, "%s: executing %s(%s) at %s/%s/%d", octo_chan_name(chan), p->app, args,
		     where->name, f->number, p->prio);

	app = octo_registry_get(OCTO_REG_APP, p->app, octo_chan_name(chan));
	if (!app) {
		octo_chan_step(chan, "unknown application %s: hanging up", p->app);
		octo_chan_log(chan, OCTO_WARNING, "unknown application %s at %s:%d", p->app,
			      p->file, p->line);
		free(args);
		octo_obj_unref(dp);
		return false;
	}
	f->jumped = false;
	octo_obj_unref(dp);   /* the app may block for long: do not pin the snapshot */
	rc = app->exec(chan, args);
	octo_registry_put(OCTO_REG_APP, app, octo_chan_name(chan));
	free(args);

	if (rc == OCTO_APP_HANGUP) {
		octo_chan_step(chan, "%s ended the call", p->app);
		go_on = false;
	} else if (rc < 0) {
		octo_chan_step(chan, "%s failed: %s", p->app,
			       rc == OCTO_EHANGUP ? "the caller hung up" : octo_strerror(rc));
		go_on = false;
	} else if (octo_chan_is_hungup(chan)) {
		octo_chan_step(chan, "the call hung up during %s", p->app);
		go_on = false;
	} else if (!f->jumped) {
		f->prio++;
	}
	return go_on;
}

void octo_pbx_run(struct octo_channel *chan)
{
	struct pbx_frame frame = { .chan = chan, .prio = 1 };
	unsigned long steps = 0;

	octo_log_set_thread_callid(octo_chan_id(chan));
	octo_chan_copy(chan, OCTO_CHAN_PROCEDURE, frame.procedure, sizeof(frame.procedure));
	octo_chan_copy(chan, OCTO_CHAN_CALLED, frame.number, sizeof(frame.number));
	pbx_frame = &frame;
	octo_chan_step(chan, "dialplan starts in [%s] with %s", frame.procedure, frame.number);
	while (!octo_chan_is_hungup(chan)) {
		if (++steps > PBX_MAX_STEPS) {
			octo_chan_step(chan, "more than %d steps: the dialplan loops, hanging up",
				       PBX_MAX_STEPS);
			octo_chan_log(chan, OCTO_WARNING, "dialplan loop in [%s]: hanging up",
				      frame.procedure);
			break;
		}
		if (!pbx_step(&frame))
			break;
	}
	pbx_frame = NULL;
	octo_chan_set_position(chan, "");
	octo_chan_hangup(chan, octo_chan_is_hungup(chan) ? octo_chan_hangup_cause(chan)
							  : OCTO_CAUSE_NORMAL);
	octo_log_set_thread_callid(NULL);
}

/* Under load the event loop (all signalling) and the media workers share
 * the cores with one thread per call: with equal weights the scheduler gave
 * the one loop thread the share of one call, its queue backed up and new
 * calls were shed while the cores were not full. A call thread's work waits
 * on the loop anyway, so it yields first: a higher nice value (a smaller
 * share), and the batch policy, under which a thread the loop wakes does
 * not preempt the loop but waits for a free core or the next tick (at
 * 1,000 calls/s the loop was preempted 4,800 times a second and waited
 * for a core a fifth of the time, with its socket backing up). Neither
 * needs a privilege; Linux applies both to the calling thread only. */
static void pbx_thread_yield_to_loop(void)
{
	/* once per thread: the thread serves call after call (threadstack.c) */
	static _Thread_local bool yielded;
	struct sched_param batch = { .sched_priority = 0 };
	id_t self = (id_t)gettid();
	int now;

	if (yielded)
		return;
	yielded = true;
	if (sched_setscheduler((pid_t)self, SCHED_BATCH, &batch))
		octo_debug(1, "pbx: call thread not set to batch scheduling: %s", strerror(errno));
	errno = 0;
	now = getpriority(PRIO_PROCESS, self);
	if (errno != 0 || now >= 19)
		return;
	if (setpriority(PRIO_PROCESS, self, now + PBX_THREAD_NICE < 19 ? now + PBX_THREAD_NICE : 19))
		octo_debug(1, "pbx: call thread priority not lowered: %s", strerror(errno));
}

static void *pbx_thread(void *arg)
{
	struct octo_channel *chan = arg;
	char name[40];

	snprintf(name, sizeof(name), "call %s", octo_chan_name(chan));
	octo_thread_register(name);
	pbx_thread_yield_to_loop();
	octo_pbx_run(chan);
	pbx_running_remove(chan);
	octo_thread_unregister();
	octo_obj_unref(chan);
	pthread_mutex_lock(&pbx_lock);
	pbx_threads--;
	pthread_cond_broadcast(&pbx_cond);
	pthread_mutex_unlock(&pbx_lock);
	return NULL;
}

int octo_pbx_start(struct octo_channel *chan)
{
	int rc;

	if (octo_pbx_is_running(chan)) {
		/* one call thread per channel: a second one would read its events
		 * and run its dialplan at the same time */
		octo_chan_log(chan, OCTO_ERROR, "a call thread runs this call already");
		return OCTO_EBUSY;
	}
	octo_obj_ref(chan);
	pbx_running_add(chan);
	pthread_mutex_lock(&pbx_lock);
	pbx_threads++;
	pthread_mutex_unlock(&pbx_lock);
	rc = octo_thread_start_stack(pbx_thread, chan, PBX_STACK_SIZE);
	if (rc) {
		octo_chan_log(chan, OCTO_ERROR, "cannot start the call thread");
		pbx_running_remove(chan);
		pthread_mutex_lock(&pbx_lock);
		pbx_threads--;
		pthread_mutex_unlock(&pbx_lock);
		octo_obj_unref(chan);
		return OCTO_EFAIL;
	}
	return 0;
}

void octo_pbx_wait_threads(unsigned timeout_ms)
{
	struct timespec deadline = octo_deadline_after_ms(timeout_ms);
	unsigned left;

	pthread_mutex_lock(&pbx_lock);
	while (pbx_threads > 0) {
		if (pthread_cond_timedwait(&pbx_cond, &pbx_lock, &deadline))
			break;
	}
	left = pbx_threads;
	if (left)
		octo_log(OCTO_WARNING, "%u call threads did not end in time", left);
	pthread_mutex_unlock(&pbx_lock);
	if (!left)
		octo_thread_stacks_release();
}
