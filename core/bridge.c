/*
 * bridge.c - calls between channels: outgoing legs (octo_chan_request), a
 * wait set to wait on several channels at once, ringing several legs at once
 * (octo_dial_*) and bridging two answered channels (octo_bridge).
 *
 * DESIGN
 *  - A wait set registers a watcher (octo_chan_watch) on each member. The
 *    watcher runs under the member's lock whenever an event is queued on it
 *    or it hangs up, and only bumps the set's sequence number and broadcasts
 *    its condition (lock order: channel -> wait set). The waiting thread
 *    reads the sequence number first, then polls every member without
 *    holding the set's lock, then sleeps only while the sequence number is
 *    unchanged: an event queued at any moment after the read wakes it, so no
 *    wake-up is lost.
 *  - A dial set and a bridge run on the thread that owns their channels (the
 *    caller's call thread); no lock is held while they wait. Legs are hung
 *    up by that thread, never by the technology.
 *  - Transfers move channels between running bridges: see "bridging" below.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "octo/bridge.h"
#include "octo/channel.h"
#include "octo/dialplan.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/users.h"
#include "dialplan_int.h"
#include "internal.h"

/* ---------------------------------------------------------------- outgoing channels */

/* Non-empty, shorter than `max`, no blanks or control characters. */
static bool bridge_valid_text(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (n + 1 >= max || c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

/* The channel name suffix for a destination: the user part before '@'
 * (after a "scheme:"), at most 32 characters, unusual ones replaced. */
static void bridge_leg_suffix(const char *dest, char *out, size_t size)
{
	const char *start = dest, *at = strchr(dest, '@');
	size_t len = at ? (size_t)(at - dest) : strlen(dest), n = 0;

	if (at) {
		for (const char *p = dest; p < at; p++)
			if (*p == ':')
				start = p + 1;
		len = (size_t)(at - start);
	}
	if (!len) {
		start = dest;
		len = strlen(dest);
	}
	for (size_t i = 0; i < len && n + 1 < size && n < 32; i++) {
		char c = start[i];

		out[n++] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
					   (c >= 'A' && c <= 'Z') || strchr("+*#_.-", c)
				   ? c
				   : '_';
	}
	out[n] = '\0';
}

struct octo_channel *octo_chan_request(const char *tech_name, const char *dest,
				       struct octo_channel *requestor, unsigned timeout_ms,
				       int *cause)
{
	const struct octo_chan_tech *tech;
	struct octo_channel *chan;
	char suffix[40], buf[128];
	int dummy, rc;

	if (!cause)
		cause = &dummy;
	*cause = OCTO_CAUSE_UNAVAILABLE;
	if (!bridge_valid_text(tech_name, 32) || !bridge_valid_text(dest, OCTO_CHAN_DEST_MAX)) {
		if (requestor)
			octo_chan_step(requestor, "cannot call: \"%.40s/%.80s\" is not a valid "
				       "technology/destination", tech_name ? tech_name : "",
				       dest ? dest : "");
		return NULL;
	}
	tech = octo_registry_get(OCTO_REG_CHAN_TECH, tech_name, "bridge");
	if (!tech || !tech->call) {
		if (requestor)
			octo_chan_step(requestor, "cannot call %s/%s: %s", tech_name, dest,
				       tech ? "the technology cannot place calls"
					    : "no such channel technology");
		if (tech)
			octo_registry_put(OCTO_REG_CHAN_TECH, tech, "bridge");
		return NULL;
	}
	octo_registry_put(OCTO_REG_CHAN_TECH, tech, "bridge");

	bridge_leg_suffix(dest, suffix, sizeof(suffix));
	chan = octo_chan_alloc(tech_name, OCTO_CHAN_DIALING, "%s", suffix);
	if (!chan) {
		if (requestor)
			octo_chan_step(requestor, "cannot call %s/%s: no channel (stopping, or "
				       "the call limit is reached)", tech_name, dest);
		*cause = OCTO_CAUSE_CONGESTION;
		return NULL;
	}
	tech = octo_chan_tech(chan);
	octo_chan_set(chan, OCTO_CHAN_DIALED, dest);
	octo_chan_set(chan, OCTO_CHAN_CALLED, dest);
	octo_chan_var_set(chan, "DIRECTION", "outbound");
	if (requestor) {
		octo_chan_set(chan, OCTO_CHAN_CALLER_NUM,
			      octo_chan_copy(requestor, OCTO_CHAN_CALLER_NUM, buf, sizeof(buf)));
		octo_chan_set(chan, OCTO_CHAN_CALLER_NAME,
			      octo_chan_copy(requestor, OCTO_CHAN_CALLER_NAME, buf, sizeof(buf)));
		octo_chan_var_set(chan, "LINKEDID",
				  octo_chan_var_get(requestor, "LINKEDID", buf, sizeof(buf))
					  ? buf
					  : octo_chan_id(requestor));
		octo_chan_step(chan, "outgoing call to %s for %s (call %s)", dest,
			       octo_chan_name(requestor), octo_chan_id(requestor));
	} else {
		octo_chan_step(chan, "outgoing call to %s", dest);
	}
	rc = tech->call ? tech->call(chan, dest, timeout_ms) : OCTO_EINVAL;
	if (rc) {
		*cause = octo_chan_is_hungup(chan) ? octo_chan_hangup_cause(chan)
						   : OCTO_CAUSE_UNAVAILABLE;
		octo_chan_step(chan, "%s cannot call %s: %s", tech->name, dest, octo_strerror(rc));
		if (requestor)
			octo_chan_step(requestor, "cannot call %s/%s: %s (%s)", tech_name, dest,
				       octo_strerror(rc), octo_chan_id(chan));
		octo_chan_hangup(chan, *cause);
		octo_obj_unref(chan);
		return NULL;
	}
	if (requestor)
		octo_chan_step(requestor, "calling %s/%s: %s (%s)", tech_name, dest,
			       octo_chan_name(chan), octo_chan_id(chan));
	return chan;
}

/* ---------------------------------------------------------------- wait sets */

struct octo_waitset {
	pthread_mutex_t lock;
	pthread_cond_t cond;          /* CLOCK_MONOTONIC */
	unsigned long seq;            /* under lock: bumped by every wake-up */
	struct octo_channel *members[OCTO_WAITSET_MAX];
	size_t count;
	size_t next;                  /* the member to look at first (fairness) */
	bool kicked;                  /* under lock: ws_kick asks the waiter to return */
};

/* Makes the waiting thread return 0 (a bridge with a request to handle). */
static void ws_kick(struct octo_waitset *ws)
{
	pthread_mutex_lock(&ws->lock);
	ws->kicked = true;
	ws->seq++;
	pthread_cond_broadcast(&ws->cond);
	pthread_mutex_unlock(&ws->lock);
}

/* The watcher: runs under a member's lock, so it only signals. It signals
 * after the unlock: a waiter woken while the lock was still held blocked on
 * it at once and had to be woken a second time by the unlock (the event
 * loop paid both). The seq bump under the lock is what the waiter checks,
 * so no wake-up is lost; and ws cannot be freed meanwhile, since
 * octo_waitset_remove() first unwatches the member, under its lock. */
static void ws_wake(void *arg)
{
	struct octo_waitset *ws = arg;

	pthread_mutex_lock(&ws->lock);
	ws->seq++;
	pthread_mutex_unlock(&ws->lock);
	pthread_cond_broadcast(&ws->cond);
}

struct octo_waitset *octo_waitset_alloc(void)
{
	struct octo_waitset *ws = calloc(1, sizeof(*ws));
	pthread_condattr_t attr;

	if (!ws)
		return NULL;
	pthread_mutex_init(&ws->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ws->cond, &attr);
	pthread_condattr_destroy(&attr);
	return ws;
}

void octo_waitset_free(struct octo_waitset *ws)
{
	if (!ws)
		return;
	while (ws->count)
		octo_waitset_remove(ws, ws->members[ws->count - 1]);
	pthread_cond_destroy(&ws->cond);
	pthread_mutex_destroy(&ws->lock);
	free(ws);
}

int octo_waitset_add(struct octo_waitset *ws, struct octo_channel *chan)
{
	int rc;

	if (!ws || !chan)
		return OCTO_EINVAL;
	for (size_t i = 0; i < ws->count; i++)
		if (ws->members[i] == chan)
			return OCTO_EEXIST;
	if (ws->count == OCTO_WAITSET_MAX)
		return OCTO_EBUSY;
	rc = octo_chan_watch(chan, ws_wake, ws);
	if (rc)
		return rc;
	ws->members[ws->count++] = octo_obj_ref(chan);
	return 0;
}

int octo_waitset_remove(struct octo_waitset *ws, struct octo_channel *chan)
{
	if (!ws || !chan)
		return OCTO_EINVAL;
	for (size_t i = 0; i < ws->count; i++) {
		if (ws->members[i] != chan)
			continue;
		octo_chan_unwatch(chan, ws_wake, ws);
		memmove(&ws->members[i], &ws->members[i + 1],
			(ws->count - i - 1) * sizeof(ws->members[0]));
		ws->count--;
		if (ws->next >= ws->count)
			ws->next = 0;
		octo_obj_unref(chan);
		return 0;
	}
	return OCTO_ENOTFOUND;
}

size_t octo_waitset_count(const struct octo_waitset *ws)
{
	return ws ? ws->count : 0;
}

static uint64_t ws_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int octo_waitset_wait(struct octo_waitset *ws, int timeout_ms, struct octo_channel **chan,
		      struct octo_chan_event *ev)
{
	uint64_t deadline = timeout_ms > 0 ? ws_mono_ms() + (uint64_t)timeout_ms : 0;

	*chan = NULL;
	if (!ws || !ws->count)
		return 0;
	for (;;) {
		unsigned long seq;

		pthread_mutex_lock(&ws->lock);
		seq = ws->seq;
		pthread_mutex_unlock(&ws->lock);
		for (size_t k = 0; k < ws->count; k++) {
			size_t i = (ws->next + k) % ws->count;
			int rc = octo_chan_wait_event(ws->members[i], 0, ev);

			if (rc == 1 || rc == OCTO_EHANGUP) {
				*chan = ws->members[i];
				ws->next = (i + 1) % ws->count;
				return rc;
			}
		}
		pthread_mutex_lock(&ws->lock);
		if (ws->kicked || timeout_ms == 0) {
			ws->kicked = false;
			pthread_mutex_unlock(&ws->lock);
			return 0;
		}
		while (ws->seq == seq) {
			if (timeout_ms < 0) {
				pthread_cond_wait(&ws->cond, &ws->lock);
				continue;
			}
			uint64_t now = ws_mono_ms();
			struct timespec ts;

			if (now >= deadline)
				break;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)((deadline - now) / 1000u);
			ts.tv_nsec += (long)((deadline - now) % 1000u) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&ws->cond, &ws->lock, &ts);
		}
		pthread_mutex_unlock(&ws->lock);
		if (timeout_ms > 0 && ws_mono_ms() >= deadline) {
			/* One last look, so an event that raced the deadline is not lost. */
			timeout_ms = 0;
		}
	}
}

