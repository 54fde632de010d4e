/*
 * channel.h - a channel is one leg of a call.
 *
 * A channel is a refcounted object (obj.h) created by a channel technology.
 * It has a unique id (the call id the logger tags lines with), a name
 * ("Test/100-00000001"), a state, caller and called numbers, variables, a
 * queue of events from its technology (digits, answer, hangup, ...) and a
 * log of every dialplan step.
 *
 * THREADS AND OWNERSHIP
 *  - A channel running dialplan has one owner thread: the call thread that
 *    octo_pbx_start() creates. The numbers, procedure and position are
 *    changed only by that thread (or before it starts); the *_peek accessors
 *    are safe there. Other threads (CLI, technologies) use the copying
 *    accessors or octo_chan_info().
 *  - Technologies never call into the dialplan; they queue events with
 *    octo_chan_queue_event(), which the owner thread reads.
 *  - Every live channel is in the channel list (calls show active) from
 *    octo_chan_alloc() until octo_chan_hangup(); its log then moves to the
 *    history (calls show history, call debug ID) for a while.
 *  - A channel holds a use reference on its technology's module.
 */
#ifndef OCTO_CHANNEL_H
#define OCTO_CHANNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "octo/octo.h"

struct octo_module;
struct octo_channel;
struct octo_frame;

#define OCTO_CHAN_DEST_MAX 256

enum octo_chan_state {
	OCTO_CHAN_DOWN = 0,   /* created, nothing happened yet */
	OCTO_CHAN_RING,       /* incoming call, being routed */
	OCTO_CHAN_DIALING,    /* outgoing call being set up */
	OCTO_CHAN_RINGING,    /* the far end rings */
	OCTO_CHAN_UP,         /* answered */
	OCTO_CHAN_BUSY,
	OCTO_CHAN_HUNGUP,
};
const char *octo_chan_state_name(enum octo_chan_state state);

/* Hang-up causes (the Q.850 values a PBX administrator knows). */
enum octo_cause {
	OCTO_CAUSE_NORMAL = 16,
	OCTO_CAUSE_BUSY = 17,
	OCTO_CAUSE_NO_ANSWER = 19,
	OCTO_CAUSE_REJECTED = 21,
	OCTO_CAUSE_UNALLOCATED = 1,
	OCTO_CAUSE_CONGESTION = 34,
	OCTO_CAUSE_UNAVAILABLE = 27,
	OCTO_CAUSE_FAILURE = 41,
};
/* "NORMAL_CLEARING" etc.; parse accepts names and numbers, -1 if unknown. */
const char *octo_cause_name(int cause);
int octo_cause_parse(const char *text);

enum octo_chan_event_type {
	OCTO_EV_NONE = 0,
	OCTO_EV_DIGIT,       /* .digit */
	OCTO_EV_ANSWER,
	OCTO_EV_RINGING,
	OCTO_EV_PROGRESS,
	OCTO_EV_BUSY,
	OCTO_EV_CONGESTION,
	OCTO_EV_HANGUP,      /* .cause; the far end or the technology hung up */
	/* Hold and resume. As events: the far end of this channel put the call
	 * on hold / took it off hold (a bridge may pass them on). As indicate()
	 * values: put the far end of this channel on hold / resume it (SIP: a
	 * re-INVITE with a=sendonly / a=sendrecv). Technologies without hold
	 * return OCTO_EINVAL from indicate(). */
	OCTO_EV_HOLD,
	OCTO_EV_UNHOLD,
};

struct octo_chan_event {
	enum octo_chan_event_type type;
	char digit;
	int cause;
};

