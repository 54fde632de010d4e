/*
 * channel.c - channel objects, the list of live channels, their event queues
 * and step logs, and the history of ended calls.
 *
 * DESIGN
 *  - A channel's mutex (its object lock) protects its state, fields,
 *    variables, event queue and step log; a condition variable wakes the
 *    owner thread for events and hang-up.
 *  - Live channels are in two containers (by id and by name). Hang-up removes
 *    them, lends the step log to the CDR backends with the call's record
 *    (cdr.h), then moves the summary and the log into a bounded history
 *    ring, so "call debug ID" works after the call ended. Older calls come
 *    from the "call_debug" service when a module offers it (res_cdr_sqlite
 *    keeps the logs for cdr.conf debug_days).
 *  - The channel holds a use reference on its technology's module from alloc
 *    until it is destroyed, so the module's code stays while anyone can still
 *    reach the channel.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "octo/cdr.h"
#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/fifopool.h"
#include "octo/heaptrim.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "internal.h"

#define CHAN_EVENT_QUEUE 128 /* events queued at most */
#define CHAN_EVENT_INLINE 8  /* kept in the channel; more grow a queue */
#define CHAN_MAX_STEPS 1000
#define CHAN_HISTORY 256

struct chan_var {
	char *name;
	char *value;
	struct chan_var *next;
};

struct octo_channel {
	char id[32];
	char name[80];
	const struct octo_chan_tech *tech;
	void *pvt;
	pthread_mutex_t lock;
	pthread_cond_t cond;

	/* under the object lock */
	enum octo_chan_state state;
	bool hungup;
	bool tech_hungup;
	int cause;
	char *fields[OCTO_CHAN_FIELDS];
	struct chan_var *vars;
	/* a ring of ev_cap events: ev_inline, or a grown one (most channels
	 * never have more than a few events waiting) */
	struct octo_chan_event *events;
	struct octo_chan_event ev_inline[CHAN_EVENT_INLINE];
	unsigned ev_head, ev_count, ev_cap;
	struct octo_cdr_step *steps;
	size_t step_count, step_cap, steps_dropped;
	char position[96];
	uint64_t created_us, answered_us, ended_us;
	/* watchers (octo_chan_watch), called with the lock held */
	struct {
		void (*wake)(void *arg);
		void *arg;
	} watch[OCTO_CHAN_MAX_WATCH];
	unsigned nwatch;
};

/* An ended call kept for "calls show history" and "call debug". */
struct chan_history {
	struct octo_chan_info info;
	struct octo_cdr_step *steps;
	size_t step_count, steps_dropped; /* steps: one block (chan_pack_steps) */
};

static struct octo_container *chan_by_id;
static struct octo_container *chan_by_name;
static atomic_ulong chan_seq;
static atomic_bool chan_refuse;
static pthread_mutex_t chan_history_lock = PTHREAD_MUTEX_INITIALIZER;
static struct octo_fifo_pool chan_history_pool = OCTO_FIFO_POOL_INIT; /* the steps */
static struct chan_history chan_history[CHAN_HISTORY];
static size_t chan_history_next, chan_history_count;

/* Channel objects not yet freed; after a burst of calls the heaps are
 * trimmed (octo/heaptrim.h: after 400 calls with media, RSS stayed 20 MB
 * over its start without). */
static atomic_size_t chan_objects;
static struct octo_trim_watch chan_trim = OCTO_TRIM_WATCH_INIT(200);

static const char *const chan_state_names[] = {
	"Down", "Ring", "Dialing", "Ringing", "Up", "Busy", "Hungup",
};

const char *octo_chan_state_name(enum octo_chan_state state)
{
	return (unsigned)state < OCTO_ARRAY_LEN(chan_state_names) ? chan_state_names[state] : "?";
}

static const struct {
	int cause;
	const char *name;
} chan_causes[] = {
	{ OCTO_CAUSE_UNALLOCATED, "UNALLOCATED" },
	{ OCTO_CAUSE_NORMAL, "NORMAL_CLEARING" },
	{ OCTO_CAUSE_BUSY, "USER_BUSY" },
	{ OCTO_CAUSE_NO_ANSWER, "NO_ANSWER" },
	{ OCTO_CAUSE_REJECTED, "CALL_REJECTED" },
	{ OCTO_CAUSE_UNAVAILABLE, "DESTINATION_OUT_OF_ORDER" },
	{ OCTO_CAUSE_CONGESTION, "CONGESTION" },
	{ OCTO_CAUSE_FAILURE, "TEMPORARY_FAILURE" },
};

const char *octo_cause_name(int cause)
{
	for (size_t i = 0; i < OCTO_ARRAY_LEN(chan_causes); i++)
		if (chan_causes[i].cause == cause)
			return chan_causes[i].name;
	return "UNKNOWN";
}

int octo_cause_parse(const char *text)
{
	static const struct {
		const char *alias;
		int cause;
	} aliases[] = {
		{ "NORMAL", OCTO_CAUSE_NORMAL }, { "BUSY", OCTO_CAUSE_BUSY },
		{ "NOANSWER", OCTO_CAUSE_NO_ANSWER }, { "REJECTED", OCTO_CAUSE_REJECTED },
		{ "UNAVAILABLE", OCTO_CAUSE_UNAVAILABLE }, { "FAILURE", OCTO_CAUSE_FAILURE },
	};
	char *end;
	long n;

	if (!text || !*text)
		return -1;
	n = strtol(text, &end, 10);
	if (!*end)
		return (n >= 1 && n <= 127) ? (int)n : -1;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(chan_causes); i++)
		if (!strcasecmp(chan_causes[i].name, text))
			return chan_causes[i].cause;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(aliases); i++)
		if (!strcasecmp(aliases[i].alias, text))
			return aliases[i].cause;
	return -1;
}