/* ---------------------------------------------------------------- dial sets */

static const char *const dial_status_names[] = {
	[OCTO_DIAL_RINGING] = "RINGING",       [OCTO_DIAL_ANSWER] = "ANSWER",
	[OCTO_DIAL_BUSY] = "BUSY",             [OCTO_DIAL_NOANSWER] = "NOANSWER",
	[OCTO_DIAL_CANCEL] = "CANCEL",         [OCTO_DIAL_CONGESTION] = "CONGESTION",
	[OCTO_DIAL_CHANUNAVAIL] = "CHANUNAVAIL", [OCTO_DIAL_REJECTED] = "REJECTED",
};

const char *octo_dial_status_name(enum octo_dial_status status)
{
	return (unsigned)status < OCTO_ARRAY_LEN(dial_status_names) ? dial_status_names[status]
								     : "CHANUNAVAIL";
}

enum octo_dial_status octo_dial_status_from_cause(int cause)
{
	switch (cause) {
	case OCTO_CAUSE_BUSY:
		return OCTO_DIAL_BUSY;
	case OCTO_CAUSE_NO_ANSWER:
		return OCTO_DIAL_NOANSWER;
	case OCTO_CAUSE_REJECTED:
		return OCTO_DIAL_REJECTED;
	case OCTO_CAUSE_CONGESTION:
	case OCTO_CAUSE_FAILURE:
		return OCTO_DIAL_CONGESTION;
	default:
		return OCTO_DIAL_CHANUNAVAIL;
	}
}

int octo_dial_status_cause(enum octo_dial_status status)
{
	switch (status) {
	case OCTO_DIAL_BUSY:
		return OCTO_CAUSE_BUSY;
	case OCTO_DIAL_NOANSWER:
		return OCTO_CAUSE_NO_ANSWER;
	case OCTO_DIAL_REJECTED:
		return OCTO_CAUSE_REJECTED;
	case OCTO_DIAL_CONGESTION:
		return OCTO_CAUSE_CONGESTION;
	case OCTO_DIAL_CHANUNAVAIL:
		return OCTO_CAUSE_UNAVAILABLE;
	default:
		return OCTO_CAUSE_NORMAL;
	}
}

struct dial_leg {
	struct octo_channel *chan;     /* our reference; NULL: never created */
	char what[128];                /* "Test/answer" or the failed target's name */
	enum octo_dial_status status;
	bool pending;                  /* created and not ended yet */
	bool rang;
};

struct octo_dial {
	struct octo_channel *caller;   /* our reference, or NULL */
	struct dial_leg legs[OCTO_DIAL_MAX_LEGS];
	size_t count;
	bool ran;
	struct octo_channel *handed;   /* the answered leg given to the caller of run */
	bool quiet;                    /* octo_dial_quiet: no indications to the caller */
	/* pickup (octo_dial_pickup): listed in dials_running while run waits */
	struct octo_dial *next_running;
	struct octo_waitset *ws;       /* run's wait set, while listed */
	struct dial_pickup *pickup;    /* a request posted, under dials_lock */
};

/* A pickup request, on the stack of the picker's thread. */
struct dial_pickup {
	struct octo_channel *leg;      /* the ringing leg to take over (borrowed) */
	struct octo_channel *picker;   /* borrowed; run takes its own reference */
	int result;                    /* 1 while pending, then 0 or OCTO_E* */
};

/* The dial sets waiting in octo_dial_run, for pickups. Lock order:
 * dials_lock -> wait set. */
static pthread_mutex_t dials_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t dials_cond = PTHREAD_COND_INITIALIZER;
static struct octo_dial *dials_running;

static void dial_step(struct octo_dial *d, const char *fmt, ...) OCTO_PRINTF(2, 3);
static void dial_step(struct octo_dial *d, const char *fmt, ...)
{
	va_list ap;

	if (!d->caller)
		return;
	va_start(ap, fmt);
	octo_chan_vstep(d->caller, fmt, ap);
	va_end(ap);
}

struct octo_dial *octo_dial_alloc(struct octo_channel *caller)
{
	struct octo_dial *d = calloc(1, sizeof(*d));

	if (d)
		d->caller = octo_obj_ref(caller);
	return d;
}

int octo_dial_add(struct octo_dial *d, const char *tech, const char *dest, unsigned timeout_ms)
{
	struct dial_leg *leg;
	int cause;

	if (!d || d->ran)
		return OCTO_EINVAL;
	if (d->count == OCTO_DIAL_MAX_LEGS) {
		dial_step(d, "not calling %.40s/%.80s: more than %d legs", tech ? tech : "",
			  dest ? dest : "", OCTO_DIAL_MAX_LEGS);
		return OCTO_EBUSY;
	}
	leg = &d->legs[d->count];
	memset(leg, 0, sizeof(*leg));
	snprintf(leg->what, sizeof(leg->what), "%.40s/%.80s", tech ? tech : "", dest ? dest : "");
	leg->chan = octo_chan_request(tech, dest, d->caller, timeout_ms, &cause);
	if (leg->chan) {
		leg->status = OCTO_DIAL_RINGING;
		leg->pending = true;
	} else {
		leg->status = octo_dial_status_from_cause(cause);
	}
	return (int)d->count++;
}

int octo_dial_add_failed(struct octo_dial *d, const char *what, enum octo_dial_status status)
{
	struct dial_leg *leg;

	if (!d || d->ran || status == OCTO_DIAL_RINGING || status == OCTO_DIAL_ANSWER)
		return OCTO_EINVAL;
	if (d->count == OCTO_DIAL_MAX_LEGS)
		return OCTO_EBUSY;
	leg = &d->legs[d->count];
	memset(leg, 0, sizeof(*leg));
	octo_strlcpy(leg->what, what ? what : "", sizeof(leg->what));
	leg->status = status;
	dial_step(d, "%s: not called (%s)", leg->what, octo_dial_status_name(status));
	return (int)d->count++;
}