/* What a technology implements. Callbacks are called with no core lock held. */
struct octo_chan_tech {
	const char *name;          /* "Test", "SIP": the registry name */
	const char *description;
	/* Places an outgoing call on `chan` (already allocated by the core with
	 * octo_chan_alloc for this tech) to `dest`. Returns 0 or OCTO_E*. */
	int (*call)(struct octo_channel *chan, const char *dest, unsigned timeout_ms);
	/* Answers an incoming call. */
	int (*answer)(struct octo_channel *chan);
	/* Tears the technology side down. Called exactly once, from
	 * octo_chan_hangup(). Must not block for long. */
	void (*hangup)(struct octo_channel *chan, int cause);
	/* Optional: play a digit, show ringing/busy/... to the far end. */
	int (*send_digit)(struct octo_channel *chan, char digit);
	int (*indicate)(struct octo_channel *chan, enum octo_chan_event_type what);
	/* Optional: the destinations (for call()) of a user's devices of this
	 * technology that can be called now -- e.g. each registered SIP contact
	 * of user "100". Fills up to `max` strings; returns how many. */
	int (*devices)(const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max);
	/* Optional: relays media between two answered channels of this same
	 * technology by itself (e.g. RTP packet by packet). octo_bridge() calls
	 * it with start=true before it waits, and -- only when that returned 0
	 * -- with start=false once when the bridge ends. bridge.h says what a
	 * technology must do. Returns 0, or OCTO_E* when it cannot (the bridge
	 * then goes on without a media path of the core's). */
	int (*native_bridge)(struct octo_channel *a, struct octo_channel *b, bool start);
	/* Optional: the channel's audio for Octo's own applications (frame.h),
	 * called through octo_chan_read_frame/octo_chan_write_frame on the
	 * owner thread. read_frame waits up to timeout_ms (-1: no limit) and
	 * returns 1 with *f filled, 0 when no frame came, or OCTO_E*;
	 * write_frame returns 0 or OCTO_E*. Neither is called after the channel
	 * hung up. */
	int (*read_frame)(struct octo_channel *chan, struct octo_frame *f, int timeout_ms);
	int (*write_frame)(struct octo_channel *chan, const struct octo_frame *f);
};
int octo_chan_tech_register(struct octo_module *owner, const struct octo_chan_tech *tech);
void octo_chan_tech_unregister(const struct octo_chan_tech *tech);

/* Allocates a channel of `tech` (found in the registry by name, which takes
 * a use reference on its module for the channel). `fmt` names the channel
 * after the tech prefix ("100" gives "Test/100-00000001"). Returns a new
 * reference (the channel list holds another), or NULL. */
struct octo_channel *octo_chan_alloc(const char *tech, enum octo_chan_state state,
				     const char *fmt, ...) OCTO_PRINTF(3, 4);

/* Hangs up: calls the tech's hangup once, marks the channel HUNGUP, wakes
 * its owner thread, records the end time, removes it from the channel list
 * and moves its log to the history. Safe to call more than once and from any
 * thread. Does not drop the caller's reference. */
void octo_chan_hangup(struct octo_channel *chan, int cause);

/* Finds a live channel by id or by name; new reference or NULL. */
struct octo_channel *octo_chan_find(const char *id_or_name);
unsigned octo_chan_count(void);

/* Immutable after alloc: borrowed, valid while you hold a reference. */
const char *octo_chan_id(const struct octo_channel *chan);
const char *octo_chan_name(const struct octo_channel *chan);
const struct octo_chan_tech *octo_chan_tech(const struct octo_channel *chan);

/* The technology's private data. */
void octo_chan_set_pvt(struct octo_channel *chan, void *pvt);
void *octo_chan_pvt(const struct octo_channel *chan);

enum octo_chan_state octo_chan_state(const struct octo_channel *chan);
void octo_chan_set_state(struct octo_channel *chan, enum octo_chan_state state);
bool octo_chan_is_hungup(const struct octo_channel *chan);
int octo_chan_hangup_cause(const struct octo_channel *chan);

/* Numbers and position: set by the owner thread (or before it starts). The
 * peek accessors borrow and are for the owner thread; others copy. */
enum octo_chan_field {
	OCTO_CHAN_CALLER_NUM,
	OCTO_CHAN_CALLER_NAME,
	OCTO_CHAN_DIALED,        /* the called number as dialled, never changed by SetCalled */
	OCTO_CHAN_CALLED,        /* the called number the dialplan routes on */
	OCTO_CHAN_PROCEDURE,
	OCTO_CHAN_FIELDS
};
void octo_chan_set(struct octo_channel *chan, enum octo_chan_field f, const char *value);
const char *octo_chan_peek(const struct octo_channel *chan, enum octo_chan_field f);
/* Copies into buf (always NUL-terminated); returns buf. */
char *octo_chan_copy(struct octo_channel *chan, enum octo_chan_field f, char *buf, size_t size);