static void chan_lock(struct octo_channel *chan)
{
	pthread_mutex_lock(&chan->lock);
}

static void chan_unlock(struct octo_channel *chan)
{
	pthread_mutex_unlock(&chan->lock);
}

/* Runs the watchers; the caller holds the channel lock. */
static void chan_wake_watchers(struct octo_channel *chan)
{
	for (unsigned i = 0; i < chan->nwatch; i++)
		chan->watch[i].wake(chan->watch[i].arg);
}

static const char *chan_key_id(const void *obj)
{
	return ((const struct octo_channel *)obj)->id;
}

static const char *chan_key_name(const void *obj)
{
	return ((const struct octo_channel *)obj)->name;
}

int octo_chan_init(void)
{
	chan_by_id = octo_container_alloc_str(chan_key_id, 0);
	chan_by_name = octo_container_alloc_str(chan_key_name, OCTO_CONTAINER_NOCASE);
	if (!chan_by_id || !chan_by_name)
		return OCTO_ENOMEM;
	return octo_chan_cli_init();
}

static void chan_free_steps(struct octo_cdr_step *steps, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free((char *)steps[i].text);
	free(steps);
}

/* The step log in one block: the array, then the texts it points at. The
 * ring keeps the logs of the last CHAN_HISTORY calls long after a burst;
 * as a malloc per step, made by each call's thread in whichever heap arena,
 * they were a few thousand small blocks that kept as many pages of the
 * arenas in memory (measured: the daemon's RSS 3 MB higher after 20,000
 * calls), and as a malloc per log they still pinned the top of each
 * arena. They come from a pool of their own instead (octo/fifopool.h: the
 * ring lets them go in the order they came). NULL when there is no
 * memory. chan_history_lock held. */
static struct octo_cdr_step *chan_pack_steps(const struct octo_cdr_step *steps, size_t count)
{
	size_t size = count * sizeof(*steps), at;
	struct octo_cdr_step *packed;

	for (size_t i = 0; i < count; i++)
		size += steps[i].text ? strlen(steps[i].text) + 1 : 0;
	packed = octo_fifo_alloc(&chan_history_pool, size); /* count > 0 */
	if (!packed)
		return NULL;
	at = count * sizeof(*steps);
	for (size_t i = 0; i < count; i++) {
		packed[i].time_us = steps[i].time_us;
		packed[i].text = NULL;
		if (steps[i].text) {
			size_t n = strlen(steps[i].text) + 1;

			memcpy((char *)packed + at, steps[i].text, n);
			packed[i].text = (char *)packed + at;
			at += n;
		}
	}
	return packed;
}

void octo_chan_shutdown(void)
{
	size_t count;
	struct octo_channel **list = octo_chan_list(&count);

	for (size_t i = 0; i < count; i++)
		octo_chan_hangup(list[i], OCTO_CAUSE_NORMAL);
	octo_chan_list_free(list, count);
	octo_pbx_wait_threads(5000);
	octo_obj_unref(chan_by_id);
	octo_obj_unref(chan_by_name);
	chan_by_id = chan_by_name = NULL;
	pthread_mutex_lock(&chan_history_lock);
	for (size_t i = 0; i < CHAN_HISTORY; i++) {
		octo_fifo_free(&chan_history_pool, chan_history[i].steps);
		memset(&chan_history[i], 0, sizeof(chan_history[i]));
	}
	octo_fifo_pool_release(&chan_history_pool);
	chan_history_count = chan_history_next = 0;
	pthread_mutex_unlock(&chan_history_lock);
}

int octo_chan_tech_register(struct octo_module *owner, const struct octo_chan_tech *tech)
{
	if (!tech || !tech->name || !tech->hangup)
		return OCTO_EINVAL;
	return octo_registry_add(owner, OCTO_REG_CHAN_TECH, tech->name, tech);
}

void octo_chan_tech_unregister(const struct octo_chan_tech *tech)
{
	octo_registry_remove(OCTO_REG_CHAN_TECH, tech);
}

static void chan_destroy(void *obj)
{
	struct octo_channel *chan = obj;
	struct chan_var *v, *next;

	for (int f = 0; f < OCTO_CHAN_FIELDS; f++)
		free(chan->fields[f]);
	for (v = chan->vars; v; v = next) {
		next = v->next;
		free(v->name);
		free(v->value);
		free(v);
	}
	chan_free_steps(chan->steps, chan->step_count);
	if (chan->events != chan->ev_inline)
		free(chan->events);
	pthread_cond_destroy(&chan->cond);
	pthread_mutex_destroy(&chan->lock);
	if (chan->tech)
		octo_registry_put(OCTO_REG_CHAN_TECH, chan->tech, chan->name);
	octo_trim_note(&chan_trim, atomic_fetch_sub(&chan_objects, 1) - 1);
}

bool octo_chan_refusing_new(void)
{
	return atomic_load(&chan_refuse);
}

void octo_chan_refuse_new(bool refuse)
{
	atomic_store(&chan_refuse, refuse);
}