size_t octo_dial_count(const struct octo_dial *d)
{
	return d ? d->count : 0;
}

struct octo_channel *octo_dial_leg(const struct octo_dial *d, size_t index)
{
	return d && index < d->count ? d->legs[index].chan : NULL;
}

enum octo_dial_status octo_dial_leg_status(const struct octo_dial *d, size_t index)
{
	return d && index < d->count ? d->legs[index].status : OCTO_DIAL_CHANUNAVAIL;
}

/* Ends a pending leg: out of the wait set, hung up with `cause`. */
static void dial_leg_end(struct octo_dial *d, struct octo_waitset *ws, struct dial_leg *leg,
			 enum octo_dial_status status, int cause, const char *why)
{
	leg->pending = false;
	leg->status = status;
	if (ws)
		octo_waitset_remove(ws, leg->chan);
	dial_step(d, "%s: %s", octo_chan_name(leg->chan), why);
	octo_chan_step(leg->chan, "%s", why);
	octo_chan_hangup(leg->chan, cause);
}

/* Ends every pending leg the same way. */
static void dial_end_all(struct octo_dial *d, struct octo_waitset *ws,
			 enum octo_dial_status status, int cause, const char *why)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->legs[i].pending)
			dial_leg_end(d, ws, &d->legs[i], status, cause, why);
}

static void dial_indicate(struct octo_dial *d, enum octo_chan_event_type what)
{
	const struct octo_chan_tech *tech;

	if (!d->caller || d->quiet)
		return;
	tech = octo_chan_tech(d->caller);
	if (tech->indicate)
		tech->indicate(d->caller, what);
}

/* The most telling status of failed legs. */
static enum octo_dial_status dial_aggregate(const struct octo_dial *d)
{
	static const enum octo_dial_status order[] = {
		OCTO_DIAL_BUSY, OCTO_DIAL_REJECTED, OCTO_DIAL_NOANSWER, OCTO_DIAL_CONGESTION,
	};

	for (size_t o = 0; o < OCTO_ARRAY_LEN(order); o++)
		for (size_t i = 0; i < d->count; i++)
			if (d->legs[i].status == order[o])
				return order[o];
	return OCTO_DIAL_CHANUNAVAIL;
}

static struct dial_leg *dial_find_leg(struct octo_dial *d, struct octo_channel *chan)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->legs[i].chan == chan && d->legs[i].pending)
			return &d->legs[i];
	return NULL;
}

/* Handles one event of a pending leg; returns true when it answered. */
static bool dial_leg_event(struct octo_dial *d, struct octo_waitset *ws, struct dial_leg *leg,
			   int rc, const struct octo_chan_event *ev, bool *told_ringing,
			   bool *told_progress)
{
	char why[96];
	int cause;

	if (rc == OCTO_EHANGUP || ev->type == OCTO_EV_HANGUP) {
		cause = rc == OCTO_EHANGUP ? octo_chan_hangup_cause(leg->chan) : ev->cause;
		if (cause <= 0)
			cause = OCTO_CAUSE_NORMAL;
		snprintf(why, sizeof(why), "hung up before answering: %s (%d)",
			 octo_cause_name(cause), cause);
		dial_leg_end(d, ws, leg, octo_dial_status_from_cause(cause), cause, why);
		return false;
	}
	switch (ev->type) {
	case OCTO_EV_RINGING:
	case OCTO_EV_PROGRESS:
		octo_chan_set_state(leg->chan, OCTO_CHAN_RINGING);
		if (ev->type == OCTO_EV_RINGING && !leg->rang) {
			leg->rang = true;
			dial_step(d, "%s: ringing", octo_chan_name(leg->chan));
			octo_chan_step(leg->chan, "ringing");
		} else if (ev->type == OCTO_EV_PROGRESS) {
			dial_step(d, "%s: progress (early media)", octo_chan_name(leg->chan));
		}
		if (ev->type == OCTO_EV_RINGING && !*told_ringing) {
			*told_ringing = true;
			dial_indicate(d, OCTO_EV_RINGING);
		} else if (ev->type == OCTO_EV_PROGRESS && !*told_progress) {
			*told_progress = true;
			dial_indicate(d, OCTO_EV_PROGRESS);
		}
		return false;
	case OCTO_EV_ANSWER:
		return true;
	case OCTO_EV_BUSY:
		octo_chan_set_state(leg->chan, OCTO_CHAN_BUSY);
		dial_leg_end(d, ws, leg, OCTO_DIAL_BUSY, OCTO_CAUSE_BUSY, "busy");
		return false;
	case OCTO_EV_CONGESTION:
		dial_leg_end(d, ws, leg, OCTO_DIAL_CONGESTION, OCTO_CAUSE_CONGESTION, "congestion");
		return false;
	default:
		return false;   /* digits before the answer mean nothing */
	}
}

/* ---------------------------------------------------------------- pickup */

static void dial_list(struct octo_dial *d, struct octo_waitset *ws)
{
	pthread_mutex_lock(&dials_lock);
	d->ws = ws;
	d->next_running = dials_running;
	dials_running = d;
	pthread_mutex_unlock(&dials_lock);
}

/* Takes d out of the list; a pickup still posted fails. */
static void dial_unlist(struct octo_dial *d)
{
	pthread_mutex_lock(&dials_lock);
	for (struct octo_dial **pp = &dials_running; *pp; pp = &(*pp)->next_running) {
		if (*pp == d) {
			*pp = d->next_running;
			break;
		}
	}
	d->ws = NULL;
	if (d->pickup) {
		d->pickup->result = OCTO_ENOTFOUND;
		d->pickup = NULL;
		pthread_cond_broadcast(&dials_cond);
	}
	pthread_mutex_unlock(&dials_lock);
}

/* On run's thread: a pickup posted for a leg still ringing? Returns the
 * picker (a new reference, and the leg's in *leg) when it is taken. */
static struct octo_channel *dial_take_pickup(struct octo_dial *d, struct octo_channel **leg)
{
	struct octo_channel *picker = NULL;
	struct dial_pickup *req;

	pthread_mutex_lock(&dials_lock);
	req = d->pickup;
	if (req) {
		d->pickup = NULL;
		if (dial_find_leg(d, req->leg) && !octo_chan_is_hungup(req->picker)) {
			picker = octo_obj_ref(req->picker);
			*leg = octo_obj_ref(req->leg);
			req->result = 0;
		} else {
			req->result = OCTO_ENOTFOUND;
		}
		pthread_cond_broadcast(&dials_cond);
	}
	pthread_mutex_unlock(&dials_lock);
	return picker;
}

int octo_dial_pickup(struct octo_channel *leg, struct octo_channel *picker)
{
	struct dial_pickup req = { .leg = leg, .picker = picker, .result = 1 };
	int rc = OCTO_ENOTFOUND;

	if (!leg || !picker || leg == picker)
		return OCTO_EINVAL;
	pthread_mutex_lock(&dials_lock);
	for (struct octo_dial *d = dials_running; d; d = d->next_running) {
		bool mine = false;

		/* the legs array does not change while run waits; only their
		 * pending flags do, and run checks those itself */
		for (size_t i = 0; i < d->count && !mine; i++)
			mine = d->legs[i].chan == leg;
		if (!mine)
			continue;
		if (d->caller == picker) {
			rc = OCTO_EINVAL;
			break;
		}
		if (d->pickup) {
			rc = OCTO_EBUSY;
			break;
		}
		d->pickup = &req;
		ws_kick(d->ws);
		while (req.result == 1)
			pthread_cond_wait(&dials_cond, &dials_lock);
		rc = req.result;
		break;
	}
	pthread_mutex_unlock(&dials_lock);
	return rc;
}

enum octo_dial_status octo_dial_run(struct octo_dial *d, int timeout_ms,
				    struct octo_channel **answered)
{
	struct octo_waitset *ws;
	struct dial_leg *winner = NULL;
	enum octo_dial_status result = OCTO_DIAL_CHANUNAVAIL;
	bool told_ringing = false, told_progress = false, cancelled = false, timed_out = false;
	struct octo_channel *picked = NULL, *picked_leg = NULL;
	uint64_t start = ws_mono_ms();
	size_t pending = 0;
	char why[160];