/* Channel variables (names are case-sensitive). get copies into buf and
 * returns buf, or NULL when unset. A NULL value unsets. */
int octo_chan_var_set(struct octo_channel *chan, const char *name, const char *value);
const char *octo_chan_var_get(struct octo_channel *chan, const char *name, char *buf,
			      size_t size);

/* ---------------------------------------------------------------- events */
/* Queues an event for the owner thread (any thread). A HANGUP event also
 * marks the channel as hanging up so every wait returns at once. */
void octo_chan_queue_event(struct octo_channel *chan, const struct octo_chan_event *ev);
/* Waits up to timeout_ms (-1: forever) for the next event. Returns 1 with
 * *ev filled, 0 on timeout, OCTO_EHANGUP when the channel hung up. */
int octo_chan_wait_event(struct octo_channel *chan, int timeout_ms, struct octo_chan_event *ev);
/* Sleeps up to ms, returning early (OCTO_EHANGUP) on hang-up; digits that
 * arrive meanwhile stay queued. Returns 0 after the full time. */
int octo_chan_sleep(struct octo_channel *chan, unsigned ms);

/* Answers (tech answer + state UP + answer time). 0 or OCTO_E*. */
int octo_chan_answer(struct octo_channel *chan);

/* ---------------------------------------------------------------- step log */
/* Appends a timestamped line to the channel's dialplan log (bounded; the
 * oldest lines are dropped past 1000 and that is said). */
void octo_chan_step(struct octo_channel *chan, const char *fmt, ...) OCTO_PRINTF(2, 3);
void octo_chan_vstep(struct octo_channel *chan, const char *fmt, va_list ap);

/* Logs through the logger, tagged with the channel id. */
#define octo_chan_log(chan, level, ...)                                                      \
	octo_log_full((level), 0, OCTO_MODULE_NAME, __FILE__, __LINE__, __func__,               \
		      octo_chan_id(chan), __VA_ARGS__)

/* A copied summary for CLI listings. */
struct octo_chan_info {
	char id[32];
	char name[80];
	char tech[16];
	char state[16];
	char caller[64];
	char called[64];
	char dialed[64];
	char procedure[64];
	char position[96];     /* "users/100/2 (Dial)" while running dialplan */
	uint64_t created_us, answered_us, ended_us;
	int cause;
};
void octo_chan_info(struct octo_channel *chan, struct octo_chan_info *info);

/* Live channels as a snapshot array of new references (free with
 * octo_chan_list_free), sorted by creation time. */
struct octo_channel **octo_chan_list(size_t *count);
void octo_chan_list_free(struct octo_channel **list, size_t count);

/* Graceful stop support: refuse new channels from now on. */
void octo_chan_refuse_new(bool refuse);
bool octo_chan_refusing_new(void);

/* ---------------------------------------------------------------- watchers
 * Waiting on several channels at once (bridge.h builds octo_waitset on this):
 * a watcher is a wake-up callback that runs each time an event is queued on
 * the channel and when it hangs up. It runs with the channel's lock held, on
 * the thread that queued the event, so it must only signal (e.g. lock its
 * own mutex, bump a counter, broadcast a condition) and never call a channel
 * function. At most OCTO_CHAN_MAX_WATCH watchers at once. */
#define OCTO_CHAN_MAX_WATCH 4
/* Returns 0, OCTO_EEXIST (that wake/arg pair is already there) or OCTO_EBUSY
 * (full). */
int octo_chan_watch(struct octo_channel *chan, void (*wake)(void *arg), void *arg);
/* Removes a watcher; when it returns, its callback is not running and will
 * not run again for this channel. Unknown pairs are ignored. */
void octo_chan_unwatch(struct octo_channel *chan, void (*wake)(void *arg), void *arg);

#endif