struct octo_channel *octo_chan_alloc(const char *tech_name, enum octo_chan_state state,
				     const char *fmt, ...)
{
	struct octo_channel *chan;
	char suffix[48];
	unsigned long seq;
	va_list ap;

	if (!chan_by_id || atomic_load(&chan_refuse))
		return NULL;
	if (octo_settings.max_calls && octo_chan_count() >= octo_settings.max_calls) {
		octo_log(OCTO_WARNING, "refusing a %s channel: the maximum of %u calls is reached",
			 tech_name, octo_settings.max_calls);
		return NULL;
	}
	chan = octo_obj_alloc(sizeof(*chan), chan_destroy);
	if (!chan)
		return NULL;
	octo_trim_note(&chan_trim, atomic_fetch_add(&chan_objects, 1) + 1);
	pthread_mutex_init(&chan->lock, NULL);
	pthread_cond_init(&chan->cond, NULL);
	chan->events = chan->ev_inline;
	chan->ev_cap = CHAN_EVENT_INLINE;
	seq = atomic_fetch_add(&chan_seq, 1) + 1;
	chan->created_us = octo_wall_us();
	snprintf(chan->id, sizeof(chan->id), "%llu.%lu",
		 (unsigned long long)(chan->created_us / 1000000u), seq);
	va_start(ap, fmt);
	vsnprintf(suffix, sizeof(suffix), fmt ? fmt : "", ap);
	va_end(ap);
	/* The name is set before the registry lookup: it is the holder name. */
	snprintf(chan->name, sizeof(chan->name), "%s/%s%s%08lx", tech_name, suffix,
		 suffix[0] ? "-" : "", seq);
	chan->tech = octo_registry_get(OCTO_REG_CHAN_TECH, tech_name, chan->name);
	if (!chan->tech) {
		octo_log(OCTO_WARNING, "no channel technology \"%s\"", tech_name);
		octo_obj_unref(chan);
		return NULL;
	}
	chan->state = state;
	octo_strlcpy(chan->position, "", sizeof(chan->position));
	if (octo_container_link(chan_by_id, chan) || octo_container_link(chan_by_name, chan)) {
		octo_container_unlink(chan_by_id, chan);
		octo_obj_unref(chan);
		return NULL;
	}
	return chan;
}

/* Puts an ended call into the history ring, which takes its steps. */
static void chan_to_history(struct chan_history *ended)
{
	struct octo_cdr_step *packed, *steps = ended->steps;
	size_t count = ended->step_count;
	struct chan_history *h;

	pthread_mutex_lock(&chan_history_lock);
	h = &chan_history[chan_history_next];
	/* the oldest goes first: its block may then serve this one */
	octo_fifo_free(&chan_history_pool, h->steps);
	h->steps = NULL;
	packed = count ? chan_pack_steps(steps, count) : NULL;
	ended->steps = packed;
	if (!packed) { /* no memory: the log is gone (the CDR has it) */
		ended->steps_dropped += ended->step_count;
		ended->step_count = 0;
	}
	*h = *ended;
	chan_history_next = (chan_history_next + 1) % CHAN_HISTORY;
	if (chan_history_count < CHAN_HISTORY)
		chan_history_count++;
	pthread_mutex_unlock(&chan_history_lock);
	chan_free_steps(steps, count);
}

/* Called once, at hang-up: the CDR (lending the backends the step log), then
 * the history ring keeps the log. */
static void chan_finish(struct octo_channel *chan)
{
	struct chan_history ended;
	struct octo_cdr cdr;

	memset(&ended, 0, sizeof(ended));
	octo_chan_info(chan, &ended.info);
	chan_lock(chan);
	ended.steps = chan->steps;
	ended.step_count = chan->step_count;
	ended.steps_dropped = chan->steps_dropped;
	chan->steps = NULL;
	chan->step_count = chan->step_cap = 0;
	chan_unlock(chan);
	octo_cdr_from_channel(chan, &cdr);
	cdr.steps = ended.steps;
	cdr.step_count = ended.steps ? ended.step_count : 0;
	cdr.steps_dropped = ended.steps_dropped;
	octo_cdr_post(&cdr);
	chan_to_history(&ended);
}

void octo_chan_hangup(struct octo_channel *chan, int cause)
{
	bool first;

	if (!chan)
		return;
	chan_lock(chan);
	first = !chan->tech_hungup;
	chan->tech_hungup = true;
	if (!chan->hungup) {
		chan->hungup = true;
		chan->cause = cause;
	}
	chan->state = OCTO_CHAN_HUNGUP;
	chan->ended_us = octo_wall_us();
	pthread_cond_broadcast(&chan->cond);
	chan_wake_watchers(chan);
	chan_unlock(chan);
	if (!first)
		return;
	chan->tech->hangup(chan, cause);
	octo_chan_step(chan, "hangup: %s (%d)", octo_cause_name(chan->cause), chan->cause);
	octo_container_unlink(chan_by_name, chan);
	octo_container_unlink(chan_by_id, chan);
	chan_finish(chan);
	octo_main_channel_gone();
}

struct octo_channel *octo_chan_find(const char *id_or_name)
{
	struct octo_channel *chan;

	if (!chan_by_id || !id_or_name)
		return NULL;
	chan = octo_container_find(chan_by_id, id_or_name);
	if (!chan)
		chan = octo_container_find(chan_by_name, id_or_name);
	return chan;
}

unsigned octo_chan_count(void)
{
	return chan_by_id ? (unsigned)octo_container_count(chan_by_id) : 0;
}

const char *octo_chan_id(const struct octo_channel *chan)
{
	return chan ? chan->id : NULL;
}

