/*
 * cdr.h - call detail records and the backends that store them.
 *
 * The core writes one record per channel when it hangs up and hands it to
 * every registered backend (SQLite, PostgreSQL, CSV ... as modules). A
 * backend's post() is called on the thread that hung the channel up: it must
 * only queue the record and return (its own worker does the writing).
 *
 * The record also lends the backends the leg's dialplan step log (what
 * "call debug ID" shows), so that one of them can keep it beyond the core's
 * in-memory history; a module that does offers the service "call_debug"
 * below, which the core's "call debug" and "calls show history" ask for
 * calls it no longer holds.
 */
#ifndef OCTO_CDR_H
#define OCTO_CDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "octo/octo.h"

struct octo_module;

enum octo_cdr_disposition {
	OCTO_CDR_ANSWERED,
	OCTO_CDR_NO_ANSWER,
	OCTO_CDR_BUSY,
	OCTO_CDR_FAILED,
	OCTO_CDR_CANCELLED,
};
/* "ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCELLED". */
const char *octo_cdr_disposition_name(enum octo_cdr_disposition d);

/* One line of a leg's dialplan step log. */
struct octo_cdr_step {
	uint64_t time_us;        /* wall clock, microseconds since 1970 */
	const char *text;        /* never NULL */
};

/* One record: one leg of a call. Strings are empty, never NULL. */
struct octo_cdr {
	char uniqueid[32];       /* the channel id */
	char linkedid[32];       /* ties the legs of one call together */
	char channel[80];        /* source channel name */
	char dst_channel[80];    /* the leg it was bridged to, if any */
	char caller[64];
	char caller_name[80];
	char dialed[64];         /* the called number as dialled */
	char called[64];         /* as finally routed */
	char procedure[64];
	char trunk[64];
	char userfield[128];
	enum octo_cdr_disposition disposition;
	int cause;               /* Q.850 hangup cause */
	char hangup_side[16];    /* "caller", "callee", "pbx" */
	uint64_t start_us, answer_us, end_us;  /* answer_us 0: never answered */
	unsigned duration;       /* seconds from start to end */
	unsigned billsec;        /* seconds from answer to end */
	double cost;
	/* ---- appended; a struct filled by an older core ends above ---- */
	/* ${USER}: on a leg the PBX placed to a device of a user (Dial), that
	 * user; on a call that came from a user's device, that user; "". */
	char user[64];
	/* "outbound": a leg the PBX placed (${DIRECTION}, set by the core's
	 * dial code); "inbound": a call that came into the PBX. */
	char direction[12];
	/* A placed leg cancelled because another leg of the same dial answered
	 * (${ANSWERED_ELSEWHERE}). */
	bool answered_elsewhere;
	/* The leg's step log, oldest first, LENT to post() only: valid until
	 * post() returns, so a backend that queues the record must copy what it
	 * keeps (and must not keep these pointers). NULL and 0 in records read
	 * back by query(). steps_dropped: lines the core did not keep (a log is
	 * bounded; the first line and the newest are kept). */
	const struct octo_cdr_step *steps;
	size_t step_count;
	size_t steps_dropped;
};

/* What a backend reports for "cdr show status". */
struct octo_cdr_backend_status {
	char state[24];          /* "open", "opening", "error", "stopped" */
	char target[256];        /* where the records go: a file, a server */
	uint64_t posted;         /* records taken by post() since the module loaded */
	uint64_t written;        /* records committed to the target */
	uint64_t queued;         /* records waiting in memory (the spool) right now */
	uint64_t dropped;        /* records lost: spool full, or not writable at unload */
	char last_error[160];    /* the last write or open error; "" when none */
};

/* Which records to read back (cdr show, cdr export). Zeroed: all of them. */
struct octo_cdr_filter {
	unsigned last;           /* only the newest `last` matching records; 0: all */
	const char *user;        /* caller or called equal to it; NULL: any */
	uint64_t since_us;       /* start_us >= since_us; 0: any */
};

struct octo_cdr_backend {
	const char *name;        /* "sqlite" */
	const char *description;
	/* Queues a copy of the record; 0 or OCTO_E*. Must not block. */
	int (*post)(const struct octo_cdr *cdr);
	/* Optional (may be NULL): fills `st` (zeroed by the caller). Must not block. */
	void (*status)(struct octo_cdr_backend_status *st);
	/* Optional (may be NULL): reads records back, calling row() for each one
	 * that matches `filter`, in the order they were posted (oldest first);
	 * row() returns 0 to go on, anything else to stop. Runs on the caller's
	 * thread (a CLI worker) and may block on I/O, but never holds up post().
	 * Returns how many records were passed to row(), or OCTO_E* (and then
	 * fills `err`, e.g. "cannot open /var/lib/octo/cdr.db: ..."). */
	int (*query)(const struct octo_cdr_filter *filter,
		     int (*row)(const struct octo_cdr *cdr, void *arg), void *arg, char *err,
		     size_t errsize);
};

int octo_cdr_backend_register(struct octo_module *owner, const struct octo_cdr_backend *be);
void octo_cdr_backend_unregister(const struct octo_cdr_backend *be);

/* Hands a record to every backend (the core calls it at hang-up). Returns
 * how many backends took it. */
int octo_cdr_post(const struct octo_cdr *cdr);

/* ---------------------------------------------------------------- call debug
 * The service "call_debug" version 1 (registry.h), offered by a module that
 * stores the step logs lent by post() (res_cdr_sqlite, cdr.conf
 * debug_days). The core's "call debug ID" asks lookup() when ID is neither
 * a live call nor in its in-memory history; "calls show history" adds the
 * calls of list() that its in-memory history no longer holds.
 *
 * Both run on the CLI worker that runs the command and may block on I/O.
 * The records they pass are borrowed for the duration of the callback.
 */
#define OCTO_CALL_DEBUG_SERVICE "call_debug"

struct octo_call_debug_api {
	/* Finds the stored leg whose uniqueid is `id`, or else whose channel
	 * name is `id` (case-insensitive; the newest such leg), and calls
	 * found() once with its record, its steps filled. Returns 1 (found), 0
	 * (not stored, or stored longer ago than kept), or OCTO_E* with `err`
	 * filled ("cannot open /var/lib/octo/cdr.db: ..."). */
	int (*lookup)(const char *id, void (*found)(const struct octo_cdr *cdr, void *arg),
		      void *arg, char *err, size_t errsize);
	/* Calls row() for the stored legs, newest (the last to end) first, up to
	 * `last` of them; steps is NULL, step_count and steps_dropped are set.
	 * row() returns 0 to go on, anything else to stop. Returns how many
	 * were passed to row(), or OCTO_E* with `err` filled. */
	int (*list)(unsigned last, int (*row)(const struct octo_cdr *cdr, void *arg), void *arg,
		    char *err, size_t errsize);
};

#endif