	if (answered)
		*answered = NULL;
	if (!d || d->ran)
		return OCTO_DIAL_CHANUNAVAIL;
	d->ran = true;
	ws = octo_waitset_alloc();
	if (!ws || (d->caller && octo_waitset_add(ws, d->caller))) {
		dial_step(d, "cannot wait for the legs: out of memory");
		dial_end_all(d, NULL, OCTO_DIAL_CONGESTION, OCTO_CAUSE_FAILURE, "out of memory");
		octo_waitset_free(ws);
		return OCTO_DIAL_CONGESTION;
	}
	for (size_t i = 0; i < d->count; i++) {
		if (!d->legs[i].pending)
			continue;
		if (octo_waitset_add(ws, d->legs[i].chan)) {
			dial_leg_end(d, NULL, &d->legs[i], OCTO_DIAL_CONGESTION, OCTO_CAUSE_FAILURE,
				     "cannot be watched");
			continue;
		}
		pending++;
	}
	if (pending)
		dial_step(d, "ringing %zu leg%s%s", pending, pending == 1 ? "" : "s",
			  timeout_ms > 0 ? "" : " (no time limit)");
	dial_list(d, ws);

	while (pending && !winner) {
		struct octo_channel *chan;
		struct octo_chan_event ev = { 0 };
		struct dial_leg *leg;
		int wait_ms = -1, rc;

		if (timeout_ms > 0) {
			uint64_t spent = ws_mono_ms() - start;

			if (spent >= (uint64_t)timeout_ms) {
				timed_out = true;
				break;
			}
			wait_ms = (int)((uint64_t)timeout_ms - spent);
		}
		rc = octo_waitset_wait(ws, wait_ms, &chan, &ev);
		picked = dial_take_pickup(d, &picked_leg);
		if (picked)
			break;
		if (rc == 0)
			continue;
		if (chan == d->caller) {
			if (rc == OCTO_EHANGUP || ev.type == OCTO_EV_HANGUP) {
				cancelled = true;
				break;
			}
			if (ev.type == OCTO_EV_DIGIT)
				dial_step(d, "digit %c from the caller ignored while ringing",
					  ev.digit);
			continue;
		}
		leg = dial_find_leg(d, chan);
		if (!leg) {
			octo_waitset_remove(ws, chan);
			continue;
		}
		if (dial_leg_event(d, ws, leg, rc, &ev, &told_ringing, &told_progress))
			winner = leg;
		else if (!leg->pending)
			pending--;
	}

	dial_unlist(d);
	if (picked) {
		dial_step(d, "%s picks up the call ringing %s after %.1f s", octo_chan_name(picked),
			  octo_chan_name(picked_leg), (double)(ws_mono_ms() - start) / 1000.0);
		snprintf(why, sizeof(why), "cancelled: picked up by %s", octo_chan_name(picked));
		for (size_t i = 0; i < d->count; i++)
			if (d->legs[i].pending)
				octo_chan_var_set(d->legs[i].chan, "ANSWERED_ELSEWHERE", "1");
		dial_end_all(d, ws, OCTO_DIAL_CANCEL, OCTO_CAUSE_NORMAL, why);
		octo_chan_step(picked, "picked up the call of %s", octo_chan_name(picked_leg));
		octo_obj_unref(picked_leg);
		d->handed = picked;
		if (answered)
			*answered = picked;
		else
			octo_obj_unref(picked);
		result = OCTO_DIAL_ANSWER;
	} else if (winner) {
		winner->pending = false;
		winner->status = OCTO_DIAL_ANSWER;
		octo_waitset_remove(ws, winner->chan);
		octo_chan_set_state(winner->chan, OCTO_CHAN_UP);
		octo_chan_step(winner->chan, "answered");
		dial_step(d, "%s answered after %.1f s", octo_chan_name(winner->chan),
			  (double)(ws_mono_ms() - start) / 1000.0);
		snprintf(why, sizeof(why), "cancelled: answered elsewhere (%s)",
			 octo_chan_name(winner->chan));
		for (size_t i = 0; i < d->count; i++)
			if (d->legs[i].pending)
				octo_chan_var_set(d->legs[i].chan, "ANSWERED_ELSEWHERE", "1");
		dial_end_all(d, ws, OCTO_DIAL_CANCEL, OCTO_CAUSE_NORMAL, why);
		d->handed = winner->chan;
		if (answered)
			*answered = octo_obj_ref(winner->chan);
		result = OCTO_DIAL_ANSWER;
	} else if (cancelled) {
		dial_step(d, "the caller hung up while ringing");
		dial_end_all(d, ws, OCTO_DIAL_CANCEL, OCTO_CAUSE_NORMAL,
			     "cancelled: the caller hung up");
		result = OCTO_DIAL_CANCEL;
	} else if (timed_out) {
		snprintf(why, sizeof(why), "no answer within %.1f s", (double)timeout_ms / 1000.0);
		dial_step(d, "%s", why);
		dial_end_all(d, ws, OCTO_DIAL_NOANSWER, OCTO_CAUSE_NO_ANSWER, why);
		result = OCTO_DIAL_NOANSWER;
	} else {
		result = dial_aggregate(d);
		dial_step(d, "no leg answered: %s", octo_dial_status_name(result));
	}
	octo_waitset_free(ws);
	return result;
}

void octo_dial_free(struct octo_dial *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++) {
		struct dial_leg *leg = &d->legs[i];

		if (!leg->chan)
			continue;
		if (leg->chan != d->handed && !octo_chan_is_hungup(leg->chan))
			octo_chan_step(leg->chan, "cancelled: the dial ended");
		if (leg->chan != d->handed)
			octo_chan_hangup(leg->chan, OCTO_CAUSE_NORMAL);
		octo_obj_unref(leg->chan);
	}
	octo_obj_unref(d->caller);
	free(d);
}

/* ---------------------------------------------------------------- bridging
 *
 * A running bridge is a bridge_run on the stack of the thread in
 * octo_bridge_ex, listed in `bridges` while it takes requests (transfers).
 * m[0] is the calling side, m[1] the other. Each member is of a kind:
 *   BK_OWN       the a of octo_bridge_ex: this thread is its owner (its
 *                call thread when it runs dialplan)
 *   BK_LEG       a channel without a thread that the bridge owns (b, or one
 *                handed over by another bridge): the bridge hangs it up
 *   BK_BORROWED  another bridge's BK_OWN, lent while that bridge's thread
 *                waits (parked) until the channel is given back; or a b
 *                whose own call thread lent it (octo_bridge_lend: a picker,
 *                the taker of a parked call) and waits the same way
 * Requests are posted under bridges_lock (busy is set until the bridge has
 * done it) and the bridge's wait set is kicked; the bridge thread does the
 * work. Members change only on the bridge's thread, under bridges_lock, so
 * lookups from other threads are safe under it. Lock order: bridges_lock ->
 * channel -> wait set. No technology callback runs under bridges_lock.
 */

enum bridge_kind { BK_OWN = 0, BK_LEG, BK_BORROWED };
enum bridge_req_type { BR_NONE = 0, BR_REDIRECT, BR_KEEP, BR_GIVE };

#define BRIDGE_TEXT_MAX 80

struct bridge_run;
struct bridge_loan;

struct bridge_req {
	enum bridge_req_type type;
	int idx;                              /* the member concerned */
	char proc[BRIDGE_TEXT_MAX];           /* BR_REDIRECT */
	char num[BRIDGE_TEXT_MAX];
	struct bridge_run *to;                /* BR_GIVE: the bridge that takes the member */
};

struct bridge_run {
	struct bridge_run *next, *prev; /* bridges (prev: O(1) unlisting) */
	struct octo_channel *m[2];            /* our references; NULL once gone */
	enum bridge_kind kind[2];
	struct bridge_run *lender[2];         /* BK_BORROWED: the parked bridge it belongs to */
	bool held[2];                         /* we put m[i] on hold (its partner's HOLD) */
	struct octo_channel *own;             /* octo_bridge_ex's a (borrowed) */
	unsigned flags;
	struct octo_waitset *ws;
	bool native;
	uint64_t start_ms;
	/* under bridges_lock */
	bool listed, busy;
	struct bridge_req req;
	struct octo_channel *incoming;        /* BR_KEEP: handed over (a reference) */
	enum bridge_kind incoming_kind;
	struct bridge_run *incoming_lender;
	bool incoming_set;
	bool returned, ret_redirect;          /* parked: our own channel came back */
	char ret_proc[BRIDGE_TEXT_MAX], ret_num[BRIDGE_TEXT_MAX];
	struct bridge_loan *loan;             /* the lender of a loan (octo_bridge_lend) */
};