const char *octo_chan_name(const struct octo_channel *chan)
{
	return chan->name;
}

const struct octo_chan_tech *octo_chan_tech(const struct octo_channel *chan)
{
	return chan->tech;
}

void octo_chan_set_pvt(struct octo_channel *chan, void *pvt)
{
	chan->pvt = pvt;
}

void *octo_chan_pvt(const struct octo_channel *chan)
{
	return chan->pvt;
}

enum octo_chan_state octo_chan_state(const struct octo_channel *chan)
{
	enum octo_chan_state s;

	chan_lock((struct octo_channel *)chan);
	s = chan->state;
	chan_unlock((struct octo_channel *)chan);
	return s;
}

void octo_chan_set_state(struct octo_channel *chan, enum octo_chan_state state)
{
	chan_lock(chan);
	if (!chan->hungup) {
		chan->state = state;
		if (state == OCTO_CHAN_UP && !chan->answered_us)
			chan->answered_us = octo_wall_us();
	}
	chan_unlock(chan);
}

bool octo_chan_is_hungup(const struct octo_channel *chan)
{
	bool h;

	chan_lock((struct octo_channel *)chan);
	h = chan->hungup;
	chan_unlock((struct octo_channel *)chan);
	return h;
}

int octo_chan_hangup_cause(const struct octo_channel *chan)
{
	int c;

	chan_lock((struct octo_channel *)chan);
	c = chan->cause;
	chan_unlock((struct octo_channel *)chan);
	return c;
}

void octo_chan_set(struct octo_channel *chan, enum octo_chan_field f, const char *value)
{
	char *copy;

	if ((unsigned)f >= OCTO_CHAN_FIELDS)
		return;
	copy = value ? octo_strdup(value) : NULL;
	chan_lock(chan);
	free(chan->fields[f]);
	chan->fields[f] = copy;
	chan_unlock(chan);
}

const char *octo_chan_peek(const struct octo_channel *chan, enum octo_chan_field f)
{
	if ((unsigned)f >= OCTO_CHAN_FIELDS)
		return "";
	return chan->fields[f] ? chan->fields[f] : "";
}

char *octo_chan_copy(struct octo_channel *chan, enum octo_chan_field f, char *buf, size_t size)
{
	chan_lock(chan);
	octo_strlcpy(buf, (unsigned)f < OCTO_CHAN_FIELDS && chan->fields[f] ? chan->fields[f] : "",
		     size);
	chan_unlock(chan);
	return buf;
}