/* A channel lent by its call thread (octo_bridge_lend): the bridge that
 * takes it as its b treats it as BK_BORROWED from `run`, which only holds
 * what is given back. `lock` (a leaf lock) and `cond` wake the waiting
 * thread; the rest is under bridges_lock. */
struct bridge_loan {
	struct bridge_loan *next;
	struct octo_channel *chan;            /* our reference */
	struct bridge_run run;
	bool in_bridge;                       /* a bridge holds it */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long seq;
};

static pthread_mutex_t bridges_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bridges_cond = PTHREAD_COND_INITIALIZER; /* hand-overs, give-backs */
static struct bridge_run *bridges;
static struct bridge_loan *loans;     /* under bridges_lock */

static void bridge_loan_kick(struct bridge_loan *loan)
{
	pthread_mutex_lock(&loan->lock);
	loan->seq++;
	pthread_cond_broadcast(&loan->cond);
	pthread_mutex_unlock(&loan->lock);
}

/* Under bridges_lock: the loan of chan, or NULL. */
static struct bridge_loan *bridge_loan_find_locked(struct octo_channel *chan)
{
	for (struct bridge_loan *l = loans; l; l = l->next)
		if (l->chan == chan)
			return l;
	return NULL;
}

/* Hangs up the bridge's own side. A channel running dialplan is only marked
 * as hung up: the engine finishes it when the application returns, so the
 * application's last steps and variables still reach its log and CDR. */
static void bridge_hangup_a(struct octo_channel *a, int cause)
{
	struct octo_chan_event ev = { .type = OCTO_EV_HANGUP, .cause = cause };

	if (octo_pbx_is_running(a))
		octo_chan_queue_event(a, &ev);
	else
		octo_chan_hangup(a, cause);
}

/* Writes a step into both logs. */
static void bridge_step(struct octo_channel *a, struct octo_channel *b, const char *fmt, ...)
	OCTO_PRINTF(3, 4);
static void bridge_step(struct octo_channel *a, struct octo_channel *b, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (a)
		octo_chan_step(a, "%s", text);
	if (b)
		octo_chan_step(b, "%s", text);
}

/* Lists the new bridge; a b lent by its call thread becomes BK_BORROWED. */
static void bridge_list(struct bridge_run *run)
{
	struct bridge_loan *loan;

	pthread_mutex_lock(&bridges_lock);
	loan = bridge_loan_find_locked(run->m[1]);
	if (loan && (loan->in_bridge || loan->run.returned))
		loan = NULL;
	if (loan) {
		loan->in_bridge = true;
		run->kind[1] = BK_BORROWED;
		run->lender[1] = &loan->run;
	}
	run->next = bridges;
	run->prev = NULL;
	if (bridges)
		bridges->prev = run;
	bridges = run;
	run->listed = true;
	pthread_mutex_unlock(&bridges_lock);
	if (loan)
		octo_chan_step(run->m[1], "bridge: this call's own thread waits until the bridge "
			       "gives it back (hang-up or transfer)");
}

/* Under bridges_lock: no more requests for this bridge. */
static void bridge_unlist_locked(struct bridge_run *run)
{
	if (!run->listed)
		return;
	if (run->prev)
		run->prev->next = run->next;
	else
		bridges = run->next;
	if (run->next)
		run->next->prev = run->prev;
	run->next = run->prev = NULL;
	run->listed = false;
}

static void bridge_unlist(struct bridge_run *run)
{
	pthread_mutex_lock(&bridges_lock);
	bridge_unlist_locked(run);
	pthread_mutex_unlock(&bridges_lock);
}

/* Under bridges_lock: the listed bridge with `chan` as a member, and its index. */
static struct bridge_run *bridge_find_locked(struct octo_channel *chan, int *idx)
{
	for (struct bridge_run *run = bridges; run; run = run->next) {
		for (int i = 0; i < 2; i++) {
			if (run->m[i] == chan) {
				*idx = i;
				return run;
			}
		}
	}
	return NULL;
}

/* Starts the native media relay between the two members when they can. */
static void bridge_media_start(struct bridge_run *run)
{
	const struct octo_chan_tech *ta = octo_chan_tech(run->m[0]);
	const struct octo_chan_tech *tb = octo_chan_tech(run->m[1]);

	if (ta == tb && ta->native_bridge) {
		int rc = ta->native_bridge(run->m[0], run->m[1], true);

		run->native = rc == 0;
		if (run->native)
			bridge_step(run->m[0], run->m[1], "media: relayed natively by %s",
				    ta->name);
		else
			bridge_step(run->m[0], run->m[1],
				    "media: %s cannot relay natively (%s); no media path", ta->name,
				    octo_strerror(rc));
	} else {
		bridge_step(run->m[0], run->m[1],
			    "media: no native bridge between %s and %s; no media path", ta->name,
			    tb->name);
	}
}

static void bridge_media_stop(struct bridge_run *run)
{
	if (!run->native)
		return;
	run->native = false;
	octo_chan_tech(run->m[0])->native_bridge(run->m[0], run->m[1], false);
}

/* Passes hold or resume from member i to the other one. */
static void bridge_pass_hold(struct bridge_run *run, int i, enum octo_chan_event_type what)
{
	struct octo_channel *from = run->m[i], *to = run->m[1 - i];
	const struct octo_chan_tech *tech = octo_chan_tech(to);
	const char *verb = what == OCTO_EV_HOLD ? "puts the call on hold" : "resumes the call";
	int rc = tech->indicate ? tech->indicate(to, what) : OCTO_EINVAL;

	if (rc == 0) {
		run->held[1 - i] = what == OCTO_EV_HOLD;
		bridge_step(from, to, "%s %s: passed to %s", octo_chan_name(from), verb,
			    octo_chan_name(to));
	} else {
		bridge_step(from, to, "%s %s: not passed to %s (%s cannot %s)",
			    octo_chan_name(from), verb, octo_chan_name(to), tech->name,
			    what == OCTO_EV_HOLD ? "hold" : "resume");
	}
}

/* Takes back a hold we passed to member i, which stays up while its partner
 * leaves. */
static void bridge_unhold(struct bridge_run *run, int i)
{
	const struct octo_chan_tech *tech;
	int rc;

	if (!run->held[i] || !run->m[i])
		return;
	run->held[i] = false;
	tech = octo_chan_tech(run->m[i]);
	rc = tech->indicate ? tech->indicate(run->m[i], OCTO_EV_UNHOLD) : OCTO_EINVAL;
	octo_chan_step(run->m[i], "resumed: the partner that held it leaves the bridge%s%s",
		       rc ? ": " : "", rc ? octo_strerror(rc) : "");
}

/* HANGUPSIDE of a channel ended by a transfer: its own far end did it. */
static void bridge_side_by_direction(struct octo_channel *chan)
{
	char dir[16];

	octo_chan_var_set(chan, "HANGUPSIDE",
			  octo_chan_var_get(chan, "DIRECTION", dir, sizeof(dir)) &&
					  !strcmp(dir, "outbound")
				  ? "callee"
				  : "caller");
}

/* Takes member i out (wait set, member slot); returns our reference. */
static struct octo_channel *bridge_take_out(struct bridge_run *run, int i)
{
	struct octo_channel *chan = run->m[i];

	octo_waitset_remove(run->ws, chan);
	pthread_mutex_lock(&bridges_lock);
	run->m[i] = NULL;
	pthread_mutex_unlock(&bridges_lock);
	run->held[i] = false;
	return chan;
}

/* Gives a borrowed channel back to its parked bridge, with where its
 * dialplan goes on (proc NULL: it hung up). */
static void bridge_give_back(struct bridge_run *lender, const char *proc, const char *num)
{
	pthread_mutex_lock(&bridges_lock);
	lender->returned = true;
	lender->ret_redirect = proc != NULL;
	if (proc) {
		octo_strlcpy(lender->ret_proc, proc, sizeof(lender->ret_proc));
		octo_strlcpy(lender->ret_num, num, sizeof(lender->ret_num));
	}
	if (lender->loan) {
		lender->loan->in_bridge = false;
		bridge_loan_kick(lender->loan);
	}
	pthread_cond_broadcast(&bridges_cond);
	pthread_mutex_unlock(&bridges_lock);
}

/* Hangs member i up as its kind needs and takes it out. */
static void bridge_drop(struct bridge_run *run, int i, int cause)
{
	enum bridge_kind kind = run->kind[i];
	struct bridge_run *lender = run->lender[i];
	struct octo_channel *chan = bridge_take_out(run, i);

	if (kind == BK_LEG) {
		octo_chan_hangup(chan, cause);
	} else {
		bridge_hangup_a(chan, cause);
		if (kind == BK_BORROWED)
			bridge_give_back(lender, NULL, NULL);
	}
	octo_obj_unref(chan);
}

/* Users service lookups for the caller name of a transferred leg. */
static void bridge_user_name(const char *ext, char *buf, size_t size)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, "bridge");
	struct octo_user *u = users ? users->find(ext) : NULL;

	octo_strlcpy(buf, u && u->name && *u->name ? u->name : ext, size);
	octo_obj_unref(u);
	if (users)
		octo_service_put(users, "bridge");
}

/* A leg without a thread goes on in the dialplan on a call thread of its own. */
static void bridge_leg_to_dialplan(struct octo_channel *chan, const char *proc, const char *num)
{
	char user[128], dir[16], name[128];

	octo_chan_set(chan, OCTO_CHAN_PROCEDURE, proc);
	octo_chan_set(chan, OCTO_CHAN_CALLED, num);
	if (octo_chan_var_get(chan, "DIRECTION", dir, sizeof(dir)) && !strcmp(dir, "outbound") &&
	    octo_chan_var_get(chan, "USER", user, sizeof(user)) && *user) {
		/* it rang a user's device: that user now calls */
		bridge_user_name(user, name, sizeof(name));
		octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, user);
		octo_chan_set(chan, OCTO_CHAN_CALLER_NAME, name);
	}
	octo_chan_step(chan, "transfer: a call thread of its own runs the dialplan");
	if (octo_pbx_start(chan) != 0) {
		octo_chan_step(chan, "transfer failed: cannot start a call thread");
		octo_chan_hangup(chan, OCTO_CAUSE_FAILURE);
	}
}

/* Waits until the own channel lent to another bridge comes back. */
static int bridge_park(struct bridge_run *run)
{
	pthread_mutex_lock(&bridges_lock);
	while (!run->returned)
		pthread_cond_wait(&bridges_cond, &bridges_lock);
	pthread_mutex_unlock(&bridges_lock);
	if (!run->ret_redirect)
		return OCTO_BRIDGE_A_ENDED;
	if (octo_pbx_goto(run->own, run->ret_proc, run->ret_num, NULL) != 0)
		octo_chan_step(run->own, "transfer: cannot go on at %s/%s", run->ret_proc,
			       run->ret_num);
	return OCTO_BRIDGE_REDIRECTED;
}

static int bridge_end(struct bridge_run *run, int i, int cause);

/* BR_REDIRECT: member idx goes on in the dialplan, the other is hung up. */
static int bridge_do_redirect(struct bridge_run *run, const struct bridge_req *req)
{
	int i = req->idx, j = 1 - i;
	enum bridge_kind kind = run->kind[i];
	struct bridge_run *lender = run->lender[i];
	struct octo_channel *chan;

	bridge_unlist(run);
	bridge_media_stop(run);
	bridge_step(run->m[i], run->m[j], "transfer: %s goes on in the dialplan at %s/%s; %s "
		    "is hung up", octo_chan_name(run->m[i]), req->proc, req->num,
		    octo_chan_name(run->m[j]));
	bridge_unhold(run, i);
	bridge_side_by_direction(run->m[j]);
	bridge_drop(run, j, OCTO_CAUSE_NORMAL);
	chan = bridge_take_out(run, i);
	switch (kind) {
	case BK_OWN:
		if (octo_pbx_goto(chan, req->proc, req->num, NULL) != 0)
			octo_chan_step(chan, "transfer: cannot go on at %s/%s", req->proc,
				       req->num);
		octo_obj_unref(chan);
		return OCTO_BRIDGE_REDIRECTED;
	case BK_LEG:
		bridge_leg_to_dialplan(chan, req->proc, req->num);
		break;
	case BK_BORROWED:
		bridge_give_back(lender, req->proc, req->num);
		break;
	}
	octo_obj_unref(chan);
	return OCTO_BRIDGE_A_ENDED;
}

/* BR_GIVE: member idx leaves for req->to, the other is hung up. */
static int bridge_do_give(struct bridge_run *run, const struct bridge_req *req)
{
	int g = req->idx, t = 1 - g;
	enum bridge_kind kind = run->kind[g];
	struct bridge_run *to = req->to, *lender = kind == BK_OWN ? run : run->lender[g];
	struct octo_channel *chan;

	bridge_unlist(run);
	bridge_media_stop(run);
	bridge_step(run->m[g], run->m[t], "transfer: %s leaves to be bridged with another call; "
		    "%s is hung up", octo_chan_name(run->m[g]), octo_chan_name(run->m[t]));
	bridge_unhold(run, g);
	bridge_side_by_direction(run->m[t]);
	chan = bridge_take_out(run, g);
	pthread_mutex_lock(&bridges_lock);
	to->incoming = chan; /* our reference goes along */
	to->incoming_kind = kind == BK_LEG ? BK_LEG : BK_BORROWED;
	to->incoming_lender = kind == BK_LEG ? NULL : lender;
	to->incoming_set = true;
	pthread_cond_broadcast(&bridges_cond);
	pthread_mutex_unlock(&bridges_lock);
	bridge_drop(run, t, OCTO_CAUSE_NORMAL);
	if (kind != BK_OWN)
		return OCTO_BRIDGE_A_ENDED;
	return bridge_park(run);
}

/* BR_KEEP: member idx stays; the other is hung up and replaced by the
 * channel another bridge hands over. Returns 0 (the bridge goes on), or how
 * it ended when the new member cannot be watched. */
static int bridge_do_keep(struct bridge_run *run, const struct bridge_req *req)
{
	int k = req->idx, t = 1 - k;
	struct octo_channel *chan;
	enum bridge_kind kind;
	struct bridge_run *lender;

	bridge_media_stop(run);
	bridge_step(run->m[k], run->m[t], "transfer: %s is to be bridged with another call; %s "
		    "is hung up", octo_chan_name(run->m[k]), octo_chan_name(run->m[t]));
	bridge_unhold(run, k);
	bridge_side_by_direction(run->m[t]);
	if (run->kind[t] == BK_OWN) {
		/* the thread goes on bridging others: its own channel ends now */
		chan = bridge_take_out(run, t);
		octo_chan_step(chan, "transfer: this call's thread goes on bridging %s",
			       octo_chan_name(run->m[k]));
		octo_chan_hangup(chan, OCTO_CAUSE_NORMAL);
		octo_obj_unref(chan);
	} else {
		bridge_drop(run, t, OCTO_CAUSE_NORMAL);
	}
	pthread_mutex_lock(&bridges_lock);
	while (!run->incoming_set)
		pthread_cond_wait(&bridges_cond, &bridges_lock);
	chan = run->incoming;
	kind = run->incoming_kind;
	lender = run->incoming_lender;
	run->incoming = NULL;
	run->incoming_set = false;
	run->m[t] = chan;
	run->kind[t] = kind;
	run->lender[t] = lender;
	pthread_mutex_unlock(&bridges_lock);
	run->held[t] = false;
	if (octo_waitset_add(run->ws, chan) != 0) {
		/* hardly possible: its old bridge stopped watching it */
		bridge_step(run->m[k], chan, "transfer failed: %s cannot be watched",
			    octo_chan_name(chan));
		bridge_unlist(run);
		return bridge_end(run, t, OCTO_CAUSE_FAILURE);
	}
	octo_chan_var_set(run->m[k], "BRIDGEPEER", octo_chan_name(chan));
	octo_chan_var_set(chan, "BRIDGEPEER", octo_chan_name(run->m[k]));
	bridge_step(run->m[k], chan, "transfer: bridge %s <-> %s", octo_chan_name(run->m[0]),
		    octo_chan_name(run->m[1]));
	bridge_media_start(run);
	return 0;
}