/* Sets or unsets a variable; the caller holds the channel lock. */
static int chan_var_set_locked(struct octo_channel *chan, const char *name, const char *value)
{
	struct chan_var **pp, *v;

	for (pp = &chan->vars; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			break;
	v = *pp;
	if (!value) {
		if (v) {
			*pp = v->next;
			free(v->name);
			free(v->value);
			free(v);
		}
	} else if (v) {
		free(v->value);
		v->value = octo_strdup(value);
	} else {
		v = calloc(1, sizeof(*v));
		if (!v)
			return OCTO_ENOMEM;
		v->name = octo_strdup(name);
		v->value = octo_strdup(value);
		*pp = v;
	}
	return 0;
}

/* The value of a variable, borrowed; the caller holds the channel lock. */
static const char *chan_var_peek_locked(struct octo_channel *chan, const char *name)
{
	for (struct chan_var *v = chan->vars; v; v = v->next)
		if (!strcmp(v->name, name))
			return v->value;
	return NULL;
}

int octo_chan_var_set(struct octo_channel *chan, const char *name, const char *value)
{
	int rc;

	if (!name || !*name)
		return OCTO_EINVAL;
	chan_lock(chan);
	rc = chan_var_set_locked(chan, name, value);
	chan_unlock(chan);
	return rc;
}

const char *octo_chan_var_get(struct octo_channel *chan, const char *name, char *buf,
			      size_t size)
{
	const char *found = NULL;

	chan_lock(chan);
	for (struct chan_var *v = chan->vars; v; v = v->next) {
		if (!strcmp(v->name, name)) {
			octo_strlcpy(buf, v->value, size);
			found = buf;
			break;
		}
	}
	chan_unlock(chan);
	return found;
}

/* Walks the variables (for "call debug"): calls cb under the channel lock. */
void octo_chan_var_foreach(struct octo_channel *chan,
			   void (*cb)(const char *name, const char *value, void *arg), void *arg)
{
	chan_lock(chan);
	for (struct chan_var *v = chan->vars; v; v = v->next)
		cb(v->name, v->value, arg);
	chan_unlock(chan);
}

/* ---------------------------------------------------------------- events */

/* Doubles the event ring, up to CHAN_EVENT_QUEUE; false when it cannot
 * grow (full, or out of memory). Lock held. */
static bool chan_events_grow(struct octo_channel *chan)
{
	unsigned cap = chan->ev_cap * 2;
	struct octo_chan_event *grown;

	if (cap > CHAN_EVENT_QUEUE || !(grown = malloc(cap * sizeof(*grown))))
		return false;
	for (unsigned i = 0; i < chan->ev_count; i++)
		grown[i] = chan->events[(chan->ev_head + i) % chan->ev_cap];
	if (chan->events != chan->ev_inline)
		free(chan->events);
	chan->events = grown;
	chan->ev_head = 0;
	chan->ev_cap = cap;
	return true;
}

void octo_chan_queue_event(struct octo_channel *chan, const struct octo_chan_event *ev)
{
	chan_lock(chan);
	if (ev->type == OCTO_EV_HANGUP && !chan->hungup) {
		const char *dir = chan_var_peek_locked(chan, "DIRECTION");

		chan->hungup = true;
		chan->cause = ev->cause ? ev->cause : OCTO_CAUSE_NORMAL;
		/* Who ended the call, for the CDR: the technology reports the far
		 * end hanging up -- the caller of an incoming leg, the callee of an
		 * outgoing one -- unless someone already said otherwise (the CLI
		 * says "pbx"). Set before the owner thread is woken. */
		if (!chan_var_peek_locked(chan, "HANGUPSIDE"))
			chan_var_set_locked(chan, "HANGUPSIDE",
					    dir && !strcmp(dir, "outbound") ? "callee" : "caller");
	}
	if (chan->ev_count < chan->ev_cap || chan_events_grow(chan)) {
		chan->events[(chan->ev_head + chan->ev_count) % chan->ev_cap] = *ev;
		chan->ev_count++;
	} else {
		octo_log_full(OCTO_LOG_WARNING, 0, "core", __FILE__, __LINE__, __func__, chan->id,
			      "event queue full: event %d dropped", ev->type);
	}
	pthread_cond_broadcast(&chan->cond);
	chan_wake_watchers(chan);
	chan_unlock(chan);
}

int octo_chan_watch(struct octo_channel *chan, void (*wake)(void *arg), void *arg)
{
	int rc = 0;

	if (!chan || !wake)
		return OCTO_EINVAL;
	chan_lock(chan);
	for (unsigned i = 0; i < chan->nwatch; i++)
		if (chan->watch[i].wake == wake && chan->watch[i].arg == arg)
			rc = OCTO_EEXIST;
	if (!rc && chan->nwatch == OCTO_CHAN_MAX_WATCH)
		rc = OCTO_EBUSY;
	if (!rc) {
		chan->watch[chan->nwatch].wake = wake;
		chan->watch[chan->nwatch].arg = arg;
		chan->nwatch++;
	}
	chan_unlock(chan);
	return rc;
}

void octo_chan_unwatch(struct octo_channel *chan, void (*wake)(void *arg), void *arg)
{
	if (!chan)
		return;
	chan_lock(chan);
	for (unsigned i = 0; i < chan->nwatch; i++) {
		if (chan->watch[i].wake == wake && chan->watch[i].arg == arg) {
			chan->watch[i] = chan->watch[chan->nwatch - 1];
			chan->nwatch--;
			break;
		}
	}
	chan_unlock(chan);
}

static void chan_cond_wait(struct octo_channel *chan, const struct timespec *deadline)
{
	if (deadline)
		pthread_cond_timedwait(&chan->cond, &chan->lock, deadline);
	else
		pthread_cond_wait(&chan->cond, &chan->lock);
}

int octo_chan_wait_event(struct octo_channel *chan, int timeout_ms, struct octo_chan_event *ev)
{
	struct timespec deadline = octo_deadline_after_ms(timeout_ms < 0 ? 0 : (unsigned)timeout_ms);
	int rc = 0;

	chan_lock(chan);
	for (;;) {
		if (chan->ev_count) {
			*ev = chan->events[chan->ev_head];
			chan->ev_head = (chan->ev_head + 1) % chan->ev_cap;
			chan->ev_count--;
			rc = 1;
			break;
		}
		if (chan->hungup) {
			rc = OCTO_EHANGUP;
			break;
		}
		if (timeout_ms == 0)
			break;
		if (timeout_ms > 0) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			if (now.tv_sec > deadline.tv_sec ||
			    (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
				break;
			chan_cond_wait(chan, &deadline);
		} else {
			chan_cond_wait(chan, NULL);
		}
	}
	chan_unlock(chan);
	return rc;
}

int octo_chan_sleep(struct octo_channel *chan, unsigned ms)
{
	struct timespec deadline = octo_deadline_after_ms(ms);
	int rc = 0;

	chan_lock(chan);
	for (;;) {
		struct timespec now;

		if (chan->hungup) {
			rc = OCTO_EHANGUP;
			break;
		}
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec > deadline.tv_sec ||
		    (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
			break;
		chan_cond_wait(chan, &deadline);
	}
	chan_unlock(chan);
	return rc;
}

int octo_chan_answer(struct octo_channel *chan)
{
	int rc = 0;

	if (octo_chan_is_hungup(chan))
		return OCTO_EHANGUP;
	if (octo_chan_state(chan) == OCTO_CHAN_UP)
		return 0;
	if (chan->tech->answer)
		rc = chan->tech->answer(chan);
	if (rc)
		return rc;
	octo_chan_set_state(chan, OCTO_CHAN_UP);
	return 0;
}

/* ---------------------------------------------------------------- step log */

void octo_chan_vstep(struct octo_channel *chan, const char *fmt, va_list ap)
{
	char text[1024];

	vsnprintf(text, sizeof(text), fmt, ap);
	chan_lock(chan);
	if (chan->step_count == CHAN_MAX_STEPS) {
		/* Keep the start of the call and the latest steps: drop the second. */
		free((char *)chan->steps[1].text);
		memmove(&chan->steps[1], &chan->steps[2],
			(chan->step_count - 2) * sizeof(chan->steps[0]));
		chan->step_count--;
		chan->steps_dropped++;
	}
	if (chan->step_count == chan->step_cap) {
		size_t cap = chan->step_cap ? chan->step_cap * 2 : 16;
		struct octo_cdr_step *grown;

		if (cap > CHAN_MAX_STEPS)
			cap = CHAN_MAX_STEPS;
		grown = realloc(chan->steps, cap * sizeof(*grown));
		if (!grown) {
			chan_unlock(chan);
			return;
		}
		chan->steps = grown;
		chan->step_cap = cap;
	}
	chan->steps[chan->step_count].time_us = octo_wall_us();
	chan->steps[chan->step_count].text = octo_strdup(text);
	chan->step_count++;
	chan_unlock(chan);
}

void octo_chan_step(struct octo_channel *chan, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	octo_chan_vstep(chan, fmt, ap);
	va_end(ap);
}

void octo_chan_set_position(struct octo_channel *chan, const char *position)
{
	chan_lock(chan);
	octo_strlcpy(chan->position, position, sizeof(chan->position));
	chan_unlock(chan);
}

void octo_chan_info(struct octo_channel *chan, struct octo_chan_info *info)
{
	memset(info, 0, sizeof(*info));
	chan_lock(chan);
	octo_strlcpy(info->id, chan->id, sizeof(info->id));
	octo_strlcpy(info->name, chan->name, sizeof(info->name));
	octo_strlcpy(info->tech, chan->tech->name, sizeof(info->tech));
	octo_strlcpy(info->state, octo_chan_state_name(chan->state), sizeof(info->state));
	octo_strlcpy(info->caller, octo_chan_peek(chan, OCTO_CHAN_CALLER_NUM), sizeof(info->caller));
	octo_strlcpy(info->called, octo_chan_peek(chan, OCTO_CHAN_CALLED), sizeof(info->called));
	octo_strlcpy(info->dialed, octo_chan_peek(chan, OCTO_CHAN_DIALED), sizeof(info->dialed));
	octo_strlcpy(info->procedure, octo_chan_peek(chan, OCTO_CHAN_PROCEDURE),
		     sizeof(info->procedure));
	octo_strlcpy(info->position, chan->position, sizeof(info->position));
	info->created_us = chan->created_us;
	info->answered_us = chan->answered_us;
	info->ended_us = chan->ended_us;
	info->cause = chan->cause;
	chan_unlock(chan);
}

static int chan_cmp_created(const void *a, const void *b)
{
	const struct octo_channel *ca = *(struct octo_channel *const *)a;
	const struct octo_channel *cb = *(struct octo_channel *const *)b;

	if (ca->created_us != cb->created_us)
		return ca->created_us < cb->created_us ? -1 : 1;
	return strcmp(ca->name, cb->name);
}

struct octo_channel **octo_chan_list(size_t *count)
{
	*count = 0;
	if (!chan_by_id)
		return NULL;
	return (struct octo_channel **)octo_container_snapshot(chan_by_id, count, chan_cmp_created);
}

void octo_chan_list_free(struct octo_channel **list, size_t count)
{
	octo_container_snapshot_free((void **)list, count);
}

/* ---------------------------------------------------------------- CLI */

static void chan_format_time(uint64_t us, char *buf, size_t size)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;

	if (!us) {
		octo_strlcpy(buf, "", size);
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static void chan_format_duration(uint64_t from_us, uint64_t to_us, char *buf, size_t size)
{
	uint64_t secs = to_us > from_us ? (to_us - from_us) / 1000000u : 0;

	snprintf(buf, size, "%02llu:%02llu:%02llu", (unsigned long long)(secs / 3600),
		 (unsigned long long)(secs / 60 % 60), (unsigned long long)(secs % 60));
}

static int chan_cli_active(struct octo_cli_out *out, int argc, char **argv)
{
	size_t count;
	struct octo_channel **list;
	uint64_t now = octo_wall_us();

	if (argc != 3)
		return OCTO_CLI_USAGE;
	list = octo_chan_list(&count);
	octo_cli_columns(out, "id", "channel", "state", "caller", "called", "procedure",
			 "position", "duration", NULL);
	for (size_t i = 0; i < count; i++) {
		struct octo_chan_info info;
		char dur[32];

		octo_chan_info(list[i], &info);
		chan_format_duration(info.created_us, now, dur, sizeof(dur));
		octo_cli_row(out, info.id, info.name, info.state, info.caller, info.called,
			     info.procedure, info.position, dur, NULL);
	}
	octo_chan_list_free(list, count);
	octo_cli_kv(out, "active calls", "%zu", count);
	return OCTO_CLI_OK;
}

/* "calls show history" shows at most this many calls, however many asked. */
#define CHAN_HISTORY_SHOW_MAX 100000u

static void chan_history_row(struct octo_cli_out *out, const struct octo_chan_info *info,
			     size_t step_count)
{
	char started[32], dur[32], steps[16];

	chan_format_time(info->created_us, started, sizeof(started));
	chan_format_duration(info->created_us, info->ended_us, dur, sizeof(dur));
	snprintf(steps, sizeof(steps), "%zu", step_count);
	octo_cli_row(out, info->id, info->name, info->caller, info->dialed, started, dur,
		     octo_cause_name(info->cause), steps, NULL);
}

/* A stored record as the summary the CLI prints. */
static void chan_info_from_cdr(const struct octo_cdr *cdr, struct octo_chan_info *info)
{
	memset(info, 0, sizeof(*info));
	octo_strlcpy(info->id, cdr->uniqueid, sizeof(info->id));
	octo_strlcpy(info->name, cdr->channel, sizeof(info->name));
	octo_strlcpy(info->state, octo_chan_state_name(OCTO_CHAN_HUNGUP), sizeof(info->state));
	octo_strlcpy(info->caller, cdr->caller, sizeof(info->caller));
	octo_strlcpy(info->called, cdr->called, sizeof(info->called));
	octo_strlcpy(info->dialed, cdr->dialed, sizeof(info->dialed));
	octo_strlcpy(info->procedure, cdr->procedure, sizeof(info->procedure));
	info->created_us = cdr->start_us;
	info->answered_us = cdr->answer_us;
	info->ended_us = cdr->end_us;
	info->cause = cdr->cause;
}

/* Listing the stored calls after those of the ring. */
struct chan_stored_list {
	struct octo_cli_out *out;
	char (*ids)[32];             /* the ring's ids: shown already */
	size_t nids;
	size_t shown, limit;
};

static int chan_stored_row(const struct octo_cdr *cdr, void *arg)
{
	struct chan_stored_list *sl = arg;
	struct octo_chan_info info;

	if (sl->shown >= sl->limit)
		return 1;
	for (size_t k = 0; k < sl->nids; k++)
		if (!strcmp(sl->ids[k], cdr->uniqueid))
			return 0;
	chan_info_from_cdr(cdr, &info);
	chan_history_row(sl->out, &info, cdr->step_count);
	sl->shown++;
	return sl->shown >= sl->limit;
}

static int chan_cli_history(struct octo_cli_out *out, int argc, char **argv)
{
	const struct octo_call_debug_api *store;
	struct chan_stored_list sl = { .out = out };
	size_t limit = CHAN_HISTORY;
	char err[256] = "";
	int rc;

	if (argc == 5 && !strcasecmp(argv[3], "last")) {
		char *end;
		long n = strtol(argv[4], &end, 10);

		if (*end || n <= 0)
			return OCTO_CLI_USAGE;
		limit = (size_t)n < CHAN_HISTORY_SHOW_MAX ? (size_t)n : CHAN_HISTORY_SHOW_MAX;
	} else if (argc != 3) {
		return OCTO_CLI_USAGE;
	}
	octo_cli_columns(out, "id", "channel", "caller", "dialed", "started", "duration",
			 "hangup cause", "steps", NULL);
	sl.ids = calloc(CHAN_HISTORY, sizeof(*sl.ids));
	pthread_mutex_lock(&chan_history_lock);
	for (size_t n = 0; n < chan_history_count && n < limit; n++) {
		/* newest first */
		size_t i = (chan_history_next + CHAN_HISTORY - 1 - n) % CHAN_HISTORY;
		struct chan_history *h = &chan_history[i];

		chan_history_row(out, &h->info, h->step_count);
		sl.shown++;
	}
	/* Every id of the ring, also those not shown: the store lists them too. */
	for (size_t n = 0; sl.ids && n < chan_history_count; n++)
		octo_strlcpy(sl.ids[sl.nids++], chan_history[n].info.id, sizeof(sl.ids[0]));
	pthread_mutex_unlock(&chan_history_lock);

	/* Older calls, also from before a restart, from the step log store. */
	store = sl.shown < limit && sl.ids ? octo_service_get(OCTO_CALL_DEBUG_SERVICE, 1,
							      "calls show history")
					   : NULL;
	if (store) {
		sl.limit = limit;
		rc = store->list((unsigned)(limit + sl.nids), chan_stored_row, &sl, err,
				 sizeof(err));
		octo_service_put(store, "calls show history");
		if (rc < 0)
			octo_cli_printf(out, "The stored calls cannot be listed: %s",
					err[0] ? err : octo_strerror(rc));
	}
	free(sl.ids);
	return OCTO_CLI_OK;
}

static void chan_print_steps(struct octo_cli_out *out, const struct octo_cdr_step *steps,
			     size_t count, size_t dropped)
{
	octo_cli_columns(out, "time", "step", NULL);
	for (size_t i = 0; i < count; i++) {
		char when[48], t[32];

		chan_format_time(steps[i].time_us, t, sizeof(t));
		snprintf(when, sizeof(when), "%s.%03u", t,
			 (unsigned)(steps[i].time_us / 1000u % 1000u));
		octo_cli_row(out, when, steps[i].text, NULL);
		if (i == 0 && dropped) {
			char note[64];

			snprintf(note, sizeof(note), "(%zu steps not kept)", dropped);
			octo_cli_row(out, "", note, NULL);
		}
	}
}

static void chan_print_info(struct octo_cli_out *out, const struct octo_chan_info *info,
			    bool live)
{
	char t[32];

	octo_cli_kv(out, "id", "%s", info->id);
	octo_cli_kv(out, "channel", "%s", info->name);
	octo_cli_kv(out, "state", "%s", info->state);
	octo_cli_kv(out, "caller", "%s", info->caller);
	octo_cli_kv(out, "dialed", "%s", info->dialed);
	octo_cli_kv(out, "called", "%s", info->called);
	octo_cli_kv(out, "procedure", "%s", info->procedure);
	chan_format_time(info->created_us, t, sizeof(t));
	octo_cli_kv(out, "started", "%s", t);
	chan_format_time(info->answered_us, t, sizeof(t));
	octo_cli_kv(out, "answered", "%s", t);
	if (live) {
		octo_cli_kv(out, "position", "%s", info->position);
	} else {
		chan_format_time(info->ended_us, t, sizeof(t));
		octo_cli_kv(out, "ended", "%s", t);
		octo_cli_kv(out, "hangup cause", "%s (%d)", octo_cause_name(info->cause),
			    info->cause);
	}
}

static void chan_print_var(const char *name, const char *value, void *arg)
{
	octo_cli_kv(arg, name, "%s", value);
}

/* A call found in the step log store (an ended call the ring has forgotten). */
static void chan_stored_found(const struct octo_cdr *cdr, void *arg)
{
	struct octo_cli_out *out = arg;
	struct octo_chan_info info;

	chan_info_from_cdr(cdr, &info);
	chan_print_info(out, &info, false);
	octo_cli_kv(out, "log", "%s", "stored (ended before the calls kept in memory)");
	chan_print_steps(out, cdr->steps, cdr->step_count, cdr->steps_dropped);
}

static int chan_cli_debug(struct octo_cli_out *out, int argc, char **argv)
{
	const struct octo_call_debug_api *store;
	struct octo_channel *chan;
	char err[256] = "";
	int rc;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	chan = octo_chan_find(argv[2]);
	if (chan) {
		struct octo_chan_info info;
		struct octo_cdr_step *copy;
		size_t count, dropped;

		octo_chan_info(chan, &info);
		chan_print_info(out, &info, true);
		octo_chan_var_foreach(chan, chan_print_var, out);
		chan_lock(chan);
		count = chan->step_count;
		dropped = chan->steps_dropped;
		copy = calloc(count ? count : 1, sizeof(*copy));
		for (size_t i = 0; copy && i < count; i++) {
			copy[i].time_us = chan->steps[i].time_us;
			copy[i].text = octo_strdup(chan->steps[i].text);
		}
		chan_unlock(chan);
		if (copy)
			chan_print_steps(out, copy, count, dropped);
		chan_free_steps(copy, count);
		octo_obj_unref(chan);
		return OCTO_CLI_OK;
	}
	pthread_mutex_lock(&chan_history_lock);
	for (size_t n = 0; n < chan_history_count; n++) {
		size_t i = (chan_history_next + CHAN_HISTORY - 1 - n) % CHAN_HISTORY;
		struct chan_history *h = &chan_history[i];

		if (strcmp(h->info.id, argv[2]) && strcasecmp(h->info.name, argv[2]))
			continue;
		chan_print_info(out, &h->info, false);
		chan_print_steps(out, h->steps, h->step_count, h->steps_dropped);
		pthread_mutex_unlock(&chan_history_lock);
		return OCTO_CLI_OK;
	}
	pthread_mutex_unlock(&chan_history_lock);
	/* Ended longer ago, or before a restart: the step log store, if any. */
	store = octo_service_get(OCTO_CALL_DEBUG_SERVICE, 1, "call debug");
	if (store) {
		rc = store->lookup(argv[2], chan_stored_found, out, err, sizeof(err));
		octo_service_put(store, "call debug");
		if (rc > 0)
			return OCTO_CLI_OK;
		if (rc < 0) {
			octo_cli_error(out, "No call \"%s\" in memory, and the stored calls cannot "
				       "be read: %s", argv[2], err[0] ? err : octo_strerror(rc));
			return OCTO_CLI_FAIL;
		}
	}
	octo_cli_error(out, "No call with id or channel name \"%s\" (see calls show active and "
		       "calls show history)", argv[2]);
	return OCTO_CLI_FAIL;
}

static int chan_cli_hangup(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_channel *chan;
	struct octo_chan_event ev = { .type = OCTO_EV_HANGUP, .cause = OCTO_CAUSE_NORMAL };

	if (argc != 3)
		return OCTO_CLI_USAGE;
	chan = octo_chan_find(argv[2]);
	if (!chan) {
		octo_cli_error(out, "No active call \"%s\"", argv[2]);
		return OCTO_CLI_FAIL;
	}
	octo_chan_step(chan, "hangup requested from the CLI");
	octo_chan_var_set(chan, "HANGUPSIDE", "pbx");
	octo_chan_queue_event(chan, &ev);
	if (!octo_pbx_is_running(chan))
		octo_chan_hangup(chan, OCTO_CAUSE_NORMAL);
	octo_cli_printf(out, "Hanging up %s.", octo_chan_name(chan));
	octo_obj_unref(chan);
	return OCTO_CLI_OK;
}

static void chan_complete_ids(struct octo_cli_completion *c, int pos, const char *partial)
{
	size_t count;
	struct octo_channel **list;

	if (pos != 0)
		return;
	list = octo_chan_list(&count);
	for (size_t i = 0; i < count; i++) {
		if (!strncmp(list[i]->id, partial, strlen(partial)))
			octo_cli_complete_add(c, list[i]->id);
		if (!strncasecmp(list[i]->name, partial, strlen(partial)))
			octo_cli_complete_add(c, list[i]->name);
	}
	octo_chan_list_free(list, count);
}

static const struct octo_cli_cmd chan_cli[] = {
	{ "calls show active", "List the live calls and where they are in the dialplan", NULL,
	  chan_cli_active, NULL },
	{ "calls show history", "List the ended calls kept for debugging (newest first)",
	  "calls show history [last <N>]", chan_cli_history, NULL },
	{ "call debug", "Show a call's details, variables and dialplan steps (live or ended)",
	  "call debug <id|channel>", chan_cli_debug, chan_complete_ids },
	{ "call hangup", "Hang up a live call", "call hangup <id|channel>", chan_cli_hangup,
	  chan_complete_ids },
	{ 0 }
};

int octo_chan_cli_init(void)
{
	return octo_cli_register_all(NULL, chan_cli);
}