/* One member hung up: the bridge ends. The run is unlisted already. */
static int bridge_end(struct bridge_run *run, int i, int cause)
{
	bool keep_a = i == 1 && (run->flags & OCTO_BRIDGE_KEEP_A) && run->kind[0] == BK_OWN;
	int rc = run->kind[0] != BK_OWN ? OCTO_BRIDGE_A_ENDED
		 : i == 0               ? OCTO_BRIDGE_A_ENDED
					: OCTO_BRIDGE_B_ENDED;

	bridge_media_stop(run);
	bridge_step(run->m[0], run->m[1], "%s hung up (%s) after %.1f s: bridge ends",
		    octo_chan_name(run->m[i]), octo_cause_name(cause),
		    (double)(ws_mono_ms() - run->start_ms) / 1000.0);
	if (i == 0) {
		octo_chan_var_set(run->m[0], "HANGUPSIDE", "caller");
		octo_chan_var_set(run->m[1], "HANGUPSIDE", "caller");
	} else {
		octo_chan_var_set(run->m[1], "HANGUPSIDE", "callee");
		if (!keep_a)
			octo_chan_var_set(run->m[0], "HANGUPSIDE", "callee");
	}
	bridge_drop(run, 1, cause);
	if (keep_a)
		bridge_unhold(run, 0);
	else
		bridge_drop(run, 0, cause);
	return rc;
}

static int bridge_loop(struct bridge_run *run)
{
	for (;;) {
		struct bridge_req req = { .type = BR_NONE };
		struct octo_chan_event ev = { 0 };
		struct octo_channel *chan;
		int rc, i;

		pthread_mutex_lock(&bridges_lock);
		if (run->req.type != BR_NONE) {
			req = run->req;
			run->req.type = BR_NONE;
		}
		pthread_mutex_unlock(&bridges_lock);
		switch (req.type) {
		case BR_REDIRECT: return bridge_do_redirect(run, &req);
		case BR_GIVE: return bridge_do_give(run, &req);
		case BR_KEEP:
			rc = bridge_do_keep(run, &req);
			if (rc)
				return rc;
			pthread_mutex_lock(&bridges_lock);
			run->busy = false;
			pthread_mutex_unlock(&bridges_lock);
			continue;
		default: break;
		}

		rc = octo_waitset_wait(run->ws, -1, &chan, &ev);
		if (rc == 0)
			continue;
		i = chan == run->m[0] ? 0 : chan == run->m[1] ? 1 : -1;
		if (i < 0) {
			octo_waitset_remove(run->ws, chan);
			continue;
		}
		if (rc == OCTO_EHANGUP || ev.type == OCTO_EV_HANGUP) {
			int cause = rc == OCTO_EHANGUP ? octo_chan_hangup_cause(chan) : ev.cause;
			bool pending;

			pthread_mutex_lock(&bridges_lock);
			pending = run->busy;
			if (!pending)
				bridge_unlist_locked(run);
			pthread_mutex_unlock(&bridges_lock);
			if (pending)
				continue; /* the request first; the hang-up is seen again */
			return bridge_end(run, i, cause > 0 ? cause : OCTO_CAUSE_NORMAL);
		}
		if (ev.type == OCTO_EV_HOLD || ev.type == OCTO_EV_UNHOLD) {
			bridge_pass_hold(run, i, ev.type);
		} else if (ev.type == OCTO_EV_DIGIT) {
			struct octo_channel *other = run->m[1 - i];
			const struct octo_chan_tech *tech = octo_chan_tech(other);

			if (tech->send_digit) {
				rc = tech->send_digit(other, ev.digit);
				octo_chan_step(chan, "digit %c passed to %s%s%s", ev.digit,
					       octo_chan_name(other), rc ? ": " : "",
					       rc ? octo_strerror(rc) : "");
			} else {
				octo_chan_step(chan, "digit %c dropped: %s cannot send digits",
					       ev.digit, octo_chan_name(other));
			}
		}
		/* answer, ringing ... mean nothing once bridged */
	}
}

int octo_bridge(struct octo_channel *a, struct octo_channel *b)
{
	return octo_bridge_ex(a, b, 0);
}

int octo_bridge_ex(struct octo_channel *a, struct octo_channel *b, unsigned flags)
{
	struct bridge_run run = { .own = a, .flags = flags };
	int rc;

	if (!a || !b || a == b)
		return OCTO_EINVAL;
	octo_chan_var_set(a, "BRIDGEPEER", octo_chan_name(b));
	octo_chan_var_set(b, "BRIDGEPEER", octo_chan_name(a));
	run.ws = octo_waitset_alloc();
	if (!run.ws || octo_waitset_add(run.ws, a) || octo_waitset_add(run.ws, b)) {
		bridge_step(a, b, "cannot bridge %s with %s: out of memory", octo_chan_name(a),
			    octo_chan_name(b));
		octo_waitset_free(run.ws);
		octo_chan_hangup(b, OCTO_CAUSE_FAILURE);
		bridge_hangup_a(a, OCTO_CAUSE_FAILURE);
		return OCTO_BRIDGE_A_ENDED;
	}
	run.m[0] = octo_obj_ref(a);
	run.kind[0] = BK_OWN;
	run.m[1] = octo_obj_ref(b);
	run.kind[1] = BK_LEG;
	run.start_ms = ws_mono_ms();
	bridge_step(a, b, "bridge %s <-> %s starts", octo_chan_name(a), octo_chan_name(b));
	bridge_media_start(&run);
	bridge_list(&run);
	rc = bridge_loop(&run);
	/* unlisted by now; a kept up (KEEP_A) is still a member */
	for (int i = 0; i < 2; i++)
		octo_obj_unref(run.m[i]);
	octo_waitset_free(run.ws);
	return rc;
}

/* ---------------------------------------------------------------- transfers */

/* True when procedure/number matches an entry of the running dialplan. */
static bool bridge_dialplan_has(const char *proc, const char *num)
{
	struct dp_snapshot *dp = dp_current();
	bool found = dp && dp_match(dp, proc, num, NULL) != NULL;

	octo_obj_unref(dp);
	return found;
}

struct octo_channel *octo_bridge_peer(struct octo_channel *chan)
{
	struct octo_channel *peer = NULL;
	struct bridge_run *run;
	int i;

	if (!chan)
		return NULL;
	pthread_mutex_lock(&bridges_lock);
	run = bridge_find_locked(chan, &i);
	if (run && run->m[1 - i])
		peer = octo_obj_ref(run->m[1 - i]);
	pthread_mutex_unlock(&bridges_lock);
	return peer;
}

/* Under bridges_lock: can member i of run take part in a request? */
static int bridge_check_locked(struct bridge_run *run, int i)
{
	if (!run || !run->m[1 - i])
		return OCTO_EINVAL;
	if (run->busy)
		return OCTO_EBUSY;
	if (octo_chan_is_hungup(run->m[i]))
		return OCTO_EHANGUP;
	return 0;
}

static void bridge_post_locked(struct bridge_run *run, const struct bridge_req *req)
{
	run->req = *req;
	run->busy = true;
	ws_kick(run->ws);
}

int octo_chan_redirect(struct octo_channel *chan, const char *procedure, const char *number)
{
	struct bridge_req req = { .type = BR_REDIRECT };
	struct bridge_run *run;
	int i = 0, rc;

	if (!chan || !bridge_valid_text(procedure, BRIDGE_TEXT_MAX) ||
	    !bridge_valid_text(number, BRIDGE_TEXT_MAX))
		return OCTO_EINVAL;
	if (!bridge_dialplan_has(procedure, number))
		return OCTO_ENOTFOUND;
	octo_strlcpy(req.proc, procedure, sizeof(req.proc));
	octo_strlcpy(req.num, number, sizeof(req.num));
	pthread_mutex_lock(&bridges_lock);
	run = bridge_find_locked(chan, &i);
	rc = bridge_check_locked(run, i);
	/* a channel with a thread must go on there: the bridge's own thread,
	 * or the parked one it is borrowed from */
	if (!rc && run->kind[i] != BK_LEG && !octo_pbx_is_running(chan))
		rc = OCTO_EINVAL;
	if (!rc) {
		req.idx = i;
		bridge_post_locked(run, &req);
	}
	pthread_mutex_unlock(&bridges_lock);
	return rc;
}

int octo_bridge_join(struct octo_channel *x, struct octo_channel *y)
{
	struct bridge_run *rx, *ry;
	int ix = 0, iy = 0, rc;

	if (!x || !y || x == y)
		return OCTO_EINVAL;
	pthread_mutex_lock(&bridges_lock);
	rx = bridge_find_locked(x, &ix);
	ry = bridge_find_locked(y, &iy);
	rc = rx == ry ? OCTO_EINVAL : bridge_check_locked(rx, ix);
	if (!rc)
		rc = bridge_check_locked(ry, iy);
	if (!rc) {
		struct bridge_req keep = { .type = BR_KEEP }, give = { .type = BR_GIVE };

		/* the bridge whose own channel stays goes on; x's when both or neither */
		if (rx->kind[ix] != BK_OWN && ry->kind[iy] == BK_OWN) {
			struct bridge_run *r = rx;
			int n = ix;

			rx = ry;
			ix = iy;
			ry = r;
			iy = n;
		}
		keep.idx = ix;
		give.idx = iy;
		give.to = rx;
		bridge_post_locked(rx, &keep);
		bridge_post_locked(ry, &give);
	}
	pthread_mutex_unlock(&bridges_lock);
	return rc;
}

/* ---------------------------------------------------------------- lending */

int octo_bridge_lend(struct octo_channel *chan)
{
	struct bridge_loan *loan;

	if (!chan || !octo_pbx_is_running(chan))
		return OCTO_EINVAL;
	loan = calloc(1, sizeof(*loan));
	if (!loan)
		return OCTO_ENOMEM;
	loan->chan = octo_obj_ref(chan);
	loan->run.own = chan;
	loan->run.loan = loan;
	pthread_mutex_init(&loan->lock, NULL);
	pthread_cond_init(&loan->cond, NULL);
	pthread_mutex_lock(&bridges_lock);
	if (bridge_loan_find_locked(chan)) {
		pthread_mutex_unlock(&bridges_lock);
		pthread_cond_destroy(&loan->cond);
		pthread_mutex_destroy(&loan->lock);
		octo_obj_unref(loan->chan);
		free(loan);
		return OCTO_EEXIST;
	}
	loan->next = loans;
	loans = loan;
	pthread_mutex_unlock(&bridges_lock);
	return 0;
}

/* Under bridges_lock: takes the loan out of the list. */
static void bridge_loan_unlink_locked(struct bridge_loan *loan)
{
	for (struct bridge_loan **pp = &loans; *pp; pp = &(*pp)->next) {
		if (*pp == loan) {
			*pp = loan->next;
			break;
		}
	}
}

static void bridge_loan_free(struct bridge_loan *loan)
{
	pthread_cond_destroy(&loan->cond);
	pthread_mutex_destroy(&loan->lock);
	octo_obj_unref(loan->chan);
	free(loan);
}

int octo_bridge_lend_end(struct octo_channel *chan)
{
	struct bridge_loan *loan;

	if (!chan)
		return OCTO_EINVAL;
	pthread_mutex_lock(&bridges_lock);
	loan = bridge_loan_find_locked(chan);
	if (loan && loan->in_bridge) {
		pthread_mutex_unlock(&bridges_lock);
		return OCTO_EBUSY;
	}
	if (loan)
		bridge_loan_unlink_locked(loan);
	pthread_mutex_unlock(&bridges_lock);
	if (!loan)
		return OCTO_ENOTFOUND;
	bridge_loan_free(loan);
	return 0;
}

static void bridge_loan_wake(void *arg)
{
	bridge_loan_kick(arg);
}

int octo_bridge_lend_wait(struct octo_channel *chan)
{
	struct bridge_loan *loan;
	bool watched, redirect;
	int rc;

	if (!chan)
		return OCTO_EINVAL;
	pthread_mutex_lock(&bridges_lock);
	loan = bridge_loan_find_locked(chan);
	pthread_mutex_unlock(&bridges_lock);
	if (!loan)
		return OCTO_EINVAL;
	watched = octo_chan_watch(chan, bridge_loan_wake, loan) == 0;
	for (;;) {
		struct timespec ts;
		unsigned long seq;
		bool done;

		pthread_mutex_lock(&loan->lock);
		seq = loan->seq;
		pthread_mutex_unlock(&loan->lock);
		/* back from a bridge, or hung up where no bridge holds it (a
		 * bridge that holds it gives it back when it sees the hang-up) */
		pthread_mutex_lock(&bridges_lock);
		done = loan->run.returned || (!loan->in_bridge && octo_chan_is_hungup(chan));
		if (done)
			bridge_loan_unlink_locked(loan);
		pthread_mutex_unlock(&bridges_lock);
		if (done)
			break;
		ts = octo_deadline_after_ms(500); /* a safety net: the watcher wakes us */
		pthread_mutex_lock(&loan->lock);
		if (loan->seq == seq)
			pthread_cond_timedwait(&loan->cond, &loan->lock, &ts);
		pthread_mutex_unlock(&loan->lock);
	}
	if (watched)
		octo_chan_unwatch(chan, bridge_loan_wake, loan);
	/* unlisted and given back: nothing else touches the loan now */
	redirect = loan->run.returned && loan->run.ret_redirect;
	rc = OCTO_BRIDGE_A_ENDED;
	if (redirect) {
		if (octo_pbx_goto(chan, loan->run.ret_proc, loan->run.ret_num, NULL) != 0)
			octo_chan_step(chan, "transfer: cannot go on at %s/%s", loan->run.ret_proc,
				       loan->run.ret_num);
		else
			octo_chan_step(chan, "transfer: this call's own thread goes on at %s/%s",
				       loan->run.ret_proc, loan->run.ret_num);
		rc = OCTO_BRIDGE_REDIRECTED;
	}
	bridge_loan_free(loan);
	return rc;
}

/* ---------------------------------------------------------------- ringing users */

int octo_dial_add_user(struct octo_dial *d, const char *ext, unsigned timeout_ms,
		       const char *who)
{
	struct octo_reg_item *items = NULL;
	char (*dests)[OCTO_CHAN_DEST_MAX];
	const char *sep = who && *who ? ": " : "";
	size_t ntech;
	int tried = 0;
	bool full = false;

	if (!d || d->ran || !ext || !*ext)
		return 0;
	if (!who)
		who = "";
	dests = calloc(OCTO_DIAL_USER_DEVICES, sizeof(*dests));
	if (!dests) {
		dial_step(d, "%s%suser %.64s: out of memory", who, sep, ext);
		return 0;
	}
	/* The listing holds each technology's module until it is freed. */
	ntech = octo_registry_list(OCTO_REG_CHAN_TECH, &items);
	for (size_t i = 0; i < ntech && !full; i++) {
		const struct octo_chan_tech *tech = items[i].item;
		int n;

		if (!tech || !tech->devices || !tech->call)
			continue;
		n = tech->devices(ext, dests, OCTO_DIAL_USER_DEVICES);
		if (n > OCTO_DIAL_USER_DEVICES)
			n = OCTO_DIAL_USER_DEVICES;
		for (int k = 0; k < n; k++) {
			struct octo_channel *leg;
			int idx;

			dests[k][OCTO_CHAN_DEST_MAX - 1] = '\0';
			dial_step(d, "%s%suser %.64s: device %s/%s", who, sep, ext, tech->name,
				  dests[k]);
			idx = octo_dial_add(d, tech->name, dests[k], timeout_ms);
			if (idx < 0) {
				full = true;
				break;
			}
			tried++;
			leg = octo_dial_leg(d, (size_t)idx);
			if (leg) {
				octo_chan_var_set(leg, "USER", ext);
				octo_chan_set(leg, OCTO_CHAN_CALLED, ext);
			}
		}
	}
	octo_registry_list_free(items, ntech);
	free(dests);
	return tried;
}

/* True when the channel is named "Tech/<ext>-<hex sequence>". */
static bool bridge_name_is_user(const char *name, const char *ext)
{
	const char *slash = strchr(name, '/');
	size_t len = strlen(ext);

	if (!slash || strncmp(slash + 1, ext, len) || slash[1 + len] != '-' || !slash[2 + len])
		return false;
	for (const char *p = slash + 2 + len; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

bool octo_user_in_call(const char *ext, struct octo_channel *except)
{
	struct octo_channel **list;
	size_t count;
	bool found = false;

	if (!ext || !*ext)
		return false;
	list = octo_chan_list(&count);
	for (size_t i = 0; i < count && !found; i++) {
		char user[128];

		if (list[i] == except || octo_chan_is_hungup(list[i]))
			continue;
		if (octo_chan_var_get(list[i], "USER", user, sizeof(user)) && !strcmp(user, ext))
			found = true;
		else
			found = bridge_name_is_user(octo_chan_name(list[i]), ext);
	}
	octo_chan_list_free(list, count);
	return found;
}

void octo_dial_quiet(struct octo_dial *d)
{
	if (d)
		d->quiet = true;
}
